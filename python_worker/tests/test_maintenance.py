"""`store verify` and `store gc` on the worker side: every artifact checked against
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


# --- what gc may never remove: artifacts in use by a call, and those a run folder records -------


def test_an_artifact_a_call_in_progress_uses_survives_gc_until_the_call_ends(made):
    from robustseg_worker import convert, servicer

    engine, ids = made
    call = servicer._stream(engine.evaluate(ids["model"], ids["test"], batch_size=1), convert.evaluate_event,
                            lambda: None)
    next(call)  # in flight: the model and the test set are read, the call has not ended
    during = maintenance.collect_garbage(engine.store, [], min_age_seconds=0)
    in_use = {ids["model"], ids["test"], ids["train"], ids["validation"]}  # and the model's parents
    assert in_use <= set(during.kept_ids)
    assert engine.store.exists("model", ids["model"]) and engine.store.exists("dataset", ids["test"])
    assert sorted(e.path for e in during.removed if e.kind == "dataset") == sorted(
        f"datasets/{i}" for i in [ids["attacked"], *ids["other"]])
    assert list(call)[-1].HasField("result")
    after = maintenance.collect_garbage(engine.store, [], min_age_seconds=0)
    assert {e.path for e in after.removed if e.kind in ("dataset", "model")} == {
        f"models/{ids['model']}", *(f"datasets/{i}" for i in (ids["test"], ids["train"], ids["validation"]))}
    assert list((engine.store.root / "locks").glob("*.lease")) == []


def test_a_lease_taken_in_another_process_keeps_the_artifact(made, tmp_path):
    import subprocess
    import sys

    engine, ids = made
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom robustseg_worker.store import ArtifactStore, CallLeases\n"
         "store, leases = ArtifactStore(sys.argv[1], remove_stale=False), CallLeases()\n"
         "with leases.active():\n    store.read_meta('dataset', sys.argv[2])\n"
         "print('leased', flush=True)\nsys.stdin.readline()\n",
         str(engine.store.root), ids["other"][0]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "leased"
        result = maintenance.collect_garbage(engine.store, [], min_age_seconds=0)
        assert ids["other"][0] in result.kept_ids and engine.store.exists("dataset", ids["other"][0])
    finally:
        holder.communicate("\n", timeout=60)
    assert not engine.store.exists("model", ids["model"])


def test_gc_keeps_what_a_run_folder_recorded_until_the_caller_checked_the_folder(made):
    from robustseg_worker import run_usage

    engine, ids = made
    usage = run_usage.record_run_usage(engine.store, "host-a", "/runs/exp", [ids["attacked"]])
    again = run_usage.record_run_usage(engine.store, "host-a", "/runs/exp", [ids["attacked"]])
    assert (again.revision, again.artifact_ids) == (usage.revision, [ids["attacked"]])  # nothing new: unchanged
    dry = maintenance.collect_garbage(engine.store, [], dry_run=True, min_age_seconds=0)
    # Unchecked: the record keeps the attacked set, and with it its model and every parent.
    assert {ids["attacked"], ids["model"], ids["test"], ids["train"], ids["validation"]} <= set(dry.kept_ids)

    checked = maintenance.RunUsageCheck(usage.key, usage.revision, folder_gone=False)
    released = maintenance.collect_garbage(engine.store, [], dry_run=True, min_age_seconds=0, checked_runs=[checked])
    assert ids["attacked"] not in released.kept_ids and released.forgotten_runs == []

    # A record that changed after the caller looked is kept whole.
    newer = run_usage.record_run_usage(engine.store, "host-a", "/runs/exp", [ids["other"][0]])
    stale_check = maintenance.RunUsageCheck(usage.key, usage.revision, folder_gone=True)
    kept = maintenance.collect_garbage(engine.store, [], min_age_seconds=0, checked_runs=[stale_check])
    assert {ids["attacked"], ids["other"][0]} <= set(kept.kept_ids) and kept.forgotten_runs == []
    assert [u.revision for u in run_usage.list_run_usage(engine.store)] == [newer.revision]

    gone = maintenance.RunUsageCheck(usage.key, newer.revision, folder_gone=True)
    forgotten = maintenance.collect_garbage(engine.store, [], min_age_seconds=0, checked_runs=[gone])
    assert forgotten.forgotten_runs == [usage.key] and run_usage.list_run_usage(engine.store) == []
    assert not engine.store.exists("dataset", ids["attacked"])


def test_run_usage_refuses_a_relative_folder_and_malformed_ids(made):
    from robustseg_worker import run_usage
    from robustseg_worker.errors import InvalidArgument

    engine, ids = made
    with pytest.raises(InvalidArgument, match="run_folder: must be an absolute path"):
        run_usage.record_run_usage(engine.store, "h", "runs/exp", [ids["model"]])
    with pytest.raises(InvalidArgument, match=r"artifact_ids\[1\]: not an artifact id"):
        run_usage.record_run_usage(engine.store, "h", "/runs/exp", [ids["model"], "../m-0"])
    windows = run_usage.record_run_usage(engine.store, "pc", "C:\\runs\\exp", [])
    assert windows.run_folder == "C:\\runs\\exp" and windows.artifact_ids == []


def test_gc_over_its_limit_removes_nothing_and_lists_what_it_would(made):
    engine, ids = made
    refused = maintenance.collect_garbage(engine.store, [], min_age_seconds=0, max_artifacts=3)
    assert refused.over_limit and not refused.dry_run
    assert len([e for e in refused.removed if e.kind in ("dataset", "model")]) == 8
    assert len(engine.store.list_ids("dataset")) == 7 and engine.store.list_ids("model") == [ids["model"]]
    allowed = maintenance.collect_garbage(engine.store, [], min_age_seconds=0, max_artifacts=8)
    assert not allowed.over_limit and engine.store.list_ids("dataset") == []


def test_a_call_leases_what_it_reads_but_store_verify_leases_nothing(made):
    from robustseg_worker.store import CallLeases

    engine, ids = made
    leases = CallLeases()
    with leases.active():
        _result(maintenance.verify_store(engine.store))  # every artifact, each under its lock instead
        assert leases.held() == []
        engine.get_model(ids["model"])
    assert leases.held() == [ids["model"]] and engine.store.is_leased(ids["model"])
    leases.release()
    assert not engine.store.is_leased(ids["model"])


def test_gc_removes_the_half_written_record_of_a_dead_writer(made):
    from robustseg_worker import run_usage

    engine, ids = made
    usage = run_usage.record_run_usage(engine.store, "h", "/runs/exp", [ids["model"]])
    directory = engine.store.root / run_usage.RUN_USAGE
    dead = directory / f".{usage.key}.json.999999999.deadbeef"
    dead.write_text("{")
    result = maintenance.collect_garbage(engine.store, [], min_age_seconds=0)
    assert f"{run_usage.RUN_USAGE}/{dead.name}" in {e.path for e in result.removed if e.kind == "tmp"}
    assert not dead.exists() and [u.key for u in run_usage.list_run_usage(engine.store)] == [usage.key]
