"""Predict: segment the images a caller sends with a trained model (embedding). Plain Python
over the engine: a generator of events (header, progress, one or more bands per image, summary)
that the servicer converts to messages.

Each image is segmented as soon as its last band has arrived (segment.py tiles or pads it as the
model needs); its answer goes out in bands of rows that fit half the message limit. Labels are
uint8 while the model has at most 256 classes (int64 beyond)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import figures, image_input, segment
from .device import autocast
from .errors import InvalidArgument
from .events import ModelInfo, Progress
from .image_input import ImageBand, InputImage

log = logging.getLogger(__name__)

StopFn = Callable[[], None]


def _never_stop() -> None:
    return None


@dataclass
class PredictionHeader:
    model_id: str
    class_names: list[str]
    class_colors: list[str]
    tile_size: int
    overlap: float


@dataclass
class PredictionBand:
    index: int
    name: str
    height: int
    width: int
    row_offset: int
    labels: np.ndarray                       # (rows, W) uint8 or int64
    probabilities: np.ndarray | None = None  # (C, rows, W) float32
    last: bool = False
    class_pixel_counts: list[int] | None = None  # whole image, on the last band


@dataclass
class PredictDone:
    num_images: int
    num_pixels: int
    seconds: float


@dataclass
class ServingModel:
    """A trained model ready to segment: the module on the worker's device and what it predicts."""

    model_id: str
    module: nn.Module
    info: ModelInfo
    in_channels: int

    @property
    def num_classes(self) -> int:
        return self.info.num_classes


def serving_model(engine: Any, name: str, field: str = "options.model_id") -> ServingModel:
    """Resolve a model id or alias (model_names.py) and load the model (engine's LRU cache)."""
    model_id = engine.model_names.resolve(name, field)
    module, info = engine.cached_model(model_id, field)
    in_channels = int(engine.store.read_meta("model", model_id).get("rebuild", {}).get("in_channels", 3))
    return ServingModel(model_id, module, info, in_channels)


def header(model: ServingModel, tiling: segment.Tiling) -> PredictionHeader:
    return PredictionHeader(model.model_id, list(model.info.class_names), figures.class_colors(model.num_classes),
                            tiling.tile_size, tiling.overlap)


def labels_dtype(num_classes: int) -> np.dtype:
    return np.dtype(np.uint8) if num_classes <= 256 else np.dtype(np.int64)


def band_rows(width: int, bytes_per_pixel: int, max_message_bytes: int) -> int:
    """Rows per answer band: half the message limit leaves room for framing and other fields."""
    return max(1, (max_message_bytes // 2) // max(1, width * bytes_per_pixel))


def check_channels(model: ServingModel, image: InputImage) -> None:
    if model.in_channels != 3:
        raise InvalidArgument(f"images[{image.index}].pixels", f"model {model.model_id} takes {model.in_channels} "
                              "channels; images arrive as RGB")


def logits_of(model: ServingModel, pixels: np.ndarray | torch.Tensor, tiling: segment.Tiling, device: torch.device,
              check_stop: StopFn = _never_stop) -> torch.Tensor:
    """float32 logits (N, C, H, W) of images (N, 3, H, W) or one image (3, H, W)."""
    x = torch.as_tensor(pixels)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    x = x.to(device=device, dtype=torch.float32)
    with torch.inference_mode(), autocast(device):
        return segment.tiled_logits(model.module, x, tiling, check_stop).float()


def predict(engine: Any, model_name: str, bands: Iterable[ImageBand], *, probabilities: bool = False,
            tiling: dict[str, Any] | None = None, check_stop: StopFn = _never_stop) -> Iterator[Any]:
    """Events: PredictionHeader, then per image Progress and its PredictionBands, then PredictDone."""
    plan = segment.resolve_tiling(tiling, "options.tiling")
    model = serving_model(engine, model_name)
    yield header(model, plan)
    started, count, pixels = time.monotonic(), 0, 0
    dtype = labels_dtype(model.num_classes)
    per_pixel = dtype.itemsize + (4 * model.num_classes if probabilities else 0)
    for image in image_input.assemble(bands, engine_max_pixels(engine), check_stop):
        check_channels(model, image)
        logits = logits_of(model, image.pixels, plan, engine.device, check_stop)[0]
        labels = logits.argmax(dim=0)
        counts = torch.bincount(labels.flatten(), minlength=model.num_classes).cpu().tolist()
        labels_np = labels.cpu().numpy().astype(dtype, copy=False)
        probs_np = torch.softmax(logits, dim=0).cpu().numpy() if probabilities else None
        del logits
        rows = band_rows(image.width, per_pixel, engine.max_message_bytes)
        for top in range(0, image.height, rows):
            bottom = min(top + rows, image.height)
            last = bottom == image.height
            yield PredictionBand(image.index, image.name, image.height, image.width, top, labels_np[top:bottom],
                                 None if probs_np is None else probs_np[:, top:bottom], last,
                                 counts if last else None)
        count += 1
        pixels += image.height * image.width
        yield Progress("predict", count, 0, image.name)
    seconds = time.monotonic() - started
    log.info("predict with %s: %d images, %d pixels in %.2fs", model.model_id, count, pixels, seconds)
    yield PredictDone(count, pixels, seconds)


def engine_max_pixels(engine: Any) -> int:
    return int(getattr(engine, "max_image_pixels", image_input.MAX_IMAGE_PIXELS))
