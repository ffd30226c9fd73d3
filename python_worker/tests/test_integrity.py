"""Integrity on every load: a stored artifact whose bytes changed after it was
written (flipped bytes, NaN weights, a broken meta.json) is refused with an error naming the
artifact and its file, and moved to quarantine/ so that asking for it again rebuilds it."""

import json

import numpy as np
import pytest

from robustseg_worker import artifacts
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import ArtifactCorrupt, NotFound
from robustseg_worker.events import DatasetsCreated, ModelTrained
from robustseg_worker.safetensors_io import load_file, save_file
from robustseg_worker.store import MANIFEST_FILE, file_sha256

SMALL = {"tile_size": 16, "num_train": 16, "num_validation": 8, "num_test": 8, "seed": 11}


def _request(train_id, validation_id):
    return TrainRequest("unet", {"depth": 2, "base_width": 4}, [train_id], validation_id,
                        {"epochs": 1, "batch_size": 8, "learning_rate": 0.01, "seed": 1})


@pytest.fixture
def made(workspace):
    engine = Engine(workspace)
    created = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
    assert isinstance(created, DatasetsCreated)
    train, validation, test = created.datasets
    trained = list(engine.train(_request(train.id, validation.id)))[-1]
    assert isinstance(trained, ModelTrained)
    return engine, train, validation, test, trained.model


def _flip_bytes(path, count=64, offset_from_end=None):
    raw = bytearray(path.read_bytes())
    start = len(raw) - (offset_from_end or count * 4)
    for i in range(count):
        raw[start + i * 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _rewrite_manifest(directory, name):
    """Make the manifest agree with a changed file: what a careless hand edit would leave."""
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["files"][name] = {"sha256": file_sha256(directory / name), "bytes": (directory / name).stat().st_size}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def _quarantined(engine, artifact_id):
    return [p.name for p in (engine.store.root / "quarantine").iterdir() if p.name.startswith(artifact_id)]


def test_every_artifact_is_written_with_a_manifest_of_its_files(made):
    engine, train, _, _, model = made
    for kind, artifact_id, tensors in (("dataset", train.id, "data.safetensors"), ("model", model.id, "weights.safetensors")):
        directory = engine.store.path(kind, artifact_id)
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        assert manifest["artifact_id"] == artifact_id
        assert sorted(manifest["files"]) == sorted(["meta.json", tensors])
        for name, entry in manifest["files"].items():
            assert entry == {"sha256": file_sha256(directory / name), "bytes": (directory / name).stat().st_size}


def test_flipped_bytes_in_weights_are_refused_named_and_quarantined(made):
    engine, _, validation, test, model = made
    weights = engine.store.path("model", model.id) / "weights.safetensors"
    _flip_bytes(weights)
    with pytest.raises(ArtifactCorrupt) as raised:
        list(engine.evaluate(model.id, test.id))
    message = str(raised.value)
    assert model.id in message and "weights.safetensors" in message and "quarantine" in message
    assert "\n" not in message
    assert not engine.store.exists("model", model.id) and _quarantined(engine, model.id)
    with pytest.raises(NotFound):  # gone from the store: the next request rebuilds it
        engine.get_model(model.id)


def test_nan_weights_are_refused_even_when_the_manifest_agrees(made):
    engine, _, _, test, model = made
    directory = engine.store.path("model", model.id)
    arrays, _ = load_file(directory / "weights.safetensors", mmap=False)
    arrays = {k: np.array(v) for k, v in arrays.items()}
    name = next(k for k, v in arrays.items() if v.dtype == np.float32 and v.size > 1)
    arrays[name].reshape(-1)[0] = np.nan
    save_file(arrays, directory / "weights.safetensors")
    _rewrite_manifest(directory, "weights.safetensors")
    with pytest.raises(ArtifactCorrupt, match=rf"model {model.id}.*weights.safetensors.*{name}.*(NaN|infinite)"):
        list(engine.evaluate(model.id, test.id))
    assert _quarantined(engine, model.id)


def test_flipped_bytes_in_a_dataset_tensor_are_refused(made):
    engine, _, _, test, model = made
    _flip_bytes(engine.store.path("dataset", test.id) / "data.safetensors")
    with pytest.raises(ArtifactCorrupt, match=rf"dataset {test.id}.*data.safetensors"):
        list(engine.evaluate(model.id, test.id))
    assert _quarantined(engine, test.id)


def test_out_of_range_images_are_refused_even_when_the_manifest_agrees(made):
    engine, _, _, test, _ = made
    directory = engine.store.path("dataset", test.id)
    arrays, _ = load_file(directory / "data.safetensors", mmap=False)
    arrays = {k: np.array(v) for k, v in arrays.items()}
    arrays["images"][0, 0, 0, 0] = 3.5
    save_file(arrays, directory / "data.safetensors")
    _rewrite_manifest(directory, "data.safetensors")
    with pytest.raises(ArtifactCorrupt, match=r"data.safetensors: images.*\[0, 1\]"):
        engine.load_dataset(test.id)


@pytest.mark.parametrize("damage", ["truncate", "not-an-object", "missing-field"])
def test_a_broken_meta_json_names_the_file_instead_of_a_json_error(made, damage):
    engine, _, _, test, _ = made
    meta = engine.store.path("dataset", test.id) / "meta.json"
    text = meta.read_text()
    if damage == "truncate":
        meta.write_text(text[: len(text) // 2])
    elif damage == "not-an-object":
        meta.write_text("[1, 2]")
    else:
        value = json.loads(text)
        del value["class_names"]
        meta.write_text(json.dumps(value))
        _rewrite_manifest(meta.parent, "meta.json")
    with pytest.raises(ArtifactCorrupt) as raised:
        engine.get_dataset(test.id)
    message = str(raised.value)
    assert f"dataset {test.id}" in message and "meta.json" in message
    assert "JSONDecodeError" not in message and "Expecting" not in message.split("meta.json")[0]


def test_a_corrupt_artifact_does_not_block_the_request_that_made_it(made):
    """The request that made an artifact finds it corrupt, quarantines it and rebuilds it,
    so a rerun of an experiment heals instead of failing at the same stage forever."""
    engine, train, validation, _, model = made
    (engine.store.path("dataset", validation.id) / "meta.json").write_text("{ truncated")
    _flip_bytes(engine.store.path("model", model.id) / "weights.safetensors")
    created = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
    assert [d.id for d in created.datasets][1] == validation.id and not created.reused
    retrained = list(engine.train(_request(train.id, validation.id)))[-1]
    assert retrained.model.id == model.id and not retrained.reused
    assert _quarantined(engine, validation.id) and _quarantined(engine, model.id)
    engine.load_model(model.id)  # the rebuilt one loads


def test_an_artifact_without_a_manifest_is_refused(made):
    engine, _, _, test, _ = made
    (engine.store.path("dataset", test.id) / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactCorrupt, match=rf"dataset {test.id}.*{MANIFEST_FILE}"):
        engine.get_dataset(test.id)


def test_unchanged_artifacts_load_as_before(made):
    engine, _, _, test, model = made
    loaded, info = artifacts.load_model(engine.store, model.id, engine.device)
    assert info.id == model.id
    assert engine.load_dataset(test.id).images.shape == (8, 3, 16, 16)
    assert not (engine.store.root / "quarantine").exists() or not list((engine.store.root / "quarantine").iterdir())


def test_a_model_changed_on_disk_after_it_was_cached_is_checked_again(made):
    """Found by the fuzz suite: a model loaded once stayed in memory, so damaging its weights
    later went unnoticed until the worker restarted."""
    engine, _, _, test, model = made
    list(engine.evaluate(model.id, test.id))  # loads and caches the model
    weights = engine.store.path("model", model.id) / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _rewrite_manifest(weights.parent, "weights.safetensors")
    with pytest.raises(ArtifactCorrupt, match=rf"model {model.id}.*weights.safetensors"):
        list(engine.evaluate(model.id, test.id))
