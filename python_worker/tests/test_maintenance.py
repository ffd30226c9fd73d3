"""`store verify` and `store gc` on the worker side (issue 10): every artifact checked against
its manifest, and everything no run refers to removed (parents of kept artifacts stay)."""

import os
import time

import pytest

from robustseg_worker import maintenance
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.events import Progress

SMALL = {"tile_size": 16, "num_train": 8, "num_validation": 4, "num_test": 4, "seed": 5}


@pytest.fixture
def made(workspace):
    engine = Engine(workspace)
    train, validation, test = list(engine.create_dataset("synthetic_histology", SMALL))[-1].datasets
    model = list(engine.train(TrainRequest("unet", {"depth": 1, "base_width": 2}, [train.id], validation.id,
                                           {"epochs": 1, "batch_size": 4, "learning_rate": 0.01})))[-1].model
    attacked = list(engine.attack_dataset(model.id, test.id, {"kind": "gradient", "method": "fgsm", "epsilon": 0.01}))[-1].dataset
    other = list(engine.create_dataset("synthetic_histology", {**SMALL, "seed": 6}))[-1].datasets
    return engine, {"train": train.id, "validation": validation.id, "test": test.id, "model": model.id,
                    "attacked": attacked.id, "other": [d.id for d in other]}


def _result(events):
    events = list(events)
    assert all(isinstance(e, Progress) for e in events[:-1])
    return events[-1]


def _age(engine, kind, artifact_id, seconds):
    directory = engine.store.path(kind, artifact_id)
    old = time.time() - seconds
    for child in directory.iterdir():
        os.utime(child, (old, old))


def test_verify_reports_every_artifact_and_quarantines_the_corrupt_one(made):
    engine, ids = made
    weights = engine.store.path("model", ids["model"]) / "weights.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-10] ^= 0x01
    weights.write_bytes(bytes(raw))
    result = _result(maintenance.verify_store(engine.store))
    by_id = {a.id: a for a in result.artifacts}
    assert len(by_id) == 8 and result.corrupt == 1
    bad = by_id[ids["model"]]
    assert (bad.kind, bad.ok, bad.file) == ("model", False, "weights.safetensors") and "sha256" in bad.problem
    assert bad.quarantined_to and os.path.isdir(bad.quarantined_to)
    assert all(a.ok and a.bytes > 0 for i, a in by_id.items() if i != ids["model"])
    assert not engine.store.exists("model", ids["model"]) and len(result.quarantined) == 1
    again = _result(maintenance.verify_store(engine.store))
    assert again.corrupt == 0 and len(again.artifacts) == 7


def test_verify_can_leave_a_corrupt_artifact_in_place(made):
    engine, ids = made
    (engine.store.path("dataset", ids["test"]) / "meta.json").write_text("{")
    result = _result(maintenance.verify_store(engine.store, quarantine=False))
    bad = [a for a in result.artifacts if not a.ok]
    assert [(a.id, a.file, a.quarantined_to) for a in bad] == [(ids["test"], "meta.json", "")]
    assert engine.store.exists("dataset", ids["test"])


def test_gc_keeps_what_is_referenced_and_its_parents(made):
    engine, ids = made
    for kind, artifact_id in [("dataset", i) for i in (ids["train"], ids["validation"], ids["test"], ids["attacked"],
                                                       *ids["other"])] + [("model", ids["model"])]:
        _age(engine, kind, artifact_id, 7200)
    result = maintenance.collect_garbage(engine.store, [ids["attacked"]], dry_run=False, min_age_seconds=3600)
    # The attacked set's parents: the model and the test set; the model's: train and validation.
    kept = {ids["attacked"], ids["model"], ids["test"], ids["train"], ids["validation"]}
    assert set(result.kept_ids) == kept
    assert sorted(e.path for e in result.removed if e.kind == "dataset") == sorted(f"datasets/{i}" for i in ids["other"])
    assert result.bytes_freed == sum(e.bytes for e in result.removed) > 0
    assert all(engine.store.exists("dataset", i) for i in kept - {ids["model"]})
    assert not any(engine.store.exists("dataset", i) for i in ids["other"])


def test_gc_dry_run_removes_nothing_and_young_artifacts_are_kept(made):
    engine, ids = made
    _age(engine, "dataset", ids["other"][0], 7200)
    dry = maintenance.collect_garbage(engine.store, [], dry_run=True, min_age_seconds=3600)
    assert [e.path for e in dry.removed if e.kind in ("dataset", "model")] == [f"datasets/{ids['other'][0]}"]
    assert dry.dry_run and engine.store.exists("dataset", ids["other"][0])
    everything = maintenance.collect_garbage(engine.store, [], dry_run=False, min_age_seconds=0)
    assert len([e for e in everything.removed if e.kind in ("dataset", "model")]) == 8
    assert engine.store.list_ids("dataset") == [] and engine.store.list_ids("model") == []


def test_gc_removes_quarantine_unfinished_temporaries_and_unused_locks(made):
    engine, ids = made
    engine.store.quarantine("dataset", ids["other"][0], "test")
    stale = engine.store.root / "tmp" / "ds-0123456789abcdef.999999999.deadbeef"
    stale.mkdir()
    (stale / "data.safetensors").write_bytes(b"x" * 100)
    result = maintenance.collect_garbage(engine.store, list(ids.values())[:5], dry_run=False, min_age_seconds=0)
    kinds = {e.kind for e in result.removed}
    assert {"quarantine", "tmp", "lock"} <= kinds
    assert list((engine.store.root / "quarantine").iterdir()) == [] and not stale.exists()
    lock_ids = {p.name.removesuffix(".lock") for p in (engine.store.root / "locks").iterdir()}
    assert lock_ids <= set(engine.store.list_ids("dataset")) | set(engine.store.list_ids("model"))


def test_gc_ignores_unknown_and_malformed_keep_ids(made):
    engine, ids = made
    result = maintenance.collect_garbage(engine.store, ["ds-ffffffffffffffff", "../etc", ids["model"]],
                                         dry_run=True, min_age_seconds=0)
    assert set(result.kept_ids) == {ids["model"], ids["train"], ids["validation"]}


def test_gc_keeps_models_a_serving_alias_points_to(made):
    engine, ids = made
    engine.set_model_alias("nuclei-v1", ids["model"])
    result = maintenance.collect_garbage(engine.store, [], dry_run=True, min_age_seconds=0)
    assert {ids["model"], ids["train"], ids["validation"]} <= set(result.kept_ids)
    assert "locks/aliases.lock" not in {e.path for e in result.removed}
