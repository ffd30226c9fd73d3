"""`kandinsky`: Kandinsky Patterns (Holzinger et al. 2019; docs/ARCHITECTURE.md section 6).

Each figure holds `min_objects`..`max_objects` (defaults 1..6, at most (tile_size // 8)^2) non-overlapping circles, squares
and triangles in red, yellow and blue on a grey background, drawn without anti-aliasing so the
labels match the pixels exactly. Objects are upright: circles, axis-aligned squares and
equilateral triangles pointing up, each inside its bounding circle; bounding circles are at
least two pixels apart, so objects never touch.

Labelings (class 0 is background everywhere):
- shape: circle, square, triangle;
- colour: red, yellow, blue;
- shape_and_colour (the default): "red circle", "yellow circle", "blue circle", "red square", ...
  (shape-major: 1 + 3 * shape + colour).

The figure's concept is an image-level tag ("true"/"false", tag name "concept"). Supported
concepts (case-insensitive): "contains a red object" (the default; also yellow, blue),
"contains a circle" (also square, triangle), "contains a yellow circle" (any colour and shape),
"all objects have the same shape", "all objects have the same colour". Figures are drawn so
that about half of them satisfy the concept (a fair coin per figure, then objects are redrawn
until the figure agrees, up to a bound); the tag always states what the figure shows.

Deterministic for a seed: figure i of a split comes from its own generator seeded by
(seed, split, i).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from . import registry
from .common import int_field, seed_field
from .paths import DataPaths
from .registry import SPLITS, SplitPlan
from .tiles import TileSet

GENERATOR_VERSION = 1
SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "yellow", "blue")
RGB = {"red": (0.86, 0.08, 0.08), "yellow": (0.98, 0.86, 0.08), "blue": (0.08, 0.16, 0.86)}
GREY = 0.62
LABELINGS = ("shape", "colour", "shape_and_colour")
CLASS_NAMES = {
    "shape": ("background", *SHAPES),
    "colour": ("background", *COLOURS),
    "shape_and_colour": ("background", *(f"{c} {s}" for s in SHAPES for c in COLOURS)),
}
DEFAULT_CONCEPT = "contains a red object"
DEFAULT_MIN_OBJECTS, DEFAULT_MAX_OBJECTS = 1, 6
MIN_TILE, MAX_TILE = 16, 4096
MAX_OBJECTS = 64
MAX_TILES_PER_SPLIT = 1_000_000
_CONCEPT_TRIES = 2000


def parse_concept(text: str):
    """A predicate over a figure's [(shape, colour), ...], or None when not understood."""
    t = " ".join(text.lower().split())
    m = re.fullmatch(r"contains an? (red|yellow|blue) object", t)
    if m:
        return lambda objs, c=m[1]: any(oc == c for _, oc in objs)
    m = re.fullmatch(r"contains an? (circle|square|triangle)", t)
    if m:
        return lambda objs, s=m[1]: any(os_ == s for os_, _ in objs)
    m = re.fullmatch(r"contains an? (red|yellow|blue) (circle|square|triangle)", t)
    if m:
        return lambda objs, c=m[1], s=m[2]: any(o == (s, c) for o in objs)
    if t == "all objects have the same shape":
        return lambda objs: len({s for s, _ in objs}) <= 1
    if t in ("all objects have the same colour", "all objects have the same color"):
        return lambda objs: len({c for _, c in objs}) <= 1
    return None


def _masks(size: int, cx: float, cy: float, r: float, shape: str) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels (centres) of one object inside its bounding circle of radius r."""
    y0, y1 = max(0, int(cy - r) - 1), min(size, int(math.ceil(cy + r)) + 1)
    x0, x1 = max(0, int(cx - r) - 1), min(size, int(math.ceil(cx + r)) + 1)
    ys = (np.arange(y0, y1) + 0.5)[:, None] - cy
    xs = (np.arange(x0, x1) + 0.5)[None, :] - cx
    if shape == "circle":
        mask = xs**2 + ys**2 <= r * r
    elif shape == "square":
        h = r / math.sqrt(2)
        mask = (np.abs(xs) <= h) & (np.abs(ys) <= h)
    else:  # equilateral triangle pointing up, circumradius r (y grows downwards)
        mask = (ys <= r / 2) & (math.sqrt(3) * xs - ys <= r) & (-math.sqrt(3) * xs - ys <= r)
    return (slice(y0, y1), slice(x0, x1)), mask


def render_figure(seed: int, split: str, index: int, size: int, min_objects: int, max_objects: int,
                  concept) -> tuple[np.ndarray, list[tuple[str, str]], np.ndarray]:
    """image float32 (3,size,size), objects [(shape, colour)], per-pixel object id map (-1 = none)."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(SPLITS.index(split), index))
    rng = np.random.Generator(np.random.PCG64(sequence))
    want = bool(rng.integers(2))
    for _ in range(_CONCEPT_TRIES):
        k = int(rng.integers(min_objects, max_objects + 1))
        objs = [(SHAPES[rng.integers(3)], COLOURS[rng.integers(3)]) for _ in range(k)]
        if concept(objs) == want:
            break
    # Geometry: radii scaled to the count; shrink and retry when the objects do not fit.
    scale = 1.0
    while True:
        base = size / (2.0 * math.sqrt(len(objs)) + 2.0) * scale
        radii = [max(2.5, rng.uniform(0.6, 1.0) * base) for _ in objs]
        centres: list[tuple[float, float, float]] = []
        for r in radii:
            for _ in range(200):
                cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
                if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in centres):
                    centres.append((cx, cy, r))
                    break
            else:
                break
        if len(centres) == len(objs):
            break
        if base <= 2.5:
            raise InvalidArgument("tile_size", f"{size} px is too small for {len(objs)} objects")
        scale *= 0.8
    image = np.full((3, size, size), GREY, dtype=np.float32)
    ids = np.full((size, size), -1, dtype=np.int64)
    for j, ((shape, colour), (cx, cy, r)) in enumerate(zip(objs, centres)):
        box, mask = _masks(size, cx, cy, r, shape)
        ids[box][mask] = j
        for ch in range(3):
            image[ch][box][mask] = RGB[colour][ch]
    return image, objs, ids


def labels_for(objs: list[tuple[str, str]], ids: np.ndarray, labeling: str) -> np.ndarray:
    lut = np.zeros(len(objs) + 1, dtype=np.int64)  # index 0: background (id -1)
    for j, (shape, colour) in enumerate(objs):
        s, c = SHAPES.index(shape), COLOURS.index(colour)
        lut[j + 1] = {"shape": 1 + s, "colour": 1 + c, "shape_and_colour": 1 + 3 * s + c}[labeling]
    return lut[ids + 1]


class Kandinsky:
    name = "kandinsky"
    request_field = "kandinsky"
    class_names = CLASS_NAMES["shape_and_colour"]  # the default labeling; see SplitPlan.class_names

    def plan(self, params: dict[str, Any], field_prefix: str, paths: DataPaths | None = None) -> list[SplitPlan]:
        size = int_field(params, "tile_size", field_prefix, MIN_TILE, MAX_TILE)
        seed = seed_field(params, field_prefix)
        labeling = params.get("labeling") or "shape_and_colour"
        if labeling not in LABELINGS:
            raise InvalidArgument(f"{field_prefix}.labeling", f"unknown value {labeling!r}; known: {', '.join(LABELINGS)}")
        lo = int_field(params, "min_objects", field_prefix, 0, MAX_OBJECTS) or DEFAULT_MIN_OBJECTS
        fits = (size // 8) ** 2  # objects that surely fit a tile
        hi = int_field(params, "max_objects", field_prefix, 0, MAX_OBJECTS) or max(min(DEFAULT_MAX_OBJECTS, fits), lo)
        if hi < lo:
            raise InvalidArgument(f"{field_prefix}.max_objects", f"must be >= min_objects ({lo}), got {hi}")
        if hi > fits:
            raise InvalidArgument(f"{field_prefix}.max_objects", f"at most {fits} objects fit a "
                                                                 f"{size} px tile, got {hi}")
        concept = params.get("concept") or DEFAULT_CONCEPT
        if not isinstance(concept, str) or parse_concept(concept) is None:
            raise InvalidArgument(f"{field_prefix}.concept", f"unknown concept {concept!r}; known: \"contains a red "
                                  "object\" (or yellow, blue), \"contains a circle\" (or square, triangle), "
                                  "\"contains a yellow circle\" (any colour and shape), \"all objects have the same "
                                  "shape\", \"all objects have the same colour\"")
        concept = " ".join(concept.lower().split())
        counts = {s: int_field(params, f"num_{s}", field_prefix, 0, MAX_TILES_PER_SPLIT) for s in SPLITS}
        if not any(counts.values()):
            raise InvalidArgument(field_prefix, "every split is empty: set num_train, num_validation or num_test > 0")
        return [
            SplitPlan(split, n, {"generator_version": GENERATOR_VERSION, "tile_size": size, "seed": seed,
                                 "split": split, "num_images": n, "labeling": labeling, "min_objects": lo,
                                 "max_objects": hi, "concept": concept},
                      class_names=CLASS_NAMES[labeling], tag_name="concept")
            for split, n in counts.items() if n > 0
        ]

    def render(self, plan: SplitPlan, start: int, stop: int) -> TileSet:
        r = plan.recipe
        concept = parse_concept(r["concept"])
        size = r["tile_size"]
        images = np.empty((stop - start, 3, size, size), dtype=np.float32)
        labels = np.empty((stop - start, size, size), dtype=np.int64)
        tags = []
        for i in range(start, stop):
            image, objs, ids = render_figure(r["seed"], plan.split, i, size, r["min_objects"], r["max_objects"], concept)
            images[i - start] = image
            labels[i - start] = labels_for(objs, ids, r["labeling"])
            tags.append("true" if concept(objs) else "false")
        return TileSet(images, labels, CLASS_NAMES[r["labeling"]], tags)


registry.register(Kandinsky())
