"""Figure panels rendered from the real tensors as PNG (RenderPanels; paper Figures 1-3, 5-8).

Per requested image of a dataset:
  "image"             the clean image x
  "truth"             its label map, coloured with the class palette
  "clean_prediction"  argmax of model_id on x
and, when perturbed images are asked for (computed here with an attack, or read from a
perturbed dataset at the same index):
  "perturbation"      x_adv - x magnified: 0.5 + gain * delta per channel, clipped, so zero is mid
                      grey (gain 0 = auto: the largest |delta| of that image maps to full range)
  "perturbed"         x_adv
  "prediction"        argmax of model_id on x_adv
  "target"            the full-area target map (every pixel one class), only for a targeted
                      full-area gradient attack (FGSM, PGD, SegPGD, CosPGD; also when read from a
                      dataset AttackDataset made with such an attack)
Small tiles are upscaled by nearest neighbour (`scale`; 0 = the smallest integer factor that
makes the shorter side >= 128 px).

Plain Python over the engine (no grpc); the servicer converts the result.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import attack_specs, png
from .device import autocast
from .errors import InvalidArgument, ResourceExhausted

MAX_IMAGES = 16      # per call: keeps the response far below the message-size limit
MAX_SCALE = 64
MAX_PANEL_SIDE = 4096
AUTO_MIN_SIDE = 128

# Background: a neutral pale grey. Then Paul Tol's "muted" qualitative scheme (colour-blind safe,
# 9 colours: histology's 5 nucleus types and Kandinsky's 9 shape-and-colour classes), then his
# "light" scheme; beyond that, generated colours (distinct, but no longer colour-blind tuned).
BACKGROUND_COLOR = "#dddddd"
_BASE_COLORS = (
    "#cc6677", "#332288", "#ddcc77", "#117733", "#88ccee", "#882255", "#44aa99", "#999933", "#aa4499",
    "#77aadd", "#ee8866", "#eedd88", "#ffaabb", "#99ddff", "#44bb99", "#bbcc33", "#aaaa00",
)

StopFn = Callable[[], None]


def _never_stop() -> None:
    return None


@dataclass
class Panel:
    kind: str
    png: bytes
    width: int
    height: int


@dataclass
class PanelSet:
    image_index: int
    panels: list[Panel] = field(default_factory=list)
    linf: float = 0.0


@dataclass
class RenderedPanels:
    panel_sets: list[PanelSet]
    class_names: list[str]
    class_colors: list[str]  # "#rrggbb", one per class


# --- palette and pixel conversions --------------------------------------------------------------


def class_colors(num_classes: int) -> list[str]:
    """One distinct "#rrggbb" per class; class 0 (background) is a neutral light grey."""
    colors = [BACKGROUND_COLOR, *_BASE_COLORS][:num_classes]
    seen = set(colors)
    i = 0
    while len(colors) < num_classes:
        hue = (i * 0.618033988749895) % 1.0
        value = (0.85, 0.65, 0.45)[(i // 7) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, 0.6, value)
        color = "#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255))
        i += 1
        if color not in seen:
            seen.add(color)
            colors.append(color)
    return colors


def colors_rgb(colors: Sequence[str]) -> np.ndarray:
    """(C, 3) uint8 of "#rrggbb" strings."""
    return np.array([[int(c[k:k + 2], 16) for k in (1, 3, 5)] for c in colors], dtype=np.uint8).reshape(-1, 3)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def image_rgb(x: np.ndarray) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, 3) uint8 (one channel is shown as grey)."""
    if x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    return _to_uint8(np.transpose(x[:3], (1, 2, 0)))


def label_rgb(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 through the palette."""
    return palette[labels]


def perturbation_rgb(delta: np.ndarray, gain: float) -> np.ndarray:
    """(C, H, W) x_adv - x -> 0.5 + gain * delta per channel, clipped: zero is mid grey (128)."""
    return image_rgb(0.5 + gain * delta.astype(np.float64))


def auto_gain(delta: np.ndarray) -> float:
    """The gain that maps the largest |delta| to the end of the range (1 when delta is zero)."""
    largest = float(np.abs(delta).max()) if delta.size else 0.0
    return 0.5 / largest if largest > 0 else 1.0


def auto_scale(height: int, width: int) -> int:
    return max(1, math.ceil(AUTO_MIN_SIDE / max(1, min(height, width))))


def upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return rgb
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def _panel(kind: str, rgb: np.ndarray, scale: int) -> Panel:
    big = np.ascontiguousarray(upscale(rgb, scale))
    return Panel(kind, png.encode_rgb(big), int(big.shape[1]), int(big.shape[0]))


# --- the request ---------------------------------------------------------------------------------


def _target_of_dataset(info: Any) -> int | None:
    """The full-area target class of a dataset AttackDataset made with a targeted gradient attack."""
    attack = (info.provenance or {}).get("recipe", {}).get("attack") if info.source == "attack" else None
    if isinstance(attack, dict) and attack.get("kind") == "gradient" and isinstance(attack.get("target"), int):
        return attack["target"]
    return None


def _predict(model: torch.nn.Module, x: torch.Tensor, device: torch.device) -> np.ndarray:
    with torch.inference_mode(), autocast(device):
        logits = model(x)
    return logits.float().argmax(dim=1).cpu().numpy()


def render_panels(engine: Any, model_id: str, dataset_id: str, image_indices: Sequence[int],
                  attack: dict[str, Any] | None = None, attack_model_id: str = "",
                  perturbed_dataset_id: str = "", perturbation_gain: float = 0.0, scale: int = 0,
                  check_stop: StopFn = _never_stop) -> RenderedPanels:
    """Panels for each image index (see the module docstring). `engine` is an engine.Engine."""
    model_info, dataset = engine._pair(model_id, dataset_id)
    indices = list(image_indices)
    if len(indices) > MAX_IMAGES:
        raise InvalidArgument("image_indices", f"at most {MAX_IMAGES} images per call, got {len(indices)}")
    if attack is not None and perturbed_dataset_id:
        raise InvalidArgument("perturbed_dataset_id", "set together with attack: give one source of perturbed "
                              "images (an attack to compute, or a dataset to read)")
    if attack is None and attack_model_id:
        raise InvalidArgument("attack_model_id", "set without attack: there is nothing to compute against it")
    if (isinstance(perturbation_gain, bool) or not isinstance(perturbation_gain, (int, float))
            or not math.isfinite(perturbation_gain) or perturbation_gain < 0):
        raise InvalidArgument("perturbation_gain", f"must be >= 0 (0 = auto), got {perturbation_gain!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= MAX_SCALE:
        raise InvalidArgument("scale", f"must be between 0 (auto) and {MAX_SCALE}, got {scale!r}")

    spec, attacker_id, target_class, perturbed = None, "", None, None
    if attack is not None:
        attacker_id = attack_model_id or model_id
        attacker_info, _ = engine._pair(attacker_id, dataset_id, "attack_model_id" if attack_model_id else "model_id")
        spec = attack_specs.resolve(attack, attacker_info.num_classes)
        if spec.kind == "gradient":
            target_class = spec.canonical["target"]
    elif perturbed_dataset_id:
        perturbed = engine.get_dataset(perturbed_dataset_id, "perturbed_dataset_id")
        if perturbed.class_names != dataset.class_names:
            raise InvalidArgument("perturbed_dataset_id", f"dataset {perturbed_dataset_id} has classes "
                                  f"{perturbed.class_names}, dataset {dataset_id} has {dataset.class_names}")
        if (perturbed.channels, perturbed.height, perturbed.width) != (dataset.channels, dataset.height, dataset.width):
            raise InvalidArgument("perturbed_dataset_id", f"dataset {perturbed_dataset_id} has tiles "
                                  f"{perturbed.channels}x{perturbed.height}x{perturbed.width}, dataset {dataset_id} "
                                  f"has {dataset.channels}x{dataset.height}x{dataset.width}")
        target_class = _target_of_dataset(perturbed)

    limit = dataset.num_images if perturbed is None else min(dataset.num_images, perturbed.num_images)
    for i, index in enumerate(indices):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < limit:
            what = f"dataset {dataset_id} has {dataset.num_images} images" + (
                "" if perturbed is None else f", perturbed dataset {perturbed_dataset_id} {perturbed.num_images}")
            raise InvalidArgument(f"image_indices[{i}]", f"must be in [0, {limit}) ({what}), got {index!r}")
    indices = [int(i) for i in indices]

    s = scale or auto_scale(dataset.height, dataset.width)
    if max(dataset.height, dataset.width) * s > MAX_PANEL_SIDE:
        raise InvalidArgument("scale", f"panels of {dataset.width}x{dataset.height} tiles at scale {s} would be "
                              f"{dataset.width * s}x{dataset.height * s}, more than {MAX_PANEL_SIDE} px a side")
    with_perturbed = spec is not None or perturbed is not None
    kinds = 3 + (3 + (target_class is not None) if with_perturbed else 0)
    # Upper bound of the PNG bytes (stored rows plus headers), checked before any work.
    panel_bound = dataset.height * s * (dataset.width * s * 3 + 1) + 1024
    needed = len(indices) * kinds * panel_bound
    budget = getattr(engine, "max_message_bytes", 64 * 2**20) // 2
    if needed > budget:
        raise ResourceExhausted(f"{len(indices)} images x {kinds} panels of {dataset.width * s}x{dataset.height * s} "
                                f"px may need {needed / 2**20:.1f} MiB, more than half the {budget * 2 / 2**20:.0f} "
                                "MiB message limit: ask for fewer images or a smaller scale")

    class_names = list(dataset.class_names)
    colors = class_colors(len(class_names))
    palette = colors_rgb(colors)
    if not indices:
        return RenderedPanels([], class_names, colors)

    check_stop()
    device = engine.device
    model, _ = engine.cached_model(model_id)
    images, labels = engine.cached_dataset(dataset_id)
    sel = torch.tensor(indices, device=images.device)
    x, y = images[sel], labels[sel]
    x_adv = None
    if spec is not None:
        attacker, _ = engine.cached_model(attacker_id, "attack_model_id" if attack_model_id else "model_id")
        # One image at a time, so each random start is seeded by its own dataset index exactly
        # as AttackDataset and Evaluate seed it: the panel shows the image they would make.
        x_adv = torch.cat([spec.run(attacker, x[k:k + 1], y[k:k + 1], index, check_stop)
                           for k, index in enumerate(indices)]).detach()
    elif perturbed is not None:
        perturbed_images, _ = engine.cached_dataset(perturbed_dataset_id, "perturbed_dataset_id")
        x_adv = perturbed_images[sel.to(perturbed_images.device)].to(x.device)
    check_stop()

    clean_pred = _predict(model, x, device)
    adv_pred = _predict(model, x_adv, device) if x_adv is not None else None
    x_np, y_np = x.float().cpu().numpy(), y.cpu().numpy()
    adv_np = x_adv.float().cpu().numpy() if x_adv is not None else None
    target_rgb = None
    if with_perturbed and target_class is not None:
        target_rgb = label_rgb(np.full((dataset.height, dataset.width), target_class, dtype=np.int64), palette)

    sets = []
    for k, index in enumerate(indices):
        panels = [_panel("image", image_rgb(x_np[k]), s),
                  _panel("truth", label_rgb(y_np[k], palette), s),
                  _panel("clean_prediction", label_rgb(clean_pred[k], palette), s)]
        linf = 0.0
        if adv_np is not None:
            delta = adv_np[k] - x_np[k]
            linf = float(np.abs(delta).max()) if delta.size else 0.0
            gain = float(perturbation_gain) or auto_gain(delta)
            panels += [_panel("perturbation", perturbation_rgb(delta, gain), s),
                       _panel("perturbed", image_rgb(adv_np[k]), s),
                       _panel("prediction", label_rgb(adv_pred[k], palette), s)]
            if target_rgb is not None:
                panels.append(_panel("target", target_rgb, s))
        sets.append(PanelSet(index, panels, linf))
    return RenderedPanels(sets, class_names, colors)
