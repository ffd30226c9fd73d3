"""inference.GRPCInferenceService, the Open Inference Protocol (KServe V2), for trained models:
a thin layer like servicer.py. It turns the protocol's tensors into arrays (checking every field
and naming it on error), calls the engine (engine_serving.infer) and turns the result back.
Errors are raised as errors.py exceptions; status_mapping.py makes them status codes.

Models: the name is a model id or an alias (model_names.py); every model has one version, "1".
Input `INPUT__0`: FP32 [N, 3, H, W] in [0, 1], or UINT8 [N, H, W, 3] (the layout decoded image
files have). Outputs: `LOGITS` FP32 [N, C, H, W] and `LABELS` INT64 [N, H, W] (argmax), both
by default; a request may list the ones it wants. Images of any size are tiled or padded as the
model needs (segment.py), and outputs have the input's size. Model metadata lists the class
names as the `class_names` parameter (a JSON array) of each output, and ModelInfer repeats it
on the outputs it returns."""

from __future__ import annotations

import json
import math
import threading
from typing import Any

import numpy as np

from . import __version__
from .engine import Engine
from .errors import InvalidArgument, Unavailable
from .image_input import check_unit_range, uint8_hwc_to_chw
from .proto.inference import grpc_predict_v2_pb2 as pb
from .proto.inference import grpc_predict_v2_pb2_grpc

INFERENCE_SERVICE = "inference.GRPCInferenceService"
SERVER_NAME = "robustseg"
MODEL_VERSION = "1"
INPUT_NAME = "INPUT__0"
LOGITS = "LOGITS"
LABELS = "LABELS"
OUTPUTS = (LOGITS, LABELS)
_INPUT_TYPES = {"FP32": ("<f4", 1), "UINT8": ("u1", 3)}  # datatype -> (numpy dtype, channel axis)


def _string(value: str) -> pb.InferParameter:
    return pb.InferParameter(string_param=value)


def _check_version(version: str, field: str) -> None:
    if version not in ("", MODEL_VERSION):
        raise InvalidArgument(field, f"robustseg models have one version, {MODEL_VERSION!r} (or leave it empty); "
                              f"got {version!r}")


def input_pixels(request: pb.ModelInferRequest) -> np.ndarray:
    """The request's INPUT__0 as float32 (N, 3, H, W) in [0, 1]."""
    if len(request.inputs) != 1:
        raise InvalidArgument("inputs", f"expected one input tensor, {INPUT_NAME}; got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.name != INPUT_NAME:
        raise InvalidArgument("inputs[0].name", f"must be {INPUT_NAME}, got {tensor.name!r}")
    if tensor.datatype not in _INPUT_TYPES:
        raise InvalidArgument("inputs[0].datatype", f"must be FP32 ([N, 3, H, W] in [0, 1]) or UINT8 ([N, H, W, 3]), "
                              f"got {tensor.datatype!r}")
    dtype, channel_axis = _INPUT_TYPES[tensor.datatype]
    shape = [int(s) for s in tensor.shape]
    layout = "[N, 3, H, W]" if channel_axis == 1 else "[N, H, W, 3]"
    if len(shape) != 4 or shape[channel_axis] != 3 or min(shape) < 1:
        raise InvalidArgument("inputs[0].shape", f"{tensor.datatype} input must have shape {layout} with every "
                              f"dimension >= 1, got {shape}")
    count = math.prod(shape)
    if request.raw_input_contents:
        if tensor.HasField("contents"):
            raise InvalidArgument("inputs[0].contents", "set together with raw_input_contents: use one of them")
        if len(request.raw_input_contents) != 1:
            raise InvalidArgument("raw_input_contents", f"one entry per input (1), got {len(request.raw_input_contents)}")
        raw = request.raw_input_contents[0]
        itemsize = np.dtype(dtype).itemsize
        if len(raw) != count * itemsize:
            raise InvalidArgument("raw_input_contents[0]", f"{len(raw)} bytes for {tensor.datatype} {shape} "
                                  f"({count * itemsize} expected)")
        values = np.frombuffer(raw, dtype=dtype).reshape(shape)
    else:
        typed = tensor.contents.fp32_contents if tensor.datatype == "FP32" else tensor.contents.uint_contents
        if len(typed) != count:
            raise InvalidArgument("inputs[0].contents", f"{len(typed)} values for {tensor.datatype} {shape} ({count} "
                                  "expected; or send raw_input_contents)")
        values = np.asarray(typed, dtype=np.float32 if tensor.datatype == "FP32" else np.uint32).reshape(shape)
        if tensor.datatype == "UINT8":
            if values.size and int(values.max()) > 255:
                raise InvalidArgument("inputs[0].contents", f"UINT8 values must be 0..255, got {int(values.max())}")
            values = values.astype(np.uint8)
    if tensor.datatype == "FP32":
        return check_unit_range(values, "inputs[0]")
    return uint8_hwc_to_chw(values)


def requested_outputs(request: pb.ModelInferRequest) -> set[str]:
    if not request.outputs:
        return set(OUTPUTS)
    wanted = set()
    for i, output in enumerate(request.outputs):
        if output.name not in OUTPUTS:
            raise InvalidArgument(f"outputs[{i}].name", f"must be {' or '.join(OUTPUTS)}, got {output.name!r}")
        wanted.add(output.name)
    return wanted


class InferenceServicer(grpc_predict_v2_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, engine: Engine, shutting_down: threading.Event) -> None:
        self.engine = engine
        self._shutting_down = shutting_down

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=not self._shutting_down.is_set())

    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=[])

    def ModelReady(self, request, context):
        _check_version(request.version, "version")
        self.engine.serving_model(request.name, "name")  # NOT_FOUND / INVALID_ARGUMENT, else loaded
        return pb.ModelReadyResponse(ready=not self._shutting_down.is_set())

    def ModelMetadata(self, request, context):
        _check_version(request.version, "version")
        model = self.engine.serving_model(request.name, "name")
        classes = {"class_names": _string(json.dumps(list(model.info.class_names)))}
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=request.name,
            versions=[MODEL_VERSION],
            platform=f"robustseg_{model.info.backend}",
            inputs=[tensor(name=INPUT_NAME, datatype="FP32", shape=[-1, model.in_channels, -1, -1],
                           parameters={"value_range": _string("[0, 1]"),
                                       "also_accepts": _string("UINT8 [N, H, W, 3] (0..255)")})],
            outputs=[tensor(name=LOGITS, datatype="FP32", shape=[-1, model.num_classes, -1, -1], parameters=classes),
                     tensor(name=LABELS, datatype="INT64", shape=[-1, -1, -1], parameters=classes)],
        )

    def ModelInfer(self, request, context):
        if self._shutting_down.is_set():
            raise Unavailable("the worker is shutting down")
        _check_version(request.model_version, "model_version")
        wanted = requested_outputs(request)
        pixels = input_pixels(request)
        result = self.engine.infer(request.model_name, pixels, logits=LOGITS in wanted, labels=LABELS in wanted)
        classes = {"class_names": _string(json.dumps(result.class_names))}
        outputs: list[Any] = []
        raw: list[bytes] = []
        for name, array, datatype in ((LOGITS, result.logits, "FP32"), (LABELS, result.labels, "INT64")):
            if array is None:
                continue
            outputs.append(pb.ModelInferResponse.InferOutputTensor(name=name, datatype=datatype, shape=list(array.shape),
                                                                    parameters=classes))
            raw.append(np.ascontiguousarray(array, dtype="<f4" if datatype == "FP32" else "<i8").tobytes())
        return pb.ModelInferResponse(model_name=request.model_name, model_version=MODEL_VERSION, id=request.id,
                                     parameters={"model_id": _string(result.model_id)},
                                     outputs=outputs, raw_output_contents=raw)
