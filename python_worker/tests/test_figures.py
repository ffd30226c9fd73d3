"""RenderPanels: figure panels as PNG from the real tensors (the encoder, the panels' pixels, the
palette, validation), at engine level and once over real gRPC."""

import io
import os

import grpc
import numpy as np
import pytest
import torch
from PIL import Image

from robustseg_worker import figures, png
from robustseg_worker.engine import CAPABILITIES, Engine, TrainRequest
from robustseg_worker.errors import InvalidArgument, NotFound, ResourceExhausted
from robustseg_worker.events import DatasetBuilt, DatasetsCreated

SMALL = {"tile_size": 16, "num_train": 8, "num_validation": 4, "num_test": 6, "seed": 5}
UNKNOWN_MODEL, UNKNOWN_DATASET = "m-0123456789abcdef", "ds-0123456789abcdef"


def _last(events):
    return list(events)[-1]


def pgd(eps=0.03, steps=3, target=None, method="pgd", **extra):
    return {"kind": "gradient", "method": method, "epsilon": eps, "steps": steps, "step_size": 0.0,
            "random_start": False, "seed": 0,
            "target": None if target is None else {"kind": "full_area_class", "full_area_class": target}, **extra}


def decode(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.mode == "RGB"
    return np.asarray(image)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("figures") / "ws")
    created = _last(engine.create_dataset("synthetic_histology", SMALL))
    assert isinstance(created, DatasetsCreated)
    train, validation, test = created.datasets
    req = TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                       {"epochs": 1, "batch_size": 4, "learning_rate": 0.01, "seed": 1, "augment": False})
    model_id = _last(engine.train(req)).model.id
    return engine, test, model_id


def _panels(panel_set):
    return {p.kind: p for p in panel_set.panels}


# --- the PNG encoder -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 13, 3), (32, 16, 3), (5, 300, 3)])
def test_png_round_trips_through_pillow_exactly(shape):
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    data = png.encode_rgb(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(decode(data), pixels)


def test_png_rejects_wrong_arrays():
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ValueError):
            png.encode_rgb(bad)


# --- palette and helpers -------------------------------------------------------------------------


def test_palette_is_distinct_hex_with_a_light_neutral_background():
    for n in (2, 6, 10, 18, 40):
        colors = figures.class_colors(n)
        assert len(colors) == n == len(set(colors))
        assert all(len(c) == 7 and c[0] == "#" and int(c[1:], 16) >= 0 for c in colors)
    r, g, b = figures.colors_rgb(figures.class_colors(1))[0]
    assert r == g == b and r >= 200
    assert figures.class_colors(10)[:6] == figures.class_colors(6)  # stable prefix across class counts


def test_auto_scale():
    assert figures.auto_scale(16, 16) == 8 and figures.auto_scale(32, 48) == 4
    assert figures.auto_scale(100, 100) == 2 and figures.auto_scale(256, 256) == 1


# --- the panels ----------------------------------------------------------------------------------


def test_clean_panels_sizes_truth_colours_and_image(setup):
    engine, test, model_id = setup
    result = engine.render_panels(model_id, test.id, [0, 3], scale=3)
    assert result.class_names == list(test.class_names) and len(result.class_colors) == len(test.class_names)
    palette = figures.colors_rgb(result.class_colors)
    tiles = engine.load_dataset(test.id)
    assert [s.image_index for s in result.panel_sets] == [0, 3]
    for panel_set in result.panel_sets:
        assert [p.kind for p in panel_set.panels] == ["image", "truth", "clean_prediction"]
        assert panel_set.linf == 0.0
        for p in panel_set.panels:
            pixels = decode(p.png)
            assert pixels.shape == (48, 48, 3) and (p.width, p.height) == (48, 48)
        panels = _panels(panel_set)
        # Truth: every pixel's colour is its label's palette colour (upscaled by nearest neighbour).
        truth = decode(panels["truth"].png)[::3, ::3]
        matches = (truth[:, :, None, :] == palette[None, None]).all(-1)
        assert (matches.sum(-1) == 1).all()
        np.testing.assert_array_equal(matches.argmax(-1), tiles.labels[panel_set.image_index])
        image = decode(panels["image"].png)[::3, ::3].astype(int)
        expected = np.transpose(np.array(tiles.images[panel_set.image_index]), (1, 2, 0)) * 255
        assert np.abs(image - expected).max() <= 0.5 + 1e-3
        pred = decode(panels["clean_prediction"].png)
        assert (pred[:, :, None, :] == palette[None, None]).all(-1).any(-1).all()


def test_auto_scale_reaches_128_px(setup):
    engine, test, model_id = setup
    (panel_set,) = engine.render_panels(model_id, test.id, [1]).panel_sets
    assert {(p.width, p.height) for p in panel_set.panels} == {(128, 128)}
    assert decode(panel_set.panels[0].png).shape == (128, 128, 3)


def test_pgd_panels_linf_within_epsilon_and_mid_grey_where_unperturbed(setup):
    engine, test, model_id = setup
    eps = 0.03
    result = engine.render_panels(model_id, test.id, [2, 4], attack=pgd(eps=eps, steps=3), scale=1)
    tiles = engine.load_dataset(test.id)
    for panel_set in result.panel_sets:
        assert [p.kind for p in panel_set.panels] == ["image", "truth", "clean_prediction", "perturbation",
                                                       "perturbed", "prediction"]
        assert 0 < panel_set.linf <= eps + 1e-6
        panels = _panels(panel_set)
        perturbed = decode(panels["perturbed"].png).astype(float) / 255
        clean = np.transpose(np.array(tiles.images[panel_set.image_index]), (1, 2, 0))
        assert np.abs(perturbed - clean).max() <= eps + 1 / 255
        # Auto gain: the largest |delta| reaches the end of the range.
        perturbation = decode(panels["perturbation"].png).astype(int)
        assert perturbation.min() == 0 or perturbation.max() == 255


def test_perturbed_dataset_panels(setup):
    engine, test, model_id = setup
    built = _last(engine.attack_dataset(model_id, test.id, pgd(eps=0.02, steps=2, target=0)))
    assert isinstance(built, DatasetBuilt)
    adv_id = built.dataset.id
    result = engine.render_panels(model_id, test.id, [1, 5], perturbed_dataset_id=adv_id, scale=2,
                                  perturbation_gain=10.0)
    x = engine.load_dataset(test.id).images
    xa = engine.load_dataset(adv_id).images
    colors = figures.colors_rgb(result.class_colors)
    for panel_set in result.panel_sets:
        i = panel_set.image_index
        panels = _panels(panel_set)
        # The dataset came from a targeted full-area attack: its target is shown too.
        assert list(panels) == ["image", "truth", "clean_prediction", "perturbation", "perturbed", "prediction",
                                "target"]
        expected = figures.image_rgb(np.array(xa[i]))
        np.testing.assert_array_equal(decode(panels["perturbed"].png)[::2, ::2], expected)
        delta = np.array(xa[i]) - np.array(x[i])
        assert panel_set.linf == pytest.approx(float(np.abs(delta).max()))
        # Gain 10: 0.5 + 10 * delta; mid grey (128) exactly where delta is zero.
        perturbation = decode(panels["perturbation"].png)[::2, ::2]
        np.testing.assert_array_equal(perturbation, figures.perturbation_rgb(delta, 10.0))
        zero = np.transpose(delta == 0, (1, 2, 0))
        assert (perturbation[zero] == 128).all()
        assert (decode(panels["target"].png) == colors[0]).all()
    # The clean dataset as its own "perturbed" dataset: delta = 0, all mid grey, no target.
    (same,) = engine.render_panels(model_id, test.id, [2], perturbed_dataset_id=test.id).panel_sets
    panels = _panels(same)
    assert same.linf == 0.0 and "target" not in panels
    assert (decode(panels["perturbation"].png) == 128).all()
    np.testing.assert_array_equal(decode(panels["perturbed"].png), decode(panels["image"].png))
    np.testing.assert_array_equal(decode(panels["prediction"].png), decode(panels["clean_prediction"].png))


def test_perturbation_is_mid_grey_where_delta_is_zero():
    delta = np.zeros((3, 4, 4), np.float32)
    delta[0, 1, 1], delta[2, 3, 0] = 0.01, -0.02
    rgb = figures.perturbation_rgb(delta, figures.auto_gain(delta))
    assert rgb[1, 1, 0] == 191  # 0.5 + 25 * 0.01 = 0.75
    assert rgb[3, 0, 2] == 0  # the largest |delta| (negative) maps to the end of the range
    mask = np.ones((4, 4, 3), bool)
    mask[1, 1, 0] = mask[3, 0, 2] = False
    assert (rgb[mask] == 128).all()
    assert (figures.perturbation_rgb(np.zeros((3, 2, 2)), figures.auto_gain(np.zeros((3, 2, 2)))) == 128).all()


def test_full_area_target_attack_shows_the_target_class(setup):
    engine, test, model_id = setup
    target = 3
    result = engine.render_panels(model_id, test.id, [0], attack=pgd(eps=0.02, steps=2, target=target,
                                                                       random_start=True, seed=4))
    (panel_set,) = result.panel_sets
    panels = _panels(panel_set)
    assert list(panels)[-1] == "target"
    colour = figures.colors_rgb(result.class_colors)[target]
    target_pixels = decode(panels["target"].png)
    assert target_pixels.shape == (128, 128, 3) and (target_pixels == colour).all()
    assert 0 < panel_set.linf <= 0.02 + 1e-6
    # Same image as AttackDataset makes for that index (per-index random start).
    built = _last(engine.attack_dataset(model_id, test.id, pgd(eps=0.02, steps=2, target=target,
                                                               random_start=True, seed=4)))
    xa = engine.load_dataset(built.dataset.id).images
    np.testing.assert_array_equal(decode(panels["perturbed"].png)[::8, ::8], figures.image_rgb(np.array(xa[0])))


def test_layered_attack_has_no_target_panel_and_may_exceed_epsilon(setup):
    engine, test, model_id = setup
    spec = {"kind": "layered_pgd", "epsilon": 0.01, "steps": 1, "step_size": 0.0, "class_order": [0, 1],
            "budget": "per_layer", "random_start": False, "seed": 0}
    (panel_set,) = engine.render_panels(model_id, test.id, [0], attack=spec, scale=1).panel_sets
    assert [p.kind for p in panel_set.panels][-1] == "prediction"
    assert 0 < panel_set.linf <= 0.02 + 1e-6


def test_empty_request_returns_the_palette(setup):
    engine, test, model_id = setup
    result = engine.render_panels(model_id, test.id, [])
    assert result.panel_sets == [] and len(result.class_colors) == 6


# --- validation ----------------------------------------------------------------------------------


def test_validation_names_the_field(setup, tmp_path):
    engine, test, model_id = setup

    def field(**kwargs):
        args = {"model_id": model_id, "dataset_id": test.id, "image_indices": [0], **kwargs}
        with pytest.raises(InvalidArgument) as e:
            engine.render_panels(**args)
        return e.value.field

    with pytest.raises(NotFound):
        engine.render_panels(UNKNOWN_MODEL, test.id, [0])
    with pytest.raises(NotFound):
        engine.render_panels(model_id, UNKNOWN_DATASET, [0])
    with pytest.raises(NotFound):
        engine.render_panels(model_id, test.id, [0], perturbed_dataset_id=UNKNOWN_DATASET)
    with pytest.raises(NotFound):
        engine.render_panels(model_id, test.id, [0], attack=pgd(), attack_model_id=UNKNOWN_MODEL)
    assert field(model_id="") == "model_id"
    assert field(image_indices=[0, 6]) == "image_indices[1]"
    assert field(image_indices=[-1]) == "image_indices[0]"
    assert field(image_indices=list(range(figures.MAX_IMAGES + 1))) == "image_indices"
    assert field(attack=pgd(), perturbed_dataset_id=test.id) == "perturbed_dataset_id"
    assert field(attack_model_id=model_id) == "attack_model_id"
    assert field(attack=pgd(eps=0)) == "attack.gradient.epsilon"
    assert field(attack=pgd(target=6)) == "attack.gradient.target.full_area_class"
    assert field(perturbation_gain=-1.0) == "perturbation_gain"
    assert field(perturbation_gain=float("nan")) == "perturbation_gain"
    assert field(scale=-1) == "scale"
    assert field(scale=figures.MAX_SCALE + 1) == "scale"
    # A perturbed dataset of another shape.
    other = _last(engine.create_dataset("synthetic_histology", {**SMALL, "tile_size": 32})).datasets[2]
    assert field(perturbed_dataset_id=other.id) == "perturbed_dataset_id"
    # Beyond the message budget.
    small = Engine(engine.store.root, max_message_bytes=2**16)
    with pytest.raises(ResourceExhausted):
        small.render_panels(model_id, test.id, [0, 1, 2], scale=8)


def test_capability_listed():
    assert "render_panels" in CAPABILITIES


# --- over real gRPC --------------------------------------------------------------------------------


def test_render_panels_over_grpc(tmp_path):
    from worker_harness import WorkerProcess
    from robustseg_worker.proto.robustseg.v1 import (attack_pb2, data_pb2, figure_pb2, model_pb2,
                                                     worker_service_pb2, worker_service_pb2_grpc)

    process = WorkerProcess(tmp_path / "w", "--parent-pid", str(os.getpid()))
    channel = grpc.insecure_channel(process.address)
    try:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        info = stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=30)
        assert "render_panels" in info.capabilities
        source = data_pb2.SyntheticHistologySource(tile_size=16, num_train=4, num_validation=2, num_test=3, seed=2)
        train, validation, test = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(
            source=data_pb2.DataSource(synthetic_histology=source)), timeout=60))[-1].result.datasets
        model_id = list(stub.Train(model_pb2.TrainRequest(
            model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=4)),
            train_dataset_ids=[train.id], validation_dataset_id=validation.id,
            config=model_pb2.TrainingConfig(epochs=1, batch_size=2, learning_rate=0.01, seed=1)),
            timeout=120))[-1].result.model.id
        attack = attack_pb2.AttackSpec(gradient=attack_pb2.GradientAttack(
            method=attack_pb2.ATTACK_METHOD_PGD, epsilon=0.02, steps=2,
            target=attack_pb2.AttackTarget(full_area_class=0)))
        response = stub.RenderPanels(figure_pb2.RenderPanelsRequest(
            model_id=model_id, dataset_id=test.id, image_indices=[2, 0], attack=attack), timeout=60)
        assert list(response.class_names) == list(test.class_names)
        assert len(response.class_colors) == 6
        assert [s.image_index for s in response.panel_sets] == [2, 0]
        for panel_set in response.panel_sets:
            assert [p.kind for p in panel_set.panels] == ["image", "truth", "clean_prediction", "perturbation",
                                                          "perturbed", "prediction", "target"]
            assert 0 < panel_set.linf <= 0.02 + 1e-6
            for p in panel_set.panels:
                assert decode(p.png).shape == (p.height, p.width, 3) == (128, 128, 3)
        with pytest.raises(grpc.RpcError) as e:
            stub.RenderPanels(figure_pb2.RenderPanelsRequest(model_id=model_id, dataset_id=test.id,
                                                             image_indices=[0, 3]), timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "image_indices[1]" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.RenderPanels(figure_pb2.RenderPanelsRequest(model_id=UNKNOWN_MODEL, dataset_id=test.id,
                                                             image_indices=[0]), timeout=30)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        channel.close()
        process.close()
