"""Optional packages (segmentation_models_pytorch, MONAI), imported on first use only.

The GPU image has torch, grpcio and protobuf and nothing else: the worker must start and serve
the built-in U-Net there. A backend asks `require()` when it has work; GetInfo asks
`status()`, which never imports (importlib.metadata reads the installed version), so `info`
stays fast and a broken optional package cannot break start-up.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import threading
from types import ModuleType

from ..errors import FailedPrecondition


class OptionalPackage:
    def __init__(self, module: str, distribution: str, pinned: str) -> None:
        self.module = module  # import name, e.g. "segmentation_models_pytorch"
        self.distribution = distribution  # pip name, e.g. "segmentation-models-pytorch"
        self.pinned = pinned  # the version requirements.txt pins
        self._lock = threading.Lock()
        self._loaded: ModuleType | None = None
        self._error: str | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return ""

    def status(self) -> tuple[bool, str]:
        """(available, why not) without importing the package when it has not been tried yet."""
        if self._error is not None:
            return False, self._error
        if self._loaded is not None:
            return True, ""
        if importlib.util.find_spec(self.module) is None:
            return False, self._missing()
        return True, ""

    def _missing(self) -> str:
        return f"{self.module} is not installed (pip install {self.distribution}=={self.pinned})"

    def require(self, field: str) -> ModuleType:
        """The imported module, or FailedPrecondition naming the request field."""
        with self._lock:
            if self._loaded is None and self._error is None:
                # Nothing in this worker downloads: keep the Hugging Face hub (smp's and timm's
                # weight source) offline even if some code path asked it for a file.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                try:
                    self._loaded = importlib.import_module(self.module)
                except ModuleNotFoundError as e:
                    self._error = self._missing() if e.name == self.module else f"{self.module} cannot be imported: {e}"
                except Exception as e:  # noqa: BLE001 - a broken install must not take the worker down
                    self._error = f"{self.module} cannot be imported: {type(e).__name__}: {e}"
        if self._loaded is None:
            raise FailedPrecondition(f"{field}: this worker cannot build it: {self._error}")
        return self._loaded
