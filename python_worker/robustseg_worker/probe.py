"""Probe: "is this prediction robust?" For each image a caller sends: the clean prediction, an
attack against the model (attack_specs: the same library and validation as AttackDataset), the
prediction on the attacked image, and how much the two differ.

The attack runs against the model behind the same tiling Predict uses (segment.TiledSegmenter),
so it attacks exactly the prediction a service would get. Attacks need labels; the clean
prediction stands in for them: an untargeted attack pushes away from what the model sees now,
a full-area targeted one (e.g. towards background) needs none. Random starts are seeded by the
image's position in the stream, as AttackDataset seeds them by the dataset index."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import attack_specs, image_input, segment
from .events import Progress
from .image_input import ImageBand
from .predict import StopFn, _never_stop, band_rows, check_channels, header, labels_dtype, logits_of, serving_model

log = logging.getLogger(__name__)

@dataclass
class ProbeFigures:
    agreement: list[list[int]]        # rows = clean prediction, columns = attacked prediction
    foreground_pixels: int
    foreground_to_background: float   # NaN without foreground
    mean_iou: float
    foreground_iou: float             # NaN when neither prediction has foreground
    pixel_agreement: float
    linf: float


@dataclass
class ProbeBand:
    index: int
    name: str
    height: int
    width: int
    row_offset: int
    clean_labels: np.ndarray
    adversarial_labels: np.ndarray
    adversarial_image: np.ndarray | None = None  # (3, rows, W) float32
    last: bool = False
    figures: ProbeFigures | None = None


@dataclass
class ProbeDone:
    num_images: int
    num_pixels: int
    seconds: float
    attack: dict[str, Any]


def probe_figures(clean: np.ndarray, attacked: np.ndarray, num_classes: int, linf: float) -> ProbeFigures:
    """How far the prediction on the attacked image is from the clean one (class 0 = background)."""
    clean = clean.astype(np.int64).ravel()
    attacked = attacked.astype(np.int64).ravel()
    agreement = np.bincount(clean * num_classes + attacked, minlength=num_classes * num_classes)
    agreement = agreement.reshape(num_classes, num_classes)
    foreground = int(agreement[1:].sum())
    turned = int(agreement[1:, 0].sum())
    both = np.diag(agreement).astype(np.float64)
    either = agreement.sum(axis=0) + agreement.sum(axis=1) - np.diag(agreement)
    present = either > 0
    mean_iou = float((both[present] / either[present]).mean()) if present.any() else math.nan
    fg_both = int(agreement[1:, 1:].sum())
    fg_either = int(agreement.sum() - agreement[0, 0])
    return ProbeFigures(
        agreement=agreement.tolist(),
        foreground_pixels=foreground,
        foreground_to_background=turned / foreground if foreground else math.nan,
        mean_iou=mean_iou,
        foreground_iou=fg_both / fg_either if fg_either else math.nan,
        pixel_agreement=float(both.sum() / max(1, clean.size)),
        linf=linf,
    )


def probe(engine: Any, model_name: str, attack: dict[str, Any] | None, bands: Iterable[ImageBand], *,
          adversarial_images: bool = False, tiling: dict[str, Any] | None = None,
          check_stop: StopFn = _never_stop) -> Iterator[Any]:
    """Events: PredictionHeader, then per image Progress and its ProbeBands, then ProbeDone."""
    plan = segment.resolve_tiling(tiling, "options.tiling")
    model = serving_model(engine, model_name)
    spec = attack_specs.resolve(attack, model.num_classes, "options.attack")
    yield header(model, plan)
    started, count, pixels = time.monotonic(), 0, 0
    dtype = labels_dtype(model.num_classes)
    per_pixel = 2 * dtype.itemsize + (12 if adversarial_images else 0)
    segmenter = segment.TiledSegmenter(model.module, plan, check_stop)
    limit = min(int(getattr(engine, "max_probe_pixels", image_input.MAX_PROBE_PIXELS)),
                int(getattr(engine, "max_image_pixels", image_input.MAX_IMAGE_PIXELS)))
    for image in image_input.assemble(bands, limit, check_stop):
        check_channels(model, image)
        x = torch.from_numpy(image.pixels).unsqueeze(0).to(engine.device)
        clean = logits_of(model, x, plan, engine.device, check_stop).argmax(dim=1)
        x_adv = spec.run(segmenter, x, clean, image.index, check_stop).detach()
        attacked = logits_of(model, x_adv, plan, engine.device, check_stop).argmax(dim=1)
        linf = float((x_adv - x).abs().max()) if x.numel() else 0.0
        clean_np = clean[0].cpu().numpy().astype(dtype, copy=False)
        attacked_np = attacked[0].cpu().numpy().astype(dtype, copy=False)
        adv_np = x_adv[0].float().cpu().numpy() if adversarial_images else None
        figures = probe_figures(clean_np, attacked_np, model.num_classes, linf)
        rows = band_rows(image.width, per_pixel, engine.max_message_bytes)
        for top in range(0, image.height, rows):
            bottom = min(top + rows, image.height)
            last = bottom == image.height
            yield ProbeBand(image.index, image.name, image.height, image.width, top, clean_np[top:bottom],
                            attacked_np[top:bottom], None if adv_np is None else adv_np[:, top:bottom], last,
                            figures if last else None)
        count += 1
        pixels += image.height * image.width
        yield Progress("probe", count, 0, image.name)
    seconds = time.monotonic() - started
    log.info("probe of %s (%s): %d images in %.2fs", model.model_id, spec.canonical.get("method"), count, seconds)
    yield ProbeDone(count, pixels, seconds, dict(spec.canonical))
