"""`synthetic-histology`: H&E-like tiles with PanNuke's six classes (docs/ARCHITECTURE.md section 6).

Why this model of a tile: a segmentation network (and an attack on it) should have to tell the
nucleus types apart by the cues pathologists and PanNuke annotations use, not by a trivial
colour key. So the types differ in size, shape, stain density and texture, and their colours
overlap once stain jitter is applied:

- neoplastic: large, irregular outline (several harmonics), dark with coarse chromatin and a
  nucleolus;
- inflammatory: small, round, very dark and homogeneous (lymphocytes);
- connective: elongated spindles aligned with the stroma fibres;
- dead: small fragments (apoptotic bodies) on an eosinophilic halo;
- epithelial: medium ovals in clusters (chains), paler and finely granular, on pale cytoplasm.

Stroma is pink eosin with fibre streaks, low-frequency density variation and occasional white
spaces. Colour comes from Beer-Lambert optical densities of jittered haematoxylin and eosin stain
vectors, then illumination and pixel noise. Nuclei cover about 20% of the pixels on average (so
background is about 80%).

Geometry scales with sqrt(tile_size / 64): a 64 px tile is the reference, 256 px tiles get
twice as large nuclei (roughly PanNuke's 40x scale) and 16 px tiles still show a few nuclei.

Determinism: tile i of a split is drawn from its own generator seeded by (seed, split, i), so it
does not depend on the split's size or on how the split is chunked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from . import registry
from .registry import SPLITS, SplitPlan
from .tiles import TileSet

CLASS_NAMES = ("background", "neoplastic", "inflammatory", "connective", "dead", "epithelial")
BACKGROUND, NEOPLASTIC, INFLAMMATORY, CONNECTIVE, DEAD, EPITHELIAL = range(6)

# Bumped whenever the rendering changes, so new tiles never reuse ids of old ones.
GENERATOR_VERSION = 1
MAX_TILE_SIZE = 4096
MAX_TILES_PER_SPLIT = 1_000_000

# Per-tile mixture of nucleus kinds (one draw places one nucleus, a dead body or an epithelial
# cluster). Dirichlet around these shares: some tiles are tumour-rich, some inflamed.
_KIND_SHARES = np.array([0.26, 0.26, 0.20, 0.12, 0.16])  # neoplastic .. epithelial
_KIND_CONCENTRATION = 3.0
_MEAN_COVERAGE, _COVERAGE_SD = 0.20, 0.07  # requested share of nucleus pixels per tile

# Stain vectors (optical density per unit concentration, RGB), after Ruifrok & Johnston, with
# eosin tuned towards the pink of PanNuke stroma.
_HAEMATOXYLIN = np.array([0.65, 0.70, 0.29])
_EOSIN = np.array([0.15, 0.87, 0.45])


# --- random fields ------------------------------------------------------------------------------


def _interp_matrix(size: int, cells: int) -> np.ndarray:
    """(size, cells + 1) matrix that linearly interpolates a coarse grid onto pixel centres."""
    t = (np.arange(size) + 0.5) * (cells / size)
    i0 = np.minimum(t.astype(np.int64), cells - 1)
    w = t - i0
    m = np.zeros((size, cells + 1))
    m[np.arange(size), i0] = 1 - w
    m[np.arange(size), i0 + 1] = w
    return m


def _smooth_noise(rng: np.random.Generator, size: int, feature_px: float) -> np.ndarray:
    """Zero-mean, unit-variance noise whose blobs are about `feature_px` pixels wide."""
    cells = max(1, int(round(size / max(feature_px, 1.0))))
    m = _interp_matrix(size, cells)
    field = m @ rng.standard_normal((cells + 1, cells + 1)) @ m.T
    sd = field.std()
    return (field - field.mean()) / (sd if sd > 1e-8 else 1.0)


# --- one tile -----------------------------------------------------------------------------------


class _Tile:
    """Mutable canvas of stain densities and labels for one tile while nuclei are placed."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.rng, self.size = rng, size
        self.scale = math.sqrt(size / 64.0)
        s = self.scale
        self.centres = np.arange(size) + 0.5
        ys, xs = self.centres[:, None], self.centres[None, :]

        # Stroma: eosin with fibres along one direction, density variation and white spaces.
        self.fibre_angle = rng.uniform(0, math.pi)
        across = -xs * math.sin(self.fibre_angle) + ys * math.cos(self.fibre_angle)
        wobble = _smooth_noise(rng, size, 7 * s)
        fibres = np.sin(2 * math.pi * across / (rng.uniform(2.5, 4.5) * s) + 2.5 * wobble)
        bundles = 1 / (1 + np.exp(-2 * _smooth_noise(rng, size, 12 * s)))  # fibres come in bundles
        density = _smooth_noise(rng, size, 22 * s)
        self.eosin = (rng.uniform(0.4, 0.75) * (1 + 0.18 * density)
                      * (1 + rng.uniform(0.08, 0.25) * fibres * bundles))
        spaces = _smooth_noise(rng, size, 18 * s)
        white = 1 / (1 + np.exp(-4 * (spaces - rng.uniform(1.2, 3.0))))
        self.eosin *= 1 - 0.9 * white
        self.haem = rng.uniform(0.03, 0.09) * (1 + 0.3 * _smooth_noise(rng, size, 10 * s)) * (1 - 0.9 * white)
        self.haem = np.clip(self.haem, 0, None)

        # Textures shared by the nuclei of this tile.
        self.chromatin = _smooth_noise(rng, size, 2.2 * s)  # coarse clumps
        self.granules = rng.standard_normal((size, size))  # fine grain
        self.label = np.zeros((size, size), dtype=np.int64)
        self.covered = 0

    # A star-shaped blob: ellipse (semi-axes a, b, rotated by angle) whose radius is modulated
    # by a few harmonics. Returns the bbox slices, a hard mask (labels) and a soft alpha (image),
    # or None when the blob is off the tile.
    def _blob(self, cx, cy, a, b, angle, harmonics=None):
        reach = max(a, b) * (1 + (harmonics[0].sum() if harmonics is not None else 0)) + 1.5
        x0, x1 = max(0, int(cx - reach)), min(self.size, int(math.ceil(cx + reach)))
        y0, y1 = max(0, int(cy - reach)), min(self.size, int(math.ceil(cy + reach)))
        if x0 >= x1 or y0 >= y1:
            return None
        dx = (self.centres[x0:x1] - cx)[None, :]
        dy = (self.centres[y0:y1] - cy)[:, None]
        c, s = math.cos(angle), math.sin(angle)
        u, v = (dx * c + dy * s) * (1 / a), (dy * c - dx * s) * (1 / b)
        rho = np.hypot(u, v)
        if harmonics is not None:
            amps, ks, phases = harmonics
            phi = np.arctan2(v, u)[..., None]
            inside = 1 + (amps * np.cos(ks * phi + phases)).sum(-1) - rho
        else:
            inside = 1 - rho  # > 0 inside, in units of the semi-axes
        mask = inside > 0
        if not mask.any():
            return None
        alpha = np.clip(inside * (min(a, b) / 1.2) + 0.5, 0, 1)  # about a pixel of soft edge
        return (slice(y0, y1), slice(x0, x1)), mask, alpha

    def _stamp(self, blob, cls, haem, texture, eosin_keep=0.35, max_overlap=0.1) -> bool:
        """Paint a nucleus unless it would mostly sit on another one; label free pixels only."""
        if blob is None:
            return False
        box, mask, alpha = blob
        area = int(mask.sum())
        if area == 0:
            return False
        free = self.label[box] == 0
        if area - int((mask & free).sum()) > max_overlap * area:
            return False
        self.haem[box] = self.haem[box] * (1 - alpha) + alpha * haem * np.clip(texture[box], 0.2, None)
        self.eosin[box] *= 1 - (1 - eosin_keep) * alpha
        new = mask & free
        self.label[box][new] = cls
        self.covered += int(new.sum())
        return True

    def _halo(self, cx, cy, radius, d_eosin, d_haem) -> None:
        """Unlabelled cytoplasm around a nucleus or body: changes colour, stays background."""
        blob = self._blob(cx, cy, radius, radius, 0.0)
        if blob is not None:
            box, _, alpha = blob
            self.eosin[box] = self.eosin[box] * (1 + (d_eosin - 1) * alpha)
            self.haem[box] += d_haem * alpha

    def _harmonics(self, amp, kinds=(2, 3, 4, 5)):
        """Outline irregularity: amplitude and phase of each harmonic k of the radius."""
        n = len(kinds)
        return self.rng.uniform(0, amp, n), np.asarray(kinds), self.rng.uniform(0, 2 * math.pi, n)

    # --- nucleus kinds (sizes in pixels of the 64 px reference, times self.scale) ---

    def neoplastic(self, cx, cy) -> None:
        r, s = self.rng, self.scale
        radius, aspect = r.uniform(4.5, 6.8) * s, r.uniform(1.0, 1.5)
        a, b = radius * math.sqrt(aspect), max(radius / math.sqrt(aspect), 1.0)
        texture = 1 + 0.38 * self.chromatin
        if self._stamp(self._blob(cx, cy, a, b, r.uniform(0, math.pi), self._harmonics(0.13)),
                       NEOPLASTIC, r.uniform(1.05, 1.45), texture):
            # Prominent nucleolus: a darker dot off centre (image only; label already set).
            ox, oy = r.uniform(-0.3, 0.3, size=2) * radius
            dot = self._blob(cx + ox, cy + oy, max(0.8 * s, 0.7), max(0.8 * s, 0.7), 0.0)
            if dot is not None:
                box, _, alpha = dot
                self.haem[box] += 0.7 * alpha * (self.label[box] == NEOPLASTIC)

    def inflammatory(self, cx, cy) -> None:
        r, s = self.rng, self.scale
        radius, aspect = r.uniform(2.0, 2.9) * s, r.uniform(1.0, 1.15)
        a, b = max(radius * math.sqrt(aspect), 1.0), max(radius / math.sqrt(aspect), 1.0)
        self._stamp(self._blob(cx, cy, a, b, r.uniform(0, math.pi), self._harmonics(0.03)),
                    INFLAMMATORY, r.uniform(1.8, 2.3), 1 + 0.05 * self.granules, eosin_keep=0.15)

    def connective(self, cx, cy) -> None:
        r, s = self.rng, self.scale
        a, b = r.uniform(5.5, 8.5) * s, max(r.uniform(1.2, 1.8) * s, 0.9)
        angle = self.fibre_angle + r.normal(0, 0.3)
        self._stamp(self._blob(cx, cy, a, b, angle, self._harmonics(0.04, (2, 3))),
                    CONNECTIVE, r.uniform(0.9, 1.3), 1 + 0.12 * self.chromatin, eosin_keep=0.5)

    def dead(self, cx, cy) -> None:
        r, s = self.rng, self.scale
        self._halo(cx, cy, r.uniform(3.0, 4.2) * s, d_eosin=1.6, d_haem=0.05)
        spread = r.uniform(1.5, 3.0) * s
        for _ in range(r.integers(2, 6)):
            angle, dist = r.uniform(0, 2 * math.pi), r.uniform(0, spread)
            radius = max(r.uniform(0.9, 1.6) * s, 0.8)
            self._stamp(self._blob(cx + dist * math.cos(angle), cy + dist * math.sin(angle), radius,
                                   radius * r.uniform(0.7, 1.0), r.uniform(0, math.pi), self._harmonics(0.08)),
                        DEAD, r.uniform(1.9, 2.5), 1 + 0.1 * self.granules, eosin_keep=0.6, max_overlap=0.3)

    def epithelial_cluster(self, cx, cy) -> None:
        """A short chain of ovals: each next to the previous, axes across the chain."""
        r, s = self.rng, self.scale
        heading = r.uniform(0, 2 * math.pi)
        for _ in range(r.integers(3, 8)):
            a, b = r.uniform(3.4, 4.5) * s, max(r.uniform(2.4, 3.2) * s, 1.0)
            angle = heading + math.pi / 2 + r.normal(0, 0.25)
            self._halo(cx, cy, 1.6 * a, d_eosin=0.7, d_haem=0.12)
            self._stamp(self._blob(cx, cy, a, b, angle, self._harmonics(0.035)),
                        EPITHELIAL, r.uniform(0.75, 1.05), 1 + 0.22 * self.granules + 0.1 * self.chromatin)
            heading += r.normal(0, 0.5)
            step = 2 * b + r.uniform(0.5, 1.5) * s
            cx, cy = cx + step * math.cos(heading), cy + step * math.sin(heading)

    def place_nuclei(self) -> None:
        r = self.rng
        target = np.clip(r.normal(_MEAN_COVERAGE, _COVERAGE_SD), 0.03, 0.45) * self.size ** 2
        mix = r.dirichlet(_KIND_CONCENTRATION * _KIND_SHARES)
        painters = (self.neoplastic, self.inflammatory, self.connective, self.dead, self.epithelial_cluster)
        margin = 2 * self.scale
        for _ in range(400):  # attempts; a crowded tile simply ends up below its target
            if self.covered >= target:
                break
            cx, cy = r.uniform(-margin, self.size + margin, size=2)
            painters[r.choice(5, p=mix)](cx, cy)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.rng
        # Stain jitter: perturbed stain vectors and concentrations, then Beer-Lambert.
        h_vec = np.abs(_HAEMATOXYLIN + r.normal(0, 0.04, 3))
        e_vec = np.abs(_EOSIN + r.normal(0, 0.04, 3))
        h_vec, e_vec = h_vec / np.linalg.norm(h_vec), e_vec / np.linalg.norm(e_vec)
        haem = self.haem * r.uniform(0.85, 1.15)
        eosin = self.eosin * r.uniform(0.8, 1.2)
        density = haem[None] * h_vec[:, None, None] + eosin[None] * e_vec[:, None, None]
        light = r.uniform(0.92, 1.0, size=(3, 1, 1))
        image = light * np.exp(-density)
        image += r.normal(0, r.uniform(0.005, 0.03), size=image.shape)
        return np.clip(image, 0, 1).astype(np.float32), self.label


def render_tile(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile `index` of `split`: image float32 (3, size, size) in [0, 1], labels int64."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(SPLITS.index(split), index))
    tile = _Tile(np.random.Generator(np.random.PCG64(sequence)), size)
    tile.place_nuclei()
    return tile.render()


# --- the registered source ----------------------------------------------------------------------


def _int_field(params: dict[str, Any], name: str, prefix: str, low: int, high: int) -> int:
    value = params.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{prefix}.{name}", f"must be an integer, got {value!r}")
    if value < low:
        raise InvalidArgument(f"{prefix}.{name}", f"must be {'> 0' if low == 1 else f'>= {low}'}, got {value}")
    if value > high:
        raise InvalidArgument(f"{prefix}.{name}", f"must be <= {high}, got {value}")
    return value


class SyntheticHistology:
    name = "synthetic-histology"
    request_field = "synthetic_histology"
    class_names = CLASS_NAMES

    def plan(self, params: dict[str, Any], field_prefix: str, paths=None) -> list[SplitPlan]:
        size = _int_field(params, "tile_size", field_prefix, 1, MAX_TILE_SIZE)
        seed = params.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise InvalidArgument(f"{field_prefix}.seed", f"must be an integer in [0, 2^64), got {seed!r}")
        counts = {
            split: _int_field(params, f"num_{split}", field_prefix, 0, MAX_TILES_PER_SPLIT) for split in SPLITS
        }
        if not any(counts.values()):
            raise InvalidArgument(field_prefix, "every split is empty: set num_train, num_validation or num_test > 0")
        return [
            SplitPlan(split, n, {"generator_version": GENERATOR_VERSION, "tile_size": size, "seed": seed,
                                 "split": split, "num_images": n})
            for split, n in counts.items() if n > 0
        ]

    def render(self, plan: SplitPlan, start: int, stop: int) -> TileSet:
        size, seed = plan.recipe["tile_size"], plan.recipe["seed"]
        images = np.empty((stop - start, 3, size, size), dtype=np.float32)
        labels = np.empty((stop - start, size, size), dtype=np.int64)
        for i in range(start, stop):
            images[i - start], labels[i - start] = render_tile(seed, plan.split, i, size)
        return TileSet(images, labels, CLASS_NAMES)


registry.register(SyntheticHistology())
