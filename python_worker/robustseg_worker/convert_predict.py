"""Predict, Probe and model aliases (predict.proto): messages to plain values and back, as
convert.py does for the rest of the contract.

A request stream starts with its options; `split_stream` reads them and hands back the rest as a
generator of image_input.ImageBand values, refusing a second options message."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message

from . import convert, predict, probe
from .errors import InvalidArgument
from .events import Progress
from .image_input import ImageBand
from .proto.robustseg.v1 import common_pb2, predict_pb2


def _dtype_name(value: int) -> str:
    known = common_pb2.DType.Name(value) if value in common_pb2.DType.values() else str(value)
    return {"DTYPE_FLOAT32": "float32", "DTYPE_UINT8": "uint8"}.get(known, known)


def image_band(chunk: predict_pb2.ImageChunk) -> ImageBand:
    return ImageBand(name=chunk.name, height=chunk.height, width=chunk.width, row_offset=chunk.row_offset,
                     dtype=_dtype_name(chunk.pixels.dtype), shape=tuple(chunk.pixels.shape), data=chunk.pixels.data)


def split_stream(requests: Iterator[Message]) -> tuple[Message, Iterator[ImageBand]]:
    """(the options of the first message, the image bands that follow)."""
    first = next(requests, None)
    if first is None or first.WhichOneof("part") != "options":
        raise InvalidArgument("options", "the first message of the stream must carry the options")

    def bands() -> Iterator[ImageBand]:
        for message in requests:
            if message.WhichOneof("part") != "image":
                raise InvalidArgument("options", "sent more than once (only the first message carries options)")
            yield image_band(message.image)

    return first.options, bands()


def tiling_params(options: Message) -> dict[str, Any]:
    if not options.HasField("tiling"):
        return {}
    t = options.tiling
    return {"tile_size": t.tile_size, "batch_size": t.batch_size,
            "overlap": t.overlap if t.HasField("overlap") else None}


def _header(h: predict.PredictionHeader) -> predict_pb2.PredictionHeader:
    return predict_pb2.PredictionHeader(model_id=h.model_id, class_names=h.class_names, class_colors=h.class_colors,
                                        tile_size=h.tile_size, overlap=h.overlap)


def predict_event(event: Any) -> predict_pb2.PredictEvent:
    if isinstance(event, predict.PredictionHeader):
        return predict_pb2.PredictEvent(header=_header(event))
    if isinstance(event, Progress):
        return predict_pb2.PredictEvent(progress=convert.progress(event))
    if isinstance(event, predict.PredictionBand):
        image = predict_pb2.ImagePrediction(
            index=event.index, name=event.name, height=event.height, width=event.width, row_offset=event.row_offset,
            labels=convert.numpy_to_tensor(event.labels), last=event.last,
            class_pixel_counts=event.class_pixel_counts or [])
        if event.probabilities is not None:
            image.probabilities.CopyFrom(convert.numpy_to_tensor(event.probabilities))
        return predict_pb2.PredictEvent(image=image)
    if isinstance(event, predict.PredictDone):
        return predict_pb2.PredictEvent(result=predict_pb2.PredictSummary(
            num_images=event.num_images, num_pixels=event.num_pixels, seconds=event.seconds))
    raise TypeError(f"unexpected predict event {type(event).__name__}")


def probe_event(event: Any) -> predict_pb2.ProbeEvent:
    if isinstance(event, predict.PredictionHeader):
        return predict_pb2.ProbeEvent(header=_header(event))
    if isinstance(event, Progress):
        return predict_pb2.ProbeEvent(progress=convert.progress(event))
    if isinstance(event, probe.ProbeBand):
        image = predict_pb2.ImageProbe(
            index=event.index, name=event.name, height=event.height, width=event.width, row_offset=event.row_offset,
            clean_labels=convert.numpy_to_tensor(event.clean_labels),
            adversarial_labels=convert.numpy_to_tensor(event.adversarial_labels), last=event.last)
        if event.adversarial_image is not None:
            image.adversarial_image.CopyFrom(convert.numpy_to_tensor(event.adversarial_image))
        f = event.figures
        if f is not None:
            image.agreement.CopyFrom(convert.confusion(f.agreement))
            image.foreground_pixels = f.foreground_pixels
            image.foreground_to_background = f.foreground_to_background
            image.mean_iou = f.mean_iou
            image.foreground_iou = f.foreground_iou
            image.pixel_agreement = f.pixel_agreement
            image.linf = f.linf
        return predict_pb2.ProbeEvent(image=image)
    if isinstance(event, probe.ProbeDone):
        attack = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in event.attack.items()}
        return predict_pb2.ProbeEvent(result=predict_pb2.ProbeSummary(
            num_images=event.num_images, num_pixels=event.num_pixels, seconds=event.seconds,
            attack_json=json.dumps(attack, sort_keys=True)))
    raise TypeError(f"unexpected probe event {type(event).__name__}")


def alias_response(alias: str, model_id: str, previous: str) -> predict_pb2.SetModelAliasResponse:
    return predict_pb2.SetModelAliasResponse(alias=predict_pb2.ModelAlias(alias=alias, model_id=model_id),
                                             previous_model_id=previous)


def aliases_response(aliases: dict[str, str]) -> predict_pb2.ListModelAliasesResponse:
    return predict_pb2.ListModelAliasesResponse(
        aliases=[predict_pb2.ModelAlias(alias=a, model_id=m) for a, m in sorted(aliases.items())])
