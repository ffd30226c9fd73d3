"""The in-memory form every data source produces (docs/ARCHITECTURE.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TileSet:
    """images float32 (N, 3, H, W) in [0, 1]; labels int64 (N, H, W) class indices; class 0 is
    background."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    # One tag per image where the source has them (PanNuke tissue type, Kandinsky concept).
    tags: list[str] | None = field(default=None)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def check(self) -> None:
        """The invariants every consumer relies on; a source that breaks them is a bug."""
        n, c, h, w = self.images.shape
        if self.images.dtype != np.float32 or c != 3:
            raise ValueError(f"images must be float32 (N,3,H,W), got {self.images.dtype} {self.images.shape}")
        if self.labels.dtype != np.int64 or self.labels.shape != (n, h, w):
            raise ValueError(f"labels must be int64 {(n, h, w)}, got {self.labels.dtype} {self.labels.shape}")
        if n and not (np.isfinite(self.images).all() and self.images.min() >= 0 and self.images.max() <= 1):
            raise ValueError("images must be finite and in [0, 1]")
        if self.tags is not None and len(self.tags) != n:
            raise ValueError(f"tags must be one per image ({n}), got {len(self.tags)}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must be in [0, {len(self.class_names)})")

    def class_pixel_counts(self) -> list[int]:
        counts = np.bincount(self.labels.reshape(-1), minlength=len(self.class_names))
        return [int(c) for c in counts]
