import json
import threading

import numpy as np
import pytest
import torch

from robustseg_worker import data
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import InvalidArgument, NotFound
from robustseg_worker.events import DatasetsCreated, EpochSummary, EvaluationResult, ModelTrained, Progress, TrainStep
from robustseg_worker.safetensors_io import load_file

SMALL = {"tile_size": 16, "num_train": 24, "num_validation": 8, "num_test": 8, "seed": 7}


def _last(events):
    return list(events)[-1]


def _ids(engine, **overrides):
    result = _last(engine.create_dataset("synthetic_histology", {**SMALL, **overrides}))
    assert isinstance(result, DatasetsCreated)
    return result


def _train_request(train_ids, validation_id, **config):
    cfg = {"epochs": 2, "batch_size": 8, "learning_rate": 0.01, "seed": 3, "augment": True, **config}
    return TrainRequest("unet", {"depth": 2, "base_width": 4, "upsampling": "transposed_conv"},
                        list(train_ids), validation_id, cfg)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One engine with the small splits and a model trained on them."""
    engine = Engine(tmp_path_factory.mktemp("engine") / "ws")
    created = _ids(engine)
    train, validation, test = created.datasets
    events = list(engine.train(_train_request([train.id], validation.id)))
    return engine, created, events


def test_create_dataset_writes_one_artifact_per_split(trained):
    engine, created, _ = trained
    assert not created.reused
    assert [d.split for d in created.datasets] == ["train", "validation", "test"]
    train = created.datasets[0]
    assert (train.num_images, train.channels, train.height, train.width) == (24, 3, 16, 16)
    assert train.class_names == list(data.get("synthetic-histology").class_names)
    assert sum(train.class_pixel_counts) == 24 * 16 * 16
    assert train.provenance["recipe"]["seed"] == 7 and train.provenance["recipe"]["split"] == "train"
    directory = engine.store.path("dataset", train.id)
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["class_pixel_counts"] == train.class_pixel_counts
    arrays, dtypes = load_file(directory / "data.safetensors")
    assert arrays["images"].shape == (24, 3, 16, 16) and dtypes["images"] == "F32"
    tiles = engine.load_dataset(train.id)
    assert tiles.labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(tiles.labels.ravel(), minlength=6), train.class_pixel_counts)


def test_same_request_reuses_without_recomputing_even_after_restart(trained, monkeypatch):
    engine, created, _ = trained
    source = data.get("synthetic-histology")
    monkeypatch.setattr(type(source), "render", lambda *a, **k: pytest.fail("recomputed"))
    for e in (engine, Engine(engine.store.root)):  # the same engine, and a "restarted" one
        again = _ids(e)
        assert again.reused and [d.id for d in again.datasets] == [d.id for d in created.datasets]


def test_a_split_is_reused_when_only_another_split_changes(trained):
    engine, created, _ = trained
    changed = _ids(engine, num_test=4)
    assert not changed.reused
    assert changed.datasets[0].id == created.datasets[0].id
    assert changed.datasets[2].id != created.datasets[2].id


def test_train_streams_steps_epochs_and_a_stored_model(trained):
    engine, created, events = trained
    result = events[-1]
    assert isinstance(result, ModelTrained) and not result.reused
    steps = [e for e in events if isinstance(e, TrainStep)]
    epochs = [e for e in events if isinstance(e, EpochSummary)]
    assert len(steps) == 2 * 3 and [e.epoch for e in epochs] == [1, 2]
    model = result.model
    assert model.id.startswith("m-") and model.backend == "unet"
    assert model.spec == {"depth": 2, "base_width": 4, "upsampling": "transposed_conv"}
    assert model.history == epochs and 1 <= model.best_epoch <= 2
    assert model.best_validation_loss == min(e.validation_loss for e in epochs)
    assert model.num_parameters == sum(p.numel() for p in engine.load_model(model.id)[0].parameters())
    assert engine.get_model(model.id) == model  # survives the JSON round trip
    assert model.provenance["parents"]["train_dataset_ids"] == [created.datasets[0].id]


def test_same_training_is_reused(trained):
    engine, created, events = trained
    train, validation, _ = created.datasets
    again = list(engine.train(_train_request([train.id], validation.id)))
    assert len(again) == 1 and again[0].reused and again[0].model.id == events[-1].model.id
    other = _train_request([train.id], validation.id, seed=4)
    assert _last(engine.train(other)).model.id != events[-1].model.id


def test_evaluate_matches_the_validation_loss_of_the_best_epoch(trained):
    engine, created, events = trained
    model = events[-1].model
    result = _last(engine.evaluate(model.id, created.datasets[1].id))
    assert isinstance(result, EvaluationResult)
    assert result.mean_loss == pytest.approx(model.best_validation_loss, rel=1e-5)
    assert result.confusion == model.history[model.best_epoch - 1].validation_confusion
    assert result.num_pixels == 8 * 16 * 16 and result.num_images == 8


def test_input_normalisation_comes_from_the_training_pixels(trained):
    engine, created, events = trained
    model, info = engine.load_model(events[-1].model.id)
    assert not model.training and info.id == events[-1].model.id
    images = engine.load_dataset(created.datasets[0].id).images
    expected_mean = torch.from_numpy(images.mean(axis=(0, 2, 3)))
    expected_std = torch.from_numpy(images.std(axis=(0, 2, 3), ddof=1))
    torch.testing.assert_close(model.input_mean.flatten(), expected_mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(model.input_std.flatten(), expected_std, atol=1e-4, rtol=0)


def test_unknown_ids_are_not_found(trained):
    engine, created, events = trained
    with pytest.raises(NotFound, match="^model m-0000000000000000 not found$"):
        list(engine.evaluate("m-0000000000000000", created.datasets[2].id))
    with pytest.raises(NotFound, match="^dataset ds-0000000000000000 not found$"):
        list(engine.evaluate(events[-1].model.id, "ds-0000000000000000"))
    with pytest.raises(NotFound):
        list(engine.train(_train_request(["ds-0000000000000000"], created.datasets[1].id)))


def test_training_datasets_must_agree(trained):
    engine, created, _ = trained
    other = _ids(engine, tile_size=8)
    with pytest.raises(InvalidArgument, match=r"^train_dataset_ids\[1\]: .* has tiles 3x8x8, but train_dataset_ids\[0\] has 3x16x16"):
        list(engine.train(_train_request([created.datasets[0].id, other.datasets[0].id], created.datasets[1].id)))


@pytest.mark.parametrize("request_fields, message", [
    ({"architecture": None}, "model: must set one of: monai, smp, unet"),
    ({"spec": {"depth": 99}}, "model.unet.depth: must be between 1 and 7"),
    ({"config": {"epochs": -1, "batch_size": 1, "learning_rate": 1.0}}, "config.epochs: must be > 0, got -1"),
    ({"train_dataset_ids": []}, "train_dataset_ids: at least one dataset id is required"),
    ({"train_dataset_ids": [""]}, "train_dataset_ids[0]: must not be empty"),
    ({"validation_dataset_id": ""}, "validation_dataset_id: required"),
])
def test_train_request_validation_names_the_field(trained, request_fields, message):
    engine, created, _ = trained
    request = _train_request([created.datasets[0].id], created.datasets[1].id)
    for key, value in request_fields.items():
        setattr(request, key, value)
    with pytest.raises(InvalidArgument) as e:
        list(engine.train(request))
    assert str(e.value).startswith(message)


@pytest.mark.parametrize("args, message", [
    (("", "ds-0000000000000000"), "model_id: required"),
    (("m-0000000000000000", ""), "dataset_id: required"),
    (("m-0000000000000000", "ds-0000000000000000", -1), "batch_size: must be between 0"),
])
def test_evaluate_request_validation(trained, args, message):
    with pytest.raises(InvalidArgument, match=f"^{message}"):
        list(trained[0].evaluate(*args))


def test_create_dataset_validation(trained):
    engine = trained[0]
    with pytest.raises(InvalidArgument, match="^source: must set one of: folder, kandinsky, pannuke, synthetic_histology$"):
        list(engine.create_dataset(None, {}))
    with pytest.raises(InvalidArgument, match="^source.synthetic_histology.tile_size: must be > 0, got 0$"):
        list(engine.create_dataset("synthetic_histology", {**SMALL, "tile_size": 0}))


def test_concurrent_identical_requests_render_once(tmp_path, monkeypatch):
    engine = Engine(tmp_path / "ws")
    source = data.get("synthetic-histology")
    original, calls = type(source).render, []

    def counting_render(self, plan, start, stop):
        calls.append((plan.split, start, stop))
        return original(self, plan, start, stop)

    monkeypatch.setattr(type(source), "render", counting_render)
    results = []
    request = {"tile_size": 8, "num_train": 4, "seed": 1}
    threads = [threading.Thread(target=lambda: results.append(_last(engine.create_dataset("synthetic_histology", request))))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.datasets[0].id for r in results}) == 1
    assert sorted(r.reused for r in results) == [False, True, True]
    assert calls[0] == ("train", 0, 1) and sum(stop - start for _, start, stop in calls[1:]) == 4


def test_info_describes_the_worker(trained):
    info = trained[0].info()
    assert info.device == "cpu" and info.device_type == "cpu"
    assert info.backends == ["monai", "smp", "unet"]
    assert info.data_sources == ["folder", "kandinsky", "pannuke", "synthetic-histology"]
    assert [d.name for d in info.backend_details] == info.backends
    assert info.capabilities[:3] == ["create_dataset", "train", "evaluate"]
    assert info.torch_threads == torch.get_num_threads() and info.torch_version == torch.__version__


def test_progress_is_reported_while_creating(tmp_path):
    events = list(Engine(tmp_path / "ws").create_dataset("synthetic_histology", {"tile_size": 8, "num_test": 3, "seed": 2}))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].stage == "create:test" and (progress[-1].done, progress[-1].total) == (3, 3)
