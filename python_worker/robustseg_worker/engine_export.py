"""ExportModel: a stored model written as ONNX, TorchScript or safetensors under the workspace
(exports/) and streamed back in chunks (a mixin of engine.Engine; plain Python, no grpc).

exports/<model id>.opset<N>.onnx, <model id>.torchscript.pt, <model id>.safetensors: written
atomically (a temporary name in the same folder, fsynced, renamed), each with a sidecar
<file>.json holding what the result reports, and reused when both exist (same model, format and
opset: the model id covers the weights, "robustseg.format" the export code's version).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from . import artifacts, export
from .events import ExportChunk, ExportResult, Progress
from .store import file_sha256, write_json

log = logging.getLogger(__name__)

EXPORTS = "exports"
MAX_CHUNK = 1 << 20


def _never_stop() -> None:
    return None


def _file_name(model_id: str, fmt: str, opset: int) -> str:
    return f"{model_id}.opset{opset}.onnx" if fmt == "onnx" else f"{model_id}.{export.EXTENSIONS[fmt]}"


def _current_details(path: Path, sidecar: Path, fmt: str) -> dict[str, Any] | None:
    """The sidecar of a stored export this code would write the same, else None (rewrite it):
    an export made by an earlier format version (e.g. one whose graph failed below the stride)
    is not reused."""
    if not (path.is_file() and sidecar.is_file()):
        return None
    details = json.loads(sidecar.read_text(encoding="utf-8"))
    if details.get("metadata", {}).get("robustseg.format") != f"robustseg-{fmt}-{export.FORMAT_VERSION}":
        return None
    return details


class ExportMixin:
    """Needs from Engine: store, get_model, max_message_bytes."""

    def export_model(self, model_id: str, fmt: str | None, opset: Any = 0,
                     check_stop: Callable[[], None] = _never_stop) -> Iterator[Progress | ExportChunk | ExportResult]:
        """Events: Progress (stage "export"), ExportChunk (offset, bytes) until the whole file
        is sent, then ExportResult."""
        fmt = export.check_format(fmt)
        opset = export.check_opset(fmt, opset)
        info = self.get_model(model_id)
        folder = self.store.root / EXPORTS
        folder.mkdir(exist_ok=True)
        name = _file_name(model_id, fmt, opset)
        path, sidecar = folder / name, folder / f"{name}.json"
        with self.store.lock(f"export-{name}", check_stop):
            details = _current_details(path, sidecar, fmt)
            if details is not None:
                yield Progress("export", 1, 1, f"reused {name}")
            else:
                yield Progress("export", 0, 1, f"writing {name}")
                details = self._write_export(model_id, info, fmt, opset, path, sidecar)
                yield Progress("export", 1, 1)
        size = path.stat().st_size
        chunk = max(1, min(MAX_CHUNK, self.max_message_bytes // 4))
        with open(path, "rb") as f:
            offset = 0
            while block := f.read(chunk):
                check_stop()
                yield ExportChunk(offset, block)
                offset += len(block)
        if offset != size or file_sha256(path) != details["sha256"]:
            raise RuntimeError(f"{path} changed while it was sent")
        yield ExportResult(file_name=name, workspace_path=str(path), size_bytes=size, sha256=details["sha256"],
                           format=fmt, opset=details["opset"], input_name=export.INPUT_NAME,
                           output_name=export.OUTPUT_NAME, class_names=list(info.class_names),
                           metadata=details["metadata"], dynamic_axes=details["dynamic_axes"])

    def _write_export(self, model_id: str, info, fmt: str, opset: int, path: Path, sidecar: Path) -> dict[str, Any]:
        started = time.monotonic()
        # On the CPU whatever the worker's device: the file must not depend on where it was made.
        model, _ = artifacts.load_model(self.store, model_id, torch.device("cpu"))
        rebuild = self.store.read_meta("model", model_id)["rebuild"]
        meta = export.metadata(model_id, info.backend, info.spec, info.class_names, rebuild, fmt)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            exported = export.export(model, fmt, tmp, opset, meta, export.example_input(rebuild))
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            details = {"model_id": model_id, "format": fmt, "opset": exported.opset, "sha256": file_sha256(tmp),
                       "dynamic_axes": exported.dynamic_axes, "metadata": exported.metadata}
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        # The sidecar last (also atomically): a file without one is rewritten next time.
        tmp_sidecar = sidecar.with_name(f".{sidecar.name}.{uuid.uuid4().hex[:8]}.tmp")
        write_json(tmp_sidecar, details)
        os.replace(tmp_sidecar, sidecar)
        log.info("model %s exported as %s (%d bytes) in %.1fs", model_id, path.name, path.stat().st_size,
                 time.monotonic() - started)
        return details
