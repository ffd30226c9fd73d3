"""Initial weights from a file the request names (SmpSpec.weights_file): checked against the
worker's data roots, fingerprinted (its sha256 is part of the model id), read as safetensors or
as a torch state dict (torch.load with weights_only=True: no pickled code runs), and loaded into
a module with a one-line error that says which keys or shapes do not fit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .. import safetensors_io
from ..data.paths import DataPaths
from ..errors import FailedPrecondition, InvalidArgument
from ..store import file_sha256


def resolve(value: object, field: str, paths: DataPaths | None) -> tuple[str, str]:
    """(resolved path, sha256) of a weights file inside the data roots."""
    if not isinstance(value, str):
        raise InvalidArgument(field, f"must be a file path, got {value!r}")
    real = (paths or DataPaths.unrestricted()).check(Path(value), field, value)
    if not real.is_file():
        raise InvalidArgument(field, f"{value}: " + ("not a file" if real.exists() else "no such file"))
    try:
        return str(real), file_sha256(real)
    except OSError as e:
        raise InvalidArgument(field, f"{value}: cannot be read ({e.strerror or e})") from e




def read(path: str, sha256: str, field: str) -> dict[str, torch.Tensor]:
    """The file's tensors by name; the file must still be the one the spec was resolved with."""
    with open(path, "rb") as f:
        head = f.read(9)
    now = file_sha256(Path(path))
    if now != sha256:
        raise FailedPrecondition(f"{field}: {path} changed since the request was checked (sha256 {now[:12]}..., "
                                 f"expected {sha256[:12]}...)")
    try:
        # safetensors: an 8-byte header length, then the JSON header.
        if len(head) == 9 and head[8:9] == b"{":
            state = safetensors_io.load_torch(Path(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the request's problem
        raise InvalidArgument(field, f"{path}: neither safetensors nor a torch state dict ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else ''})") from e
    # Training checkpoints often wrap the state dict ({"state_dict": ..., "epoch": ...}).
    if isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), Mapping):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise InvalidArgument(field, f"{path}: not a state dict (a mapping of names to tensors)")
    return dict(state)


def _examples(keys: list[str], n: int = 3) -> str:
    return ", ".join(sorted(keys)[:n]) + (", ..." if len(keys) > n else "")


def load_into(module: nn.Module, state: dict[str, torch.Tensor], what: str, field: str, path: str,
              ignore_unexpected: tuple[str, ...] = ()) -> None:
    """Strictly load `state` into `module`; a mismatch is InvalidArgument(field) naming a few
    missing, unexpected and differently shaped keys. Unexpected keys starting with one of
    `ignore_unexpected` (a classifier head beside an encoder's weights) are dropped."""
    expected = module.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.startswith(ignore_unexpected)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {_examples(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {_examples(unexpected)})")
        if shapes:
            k = sorted(shapes)[0]
            parts.append(f"{len(shapes)} keys of another shape (e.g. {k}: file {list(state[k].shape)}, "
                         f"model {list(expected[k].shape)})")
        raise InvalidArgument(field, f"{path} does not fit {what}: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)
