"""Model backends behind one registry, chosen by the ModelSpec oneof member ("unet", "smp",
"monai"). A backend validates its own spec (naming the offending field as a path in the
request), builds an nn.Module that maps [0, 1] pixels (N, C, H, W) to logits
(N, num_classes, H, W) (framing.FramedSegmenter does the normalising, padding and cropping), and
describes itself for GetInfo. A backend whose package is missing stays registered: it reports
itself unavailable and refuses work with FAILED_PRECONDITION, so the worker starts without it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn

from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..data.paths import DataPaths


@dataclass
class BackendDetails:
    """One backend as GetInfo reports it (BackendInfo in the contract)."""

    name: str
    description: str
    available: bool
    unavailable_reason: str = ""
    architectures: list[str] = field(default_factory=list)
    encoders: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)  # the spec with every default filled
    package_version: str = ""


class Backend(Protocol):
    name: str
    request_field: str  # the ModelSpec oneof member in the contract, e.g. "unet"
    description: str  # one line, for tables and help

    def resolve_spec(self, spec: dict[str, Any], field_prefix: str, paths: DataPaths | None = None) -> dict[str, Any]:
        """Validate and fill defaults; the result is canonical (it goes into the model id).
        `paths`: which files a spec may name (a weights file); None = any readable path."""
        ...

    def build(self, spec: dict[str, Any], num_classes: int, in_channels: int,
              mean: Sequence[float] | None, std: Sequence[float] | None, *, initial_weights: bool = True) -> nn.Module:
        """The module for a resolved spec. `initial_weights=False` skips reading a weights file
        the spec names (artifacts.load_model overwrites every weight anyway)."""
        ...

    def min_training_batch(self, spec: dict[str, Any]) -> int:
        """The smallest batch a training step accepts (2 where BatchNorm follows a global pooling)."""
        ...

    def details(self) -> BackendDetails: ...


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    _BACKENDS[backend.name] = backend
    return backend


def names() -> list[str]:
    return sorted(_BACKENDS)


def get(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise InvalidArgument("model", f"unknown backend {name!r}; known: {', '.join(names())}") from None


def request_fields() -> list[str]:
    return sorted(b.request_field for b in _BACKENDS.values())


def by_request_field(request_field: str | None, field: str = "model") -> Backend:
    """The backend for a ModelSpec oneof member; InvalidArgument(field) when none or unknown."""
    if not request_field:
        raise InvalidArgument(field, "must set one of: " + ", ".join(request_fields()))
    for backend in _BACKENDS.values():
        if backend.request_field == request_field:
            return backend
    raise InvalidArgument(field, f"unknown backend {request_field!r}; known: {', '.join(request_fields())}")


# Building a module draws its initial weights from torch's global generator, which every thread
# shares. Every build in the worker holds this lock, so that a seeded build (training.build_seeded
# seeds that generator first) never has its draws interleaved with another thread's build: a
# model loaded for an evaluation, or a size estimate, beside a training that starts (stages run at
# once). Re-entrant: build_seeded holds it around its own build_model call.
BUILD_LOCK = threading.RLock()


def build_model(backend: str, spec: dict[str, Any], num_classes: int, in_channels: int = 3,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None, *,
                initial_weights: bool = True) -> nn.Module:
    with BUILD_LOCK:
        return get(backend).build(spec, num_classes, in_channels, mean, std, initial_weights=initial_weights)


def check_training_batch(backend: Backend, spec: dict[str, Any], batch_size: int, field: str,
                         model: str = "this model") -> None:
    """InvalidArgument(field) when the model cannot train on batches of `batch_size`."""
    needed = backend.min_training_batch(spec)
    if batch_size < needed:
        raise InvalidArgument(field, f"must be >= {needed} for {model} ({backend.name}: BatchNorm needs more than "
                              f"one value per channel while training), got {batch_size}")


def all_details() -> list[BackendDetails]:
    return [get(n).details() for n in names()]
