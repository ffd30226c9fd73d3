"""Helpers shared by the data sources: request fields, fitting tiles to a size, file fingerprints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument

MAX_TILE_SIZE = 4096
# Smaller tiles are a typo, not an experiment: a U-Net of depth 3 pools 8 px down to one.
MIN_TILE_SIZE = 8
FITS = ("center_crop", "resize")


def int_field(params: dict[str, Any], name: str, prefix: str, low: int, high: int) -> int:
    value = params.get(name, 0)
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{prefix}.{name}", f"must be an integer, got {value!r}")
    if value < low:
        raise InvalidArgument(f"{prefix}.{name}", f"must be {'> 0' if low == 1 else f'>= {low}'}, got {value}")
    if value > high:
        raise InvalidArgument(f"{prefix}.{name}", f"must be <= {high}, got {value}")
    return value


def seed_field(params: dict[str, Any], prefix: str) -> int:
    seed = params.get("seed", 0) or 0
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise InvalidArgument(f"{prefix}.seed", f"must be an integer in [0, 2^64), got {seed!r}")
    return seed


def fit_fields(params: dict[str, Any], prefix: str) -> tuple[int, str | None]:
    """(tile_size, fit): 0 and None = native size."""
    size = int_field(params, "tile_size", prefix, 0, MAX_TILE_SIZE)
    if 0 < size < MIN_TILE_SIZE:
        raise InvalidArgument(f"{prefix}.tile_size", f"must be 0 (the native size) or >= {MIN_TILE_SIZE}, got {size}")
    fit = params.get("fit")
    if fit is not None and fit not in FITS:
        raise InvalidArgument(f"{prefix}.fit", f"unknown value {fit!r}; known: {', '.join(FITS)}")
    if fit is not None and size == 0:
        raise InvalidArgument(f"{prefix}.tile_size", f"required (> 0) when fit is {fit}")
    return size, fit


def fit_tiles(images: np.ndarray, labels: np.ndarray, size: int, fit: str | None,
              field: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """images float32 (n,3,h,w), labels int64 (n,h,w) brought to size x size.
    center_crop: the central window (tiles must be at least that large); resize: images
    bilinear (antialiased when shrinking), labels nearest, so no new label values appear."""
    h, w = images.shape[-2:]
    if size == 0 and min(h, w) < MIN_TILE_SIZE:
        raise InvalidArgument(field, f"{what} is {h}x{w}, smaller than {MIN_TILE_SIZE}x{MIN_TILE_SIZE}: set tile_size "
                                     "and fit resize")
    if size == 0 or (h, w) == (size, size):
        return images, labels
    if fit is None:
        raise InvalidArgument(field, f"{what} is {h}x{w}, not {size}x{size}: set fit to center_crop or resize")
    if fit == "center_crop":
        if h < size or w < size:
            raise InvalidArgument(field, f"{what} is {h}x{w}, smaller than tile_size {size}: cannot center-crop "
                                         "(use fit resize)")
        y, x = (h - size) // 2, (w - size) // 2
        return (np.ascontiguousarray(images[..., y:y + size, x:x + size]),
                np.ascontiguousarray(labels[..., y:y + size, x:x + size]))
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(images))
        out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                            antialias=size < max(h, w)).clamp_(0, 1)
        lab = torch.from_numpy(np.ascontiguousarray(labels))[:, None].float()
        lab = F.interpolate(lab, size=(size, size), mode="nearest-exact")[:, 0]
    return out.numpy().astype(np.float32, copy=False), lab.round().long().numpy()


def file_fingerprint(path: Path, header_bytes: int = 0) -> list[Any]:
    """Cheap identity of a file for dataset ids: resolved path, size, mtime (ns) and, when
    asked, a hash of its first bytes (e.g. a .npy header with shape and dtype)."""
    st = os.stat(path)
    entry: list[Any] = [str(path), st.st_size, st.st_mtime_ns]
    if header_bytes:
        with open(path, "rb") as f:
            entry.append(hashlib.sha256(f.read(header_bytes)).hexdigest()[:16])
    return entry


def digest(entries: list[Any]) -> str:
    h = hashlib.sha256()
    for e in entries:
        h.update(repr(e).encode())
        h.update(b"\n")
    return h.hexdigest()[:32]
