"""The "monai" backend: MONAI (pinned 1.6.x) networks with spatial_dims=2, framed like every
backend (framing.py). The package is imported on first use (optional.py).

    BasicUNet      channels = its six `features` (default 16, 16, 32, 64, 128, 16); 4 poolings
    UNet           channels per level (default 16, 32, 64, 128), strides between levels
                   (default 2 each), num_res_units (default 0, MONAI's own default)
    AttentionUnet  channels and strides as UNet
    SwinUNETR      feature_size (a multiple of 12, default 12); patch size 2, 5 stages (stride 32)

Fields a variant does not use must stay unset. Tiles are padded to the product of the strides
(and at least twice it: MONAI's instance norm, like BatchNorm, needs more than one value per
channel at the bottleneck while training).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from ..errors import InvalidArgument
from . import registry
from .fields import check_constructor, choice, fraction, integer, integers, unset
from .framing import FramedNetwork
from .optional import OptionalPackage

PACKAGE = OptionalPackage("monai", "monai", "1.6.1")

ARCHITECTURES = ("BasicUNet", "UNet", "AttentionUnet", "SwinUNETR")
DEFAULT_ARCHITECTURE = "BasicUNet"
DEFAULT_BASIC_FEATURES = (16, 16, 32, 64, 128, 16)
DEFAULT_CHANNELS = (16, 32, 64, 128)
DEFAULT_FEATURE_SIZE = 12
MAX_CHANNELS = 1024
MAX_LEVELS = 8
MAX_STRIDE = 4
MAX_RES_UNITS = 8
MAX_FEATURE_SIZE = 384
SWIN_STRIDE = 32  # patch size 2, then four patch mergings


def _stride(spec: dict[str, Any]) -> int:
    if spec["architecture"] == "BasicUNet":
        return 16
    if spec["architecture"] == "SwinUNETR":
        return SWIN_STRIDE
    return math.prod(spec["strides"])


class MonaiBackend:
    name = "monai"
    request_field = "monai"
    description = "MONAI 1.6 2-D networks: BasicUNet, UNet, AttentionUnet, SwinUNETR"

    def resolve_spec(self, spec: dict[str, Any], field_prefix: str, paths=None) -> dict[str, Any]:
        p = field_prefix
        architecture = choice(spec, "architecture", p, ARCHITECTURES, DEFAULT_ARCHITECTURE)
        monai = PACKAGE.require(p)
        dropout = fraction(spec, "dropout", p)
        channels = integers(spec, "channels", p, 1, MAX_CHANNELS)
        strides = integers(spec, "strides", p, 1, MAX_STRIDE)
        out: dict[str, Any] = {"architecture": architecture, "channels": [], "strides": [], "num_res_units": 0,
                               "feature_size": 0, "dropout": dropout}
        if architecture == "BasicUNet":
            for name in ("strides", "num_res_units", "feature_size"):
                unset(spec, name, p, "BasicUNet has fixed 2x poolings and no such setting")
            if channels and len(channels) != 6:
                raise InvalidArgument(f"{p}.channels", f"BasicUNet takes exactly 6 features (5 levels and the "
                                      f"last decoder block), got {len(channels)}")
            out["channels"] = channels or list(DEFAULT_BASIC_FEATURES)
        elif architecture in ("UNet", "AttentionUnet"):
            unset(spec, "feature_size", p, f"{architecture} has no feature_size (that is SwinUNETR's)")
            channels = channels or list(DEFAULT_CHANNELS)
            if not 2 <= len(channels) <= MAX_LEVELS:
                raise InvalidArgument(f"{p}.channels", f"needs 2 to {MAX_LEVELS} levels, got {len(channels)}")
            strides = strides or [2] * (len(channels) - 1)
            if len(strides) != len(channels) - 1:
                raise InvalidArgument(f"{p}.strides", f"needs one stride between each pair of levels: "
                                      f"{len(channels) - 1} for {len(channels)} channels, got {len(strides)}")
            out["channels"], out["strides"] = channels, strides
            if architecture == "UNet":
                out["num_res_units"] = integer(spec, "num_res_units", p, 0, 0, MAX_RES_UNITS)
            else:
                unset(spec, "num_res_units", p, "AttentionUnet has no residual units")
        else:  # SwinUNETR
            for name in ("channels", "strides", "num_res_units"):
                unset(spec, name, p, "SwinUNETR is shaped by feature_size (patch size 2, four stages)")
            size = integer(spec, "feature_size", p, DEFAULT_FEATURE_SIZE, 12, MAX_FEATURE_SIZE)
            if size % 12:
                raise InvalidArgument(f"{p}.feature_size", f"must be a multiple of 12 (SwinUNETR's attention "
                                      f"heads are 3, 6, 12 and 24), got {size}")
            out["feature_size"] = size
        check_constructor(lambda: _network(monai, out, 2, 3), p, f"MONAI cannot build this {architecture}")
        return out

    def build(self, spec, num_classes, in_channels, mean, std, *, initial_weights: bool = True) -> FramedNetwork:
        net = _network(PACKAGE.require("model.monai"), spec, num_classes, in_channels)
        stride = _stride(spec)
        # SwinUNETR's window partition reshapes with the traced sizes: an exported graph only
        # runs at the tile size it was exported at.
        return FramedNetwork(net, in_channels, mean, std, pad_multiple=stride, min_side=2 * stride,
                             dynamic_spatial_export=spec["architecture"] != "SwinUNETR")

    def min_training_batch(self, spec: dict[str, Any]) -> int:
        return 1

    def details(self) -> registry.BackendDetails:
        available, reason = PACKAGE.status()
        return registry.BackendDetails(
            name=self.name, description=self.description, available=available, unavailable_reason=reason,
            architectures=list(ARCHITECTURES),
            defaults={"architecture": DEFAULT_ARCHITECTURE, "channels": list(DEFAULT_BASIC_FEATURES), "strides": [],
                      "num_res_units": 0, "feature_size": 0, "dropout": 0.0},
            package_version=PACKAGE.version())


def _network(monai, spec: dict[str, Any], num_classes: int, in_channels: int) -> torch.nn.Module:
    nets = monai.networks.nets
    arch = spec["architecture"]
    common = {"spatial_dims": 2, "in_channels": in_channels, "out_channels": num_classes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if arch == "BasicUNet":
            return nets.BasicUNet(**common, features=tuple(spec["channels"]), dropout=spec["dropout"])
        if arch == "UNet":
            return nets.UNet(**common, channels=spec["channels"], strides=spec["strides"],
                             num_res_units=spec["num_res_units"], dropout=spec["dropout"])
        if arch == "AttentionUnet":
            return nets.AttentionUnet(**common, channels=spec["channels"], strides=spec["strides"],
                                      dropout=spec["dropout"])
        return nets.SwinUNETR(**common, feature_size=spec["feature_size"], drop_rate=spec["dropout"])


registry.register(MonaiBackend())
