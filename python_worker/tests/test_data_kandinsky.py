"""kandinsky source: determinism, non-overlap, class sets per labeling, concept tags."""

import numpy as np
import pytest

from robustseg_worker.data import kandinsky
from robustseg_worker.engine import Engine
from robustseg_worker.errors import InvalidArgument

SOURCE = kandinsky.Kandinsky()


def render(**params):
    params = {"tile_size": 48, "num_train": 24, "seed": 3, **params}
    (plan,) = SOURCE.plan(params, "source.kandinsky")
    tiles = SOURCE.render(plan, 0, plan.num_images)
    tiles.check()
    return plan, tiles


def test_deterministic_and_independent_of_chunking():
    _, a = render()
    _, b = render()
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.tags == b.tags
    (plan,) = SOURCE.plan({"tile_size": 48, "num_train": 30, "seed": 3}, "k")
    part = SOURCE.render(plan, 10, 12)
    np.testing.assert_array_equal(part.labels, a.labels[10:12])
    _, other = render(seed=4)
    assert not np.array_equal(other.labels, a.labels)


@pytest.mark.parametrize("labeling,n", [("shape", 4), ("colour", 4), ("shape_and_colour", 10), (None, 10)])
def test_class_sets_per_labeling(labeling, n):
    plan, tiles = render(labeling=labeling, num_train=40)
    assert len(tiles.class_names) == n and tiles.class_names[0] == "background"
    assert plan.class_names == tiles.class_names
    assert set(np.unique(tiles.labels)) == set(range(n))  # every class occurs in 40 figures


def test_pixels_match_labels_exactly_and_objects_do_not_touch():
    _, shape = render(labeling="shape")
    _, colour = render(labeling="colour")
    _, both = render(labeling="shape_and_colour")
    grey = np.isclose(shape.images, kandinsky.GREY).all(axis=1)
    np.testing.assert_array_equal(grey, shape.labels == 0)
    for c, name in enumerate(kandinsky.COLOURS, start=1):
        rgb = np.array(kandinsky.RGB[name], dtype=np.float32)[None, :, None, None]
        np.testing.assert_array_equal(np.isclose(colour.images, rgb).all(axis=1), colour.labels == c)
    np.testing.assert_array_equal(both.labels, np.where(shape.labels > 0, 1 + 3 * (shape.labels - 1) + colour.labels - 1, 0))
    # non-overlap: rendering each figure's objects one by one never writes a pixel twice
    for i in range(10):
        _, objs, ids = kandinsky.render_figure(3, "train", i, 48, 1, 6, kandinsky.parse_concept("contains a red object"))
        assert set(np.unique(ids)) == set(range(-1, len(objs)))  # every object is visible
        fg = ids >= 0
        # objects are separated by background: no 4-neighbour pixels of different objects
        for a, b in ((ids[1:], ids[:-1]), (ids[:, 1:], ids[:, :-1])):
            assert not ((a >= 0) & (b >= 0) & (a != b)).any()
        assert fg.any()


@pytest.mark.parametrize("concept", ["contains a red object", "contains a yellow circle",
                                     "all objects have the same shape", "All objects have the same colour",
                                     "contains a triangle"])
def test_tags_follow_the_concept(concept):
    plan, colour = render(labeling="colour", concept=concept, num_train=40)
    _, shape = render(labeling="shape", concept=concept, num_train=40)
    assert plan.tag_name == "concept" and set(colour.tags) == {"true", "false"}
    assert 8 <= colour.tags.count("true") <= 32  # drawn about half true
    for i, tag in enumerate(colour.tags):
        present = {(int(s), int(c)) for s, c in
                   zip(shape.labels[i][shape.labels[i] > 0], colour.labels[i][colour.labels[i] > 0])}
        shapes, colours = {s for s, _ in present}, {c for _, c in present}
        truth = {"contains a red object": 1 in colours,
                 "contains a yellow circle": (1, 2) in present,
                 "all objects have the same shape": len(shapes) == 1,
                 "all objects have the same colour": len(colours) == 1,
                 "contains a triangle": 3 in shapes}[concept.lower()]
        assert tag == ("true" if truth else "false"), (i, present)


def test_errors_name_the_field():
    for params, field in [({"tile_size": 8, "num_train": 1}, "source.kandinsky.tile_size"),
                          ({"tile_size": 32, "num_train": 1, "concept": "is pretty"}, "source.kandinsky.concept"),
                          ({"tile_size": 32, "num_train": 1, "labeling": 9}, "source.kandinsky.labeling"),
                          ({"tile_size": 32, "num_train": 1, "min_objects": 5, "max_objects": 2},
                           "source.kandinsky.max_objects"),
                          ({"tile_size": 32}, "source.kandinsky")]:
        with pytest.raises(InvalidArgument) as e:
            SOURCE.plan(params, "source.kandinsky")
        assert e.value.field == field


def test_engine_and_grpc(tmp_path):
    engine = Engine(tmp_path / "ws")
    *_, result = engine.create_dataset("kandinsky", {"tile_size": 32, "num_train": 6, "num_test": 2, "seed": 1,
                                                     "labeling": "colour"})
    info = result.datasets[0]
    assert info.class_names == ["background", "red", "yellow", "blue"] and info.tag_name == "concept"
    assert len(info.image_tags) == 6 and set(info.image_tags) <= {"true", "false"}
    assert engine.get_dataset(info.id).image_tags == info.image_tags
