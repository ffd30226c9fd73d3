"""A trained model as a file other tools load without robustseg (plain functions; the engine
decides where the file goes and streams it, engine_export.py).

Every format holds the whole framed model: input normalisation, padding to the network's stride
and cropping back are part of it, so the input is pixels in [0, 1], float32 (N, C, H, W), named
"images", and the output is "logits", float32 (N, classes, H, W).

- onnx: torch.onnx's TorchScript-based exporter (dynamo=False; the metadata is written with the
  onnx package). The batch axis is dynamic, and so are H and W where the network's graph keeps
  shapes symbolic (the framing's pad/crop does; FramedSegmenter.dynamic_spatial_export says so
  per network, and the tests run every exported graph at a second tile size); SwinUNETR's window
  partition bakes its sizes in, so its H and W stay fixed at the training tile size. The opset,
  the dynamic axes, the backend, its spec and the class names are in the file's metadata_props
  (keys "robustseg.*") and in the result. Why not the dynamo exporter: it took 20-80 s per
  model on two cores where this one takes 1-7 s, for the same graph.
- torchscript: torch.jit.trace at the training tile size, with the same dynamic axes as ONNX; the
  same metadata is in the archive's extra file "robustseg.json". torch.jit.load needs no robustseg.

Both traced formats take every image size the worker serves, down to 1 x 1 (where the axes are
dynamic): the framing picks reflect or replicate padding by comparing the pad with the side in
Python, which tracing would freeze at the example's size (reflect, which fails below the
stride), so the exported graph pads the input itself first with index arithmetic that decides
per input (`AnySizeInput`); the model's own pad is then zero. The values are the same copies
of pixels, so the graph equals the model at every size. A network whose graph fixes H and W
(SwinUNETR) says so: "robustseg.input_size" is "HxW" there and "any" elsewhere.
- safetensors: the state dict (including the normalisation buffers) with the metadata in the
  file's header, for frameworks that rebuild the network themselves.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__, safetensors_io
from .errors import FailedPrecondition, InvalidArgument
from .models.framing import FramedSegmenter
from .models.optional import OptionalPackage

FORMATS = ("onnx", "torchscript", "safetensors")
EXTENSIONS = {"onnx": "onnx", "torchscript": "torchscript.pt", "safetensors": "safetensors"}
INPUT_NAME, OUTPUT_NAME = "images", "logits"
# The dynamo exporter's lowest opset; widely supported by runtimes (onnxruntime >= 1.14).
DEFAULT_OPSET = 18
MIN_OPSET = 13  # Pad with runtime-computed pads and reflect mode, ReduceMean axes as attributes

ONNX = OptionalPackage("onnx", "onnx", "1.22.0")
# Part of "robustseg.format"; a stored export of another version is written again (engine_export).
# 2: traced graphs take any image size (AnySizeInput).
FORMAT_VERSION = 2


@dataclass
class Exported:
    opset: int  # 0 unless ONNX
    dynamic_axes: list[str]  # e.g. ["batch", "height", "width"]
    metadata: dict[str, str]  # what the file's own metadata holds


def check_format(value: Any, field: str = "format") -> str:
    if value not in FORMATS:
        raise InvalidArgument(field, f"must be one of {', '.join(f.upper() for f in FORMATS)}, got "
                                     f"{'unspecified' if value is None else repr(value)}")
    return value


def max_opset() -> int:
    """The newest opset torch's TorchScript-based exporter writes (and onnx knows)."""
    try:
        from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET as newest
    except ImportError:  # a private constant: torch 2.15 has it (20)
        newest = 20
    return min(int(newest), int(ONNX.require("format").defs.onnx_opset_version()))


def check_opset(fmt: str, opset: Any, field: str = "opset") -> int:
    """The ONNX opset to write (0 = DEFAULT_OPSET); must stay 0 for the other formats."""
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise InvalidArgument(field, f"must be an integer, got {opset!r}")
    if fmt != "onnx":
        if opset:
            raise InvalidArgument(field, f"applies to ONNX only; leave it 0 for {fmt}")
        return 0
    ONNX.require("format")
    if opset == 0:
        return DEFAULT_OPSET
    high = max_opset()
    if not MIN_OPSET <= opset <= high:
        raise InvalidArgument(field, f"must be between {MIN_OPSET} and {high} (0 = {DEFAULT_OPSET}), got {opset}")
    return opset


def metadata(model_id: str, backend: str, spec: dict[str, Any], class_names: list[str], rebuild: dict[str, Any],
             fmt: str) -> dict[str, str]:
    """The file's own description (strings only: ONNX metadata_props and safetensors headers)."""
    return {
        "robustseg.format": f"robustseg-{fmt}-{FORMAT_VERSION}",
        "robustseg.model_id": model_id,
        "robustseg.backend": backend,
        "robustseg.spec": json.dumps(spec, sort_keys=True),
        "robustseg.class_names": json.dumps(list(class_names)),
        "robustseg.input": f"{INPUT_NAME}: float32 (N, {rebuild['in_channels']}, H, W), pixels in [0, 1]",
        "robustseg.output": f"{OUTPUT_NAME}: float32 (N, {len(class_names)}, H, W)",
        "robustseg.tile_size": f"{rebuild['tile_height']}x{rebuild['tile_width']}",
        "robustseg.input_mean": json.dumps(rebuild["input_mean"]),
        "robustseg.input_std": json.dumps(rebuild["input_std"]),
        "robustseg.worker_version": __version__,
        "robustseg.torch_version": torch.__version__,
    }


@contextlib.contextmanager
def _quiet_stdout():
    """Exporters print progress; the worker's stdout carries only its readiness line."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def example_input(rebuild: dict[str, Any], batch: int = 2) -> torch.Tensor:
    """Pixels of the training tile size: what tracing and exporting run the model on."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, rebuild["in_channels"], rebuild["tile_height"], rebuild["tile_width"],
                      generator=generator)


def _padding_index(side: torch.Tensor, multiple: int, min_side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For one axis of length `side` (a 0-d tensor, so tracing keeps it symbolic): the reflect
    and the replicate index of every padded position, and the pad (framing.padded_side)."""
    padded = torch.clamp(side, min=min_side)
    padded = padded + torch.remainder(-padded, multiple)
    position = torch.arange(padded)
    last = side - 1
    reflect = last - torch.abs(last - position)
    replicate = torch.minimum(position, last)
    return reflect, replicate, padded - side


class AnySizeInput(nn.Module):
    """`model` (a FramedSegmenter) behind its own padding done as a traceable gather: the same
    reflect-or-replicate choice as framing.FramedSegmenter.forward, taken per input inside the
    graph instead of once at trace time."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.pad_multiple = int(getattr(model, "pad_multiple", 1))
        self.min_side = int(getattr(model, "min_side", 1))
        # The exporters switch the module they are given to eval mode and back again, recursively.
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        shape = torch._shape_as_tensor(x)
        reflect_h, replicate_h, pad_h = _padding_index(shape[-2], self.pad_multiple, self.min_side)
        reflect_w, replicate_w, pad_w = _padding_index(shape[-1], self.pad_multiple, self.min_side)
        use_reflect = (pad_h < shape[-2]) & (pad_w < shape[-1])
        x = x.index_select(2, torch.where(use_reflect, reflect_h, replicate_h))
        x = x.index_select(3, torch.where(use_reflect, reflect_w, replicate_w))
        return self.model(x)[..., :h, :w]


def _spatial_axes(model: nn.Module) -> list[str]:
    return ["batch", "height", "width"] if getattr(model, "dynamic_spatial_export", False) else ["batch"]


def _input_size(axes: list[str], example: torch.Tensor) -> str:
    """What "robustseg.input_size" says: "any" (H, W >= 1) or the one size the graph takes."""
    return "any" if "height" in axes else f"{example.shape[-2]}x{example.shape[-1]}"


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int, meta: dict[str, str]) -> Exported:
    onnx = ONNX.require("format")
    axes = _spatial_axes(model)
    dims = dict(zip((0, 2, 3), axes))
    try:
        with _quiet_stdout(), torch.no_grad(), _no_warnings():
            torch.onnx.export(AnySizeInput(model), (example,), str(path), dynamo=False, verbose=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims})
    except Exception as e:  # noqa: BLE001 - the exporter raises many kinds
        raise FailedPrecondition(f"ONNX export of this {meta['robustseg.backend']} model failed: "
                                 f"{_first_line(e)}") from e
    written = dict(meta, **{"robustseg.dynamic_axes": ",".join(axes), "robustseg.opset": str(opset),
                            "robustseg.input_size": _input_size(axes, example)})
    graph = onnx.load(str(path))
    for key, value in written.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))
    return Exported(opset, axes, written)


def export_torchscript(model: nn.Module, example: torch.Tensor, path: Path, meta: dict[str, str]) -> Exported:
    axes = _spatial_axes(model)
    written = dict(meta, **{"robustseg.dynamic_axes": ",".join(axes), "robustseg.input_size": _input_size(axes, example)})
    try:
        with _quiet_stdout(), torch.no_grad(), _no_warnings():
            traced = torch.jit.trace(AnySizeInput(model), example, check_trace=False)
            torch.jit.save(traced, str(path), _extra_files={"robustseg.json": json.dumps(written, sort_keys=True)})
    except Exception as e:  # noqa: BLE001
        raise FailedPrecondition(f"TorchScript export of this {meta['robustseg.backend']} model failed: "
                                 f"{_first_line(e)}") from e
    return Exported(0, axes, written)


def export_safetensors(model: nn.Module, path: Path, meta: dict[str, str]) -> Exported:
    safetensors_io.save_torch(model.state_dict(), path, metadata=meta)
    return Exported(0, [], dict(meta))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else repr(e)


@contextlib.contextmanager
def _no_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic
        yield


def export(model: nn.Module, fmt: str, path: Path, opset: int, meta: dict[str, str],
           example: torch.Tensor) -> Exported:
    """Write `model` (eval mode, on the CPU) to `path` in `fmt`; `example` is an input of the
    training tile size."""
    model = model.eval()
    if fmt == "onnx":
        return export_onnx(model, example, path, opset, meta)
    if fmt == "torchscript":
        return export_torchscript(model, example, path, meta)
    return export_safetensors(model, path, meta)
