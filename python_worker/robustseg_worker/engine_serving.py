"""The engine's serving work (embedding): Predict, Probe, model aliases and the Open Inference
Protocol's inference. A mixin of engine.Engine: plain Python, no grpc.

Needs from Engine: store, device, max_message_bytes, cached_model."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import image_input, predict, probe, segment
from .errors import InvalidArgument
from .image_input import ImageBand
from .model_names import ModelNames
from .predict import StopFn, _never_stop

@dataclass
class InferResult:
    """ModelInfer's answer as arrays."""

    model_id: str
    class_names: list[str]
    logits: np.ndarray | None   # float32 (N, C, H, W)
    labels: np.ndarray | None   # int64 (N, H, W)


class ServingMixin:
    max_image_pixels: int = image_input.MAX_IMAGE_PIXELS
    max_probe_pixels: int = image_input.MAX_PROBE_PIXELS

    @property
    def model_names(self) -> ModelNames:
        names = self.__dict__.get("_model_names")
        if names is None:
            names = self.__dict__["_model_names"] = ModelNames(self.store)
        return names

    # --- Predict and Probe ---------------------------------------------------------------------

    def predict(self, model_name: str, bands: Iterable[ImageBand], *, probabilities: bool = False,
                tiling: dict[str, Any] | None = None, check_stop: StopFn = _never_stop) -> Iterator[Any]:
        """Segment the images of a Predict stream (predict.py)."""
        return predict.predict(self, model_name, bands, probabilities=probabilities, tiling=tiling,
                               check_stop=check_stop)

    def probe(self, model_name: str, attack: dict[str, Any] | None, bands: Iterable[ImageBand], *,
              adversarial_images: bool = False, tiling: dict[str, Any] | None = None,
              check_stop: StopFn = _never_stop) -> Iterator[Any]:
        """Clean and attacked predictions of a Probe stream (probe.py)."""
        return probe.probe(self, model_name, attack, bands, adversarial_images=adversarial_images, tiling=tiling,
                           check_stop=check_stop)

    # --- aliases -------------------------------------------------------------------------------

    def set_model_alias(self, alias: str, model_id: str) -> tuple[str, str]:
        return self.model_names.set_alias(alias, model_id)

    def model_aliases(self) -> dict[str, str]:
        return self.model_names.aliases()

    # --- the Open Inference Protocol -----------------------------------------------------------

    def serving_model(self, name: str, field: str = "name") -> predict.ServingModel:
        return predict.serving_model(self, name, field)

    def infer(self, model_name: str, pixels: np.ndarray, *, logits: bool = True, labels: bool = True,
              field: str = "inputs[0]", check_stop: StopFn = _never_stop) -> InferResult:
        """Segment a batch (N, 3, H, W) float32 in [0, 1] (already checked for NaN and range)."""
        model = self.serving_model(model_name, "model_name")
        n, channels, height, width = pixels.shape
        if channels != model.in_channels:
            raise InvalidArgument(f"{field}.shape", f"model {model.model_id} takes {model.in_channels} channels, got {channels}")
        if height * width > self.max_image_pixels:
            raise InvalidArgument(f"{field}.shape", f"a {width}x{height} image has more than the limit of "
                                  f"{self.max_image_pixels} pixels")
        out_bytes = n * height * width * ((4 * model.num_classes if logits else 0) + (8 if labels else 0))
        if out_bytes > self.max_message_bytes * 0.9:
            raise InvalidArgument(f"{field}.shape", f"the outputs of {n} images of {width}x{height} would take "
                                  f"{out_bytes / 2**20:.1f} MiB, more than the {self.max_message_bytes / 2**20:.0f} MiB "
                                  "message limit: send fewer or smaller images, ask for LABELS only, or use Predict")
        result = predict.logits_of(model, pixels, segment.Tiling(), self.device, check_stop)
        labels_np = result.argmax(dim=1).cpu().numpy().astype(np.int64) if labels else None
        logits_np = result.cpu().numpy().astype(np.float32, copy=False) if logits else None
        return InferResult(model.model_id, list(model.info.class_names), logits_np, labels_np)
