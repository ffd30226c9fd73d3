"""Model backends behind one registry, chosen by name ("unet" first; segmentation_models_pytorch
and MONAI later). A backend validates its own spec (naming the offending field) and builds an
nn.Module that maps [0, 1] pixels (N, C, H, W) to logits (N, num_classes, H, W)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from torch import nn

from ..errors import InvalidArgument


class Backend(Protocol):
    name: str
    request_field: str  # the ModelSpec oneof member in the contract, e.g. "unet"

    def resolve_spec(self, spec: dict[str, Any], field_prefix: str) -> dict[str, Any]:
        """Validate and fill defaults; the result is canonical (it goes into the model id)."""
        ...

    def build(
        self, spec: dict[str, Any], num_classes: int, in_channels: int,
        mean: Sequence[float] | None, std: Sequence[float] | None,
    ) -> nn.Module: ...


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


def by_request_field(request_field: str) -> Backend:
    for backend in _BACKENDS.values():
        if backend.request_field == request_field:
            return backend
    raise InvalidArgument("model", f"unsupported architecture {request_field!r}; known: {', '.join(names())}")


def build_model(backend: str, spec: dict[str, Any], num_classes: int, in_channels: int = 3,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> nn.Module:
    return get(backend).build(spec, num_classes, in_channels, mean, std)
