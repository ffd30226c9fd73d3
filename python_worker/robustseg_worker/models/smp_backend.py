"""The "smp" backend: segmentation_models_pytorch (pinned 0.6.0) architectures with any encoder it
offers, framed like every backend (framing.py).

Nothing is downloaded, ever: encoders start from random weights (`encoder_weights` "none"), and a
request for named pretrained weights ("imagenet", ...) is refused; pretrained weights come as a
`weights_file` under a data root instead (the encoder's alone or the whole network's, told apart
by their keys). The package is imported on first use (optional.py).

Validation runs the same constructor the work runs, on the meta device (no memory, no weights),
so an architecture/encoder pair smp refuses (e.g. a VGG encoder in dilated DeepLabV3+) is
refused while the plan is checked, naming the field.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ..errors import FailedPrecondition, InvalidArgument
from . import registry, smp_encoders, weights_file
from .fields import check_constructor, choice, close_names, integer
from .framing import FramedNetwork
from .optional import OptionalPackage

PACKAGE = OptionalPackage("segmentation_models_pytorch", "segmentation-models-pytorch", "0.6.0")

# smp's architectures that build offline with its own encoders. DPT is left out: it needs a
# timm ViT encoder at a fixed image size.
ARCHITECTURES = ("Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus", "Linknet", "PSPNet", "MAnet", "PAN",
                 "Segformer", "DeepLabV3", "UPerNet")
DEFAULT_ARCHITECTURE = "Unet"
# Small and fast on two CPU cores at 64x64 (see python_worker/README.md for measured step costs).
DEFAULT_ENCODER = "resnet18"
MIN_DEPTH, MAX_DEPTH = 3, 5
# smp's default depth per architecture (PSPNet uses the 1/8 features).
_DEFAULT_DEPTH = {"PSPNet": 3}
# Decoders with one channel count per encoder stage: smp's default, its last `depth` entries.
_DECODER_CHANNELS = {"Unet": (256, 128, 64, 32, 16), "UnetPlusPlus": (256, 128, 64, 32, 16),
                     "MAnet": (256, 128, 64, 32, 16)}
# PAN's feature pyramid attention pools its deepest features three more times: it needs sides
# of at least 128 px; smaller tiles are padded up to that.
_MIN_SIDE = {"PAN": 128}
NO_WEIGHTS = "none"
TIMM_PREFIX = "tu-"


def _default_depth(architecture: str) -> int:
    return _DEFAULT_DEPTH.get(architecture, 5)


def _smp(field: str):
    return PACKAGE.require(field)


def _encoder(value: Any, field: str) -> str:
    smp = _smp(field)
    if not value:
        return DEFAULT_ENCODER
    if not isinstance(value, str):
        raise InvalidArgument(field, f"must be an encoder name, got {value!r}")
    known = smp.encoders.get_encoder_names()
    if value in known:
        return value
    if value.startswith(TIMM_PREFIX):
        import timm  # smp depends on it

        if timm.is_model(value[len(TIMM_PREFIX):]):
            return value
        raise InvalidArgument(field, f"unknown timm model {value[len(TIMM_PREFIX):]!r} (after {TIMM_PREFIX})"
                              + close_names(value[len(TIMM_PREFIX):], timm.list_models()))
    raise InvalidArgument(field, f"unknown encoder {value!r}{close_names(value, known)} (smp offers "
                          f"{len(known)}, listed by `robustseg info`, and any timm model as {TIMM_PREFIX}<name>)")


def _kwargs(spec: dict[str, Any], num_classes: int, in_channels: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"encoder_name": spec["encoder"], "encoder_depth": spec["encoder_depth"],
                              "encoder_weights": None, "in_channels": in_channels, "classes": num_classes}
    if spec["architecture"] in _DECODER_CHANNELS:
        kwargs["decoder_channels"] = _DECODER_CHANNELS[spec["architecture"]][-spec["encoder_depth"]:]
    return kwargs


def _create(smp, spec: dict[str, Any], num_classes: int, in_channels: int) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation chatter from timm/smp internals
        return smp.create_model(spec["architecture"], **_kwargs(spec, num_classes, in_channels))


class SmpBackend:
    name = "smp"
    request_field = "smp"
    description = "segmentation_models_pytorch 0.6: Unet, FPN, DeepLabV3+, Segformer, ... with any of its encoders"

    def resolve_spec(self, spec: dict[str, Any], field_prefix: str, paths=None) -> dict[str, Any]:
        architecture = choice(spec, "architecture", field_prefix, ARCHITECTURES, DEFAULT_ARCHITECTURE)
        smp = _smp(field_prefix)
        encoder = _encoder(spec.get("encoder"), f"{field_prefix}.encoder")
        depth = integer(spec, "encoder_depth", field_prefix, _default_depth(architecture), MIN_DEPTH, MAX_DEPTH)
        weights = spec.get("encoder_weights") or ""
        if not isinstance(weights, str) or weights.lower() not in ("", NO_WEIGHTS):
            raise InvalidArgument(f"{field_prefix}.encoder_weights", f"{weights!r} would be downloaded, and this "
                                  "worker never downloads: leave it empty (random initialisation) or give the "
                                  "weights as weights_file (safetensors or a torch state dict under a data root)")
        resolved: dict[str, Any] = {"architecture": architecture, "encoder": encoder, "encoder_depth": depth,
                                    "encoder_weights": NO_WEIGHTS, "weights_file": "", "weights_sha256": ""}
        if spec.get("weights_file"):
            resolved["weights_file"], resolved["weights_sha256"] = weights_file.resolve(
                spec["weights_file"], f"{field_prefix}.weights_file", paths)
        check_constructor(lambda: _create(smp, resolved, 2, 3), f"{field_prefix}.encoder",
                          f"smp cannot build {architecture} with encoder {encoder} (depth {depth})")
        return resolved

    def build(self, spec, num_classes, in_channels, mean, std, *, initial_weights: bool = True) -> FramedNetwork:
        smp = _smp("model.smp")
        try:
            net = _create(smp, spec, num_classes, in_channels)
        except (ValueError, KeyError, TypeError, AssertionError) as e:
            raise InvalidArgument("model.smp", f"smp cannot build {spec['architecture']} with encoder "
                                  f"{spec['encoder']}: {_first_line(e)}") from None
        if initial_weights and spec.get("weights_file"):
            _load_initial_weights(net, spec)
        depth = spec["encoder_depth"]
        return FramedNetwork(net, in_channels, mean, std, pad_multiple=2**depth,
                             min_side=_MIN_SIDE.get(spec["architecture"], 1), channels_last=True)

    def min_training_batch(self, spec: dict[str, Any]) -> int:
        # BatchNorm needs two values per channel in training: every smp decoder with a global
        # pooling branch (DeepLabV3/V3+, PSPNet, PAN, UPerNet), and any of them at a 1x1 bottleneck.
        return 2

    def details(self) -> registry.BackendDetails:
        available, reason = PACKAGE.status()
        defaults = {"architecture": DEFAULT_ARCHITECTURE, "encoder": DEFAULT_ENCODER,
                    "encoder_depth": _default_depth(DEFAULT_ARCHITECTURE), "encoder_weights": NO_WEIGHTS,
                    "weights_file": ""}
        encoders: list[str] = []
        if available:
            # Without importing smp (seconds) while the installed version is the pinned one.
            if PACKAGE.version() == smp_encoders.PINNED_VERSION and not PACKAGE.loaded:
                encoders = list(smp_encoders.ENCODERS)
            else:
                try:
                    encoders = list(_smp("model.smp").encoders.get_encoder_names())
                except FailedPrecondition as e:
                    available, reason = False, str(e).split(": ", 2)[-1]
        return registry.BackendDetails(
            name=self.name, description=self.description, available=available, unavailable_reason=reason,
            architectures=list(ARCHITECTURES), encoders=encoders, defaults=defaults,
            package_version=PACKAGE.version())


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _load_initial_weights(net: torch.nn.Module, spec: dict[str, Any]) -> None:
    """The whole network's weights (keys of the decoder or head present) or the encoder's alone.
    A robustseg export (input_mean/input_std beside net.*) works too: its normalisation is
    dropped, the new training data sets it."""
    field, path = "model.smp.weights_file", spec["weights_file"]
    state = weights_file.read(path, spec["weights_sha256"], field)
    if "input_mean" in state and all(k.startswith("net.") for k in state if k not in ("input_mean", "input_std")):
        state = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
    if any(k.startswith(("decoder.", "segmentation_head.")) for k in state):
        weights_file.load_into(net, state, f"{spec['architecture']} with encoder {spec['encoder']}", field, path)
        return
    if all(k.startswith("encoder.") for k in state):
        state = {k[len("encoder."):]: v for k, v in state.items()}
    # An encoder's checkpoint often carries its classifier; the segmentation model has none.
    weights_file.load_into(net.encoder, state, f"encoder {spec['encoder']}", field, path,
                           ignore_unexpected=("fc.", "classifier.", "last_linear.", "head.", "_fc."))


registry.register(SmpBackend())
