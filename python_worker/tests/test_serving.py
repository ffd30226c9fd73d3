"""Predict, Probe, model aliases and tiling on the engine (no grpc): results, not just shapes."""

import math

import numpy as np
import pytest
import torch

from robustseg_worker import segment
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import InvalidArgument, NotFound
from robustseg_worker.image_input import ImageBand, assemble
from robustseg_worker.predict import PredictDone, PredictionBand, PredictionHeader
from robustseg_worker.probe import ProbeBand, ProbeDone, probe_figures

SMALL = {"tile_size": 16, "num_train": 16, "num_validation": 8, "num_test": 4, "seed": 11}
PGD_BACKGROUND = {"kind": "gradient", "method": "pgd", "epsilon": 0.03, "steps": 3,
                  "target": {"kind": "full_area_class", "full_area_class": 0}}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("serving") / "ws")
    created = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
    train, validation, test = created.datasets
    config = {"epochs": 1, "batch_size": 8, "learning_rate": 0.01, "seed": 1, "augment": False}
    request = TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id, config)
    model = list(engine.train(request))[-1].model
    return engine, model, test


def band(pixels: np.ndarray, name="x", row_offset=0, height=None, width=None) -> ImageBand:
    dtype = str(pixels.dtype)
    h = pixels.shape[1] if dtype == "float32" else pixels.shape[0]
    w = pixels.shape[2] if dtype == "float32" else pixels.shape[1]
    return ImageBand(name, h if height is None else height, w if width is None else width, row_offset, dtype,
                     tuple(pixels.shape), pixels.tobytes())


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --- tiling ------------------------------------------------------------------------------------


def test_windows_cover_every_pixel_and_stay_inside():
    for size, window, overlap in [(100, 32, 0.25), (64, 64, 0.5), (33, 16, 0.0), (1000, 1024, 0.25)]:
        starts = segment.window_starts(size, window, overlap)
        covered = np.zeros(size, dtype=int)
        for s in starts:
            assert 0 <= s and s + min(window, size) <= size
            covered[s:s + min(window, size)] += 1
        assert covered.min() >= 1


def test_tiled_logits_of_a_pointwise_model_equal_the_whole_image():
    # A 1x1 convolution has no spatial context: any tiling must give exactly its output.
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 4, 1).eval()
    x = torch.rand(2, 3, 37, 53)
    whole = model(x)
    for tiling in (segment.Tiling(16, 0.25, 3), segment.Tiling(16, 0.0, 1), segment.Tiling(20, 0.5, 0)):
        with torch.no_grad():
            tiled = segment.tiled_logits(model, x, tiling)
        assert tiled.shape == whole.shape
        torch.testing.assert_close(tiled, whole.detach(), rtol=1e-5, atol=1e-5)


def test_tiled_logits_are_differentiable():
    model = torch.nn.Conv2d(3, 2, 3, padding=1)
    x = torch.rand(1, 3, 40, 40, requires_grad=True)
    segment.tiled_logits(model, x, segment.Tiling(16, 0.25, 0)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_padding_to_a_declared_input_multiple():
    class NeedsMultiple(torch.nn.Module):
        input_multiple = 8

        def forward(self, x):
            assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0
            return x[:, :2]

    out = segment.forward_padded(NeedsMultiple(), torch.rand(1, 3, 13, 21))
    assert out.shape == (1, 2, 13, 21)


def test_tiling_validation_names_the_field():
    with pytest.raises(InvalidArgument, match=r"^options.tiling.tile_size"):
        segment.resolve_tiling({"tile_size": 3}, "options.tiling")
    with pytest.raises(InvalidArgument, match=r"^options.tiling.overlap"):
        segment.resolve_tiling({"overlap": 0.95}, "options.tiling")
    with pytest.raises(InvalidArgument, match=r"^options.tiling.overlap"):
        segment.resolve_tiling({"overlap": math.nan}, "options.tiling")
    assert segment.resolve_tiling({"overlap": 0.0}).overlap == 0.0
    assert segment.resolve_tiling(None) == segment.Tiling()


# --- image input -------------------------------------------------------------------------------


def test_bands_assemble_into_images_in_order():
    a = rgb(5, 4, 1)
    b = np.random.default_rng(2).random((3, 3, 6), dtype=np.float32)
    bands = [band(a[:2], "a", 0, 5, 4), band(a[2:], "a", 2, 5, 4), band(b, "b")]
    images = list(assemble(bands))
    assert [(i.index, i.name) for i in images] == [(0, "a"), (1, "b")]
    np.testing.assert_allclose(images[0].pixels, a.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(images[1].pixels, b)


@pytest.mark.parametrize("bands, field", [
    ([band(np.zeros((4, 4, 3), np.int64))], r"images\[0\].pixels.dtype"),
    ([band(np.zeros((4, 3, 4), np.uint8), width=4, height=4)], r"images\[0\].pixels.shape"),
    ([band(np.full((3, 2, 2), np.nan, np.float32))], r"images\[0\].pixels: 12 value\(s\) are NaN"),
    ([band(np.full((3, 2, 2), 2.0, np.float32))], r"images\[0\].pixels: float32 pixels must be in \[0, 1\]"),
    ([band(rgb(2, 2)), band(rgb(4, 4)[:2], row_offset=1, height=4)], r"images\[1\].row_offset"),
    ([band(rgb(4, 4)[:2], height=4)], r"images\[0\]: the stream ended after 2 of 4 rows"),
    ([band(rgb(4, 4), height=5000, width=5000)], r"images\[0\].height: a 5000x5000 image"),
    ([band(rgb(2, 2), height=0)], r"images\[0\].height: must be between"),
])
def test_bad_images_name_the_field(bands, field):
    with pytest.raises(InvalidArgument, match=field):
        list(assemble(bands, max_pixels=4096 * 4096))


# --- predict -----------------------------------------------------------------------------------


def test_predict_matches_the_model_and_keeps_the_input_size(served):
    engine, model, test = served
    images, _ = engine.cached_dataset(test.id)
    x = images[0].cpu().numpy()  # (3, 16, 16) float32
    odd = rgb(37, 29, 5)          # not a multiple of anything the U-Net needs
    events = list(engine.predict(model.id, [band(x, "tile"), band(odd, "odd")], probabilities=True))
    header = events[0]
    assert isinstance(header, PredictionHeader) and header.model_id == model.id
    assert header.class_names == model.class_names and header.class_colors[0] == "#dddddd"
    bands = [e for e in events if isinstance(e, PredictionBand)]
    tile, odd_band = [b for b in bands if b.last]
    module, _ = engine.cached_model(model.id)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)[None]).argmax(1)[0].numpy()
    np.testing.assert_array_equal(tile.labels, expected)
    assert tile.probabilities.shape == (6, 16, 16)
    np.testing.assert_allclose(tile.probabilities.sum(axis=0), 1.0, rtol=1e-5)
    assert tile.class_pixel_counts == np.bincount(expected.ravel(), minlength=6).tolist()
    assert odd_band.labels.shape == (37, 29) and odd_band.labels.dtype == np.uint8
    done = events[-1]
    assert isinstance(done, PredictDone) and done.num_images == 2 and done.num_pixels == 16 * 16 + 37 * 29


def test_predict_answers_in_bands_within_the_message_limit(served):
    engine, model, _ = served
    small = Engine(engine.store.root, max_message_bytes=2 * 1024)  # 1 KiB per band: 48 px wide -> 21 rows
    bands = [e for e in small.predict(model.id, [band(rgb(50, 48))]) if isinstance(e, PredictionBand)]
    assert [b.row_offset for b in bands] == [0, 21, 42] and bands[-1].last and not bands[0].last
    assert sum(b.labels.shape[0] for b in bands) == 50


def test_predict_resolves_aliases_and_refuses_wrong_names(served):
    engine, model, test = served
    engine.set_model_alias("nuclei", model.id)
    assert engine.model_aliases() == {"nuclei": model.id}
    assert isinstance(next(iter(engine.predict("nuclei", []))), PredictionHeader)
    with pytest.raises(InvalidArgument, match=rf"options.model_id: {test.id} is a dataset id"):
        next(iter(engine.predict(test.id, [])))
    with pytest.raises(NotFound, match="m-0000000000000000"):
        next(iter(engine.predict("m-0000000000000000", [])))
    with pytest.raises(NotFound, match="alias 'nope'"):
        next(iter(engine.predict("nope", [])))
    with pytest.raises(InvalidArgument, match="options.model_id: required"):
        next(iter(engine.predict("", [])))
    with pytest.raises(InvalidArgument, match="^alias: .*looks like an artifact id"):
        engine.set_model_alias("m-0123456789abcdef", model.id)
    assert engine.set_model_alias("nuclei", "") == ("", model.id)
    with pytest.raises(NotFound):
        engine.set_model_alias("nuclei", "")


# --- probe -------------------------------------------------------------------------------------


def test_probe_figures_from_the_agreement_matrix():
    clean = np.array([[0, 1, 1], [2, 2, 0]])
    attacked = np.array([[0, 0, 1], [2, 0, 0]])
    f = probe_figures(clean, attacked, 3, 0.01)
    assert f.agreement == [[2, 0, 0], [1, 1, 0], [1, 0, 1]]
    assert f.foreground_pixels == 4 and f.foreground_to_background == 0.5
    assert f.mean_iou == pytest.approx((2 / 4 + 1 / 2 + 1 / 2) / 3)
    assert f.foreground_iou == pytest.approx(2 / 4)
    assert f.pixel_agreement == pytest.approx(4 / 6)
    empty = probe_figures(np.zeros((2, 2)), np.zeros((2, 2)), 3, 0.0)
    assert math.isnan(empty.foreground_to_background) and math.isnan(empty.foreground_iou) and empty.mean_iou == 1.0


def test_probe_attacks_within_epsilon_and_moves_towards_background(served):
    engine, model, test = served
    images, _ = engine.cached_dataset(test.id)
    bands = [band(images[i].cpu().numpy(), f"t{i}") for i in range(2)]
    events = list(engine.probe(model.id, PGD_BACKGROUND, bands, adversarial_images=True))
    probes = [e for e in events if isinstance(e, ProbeBand)]
    assert len(probes) == 2 and all(p.last for p in probes)
    module, _ = engine.cached_model(model.id)
    for p, i in zip(probes, range(2)):
        x = images[i].cpu()
        delta = torch.from_numpy(p.adversarial_image) - x
        assert float(delta.abs().max()) <= 0.03 + 1e-6 and p.figures.linf == pytest.approx(float(delta.abs().max()))
        with torch.no_grad():
            clean = module(x[None]).argmax(1)[0].numpy()
            attacked = module(torch.from_numpy(p.adversarial_image)[None]).argmax(1)[0].numpy()
        np.testing.assert_array_equal(p.clean_labels, clean)
        np.testing.assert_array_equal(p.adversarial_labels, attacked)
        # The attack descends towards background: no more foreground than before.
        assert (attacked != 0).sum() <= (clean != 0).sum()
    done = events[-1]
    assert isinstance(done, ProbeDone) and done.attack["target"] == 0 and done.attack["method"] == "pgd"


def test_probe_validates_the_attack_against_the_model(served):
    engine, model, _ = served
    bad = {**PGD_BACKGROUND, "target": {"kind": "full_area_class", "full_area_class": 9}}
    with pytest.raises(InvalidArgument, match=r"options.attack.gradient.target.full_area_class"):
        next(iter(engine.probe(model.id, bad, [])))
    with pytest.raises(InvalidArgument, match=r"^options.attack"):
        next(iter(engine.probe(model.id, None, [])))


def test_probe_limit_is_smaller_than_predicts(served):
    engine, model, _ = served
    engine.max_probe_pixels = 32 * 32
    try:
        with pytest.raises(InvalidArgument, match=r"images\[0\].height: a 40x40 image"):
            list(engine.probe(model.id, PGD_BACKGROUND, [band(rgb(40, 40))]))
    finally:
        del engine.max_probe_pixels
