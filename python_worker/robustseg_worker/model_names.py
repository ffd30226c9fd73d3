"""Names a caller may use for a trained model when serving it (Predict, Probe, the Open
Inference Protocol): its id, or an alias kept in the workspace (`aliases.json`, written
atomically under a lock, so workers sharing a workspace see the same aliases).

Resolution errors name the field: an empty name is INVALID_ARGUMENT, a dataset id where a
model is expected is INVALID_ARGUMENT (a common slip: both ids look alike), an unknown name is
NOT_FOUND."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from .errors import InvalidArgument, NotFound
from .store import ArtifactStore, is_valid_id, write_json

ALIASES_FILE = "aliases.json"
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Aliases must not look like artifact ids: "m-0123..." is always an id, never an alias.
_ID_SHAPED = re.compile(r"(m|ds)-[0-9a-f]{16}")


class ModelNames:
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._path = Path(store.root) / ALIASES_FILE
        self._lock = threading.Lock()

    # --- aliases -------------------------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        try:
            with open(self._path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # a damaged file reads as no aliases; the next write replaces it
        found = data.get("aliases", {}) if isinstance(data, dict) else {}
        return {str(k): str(v) for k, v in found.items()}

    def set_alias(self, alias: str, model_id: str) -> tuple[str, str]:
        """Point `alias` at `model_id` (empty: remove it). Returns (model id now, before)."""
        if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
            raise InvalidArgument("alias", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
                                  f"digit, got {alias!r}")
        if _ID_SHAPED.fullmatch(alias):
            raise InvalidArgument("alias", f"{alias!r} looks like an artifact id; choose a name (e.g. nuclei-v2)")
        if model_id:
            model_id = self.resolve(model_id, "model_id", allow_alias=False)
        with self._lock, self.store.lock("aliases"):
            current = self.aliases()
            before = current.get(alias, "")
            if model_id:
                current[alias] = model_id
            elif alias not in current:
                raise NotFound("alias", alias)
            else:
                del current[alias]
            tmp = self._path.with_name(f".{ALIASES_FILE}.{os.getpid()}.{threading.get_ident()}")
            write_json(tmp, {"format": "robustseg-aliases-1", "aliases": dict(sorted(current.items()))})
            os.replace(tmp, self._path)
        return model_id, before

    # --- resolution ----------------------------------------------------------------------------

    def resolve(self, name: str, field: str = "model_id", *, allow_alias: bool = True) -> str:
        """The model id `name` stands for."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgument(field, "required (a model id or an alias)")
        name = name.strip()
        if is_valid_id("model", name):
            if self.store.exists("model", name):
                return name
            raise NotFound("model", name)
        if is_valid_id("dataset", name):
            what = "a dataset id" if self.store.exists("dataset", name) else "shaped like a dataset id"
            raise InvalidArgument(field, f"{name} is {what}, not a model id (model ids start with m-)")
        if allow_alias:
            model_id = self.aliases().get(name)
            if model_id is not None:
                if not self.store.exists("model", model_id):
                    raise NotFound("model", f"{model_id} (alias {name})")
                return model_id
            raise NotFound("model", f"or alias {name!r}")
        raise NotFound("model", repr(name))
