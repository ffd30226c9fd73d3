"""`pannuke`: PanNuke folds in the Kaggle/Warwick layout (docs/ARCHITECTURE.md section 6).

A fold is a folder holding, at any depth, `images.npy` (N,H,W,3) with values 0-255 (float64 in
the release; any real dtype is accepted), `masks.npy` (N,H,W,6) where channels 0-4 hold
per-nucleus instance ids of Neoplastic, Inflammatory, Connective/Soft tissue, Dead and
Epithelial nuclei (ids go past 255) and channel 5 is background, and `types.npy` (N,) with the
tissue name of each image (a string array; pickled object arrays are refused).

Labels: class = channel index + 1 where that channel is > 0, thresholded on the stored values
before any integer cast (an id of 256 or 512 stays a nucleus), else 0 (background; channel 5 is
not read). Where channels overlap at a pixel the FIRST non-zero channel wins, i.e. priority
neoplastic > inflammatory > connective > dead > epithelial. A tile whose channels are all zero
is all background.

The files are opened with np.load(mmap_mode="r") and only sliced by index range, chunk by chunk
(a fold is about 4 GB): rendering images [a, b) reads just those rows. Values are validated per
chunk (finite; images in [0, 255]; masks >= 0) and errors name the file.

The dataset id covers each fold's resolved file paths, sizes, mtimes and a hash of the .npy
headers (shape, dtype), so replacing a fold's files gives a new id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from . import registry
from .common import digest, file_fingerprint, fit_fields, fit_tiles, int_field
from .paths import DataPaths
from .registry import SPLITS, SplitPlan
from .tiles import TileSet

CLASS_NAMES = ("background", "neoplastic", "inflammatory", "connective", "dead", "epithelial")
FILES = ("images.npy", "masks.npy", "types.npy")
LOADER_VERSION = 1
MAX_IMAGES = 10_000_000
_HEADER_BYTES = 4096  # covers any .npy header


def _npy_header(path: Path, field: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (OSError, ValueError) as e:
        raise InvalidArgument(field, f"{path}: not a readable .npy file ({e})") from None
    return tuple(shape), dtype


def _find(folder: Path, name: str, field: str, paths: DataPaths) -> Path:
    found = sorted(p for p in folder.rglob(name) if p.is_file())
    if not found:
        raise InvalidArgument(field, f"{folder}: no {name} found below this fold folder")
    if len(found) > 1:
        raise InvalidArgument(field, f"{folder}: {name} is ambiguous, found {len(found)}: "
                                     + ", ".join(str(p) for p in found[:5]))
    return paths.check(found[0], field)


class _Fold:
    """One fold's files, checked by their headers (cheap; no data read)."""

    def __init__(self, folder: Path, field: str, paths: DataPaths) -> None:
        self.field = field
        self.images_path, self.masks_path, self.types_path = (_find(folder, n, field, paths) for n in FILES)
        ishape, idtype = _npy_header(self.images_path, field)
        mshape, mdtype = _npy_header(self.masks_path, field)
        tshape, tdtype = _npy_header(self.types_path, field)
        if len(ishape) != 4 or ishape[3] != 3 or ishape[1] < 1 or ishape[2] < 1:
            raise InvalidArgument(field, f"{self.images_path}: shape {list(ishape)}, expected (N, H, W, 3)")
        if idtype.kind not in "fiu":
            raise InvalidArgument(field, f"{self.images_path}: dtype {idtype}, expected float64 (or another real type)")
        n, h, w, _ = ishape
        if mshape != (n, h, w, 6):
            raise InvalidArgument(field, f"{self.masks_path}: shape {list(mshape)}, expected {[n, h, w, 6]} "
                                         f"(as {self.images_path.name} with 6 channels)")
        if mdtype.kind not in "fiu":
            raise InvalidArgument(field, f"{self.masks_path}: dtype {mdtype}, expected float64 (or another real type)")
        if tshape != (n,):
            raise InvalidArgument(field, f"{self.types_path}: shape {list(tshape)}, expected [{n}] (one per image)")
        if tdtype.kind not in "US":
            raise InvalidArgument(field, f"{self.types_path}: dtype {tdtype}, expected strings "
                                         "(object arrays need pickle and are not loaded)")
        self.num_images, self.height, self.width = n, h, w
        self.fingerprint = [file_fingerprint(p, _HEADER_BYTES)
                            for p in (self.images_path, self.masks_path, self.types_path)]


def _load(path: Path, field: str) -> Any:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InvalidArgument(field, f"{path}: cannot open ({e})") from None


def masks_to_labels(masks: np.ndarray) -> np.ndarray:
    """(n,H,W,6) instance-id channels -> int64 (n,H,W) class labels; the first non-zero channel
    (0-4) wins; thresholded on the stored values, never cast first."""
    labels = np.zeros(masks.shape[:3], dtype=np.int64)
    for c in range(4, -1, -1):  # lowest channel written last: it wins on overlaps
        labels[masks[..., c] > 0] = c + 1
    return labels


def _render_fold(fold: _Fold, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    images = np.asarray(_load(fold.images_path, fold.field)[start:stop], dtype=np.float64)
    if not np.isfinite(images).all():
        raise InvalidArgument(fold.field, f"{fold.images_path}: NaN or infinite values in images {start}-{stop - 1}")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise InvalidArgument(fold.field, f"{fold.images_path}: values outside [0, 255] in images {start}-{stop - 1} "
                                          f"(min {images.min():g}, max {images.max():g})")
    masks = np.asarray(_load(fold.masks_path, fold.field)[start:stop])
    if masks.dtype.kind == "f" and not np.isfinite(masks).all():
        raise InvalidArgument(fold.field, f"{fold.masks_path}: NaN or infinite values in masks {start}-{stop - 1}")
    if masks.size and masks.min() < 0:
        raise InvalidArgument(fold.field, f"{fold.masks_path}: negative instance ids in masks {start}-{stop - 1}")
    types = _load(fold.types_path, fold.field)[start:stop]
    tags = [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in types.tolist()]
    out = (images / 255.0).astype(np.float32).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), masks_to_labels(masks), tags


class PanNuke:
    name = "pannuke"
    request_field = "pannuke"
    class_names = CLASS_NAMES

    def plan(self, params: dict[str, Any], field_prefix: str, paths: DataPaths | None = None) -> list[SplitPlan]:
        paths = paths or DataPaths.unrestricted()
        size, fit = fit_fields(params, field_prefix)
        cap = int_field(params, "max_images_per_split", field_prefix, 0, MAX_IMAGES)
        plans = []
        for split in SPLITS:
            name = f"{split}_folds"
            values = params.get(name) or []
            if isinstance(values, str) or not isinstance(values, list):
                raise InvalidArgument(f"{field_prefix}.{name}", f"must be a list of fold folders, got {values!r}")
            folds = []
            for i, value in enumerate(values):
                field = f"{field_prefix}.{name}[{i}]"
                folds.append(_Fold(paths.folder(value, field), field, paths))
            if not folds:
                continue
            first = folds[0]
            for fold in folds[1:]:
                if (fold.height, fold.width) != (first.height, first.width) and size == 0:
                    raise InvalidArgument(fold.field, f"{fold.images_path}: tiles {fold.height}x{fold.width}, but "
                                                      f"{first.images_path} has {first.height}x{first.width}; "
                                                      "set tile_size and fit")
            total = sum(f.num_images for f in folds)
            n = min(total, cap) if cap else total
            if n == 0:
                continue
            recipe = {"loader_version": LOADER_VERSION, "split": split, "tile_size": size, "fit": fit,
                      "max_images_per_split": cap, "num_images": n,
                      "folds": [str(f.images_path.parent) for f in folds],
                      "fingerprint": digest([f.fingerprint for f in folds])}
            plans.append(SplitPlan(split, n, recipe, tag_name="tissue", state=folds,
                                   tile_shape=(size, size) if size else (first.height, first.width)))
        if not plans:
            raise InvalidArgument(field_prefix, "every split is empty: give train_folds, validation_folds or "
                                                "test_folds (folders with images.npy, masks.npy, types.npy)")
        return plans

    def render(self, plan: SplitPlan, start: int, stop: int) -> TileSet:
        folds: list[_Fold] = plan.state
        size, fit = plan.recipe["tile_size"], plan.recipe["fit"]
        parts, offset = [], 0
        for fold in folds:  # the split's images are the folds' images in order
            a, b = max(start, offset), min(stop, offset + fold.num_images)
            if a < b:
                images, labels, tags = _render_fold(fold, a - offset, b - offset)
                images, labels = fit_tiles(images, labels, size, fit, fold.field, f"{fold.images_path} tiles")
                parts.append((images, labels, tags))
            offset += fold.num_images
            if offset >= stop:
                break
        return TileSet(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                       CLASS_NAMES, [t for p in parts for t in p[2]])


registry.register(PanNuke())
