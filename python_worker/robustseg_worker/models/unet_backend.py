"""The built-in "unet" backend: spec validation and defaults for models.unet.UNet."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument
from . import registry
from .unet import UPSAMPLING_MODES, UNet

DEFAULT_DEPTH, MAX_DEPTH = 4, 7
DEFAULT_BASE_WIDTH, MAX_BASE_WIDTH = 64, 512
# Channels at the bottleneck; beyond this a model is a typo, not an experiment.
MAX_BOTTLENECK_WIDTH = 8192
MAX_INPUT_BITS = 8


def _int(spec: dict[str, Any], name: str, prefix: str, default: int, high: int) -> int:
    value = spec.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{prefix}.{name}", f"must be an integer, got {value!r}")
    if value == 0:
        return default
    if not 1 <= value <= high:
        raise InvalidArgument(f"{prefix}.{name}", f"must be between 1 and {high} (0 = default {default}), got {value}")
    return value


class UNetBackend:
    name = "unet"
    request_field = "unet"

    def resolve_spec(self, spec: dict[str, Any], field_prefix: str) -> dict[str, Any]:
        depth = _int(spec, "depth", field_prefix, DEFAULT_DEPTH, MAX_DEPTH)
        base_width = _int(spec, "base_width", field_prefix, DEFAULT_BASE_WIDTH, MAX_BASE_WIDTH)
        if base_width * 2**depth > MAX_BOTTLENECK_WIDTH:
            raise InvalidArgument(
                field_prefix,
                f"base_width * 2^depth must be <= {MAX_BOTTLENECK_WIDTH}, got {base_width} * 2^{depth}",
            )
        upsampling = spec.get("upsampling") or "bilinear"
        if upsampling not in UPSAMPLING_MODES:
            raise InvalidArgument(f"{field_prefix}.upsampling", f"must be one of {', '.join(UPSAMPLING_MODES)}, got {upsampling!r}")
        resolved = {"depth": depth, "base_width": base_width, "upsampling": upsampling}
        input_bits = spec.get("input_bits", 0)
        if isinstance(input_bits, bool) or not isinstance(input_bits, int) or not 0 <= input_bits <= MAX_INPUT_BITS:
            raise InvalidArgument(f"{field_prefix}.input_bits", f"must be between 0 (off) and {MAX_INPUT_BITS}, got {input_bits!r}")
        if input_bits:  # absent when off, so the ids of plain U-Nets do not change
            resolved["input_bits"] = input_bits
        return resolved

    def build(self, spec, num_classes, in_channels, mean, std) -> UNet:
        return UNet(num_classes, in_channels=in_channels, depth=spec["depth"], base_width=spec["base_width"],
                    upsampling=spec["upsampling"], mean=mean, std=std, input_bits=spec.get("input_bits", 0))


registry.register(UNetBackend())
