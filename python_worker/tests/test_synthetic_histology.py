import time

import numpy as np
import pytest

from robustseg_worker import data
from robustseg_worker.data.synthetic_histology import CLASS_NAMES, SyntheticHistology, _Tile, render_tile
from robustseg_worker.errors import InvalidArgument

SOURCE = SyntheticHistology()
PREFIX = "source.synthetic_histology"


def _render(size, n, seed=0, split="train"):
    plans = {p.split: p for p in SOURCE.plan({"tile_size": size, f"num_{split}": n, "seed": seed}, PREFIX)}
    return SOURCE.render(plans[split], 0, n)


def test_registered_under_its_name_and_request_field():
    assert data.get("synthetic-histology") is data.by_request_field("synthetic_histology")
    assert "synthetic-histology" in data.names()


def test_class_names_follow_pannuke():
    assert CLASS_NAMES == ("background", "neoplastic", "inflammatory", "connective", "dead", "epithelial")


@pytest.mark.parametrize("size", [16, 32, 64, 256])
def test_tiles_of_any_size_have_the_documented_dtypes_and_ranges(size):
    tiles = _render(size, 3 if size == 256 else 8)
    tiles.check()
    n = len(tiles)
    assert tiles.images.shape == (n, 3, size, size) and tiles.images.dtype == np.float32
    assert tiles.labels.shape == (n, size, size) and tiles.labels.dtype == np.int64
    assert 0.0 <= tiles.images.min() and tiles.images.max() <= 1.0
    assert set(np.unique(tiles.labels)) <= set(range(6))
    assert tiles.images.std() > 0.05  # not a flat colour


def test_odd_and_small_sizes_work_and_tiles_below_8_px_are_refused():
    for size in (8, 9, 17):
        _render(size, 4).check()
    for size in (1, 7):  # 1x1 tiles used to be accepted
        with pytest.raises(InvalidArgument, match=rf"tile_size: must be >= 8, got {size}"):
            _render(size, 4)


def test_same_seed_same_bytes_other_seed_differs():
    a, b, c = _render(32, 6, seed=5), _render(32, 6, seed=5), _render(32, 6, seed=6)
    assert a.images.tobytes() == b.images.tobytes() and a.labels.tobytes() == b.labels.tobytes()
    assert a.images.tobytes() != c.images.tobytes()
    assert not np.array_equal(a.labels, c.labels)


def test_a_tile_does_not_depend_on_the_split_size_or_chunking():
    small, large = _render(32, 3, seed=9), _render(32, 10, seed=9)
    np.testing.assert_array_equal(small.images, large.images[:3])
    plan = SOURCE.plan({"tile_size": 32, "num_train": 10, "seed": 9}, PREFIX)[0]
    np.testing.assert_array_equal(SOURCE.render(plan, 4, 7).labels, large.labels[4:7])


def test_each_split_draws_its_own_tiles():
    train, test = _render(32, 4, seed=1, split="train"), _render(32, 4, seed=1, split="test")
    assert not np.array_equal(train.images, test.images)


def test_background_is_about_80_percent_and_every_class_is_present():
    tiles = _render(64, 150, seed=3)
    counts = np.array(tiles.class_pixel_counts())
    shares = counts / counts.sum()
    assert 0.75 <= shares[0] <= 0.85, shares
    assert (counts[1:] > 0).all(), counts
    # Nucleus types differ in size: neoplastic nuclei are larger than inflammatory ones, so
    # they hold more pixels per nucleus; here simply check each type has a real share.
    assert (shares[1:] > 0.002).all(), shares


def test_nucleus_types_differ_in_appearance():
    """Inflammatory nuclei are the darkest, epithelial ones paler than neoplastic ones; the
    stroma is pink (red and blue above green)."""
    tiles = _render(64, 80, seed=4)
    brightness = {c: tiles.images.mean(axis=1)[tiles.labels == c].mean() for c in range(6)}
    assert brightness[2] < brightness[1] < brightness[5] < brightness[0]
    stroma = tiles.images.transpose(1, 0, 2, 3)[:, tiles.labels == 0].mean(axis=1)
    assert stroma[0] > stroma[1] and stroma[2] > stroma[1]


def _single_nucleus(kind, seed):
    """The label mask of one nucleus (or body, or cluster) painted alone on a 64 px tile."""
    tile = _Tile(np.random.default_rng(seed), 64)
    getattr(tile, kind)(32.0, 32.0)
    return tile.label > 0


def _elongation(mask):
    ys, xs = np.nonzero(mask)
    low, high = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(float)))
    return float(np.sqrt(high / max(low, 1e-9)))


def test_nucleus_types_differ_in_size_and_shape():
    kinds = ["neoplastic", "inflammatory", "connective", "dead", "epithelial_cluster"]
    masks = {k: [_single_nucleus(k, seed) for seed in range(20)] for k in kinds}
    area = {k: np.mean([m.sum() for m in ms]) for k, ms in masks.items()}
    elongation = {k: np.median([_elongation(m) for m in ms]) for k, ms in masks.items() if k != "dead"}
    assert area["neoplastic"] > 3 * area["inflammatory"]  # large vs small
    assert area["dead"] < area["neoplastic"] / 3  # small fragments
    assert elongation["connective"] > 3 > elongation["neoplastic"]  # spindles
    assert elongation["inflammatory"] < 1.3  # round
    assert area["epithelial_cluster"] > 2.5 * area["inflammatory"]  # several ovals together


def test_generation_is_fast():
    plan = SOURCE.plan({"tile_size": 64, "num_train": 200, "seed": 0}, PREFIX)[0]
    start = time.perf_counter()
    SOURCE.render(plan, 0, 200)
    assert time.perf_counter() - start < 10  # about 1-2 s on two CPU cores


@pytest.mark.parametrize("params, field, message", [
    ({"tile_size": 0, "num_train": 1}, "tile_size", "must be >= 8, got 0"),
    ({"tile_size": -3, "num_train": 1}, "tile_size", "must be >= 8, got -3"),
    ({"tile_size": 5000, "num_train": 1}, "tile_size", "must be <= 4096"),
    ({"tile_size": 8, "num_train": -1}, "num_train", "must be >= 0, got -1"),
])
def test_bad_parameters_name_the_field(params, field, message):
    with pytest.raises(InvalidArgument) as e:
        SOURCE.plan(params, PREFIX)
    assert str(e.value).startswith(f"{PREFIX}.{field}: ") and message in str(e.value)


def test_all_splits_empty_is_rejected():
    with pytest.raises(InvalidArgument, match=r"^source.synthetic_histology: every split is empty"):
        SOURCE.plan({"tile_size": 8}, PREFIX)


def test_plans_only_non_empty_splits_in_split_order():
    plans = SOURCE.plan({"tile_size": 8, "num_train": 2, "num_test": 3, "seed": 1}, PREFIX)
    assert [(p.split, p.num_images) for p in plans] == [("train", 2), ("test", 3)]


def test_render_tile_is_a_pure_function_of_seed_split_index():
    a = render_tile(11, "validation", 7, 24)
    b = render_tile(11, "validation", 7, 24)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
