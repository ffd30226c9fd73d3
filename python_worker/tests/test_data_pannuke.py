"""pannuke source: a fold in the Kaggle/Warwick layout written here, read by memory map."""

import numpy as np
import pytest

from robustseg_worker.data import pannuke
from robustseg_worker.engine import Engine
from robustseg_worker.errors import InvalidArgument

H = W = 32


def write_fold(root, n=4, tissues=None, nested=True):
    """A fold like Kaggle's: images/fold1/{images,types}.npy and masks/fold1/masks.npy.
    Returns (images, masks, expected labels)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (n, H, W, 3))
    masks = np.zeros((n, H, W, 6))
    masks[..., 5] = 1  # background channel: ignored
    expected = np.zeros((n, H, W), dtype=np.int64)
    if n > 0:
        masks[0, 0:4, 0:4, 0] = 300        # neoplastic, id > 255
        expected[0, 0:4, 0:4] = 1
        masks[0, 5:8, 5:8, 1] = 256        # inflammatory, id a multiple of 256 (uint8 cast -> 0)
        expected[0, 5:8, 5:8] = 2
        masks[0, 10:12, 10:20, 2] = 512    # connective
        expected[0, 10:12, 10:20] = 3
        masks[0, 20:22, 0:3, 3] = 1024     # dead
        expected[0, 20:22, 0:3] = 4
        masks[0, 25:30, 25:30, 4] = 65536  # epithelial
        expected[0, 25:30, 25:30] = 5
    if n > 1:
        pass  # tile 1: all channels zero -> all background
    if n > 2:
        # overlaps: the first non-zero channel wins
        masks[2, 0:10, 0:10, 4] = 7        # epithelial
        masks[2, 5:10, 5:10, 1] = 768      # inflammatory over it
        masks[2, 8:10, 8:10, 0] = 2        # neoplastic over both
        masks[2, 0:10, 0:10, 5] = 0
        expected[2, 0:10, 0:10] = 5
        expected[2, 5:10, 5:10] = 2
        expected[2, 8:10, 8:10] = 1
        masks[2, 20:24, 20:24, 2] = 3.0
        masks[2, 20:24, 20:24, 3] = 256.0
        expected[2, 20:24, 20:24] = 3      # connective before dead
    for i in range(3, n):
        masks[i, i:i + 3, 0:3, i % 5] = 256 * i
        expected[i, i:i + 3, 0:3] = i % 5 + 1
    tissues = tissues or [["Breast", "Colon", "Lung", "Kidney"][i % 4] for i in range(n)]
    img_dir = root / "images" / "fold1" if nested else root
    mask_dir = root / "masks" / "fold1" if nested else root
    img_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    np.save(img_dir / "images.npy", images)
    np.save(mask_dir / "masks.npy", masks)
    np.save(img_dir / "types.npy", np.array(tissues))
    return images, masks, expected


def test_labels_images_tags_exact(tmp_path):
    images, _, expected = write_fold(tmp_path / "Fold 1", n=6)
    source = pannuke.PanNuke()
    (plan,) = source.plan({"train_folds": [str(tmp_path / "Fold 1")]}, "source.pannuke")
    assert plan.split == "train" and plan.num_images == 6 and plan.tag_name == "tissue"
    tiles = source.render(plan, 0, 6)
    tiles.check()
    assert tiles.class_names == ("background", "neoplastic", "inflammatory", "connective", "dead", "epithelial")
    np.testing.assert_array_equal(tiles.labels, expected)
    assert (tiles.labels[1] == 0).all()  # all-zero tile: all background
    np.testing.assert_allclose(tiles.images, (images / 255).transpose(0, 3, 1, 2), atol=1e-6)
    assert tiles.images.dtype == np.float32 and tiles.images.shape == (6, 3, H, W)
    assert tiles.tags == ["Breast", "Colon", "Lung", "Kidney", "Breast", "Colon"]
    # Chunking does not change anything.
    parts = [source.render(plan, a, b) for a, b in ((0, 2), (2, 5), (5, 6))]
    np.testing.assert_array_equal(np.concatenate([p.labels for p in parts]), expected)
    assert sum((p.tags for p in parts), []) == tiles.tags


def test_reads_by_memory_map_and_only_the_range(tmp_path, monkeypatch):
    write_fold(tmp_path / "f", n=6)
    calls, slices = [], []
    real_load = np.load

    class Recorder:
        def __init__(self, array, name):
            self.array, self.name = array, name
            self.shape, self.dtype = array.shape, array.dtype

        def __getitem__(self, key):
            slices.append((self.name, key))
            return self.array[key]

    def load(path, *args, **kwargs):
        calls.append(kwargs.get("mmap_mode"))
        array = real_load(path, *args, **kwargs)
        assert isinstance(array, np.memmap)
        return Recorder(array, str(path).rsplit("/", 1)[-1])

    monkeypatch.setattr(pannuke.np, "load", load)
    source = pannuke.PanNuke()
    (plan,) = source.plan({"test_folds": [str(tmp_path / "f")]}, "source.pannuke")
    assert calls == []  # planning reads headers only
    source.render(plan, 2, 4)
    assert calls and all(mode == "r" for mode in calls)
    assert sorted(name for name, _ in slices) == ["images.npy", "masks.npy", "types.npy"]
    assert all(key == slice(2, 4) for _, key in slices)


def test_several_folds_cap_tile_size_and_fit(tmp_path):
    _, _, e1 = write_fold(tmp_path / "a", n=3)
    _, _, e2 = write_fold(tmp_path / "b", n=4, nested=False)
    source = pannuke.PanNuke()
    plans = source.plan({"train_folds": [str(tmp_path / "a"), str(tmp_path / "b")],
                         "test_folds": [str(tmp_path / "b")], "max_images_per_split": 5}, "source.pannuke")
    assert [(p.split, p.num_images) for p in plans] == [("train", 5), ("test", 4)]
    tiles = source.render(plans[0], 0, 5)
    np.testing.assert_array_equal(tiles.labels, np.concatenate([e1, e2[:2]]))
    (crop,) = source.plan({"train_folds": [str(tmp_path / "a")], "tile_size": 16, "fit": "center_crop"}, "p")
    np.testing.assert_array_equal(source.render(crop, 0, 3).labels, e1[:, 8:24, 8:24])
    (resized,) = source.plan({"train_folds": [str(tmp_path / "a")], "tile_size": 16, "fit": "resize"}, "p")
    t = source.render(resized, 0, 3)
    t.check()
    assert t.images.shape == (3, 3, 16, 16) and set(np.unique(t.labels)) <= set(np.unique(e1))
    with pytest.raises(InvalidArgument, match="set fit"):
        (p,) = source.plan({"train_folds": [str(tmp_path / "a")], "tile_size": 16}, "p")
        source.render(p, 0, 1)


def test_id_changes_with_the_files(tmp_path):
    write_fold(tmp_path / "f", n=3)
    source = pannuke.PanNuke()
    (before,) = source.plan({"train_folds": [str(tmp_path / "f")]}, "p")
    (same,) = source.plan({"train_folds": [str(tmp_path / "f")]}, "p")
    assert before.recipe == same.recipe
    write_fold(tmp_path / "f", n=4)
    (after,) = source.plan({"train_folds": [str(tmp_path / "f")]}, "p")
    assert after.recipe["fingerprint"] != before.recipe["fingerprint"]


def _plan_error(params):
    source = pannuke.PanNuke()
    with pytest.raises(InvalidArgument) as e:
        for plan in source.plan(params, "source.pannuke"):
            source.render(plan, 0, plan.num_images)
    return e.value


def test_errors_name_the_field_and_file(tmp_path):
    fold = tmp_path / "f"
    write_fold(fold, n=3)
    (fold / "masks" / "fold1" / "masks.npy").unlink()
    e = _plan_error({"train_folds": [str(fold)]})
    assert e.field == "source.pannuke.train_folds[0]" and "masks.npy" in str(e) and str(fold) in str(e)

    write_fold(fold, n=3)
    np.save(fold / "masks" / "masks.npy", np.zeros((3, H, W, 6)))  # a second masks.npy
    e = _plan_error({"validation_folds": [str(tmp_path / "missing")], "train_folds": [str(fold)]})
    assert e.field == "source.pannuke.train_folds[0]" and "ambiguous" in str(e)
    (fold / "masks" / "masks.npy").unlink()

    np.save(fold / "masks" / "fold1" / "masks.npy", np.zeros((3, H, W, 5)))
    e = _plan_error({"train_folds": [str(fold)]})
    assert "masks.npy" in str(e) and "shape" in str(e)

    _, masks, _ = write_fold(fold, n=3)
    masks[1, 3, 3, 2] = np.nan
    np.save(fold / "masks" / "fold1" / "masks.npy", masks)
    e = _plan_error({"train_folds": [str(fold)]})
    assert str(fold / "masks" / "fold1" / "masks.npy") in str(e) and "NaN" in str(e)

    images, _, _ = write_fold(fold, n=3)
    images[2, 0, 0, 0] = np.nan
    np.save(fold / "images" / "fold1" / "images.npy", images)
    e = _plan_error({"train_folds": [str(fold)]})
    assert "images.npy" in str(e) and "NaN" in str(e)

    images[2, 0, 0, 0] = 300
    np.save(fold / "images" / "fold1" / "images.npy", images)
    assert "outside [0, 255]" in str(_plan_error({"train_folds": [str(fold)]}))

    write_fold(fold, n=3)
    np.save(fold / "images" / "fold1" / "types.npy", np.array(["a", "b"]))
    e = _plan_error({"train_folds": [str(fold)]})
    assert "types.npy" in str(e)

    e = _plan_error({"train_folds": [str(tmp_path / "nope")]})
    assert e.field == "source.pannuke.train_folds[0]" and "no such folder" in str(e)
    assert _plan_error({}).field == "source.pannuke"


def test_engine_creates_dataset_with_tissue_tags(tmp_path):
    write_fold(tmp_path / "f", n=4)
    engine = Engine(tmp_path / "ws")
    params = {"train_folds": [str(tmp_path / "f")], "test_folds": [str(tmp_path / "f")], "max_images_per_split": 3}
    *_, result = engine.create_dataset("pannuke", params)
    assert [d.split for d in result.datasets] == ["train", "test"]
    info = result.datasets[0]
    assert info.source == "pannuke" and info.tag_name == "tissue" and info.image_tags == ["Breast", "Colon", "Lung"]
    assert info.class_names[1] == "neoplastic" and len(info.class_names) == 6
    assert engine.get_dataset(info.id).image_tags == ["Breast", "Colon", "Lung"]  # kept in meta.json
    *_, again = engine.create_dataset("pannuke", params)
    assert again.reused and [d.id for d in again.datasets] == [d.id for d in result.datasets]


def _rescale_images(fold, scale):
    path = next(fold.rglob("images.npy"))
    np.save(path, np.load(path) * scale)
    return path


def test_images_stored_as_fractions_are_read_as_fractions_with_a_warning(tmp_path):
    """Before the fix, a conversion that stores [0, 1] was read as 0-255 (black tiles), silently."""
    images, _, _ = write_fold(tmp_path / "Fold 1", n=3)
    path = _rescale_images(tmp_path / "Fold 1", 1 / 255)
    engine = Engine(tmp_path / "ws")
    created = list(engine.create_dataset("pannuke", {"train_folds": [str(tmp_path / "Fold 1")]}))
    (info,) = created[-1].datasets
    np.testing.assert_allclose(engine.load_dataset(info.id).images, (images / 255).transpose(0, 3, 1, 2), atol=1e-6)
    assert info.warnings == [f"{path}: values are within [0, 1] (max {(images / 255)[0].max():g}), not PanNuke's "
                             "0-255: read as fractions of the pixel range"]
    assert engine.get_dataset(info.id).warnings == info.warnings  # kept in meta.json
    assert any(e.message.startswith("warning: ") for e in created[:-1])


def test_a_fold_that_mixes_value_ranges_is_refused(tmp_path):
    write_fold(tmp_path / "Fold 1", n=3)
    path = next((tmp_path / "Fold 1").rglob("images.npy"))
    values = np.load(path)
    values[0] /= 255  # the first image as fractions, the others 0-255
    np.save(path, values)
    source = pannuke.PanNuke()
    (plan,) = source.plan({"train_folds": [str(tmp_path / "Fold 1")]}, "source.pannuke")
    source.render(plan, 0, 1)
    with pytest.raises(InvalidArgument, match=r"values outside \[0, 1\] in images 1-2 .*mixes value ranges"):
        source.render(plan, 1, 3)


def test_images_in_0_255_carry_no_warning(tmp_path):
    write_fold(tmp_path / "Fold 1", n=2)
    (info,) = list(Engine(tmp_path / "ws").create_dataset("pannuke", {"train_folds": [str(tmp_path / "Fold 1")]}))[-1].datasets
    assert info.warnings == []
