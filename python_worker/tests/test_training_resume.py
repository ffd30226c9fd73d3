"""Training resumes from its last epoch: an interrupted training continues after the
last finished epoch and ends with exactly the weights and history of an uninterrupted one; the
checkpoint goes when the model is written; a damaged checkpoint is skipped."""

import json

import numpy as np
import pytest

from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import Cancelled
from robustseg_worker.events import EpochSummary, ModelTrained, Progress, TrainStep
from robustseg_worker.safetensors_io import load_file

SMALL = {"tile_size": 16, "num_train": 12, "num_validation": 4, "num_test": 4, "seed": 3}


def _request(engine, epochs=4):
    train, validation, _ = list(engine.create_dataset("synthetic_histology", SMALL))[-1].datasets
    return TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                        {"epochs": epochs, "batch_size": 4, "learning_rate": 0.01, "seed": 9, "augment": True})


def _interrupt_after_epoch(engine, request, epoch):
    """Run the training until `epoch` is summarised, then stop it as a cancelled call would."""
    events = engine.train(request)
    with pytest.raises(Cancelled):
        for event in events:
            if isinstance(event, EpochSummary) and event.epoch == epoch:
                events.throw(Cancelled("cancelled by the client"))


def _weights(engine, model_id):
    arrays, _ = load_file(engine.store.path("model", model_id) / "weights.safetensors", mmap=False)
    return {k: np.array(v) for k, v in arrays.items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("straight") / "ws")
    result = list(engine.train(_request(engine)))[-1]
    return engine, result.model


def _assert_same_model(engine, model, reference_engine, reference):
    assert model.id == reference.id
    assert [h.__dict__ for h in model.history] == [h.__dict__ for h in reference.history]
    assert (model.best_epoch, model.best_validation_loss) == (reference.best_epoch, reference.best_validation_loss)
    ours, theirs = _weights(engine, model.id), _weights(reference_engine, reference.id)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_an_interrupted_training_resumes_after_its_last_epoch(workspace, uninterrupted):
    engine = Engine(workspace)
    request = _request(engine)
    _interrupt_after_epoch(engine, request, 2)
    model_id = uninterrupted[1].id
    assert [p.name for p in (workspace / "checkpoints" / model_id).iterdir()] == ["epoch-00002"]
    restarted = Engine(workspace)  # a new worker process on the same workspace
    events = list(restarted.train(request))
    resume = [e for e in events if isinstance(e, Progress) and e.stage == "resume"]
    assert [(e.done, e.total) for e in resume] == [(2, 4)]
    assert {e.epoch for e in events if isinstance(e, TrainStep)} == {3, 4}
    result = events[-1]
    assert isinstance(result, ModelTrained) and not result.reused
    assert result.model.provenance["resumed_after_epoch"] == 2
    _assert_same_model(restarted, result.model, *uninterrupted)
    assert not (workspace / "checkpoints" / model_id).exists()


def test_a_damaged_checkpoint_is_skipped_and_training_starts_over(workspace, uninterrupted, caplog):
    engine = Engine(workspace)
    request = _request(engine)
    _interrupt_after_epoch(engine, request, 3)
    folder = workspace / "checkpoints" / uninterrupted[1].id / "epoch-00003"
    state = json.loads((folder / "state.json").read_text())
    state["epoch"] = 1  # a hand edit: the manifest no longer agrees
    (folder / "state.json").write_text(json.dumps(state))
    events = list(Engine(workspace).train(request))
    assert not [e for e in events if isinstance(e, Progress) and e.stage == "resume"]
    assert min(e.epoch for e in events if isinstance(e, TrainStep)) == 1
    assert "training checkpoint" in caplog.text and "unusable" in caplog.text
    _assert_same_model(engine, events[-1].model, *uninterrupted)
