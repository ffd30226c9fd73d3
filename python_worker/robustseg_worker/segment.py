"""Segmenting images of any size with a trained model: the whole image when it is small enough,
else a sliding window whose logits are blended with a Gaussian importance map (nnU-Net's
scheme: window centres count more than window borders, where the model sees less context).
Every output has the input's height and width.

A window that is not a multiple of what the model needs is padded (reflect) and the logits are
cropped back. The built-in U-Net pads itself; another backend declares its need as a module
attribute `input_multiple` (e.g. 32 for an encoder with five stride-2 stages).

`TiledSegmenter` wraps a model so that the same tiling is one differentiable forward pass: the
attacks of the probe run against exactly what Predict computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import InvalidArgument

# Auto tiling: whole images up to this many pixels, else square windows of AUTO_TILE.
AUTO_WHOLE_PIXELS = 1024 * 1024
AUTO_TILE = 1024
DEFAULT_OVERLAP = 0.25
MAX_OVERLAP = 0.9
MIN_TILE, MAX_TILE = 16, 8192
# Auto batch: windows per forward pass so that one pass holds about this many pixels.
AUTO_BATCH_PIXELS = 2 * 1024 * 1024
MAX_BATCH = 4096
# Gaussian importance: sigma as a share of the window side (nnU-Net uses 1/8); the floor keeps
# border pixels of the image, covered only by window borders, from vanishing.
SIGMA_SCALE = 1.0 / 8.0
MIN_IMPORTANCE = 1e-3

StopFn = Callable[[], None]


def _never_stop() -> None:
    return None


@dataclass(frozen=True)
class Tiling:
    tile_size: int = 0        # 0 = auto
    overlap: float = DEFAULT_OVERLAP
    batch_size: int = 0       # 0 = auto

    def window(self, height: int, width: int) -> tuple[int, int] | None:
        """The window (h, w) for an image of this size, or None for the whole image."""
        tile = self.tile_size
        if tile == 0:
            if height * width <= AUTO_WHOLE_PIXELS:
                return None
            tile = AUTO_TILE
        if height <= tile and width <= tile:
            return None
        return min(tile, height), min(tile, width)

    def as_dict(self) -> dict[str, Any]:
        return {"tile_size": self.tile_size, "overlap": self.overlap, "batch_size": self.batch_size}


def resolve_tiling(params: dict[str, Any] | None, field: str = "tiling") -> Tiling:
    """Validate the Tiling message's values ({} or None: every default)."""
    params = params or {}
    tile = params.get("tile_size", 0)
    if isinstance(tile, bool) or not isinstance(tile, int) or not (tile == 0 or MIN_TILE <= tile <= MAX_TILE):
        raise InvalidArgument(f"{field}.tile_size", f"must be 0 (auto) or between {MIN_TILE} and {MAX_TILE}, got {tile!r}")
    overlap = params.get("overlap")
    if overlap is None:
        overlap = DEFAULT_OVERLAP
    if (isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not math.isfinite(overlap)
            or not 0 <= overlap <= MAX_OVERLAP):
        raise InvalidArgument(f"{field}.overlap", f"must be between 0 and {MAX_OVERLAP}, got {overlap!r}")
    batch = params.get("batch_size", 0)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 0 <= batch <= MAX_BATCH:
        raise InvalidArgument(f"{field}.batch_size", f"must be between 0 (auto) and {MAX_BATCH}, got {batch!r}")
    return Tiling(tile, float(overlap), batch)


def window_starts(size: int, window: int, overlap: float) -> list[int]:
    """Start offsets along one axis: a stride of window * (1 - overlap), the last window flush
    with the end, so every pixel is covered and no window leaves the image."""
    if window >= size:
        return [0]
    stride = max(1, int(window * (1.0 - overlap)))
    starts = list(range(0, size - window, stride))
    starts.append(size - window)
    return starts


def windows(height: int, width: int, window: tuple[int, int], overlap: float) -> list[tuple[int, int]]:
    """(top, left) of every window."""
    return [(top, left) for top in window_starts(height, window[0], overlap)
            for left in window_starts(width, window[1], overlap)]


def importance_map(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """(height, width) Gaussian weights centred on the window, peak 1, floor MIN_IMPORTANCE."""
    def axis(n: int) -> Tensor:
        centre = (n - 1) / 2.0
        sigma = max(n * SIGMA_SCALE, 1e-6)
        coords = torch.arange(n, dtype=torch.float32, device=device)
        return torch.exp(-0.5 * ((coords - centre) / sigma) ** 2)

    weights = axis(height)[:, None] * axis(width)[None, :]
    return weights.clamp_(min=MIN_IMPORTANCE)


def input_multiple(model: nn.Module) -> int:
    """What the model needs the input sides to be a multiple of (1: anything)."""
    multiple = getattr(model, "input_multiple", 1)
    return int(multiple) if isinstance(multiple, int) and multiple > 1 else 1


def forward_padded(model: nn.Module, x: Tensor) -> Tensor:
    """model(x) with x reflect-padded to the model's input multiple and the logits cropped back."""
    multiple = input_multiple(model)
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return model(x)
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return model(F.pad(x, (0, pad_w, 0, pad_h), mode=mode))[..., :h, :w]


def auto_batch(window_pixels: int) -> int:
    return max(1, min(MAX_BATCH, AUTO_BATCH_PIXELS // max(1, window_pixels)))


def tiled_logits(model: nn.Module, x: Tensor, tiling: Tiling, check_stop: StopFn = _never_stop,
                 on_window: Callable[[int, int], None] | None = None) -> Tensor:
    """Logits (N, C, H, W) of images x (N, 3, H, W) in [0, 1]. Differentiable w.r.t. x (the
    caller chooses no_grad/inference mode). `on_window(done, total)` reports progress."""
    n, _, height, width = x.shape
    window = tiling.window(height, width)
    if window is None:
        batch = tiling.batch_size or auto_batch(height * width)
        parts = []
        for start in range(0, n, batch):
            check_stop()
            parts.append(forward_padded(model, x[start:start + batch]))
            if on_window is not None:
                on_window(min(start + batch, n), n)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    wh, ww = window
    places = windows(height, width, window, tiling.overlap)
    weight = importance_map(wh, ww, x.device).to(x.dtype)
    jobs = [(i, top, left) for i in range(n) for (top, left) in places]
    batch = tiling.batch_size or auto_batch(wh * ww)
    logits: Tensor | None = None
    norm = torch.zeros((height, width), dtype=x.dtype, device=x.device)
    for top, left in places:
        norm[top:top + wh, left:left + ww] += weight
    for start in range(0, len(jobs), batch):
        check_stop()
        chunk = jobs[start:start + batch]
        crops = torch.stack([x[i, :, top:top + wh, left:left + ww] for i, top, left in chunk])
        out = forward_padded(model, crops).float() * weight
        if logits is None:
            logits = torch.zeros((n, out.shape[1], height, width), dtype=out.dtype, device=x.device)
        # In-place slice adds are recorded by autograd (CopySlices) and save nothing large, so
        # the blend stays differentiable for the probe's attacks at the cost of one logits map.
        for k, (i, top, left) in enumerate(chunk):
            logits[i, :, top:top + wh, left:left + ww] += out[k]
        if on_window is not None:
            on_window(min(start + batch, len(jobs)), len(jobs))
    assert logits is not None
    return logits / norm


class TiledSegmenter(nn.Module):
    """`model` behind the tiling, as one module (the attack library takes modules). Its eval/
    train mode is the wrapped model's."""

    def __init__(self, model: nn.Module, tiling: Tiling, check_stop: StopFn = _never_stop) -> None:
        super().__init__()
        self.model = model
        self.tiling = tiling
        self._check_stop = check_stop

    def forward(self, x: Tensor) -> Tensor:
        return tiled_logits(self.model, x, self.tiling, self._check_stop)
