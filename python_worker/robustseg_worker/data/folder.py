"""`folder`: the common image/mask folder layout of segmentation sets (docs/ARCHITECTURE.md section 6).

    FOLDER/images/NAME.png   RGB (RGBA, greyscale, palette images are converted to RGB; .jpg,
                             .jpeg, .tif, .tiff and .bmp are read too)
    FOLDER/masks/NAME.png    class index per pixel, single channel (8-bit greyscale, a palette
                             PNG read as its indices, 16-bit greyscale, or RGB with R = G = B)
    FOLDER/classes.json      optional: ["background", ...] or {"classes": [...]}

Class names come from the request's `class_names`, else classes.json (in `path`, or in the
per-split folders, which must then agree), else it is an error. Class 0 is background.

Splits: either one folder split by seeded fractions (names sorted, one seeded permutation:
the first round(validation_fraction * N) images validate, the next round(test_fraction * N)
test, the rest train; a fraction > 0 gets at least one image), or whole folders per split
(`train_path`, `validation_path`, `test_path`; then `path` and the fractions must be unset).

Errors name the file: a missing mask, an unreadable image or mask, a size mismatch between an
image and its mask, a mask value beyond the declared classes, tiles of different sizes without
tile_size/fit. Optional `tile_size` + `fit` (center_crop, resize).

Decoding needs Pillow, imported only when this source is used: without it the worker still
starts and this source fails with a clear error.

The dataset id covers the resolved folder, each listed file's name, size and mtime, the class
names, the split rule and the fit, so changing any file gives a new id.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument
from . import registry
from .common import digest, file_fingerprint, fit_fields, fit_tiles, seed_field
from .paths import DataPaths
from .registry import SPLITS, SplitPlan
from .tiles import TileSet

log = logging.getLogger(__name__)

LOADER_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_CLASSES = 256


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise FailedPrecondition("the folder source needs Pillow, which this worker's Python lacks "
                                 "(pip install pillow; see requirements.txt)") from None
    return Image


def _class_names_from(folder: Path, field: str) -> list[str] | None:
    path = folder / "classes.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InvalidArgument(field, f"{path}: not readable JSON ({e})") from None
    if isinstance(value, dict):
        value = value.get("classes")
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument(field, f"{path}: must be a JSON list of class names or {{\"classes\": [...]}}")
    return value


def _check_class_names(names: list[str], field: str, where: str = "") -> tuple[str, ...]:
    """`where`: the file the names came from (classes.json), named in the error."""
    prefix = f"{where}: " if where else ""
    if len(names) < 2:
        raise InvalidArgument(field, f"{prefix}needs at least 2 classes (background and one more), got {names}")
    if len(names) > MAX_CLASSES:
        raise InvalidArgument(field, f"{prefix}at most {MAX_CLASSES} classes, got {len(names)}")
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise InvalidArgument(field, f"{prefix}class names must be distinct non-empty strings, got {names}")
    return tuple(names)


def _symlink_loop(path: Path) -> bool:
    """is_file() says False for a link that loops, like for a missing file; only stat tells."""
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def _list_pairs(folder: Path, field: str, paths: DataPaths) -> list[tuple[str, Path, Path]]:
    """(name, image, mask) for every image, sorted by name; a missing mask is an error."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    if not images_dir.is_dir():
        raise InvalidArgument(field, f"{images_dir}: no such folder (expected images/NAME.png and masks/NAME.png)")
    pairs = []
    for image in sorted(images_dir.iterdir()):
        if image.name.startswith(".") or image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if _symlink_loop(image):
            log.warning("%s: skipped: a symbolic link in a loop", image)
            continue
        if not image.is_file():
            continue
        mask = masks_dir / (image.stem + ".png")
        if not mask.is_file():
            raise InvalidArgument(field, f"{image}: no mask {mask}")
        pairs.append((image.stem, paths.check(image, field), paths.check(mask, field)))
    names = [p[0] for p in pairs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InvalidArgument(field, f"{images_dir}: several images share a name: {', '.join(dup[:5])}")
    if not pairs:
        raise InvalidArgument(field, f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return pairs


def _fraction(params: dict[str, Any], name: str, prefix: str) -> float:
    value = params.get(name, 0.0) or 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1 or math.isnan(value):
        raise InvalidArgument(f"{prefix}.{name}", f"must be in [0, 1], got {value!r}")
    return float(value)


def read_image(path: Path, field: str) -> np.ndarray:
    """float32 (3, H, W) in [0, 1]."""
    Image = _pil()
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(img, dtype=np.float64)
                a = a / (65535.0 if a.max() > 255 else 255.0)
                return np.repeat(np.clip(a, 0, 1)[None].astype(np.float32), 3, axis=0)
            if img.mode == "RGBA" or img.mode == "LA" or (img.mode == "P" and "transparency" in img.info):
                img = img.convert("RGBA")
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, img)  # transparent pixels -> white
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidArgument(field, f"{path}: cannot read image ({e})") from None
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)


def read_mask(path: Path, field: str) -> np.ndarray:
    """int64 (H, W) class indices."""
    Image = _pil()
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
                mask = np.asarray(img).astype(np.int64)  # P: the palette indices, not colours
            elif mode == "1":
                mask = np.asarray(img).astype(np.int64)
            elif mode in ("RGB", "RGBA"):
                rgb = np.asarray(img)[..., :3].astype(np.int64)
                if not ((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])).all():
                    raise InvalidArgument(field, f"{path}: mask is colour ({mode}); expected one channel of class "
                                                 "indices (greyscale or palette PNG)")
                mask = rgb[..., 0]
            else:
                raise InvalidArgument(field, f"{path}: mask mode {mode}; expected one channel of class indices")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidArgument(field, f"{path}: cannot read mask ({e})") from None
    return mask


class Folder:
    name = "folder"
    request_field = "folder"
    class_names = ()  # per request: see SplitPlan.class_names

    def plan(self, params: dict[str, Any], field_prefix: str, paths: DataPaths | None = None) -> list[SplitPlan]:
        paths = paths or DataPaths.unrestricted()
        _pil()
        size, fit = fit_fields(params, field_prefix)
        seed = seed_field(params, field_prefix)
        vf = _fraction(params, "validation_fraction", field_prefix)
        tf = _fraction(params, "test_fraction", field_prefix)
        split_paths = {s: params.get(f"{s}_path") or "" for s in SPLITS}
        base_value = params.get("path") or ""

        # Where each split's pairs come from.
        folders: list[tuple[str, Path]] = []  # (field, folder) for classes.json
        if any(split_paths.values()):
            if base_value:
                raise InvalidArgument(f"{field_prefix}.path", "set either path (split by fractions) or "
                                                              "train_path/validation_path/test_path, not both")
            if vf or tf:
                raise InvalidArgument(f"{field_prefix}.validation_fraction",
                                      "fractions apply to path; with per-split folders leave them 0")
            split_pairs = {}
            for split, value in split_paths.items():
                if value:
                    field = f"{field_prefix}.{split}_path"
                    folder = paths.folder(value, field)
                    folders.append((field, folder))
                    split_pairs[split] = (field, folder, _list_pairs(folder, field, paths))
            split_rule: dict[str, Any] = {"per_split_folders": {s: str(f) for s, (_, f, _) in split_pairs.items()}}
        else:
            field = f"{field_prefix}.path"
            folder = paths.folder(base_value, field)
            folders.append((field, folder))
            pairs = _list_pairs(folder, field, paths)
            if vf + tf > 1:
                raise InvalidArgument(f"{field_prefix}.test_fraction", f"validation_fraction + test_fraction must be "
                                                                      f"<= 1, got {vf} + {tf}")
            n = len(pairs)
            n_val = max(1, round(vf * n)) if vf else 0
            n_test = max(1, round(tf * n)) if tf else 0
            if n_val + n_test > n:
                raise InvalidArgument(f"{field_prefix}.test_fraction", f"{folder} has {n} images, too few for "
                                                                      f"{n_val} validation and {n_test} test images")
            order = np.random.Generator(np.random.PCG64(seed)).permutation(n)
            chosen = {"validation": order[:n_val], "test": order[n_val:n_val + n_test],
                      "train": order[n_val + n_test:]}
            split_pairs = {s: (field, folder, [pairs[i] for i in sorted(chosen[s].tolist())]) for s in SPLITS}
            split_rule = {"path": str(folder), "validation_fraction": vf, "test_fraction": tf, "seed": seed}

        # Class names.
        names = params.get("class_names") or []
        if names:
            class_names = _check_class_names(list(names), f"{field_prefix}.class_names")
        else:
            found = [(f, _class_names_from(d, f), d) for f, d in folders]
            found = [x for x in found if x[1] is not None]
            if not found:
                raise InvalidArgument(f"{field_prefix}.class_names", "required: give class_names or put classes.json "
                                      f"(a JSON list of names) in {folders[0][1]}")
            for f, other, d in found[1:]:
                if other != found[0][1]:
                    raise InvalidArgument(f, f"{d / 'classes.json'} lists {other}, but "
                                             f"{found[0][2] / 'classes.json'} lists {found[0][1]}")
            class_names = _check_class_names(found[0][1], found[0][0], str(found[0][2] / "classes.json"))

        plans = []
        for split in SPLITS:
            if split not in split_pairs or not split_pairs[split][2]:
                continue
            field, folder, pairs = split_pairs[split]
            fingerprint = digest([[name, file_fingerprint(img)[1:], file_fingerprint(mask)[1:],
                                   str(img.relative_to(folder)) if img.is_relative_to(folder) else str(img)]
                                  for name, img, mask in pairs])
            recipe = {"loader_version": LOADER_VERSION, "split": split, **split_rule, "class_names": list(class_names),
                      "tile_size": size, "fit": fit, "num_images": len(pairs), "fingerprint": fingerprint,
                      "seed": seed}
            plans.append(SplitPlan(split, len(pairs), recipe, class_names=class_names,
                                   state={"field": field, "pairs": pairs}))
        if not plans:
            raise InvalidArgument(field_prefix, "every split is empty")
        return plans

    def render(self, plan: SplitPlan, start: int, stop: int) -> TileSet:
        field, pairs = plan.state["field"], plan.state["pairs"]
        size, fit = plan.recipe["tile_size"], plan.recipe["fit"]
        class_names = plan.class_names
        images, labels = [], []
        # The split's first tile fixes the size for every chunk (kept in the plan's state).
        first_shape = plan.state.get("first_shape")
        for name, image_path, mask_path in pairs[start:stop]:
            image = read_image(image_path, field)
            mask = read_mask(mask_path, field)
            if mask.shape != image.shape[1:]:
                raise InvalidArgument(field, f"{mask_path}: mask is {mask.shape[0]}x{mask.shape[1]}, its image "
                                             f"{image_path} is {image.shape[1]}x{image.shape[2]}")
            top = int(mask.max())
            if top >= len(class_names):
                raise InvalidArgument(field, f"{mask_path}: mask value {top} is beyond the {len(class_names)} declared "
                                             f"classes ({', '.join(class_names)})")
            image, mask = fit_tiles(image[None], mask[None], size, fit, field, str(image_path))
            if first_shape is None:
                first_shape = plan.state["first_shape"] = (image.shape, image_path)
            elif image.shape != first_shape[0]:
                raise InvalidArgument(field, f"{image_path}: {image.shape[2]}x{image.shape[3]}, but {first_shape[1]} is "
                                             f"{first_shape[0][2]}x{first_shape[0][3]}; set tile_size and fit")
            images.append(image)
            labels.append(mask)
        return TileSet(np.concatenate(images), np.concatenate(labels), class_names)


registry.register(Folder())
