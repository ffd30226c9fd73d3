"""folder source: the real tiles in ../shared/data/real, and tiny PNGs written here."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustseg_worker.data import folder
from robustseg_worker.engine import Engine
from robustseg_worker.errors import InvalidArgument

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real")
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real tiles not present")

PANNUKE = ["background", "neoplastic", "non-neoplastic"]
CONSEP = ["background", "other", "inflammatory", "epithelial", "spindle-shaped"]


def render_all(params):
    source = folder.Folder()
    plans = source.plan(params, "source.folder")
    out = {}
    for plan in plans:
        tiles = source.render(plan, 0, plan.num_images)
        tiles.check()
        out[plan.split] = tiles
    return out


@needs_real
@pytest.mark.parametrize("name,classes,n,background", [("pannuke_breast", PANNUKE, 15, 0.81),
                                                       ("consep", CONSEP, 4, 0.77)])
def test_real_tiles(name, classes, n, background):
    tiles = render_all({"path": str(REAL / name), "class_names": classes})["train"]
    assert tiles.images.shape == (n, 3, 256, 256) and tiles.labels.shape == (n, 256, 256)
    assert tiles.class_names == tuple(classes)
    counts = tiles.class_pixel_counts()
    assert all(c > 0 for c in counts)  # every class occurs
    assert abs(counts[0] / sum(counts) - background) < 0.05
    assert 0.2 < tiles.images.mean() < 0.95


@needs_real
def test_real_tiles_seeded_split():
    params = {"path": str(REAL / "pannuke_breast"), "class_names": PANNUKE, "validation_fraction": 0.2,
              "test_fraction": 0.2, "seed": 7}
    source = folder.Folder()
    plans = source.plan(params, "source.folder")
    assert [(p.split, p.num_images) for p in plans] == [("train", 9), ("validation", 3), ("test", 3)]
    names = [[n for n, _, _ in p.state["pairs"]] for p in plans]
    assert sorted(sum(names, [])) == sorted(p.stem for p in (REAL / "pannuke_breast" / "images").glob("*.png"))
    again = source.plan(params, "source.folder")
    assert [p.recipe for p in again] == [p.recipe for p in plans]
    other = source.plan({**params, "seed": 8}, "source.folder")
    assert [[n for n, _, _ in p.state["pairs"]] for p in other] != names


def write_set(root, masks, rgb_mode="RGB", classes=None):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, mask in masks.items():
        h, w = mask.shape
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        img.convert(rgb_mode).save(root / "images" / f"{name}.png")
        Image.fromarray(mask.astype(np.uint8), "L").save(root / "masks" / f"{name}.png")
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))


def mask(h=8, w=8, value=1):
    m = np.zeros((h, w), dtype=np.uint8)
    m[2:5, 3:6] = value
    return m


def test_tiny_pngs_modes_classes_json_and_palette(tmp_path):
    write_set(tmp_path / "s", {"a": mask(), "b": mask(value=2)}, classes={"classes": ["bg", "x", "y"]})
    Image.open(tmp_path / "s" / "images" / "b.png").convert("RGBA").save(tmp_path / "s" / "images" / "b.png")
    Image.open(tmp_path / "s" / "images" / "a.png").convert("L").save(tmp_path / "s" / "images" / "a.png")
    pal = Image.fromarray(mask(value=2), "P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    pal.save(tmp_path / "s" / "masks" / "b.png")
    tiles = render_all({"path": str(tmp_path / "s")})["train"]
    assert tiles.class_names == ("bg", "x", "y")
    np.testing.assert_array_equal(tiles.labels, np.stack([mask(), mask(value=2)]))
    assert np.allclose(tiles.images[0, 0], tiles.images[0, 1])  # greyscale -> RGB
    (tmp_path / "s" / "classes.json").write_text(json.dumps(["bg", "x", "y", "z"]))
    assert render_all({"path": str(tmp_path / "s")})["train"].class_names == ("bg", "x", "y", "z")
    # class_names in the request win over classes.json
    assert render_all({"path": str(tmp_path / "s"), "class_names": ["a", "b", "c"]})["train"].class_names == ("a", "b", "c")


def test_per_split_folders_and_fit(tmp_path):
    write_set(tmp_path / "tr", {"a": mask(8, 8), "b": mask(8, 8)}, classes=["bg", "x"])
    write_set(tmp_path / "te", {"c": mask(12, 10)})
    out = render_all({"train_path": str(tmp_path / "tr"), "test_path": str(tmp_path / "te"),
                      "tile_size": 8, "fit": "center_crop"})
    assert set(out) == {"train", "test"} and out["test"].images.shape == (1, 3, 8, 8)
    np.testing.assert_array_equal(out["test"].labels[0], mask(12, 10)[2:10, 1:9])
    out = render_all({"train_path": str(tmp_path / "tr"), "test_path": str(tmp_path / "te"),
                      "tile_size": 16, "fit": "resize"})
    assert out["test"].images.shape == (1, 3, 16, 16) and set(np.unique(out["test"].labels)) == {0, 1}


def expect_error(params, *fragments, field="source.folder.path"):
    with pytest.raises(InvalidArgument) as e:
        render_all(params)
    for f in fragments:
        assert f in str(e.value), str(e.value)
    assert e.value.field == field
    return e.value


def test_errors_name_the_file(tmp_path):
    root = tmp_path / "s"
    write_set(root, {"a": mask(), "b": mask()})
    p = {"path": str(root), "class_names": ["bg", "x"]}
    expect_error({"path": str(root)}, "classes.json", field="source.folder.class_names")

    (root / "masks" / "b.png").unlink()
    expect_error(p, str(root / "images" / "b.png"), "no mask")

    Image.fromarray(mask(8, 9)).save(root / "masks" / "b.png")
    expect_error(p, str(root / "masks" / "b.png"), "8x9", "8x8")

    Image.fromarray(mask(value=3)).save(root / "masks" / "b.png")
    expect_error(p, str(root / "masks" / "b.png"), "value 3", "2 declared classes")

    Image.fromarray(mask()).save(root / "masks" / "b.png")
    (root / "images" / "b.png").write_bytes(b"not a png")
    expect_error(p, str(root / "images" / "b.png"), "cannot read image")

    write_set(root, {"b": mask(10, 10)})
    expect_error(p, str(root / "images" / "b.png"), "set tile_size")

    Image.fromarray(np.stack([mask(10, 10), mask(10, 10) * 0, mask(10, 10)], -1)).save(root / "masks" / "b.png")
    expect_error(p, str(root / "masks" / "b.png"), "colour")

    expect_error({"path": str(tmp_path / "none"), "class_names": ["bg", "x"]}, "no such folder")
    expect_error({**p, "validation_fraction": 0.7, "test_fraction": 0.5}, "<= 1",
                 field="source.folder.test_fraction")


def test_without_pillow_a_clear_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no PIL")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    from robustseg_worker.errors import FailedPrecondition
    with pytest.raises(FailedPrecondition, match="needs Pillow"):
        folder.Folder().plan({"path": str(tmp_path)}, "source.folder")


def test_id_changes_with_a_file(tmp_path):
    write_set(tmp_path / "s", {"a": mask(), "b": mask()}, classes=["bg", "x"])
    engine = Engine(tmp_path / "ws")
    *_, first = engine.create_dataset("folder", {"path": str(tmp_path / "s")})
    *_, same = engine.create_dataset("folder", {"path": str(tmp_path / "s")})
    assert same.reused and same.datasets[0].id == first.datasets[0].id
    Image.fromarray(mask(value=0)).save(tmp_path / "s" / "masks" / "b.png")
    os.utime(tmp_path / "s" / "masks" / "b.png", ns=(1, 1))
    *_, changed = engine.create_dataset("folder", {"path": str(tmp_path / "s")})
    assert not changed.reused and changed.datasets[0].id != first.datasets[0].id


@needs_real
def test_engine_on_real_tiles(tmp_path):
    engine = Engine(tmp_path / "ws")
    *_, result = engine.create_dataset("folder", {"path": str(REAL / "consep"), "class_names": CONSEP,
                                                  "test_fraction": 0.25, "seed": 1})
    assert [(d.split, d.num_images) for d in result.datasets] == [("train", 3), ("test", 1)]
    assert all(d.class_names == CONSEP and d.source == "folder" and d.tag_name == "" for d in result.datasets)
    assert engine.load_dataset(result.datasets[0].id).labels.max() <= 4


def test_class_names_from_classes_json_are_checked_naming_the_file(tmp_path):
    """Found by the fuzz suite: an empty classes.json was reported as the request's class_names."""
    write_set(tmp_path / "s", {"a": mask(), "b": mask()}, classes=[])
    expect_error({"path": str(tmp_path / "s")}, str(tmp_path / "s" / "classes.json"), "needs at least 2 classes")
