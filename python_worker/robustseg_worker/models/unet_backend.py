"""The built-in "unet" backend: spec validation and defaults for models.unet.UNet."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InvalidArgument
from . import registry
from .fields import choice, integer
from .unet import UPSAMPLING_MODES, UNet

DEFAULT_DEPTH, MAX_DEPTH = 4, 7
DEFAULT_BASE_WIDTH, MAX_BASE_WIDTH = 64, 512
# Channels at the bottleneck; beyond this a model is a typo, not an experiment.
MAX_BOTTLENECK_WIDTH = 8192
MAX_INPUT_BITS = 8


class UNetBackend:
    name = "unet"
    request_field = "unet"
    description = "built-in U-Net (Ronneberger et al. 2015) with BatchNorm and ReLU; needs only torch"

    def resolve_spec(self, spec: dict[str, Any], field_prefix: str, paths=None) -> dict[str, Any]:
        depth = integer(spec, "depth", field_prefix, DEFAULT_DEPTH, 1, MAX_DEPTH)
        base_width = integer(spec, "base_width", field_prefix, DEFAULT_BASE_WIDTH, 1, MAX_BASE_WIDTH)
        if base_width * 2**depth > MAX_BOTTLENECK_WIDTH:
            raise InvalidArgument(
                field_prefix,
                f"base_width * 2^depth must be <= {MAX_BOTTLENECK_WIDTH}, got {base_width} * 2^{depth}",
            )
        upsampling = choice(spec, "upsampling", field_prefix, UPSAMPLING_MODES, "bilinear")
        resolved = {"depth": depth, "base_width": base_width, "upsampling": upsampling}
        input_bits = spec.get("input_bits", 0)
        if isinstance(input_bits, bool) or not isinstance(input_bits, int) or not 0 <= input_bits <= MAX_INPUT_BITS:
            raise InvalidArgument(f"{field_prefix}.input_bits", f"must be between 0 (off) and {MAX_INPUT_BITS}, got {input_bits!r}")
        if input_bits:  # absent when off, so the ids of plain U-Nets do not change
            resolved["input_bits"] = input_bits
        return resolved

    def build(self, spec, num_classes, in_channels, mean, std, *, initial_weights: bool = True) -> UNet:
        return UNet(num_classes, in_channels=in_channels, depth=spec["depth"], base_width=spec["base_width"],
                    upsampling=spec["upsampling"], mean=mean, std=std, input_bits=spec.get("input_bits", 0))

    def min_training_batch(self, spec: dict[str, Any]) -> int:
        return 1

    def details(self) -> registry.BackendDetails:
        return registry.BackendDetails(
            name=self.name, description=self.description, available=True,
            defaults=self.resolve_spec({}, "model.unet"), package_version=torch.__version__)


registry.register(UNetBackend())
