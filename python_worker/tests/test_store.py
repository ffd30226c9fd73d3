import json
import os
import threading
import time

import pytest

from robustseg_worker.errors import Cancelled, NotFound
from robustseg_worker.store import CODE_VERSION, ArtifactStore, artifact_id, canonical_json, write_json


def _fill(payload):
    def fill(directory):
        (directory / "data.bin").write_bytes(payload)
        write_json(directory / "meta.json", {"payload": len(payload)})
    return fill


def test_ids_are_deterministic_prefixed_and_depend_on_every_input():
    recipe = {"source": "synthetic-histology", "tile_size": 64, "seed": 1, "parents": ["ds-1"]}
    a = artifact_id("dataset", recipe)
    assert a == artifact_id("dataset", dict(reversed(list(recipe.items()))))  # key order irrelevant
    assert a.startswith("ds-") and len(a) == 3 + 16 and int(a[3:], 16) >= 0
    assert artifact_id("model", recipe).startswith("m-")
    for key, value in [("seed", 2), ("tile_size", 32), ("parents", ["ds-2"])]:
        assert artifact_id("dataset", {**recipe, key: value}) != a
    assert CODE_VERSION  # part of the hashed payload


def test_canonical_json_is_one_spelling():
    assert canonical_json({"b": 1, "a": [1.5, "x"]}) == '{"a":[1.5,"x"],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_write_then_read_and_list(workspace):
    store = ArtifactStore(workspace)
    aid = artifact_id("dataset", {"n": 1})
    assert not store.exists("dataset", aid)
    path = store.write("dataset", aid, _fill(b"abc"))
    assert path == workspace.resolve() / "datasets" / aid
    assert store.exists("dataset", aid) and store.read_meta("dataset", aid) == {"payload": 3}
    assert store.list_ids("dataset") == [aid]
    assert list((workspace / "tmp").iterdir()) == []


def test_unknown_and_malformed_ids_are_not_found(workspace):
    store = ArtifactStore(workspace)
    with pytest.raises(NotFound, match=r"^model m-0000000000000000 not found$"):
        store.read_meta("model", "m-0000000000000000")
    for bad in ["../../etc/passwd", "m-xyz", "ds-0000000000000000", ""]:
        with pytest.raises(NotFound):
            store.read_meta("model", bad)
        assert not store.exists("model", bad)


def test_failure_mid_write_leaves_nothing_visible(workspace):
    store = ArtifactStore(workspace)
    aid = artifact_id("model", {"n": 2})

    def half_then_crash(directory):
        (directory / "weights.safetensors").write_bytes(b"x" * 1000)  # half-written artifact
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.write("model", aid, half_then_crash)
    assert not store.exists("model", aid)
    assert not (workspace / "models" / aid).exists()
    assert list((workspace / "tmp").iterdir()) == []
    with pytest.raises(NotFound):
        store.read_meta("model", aid)
    store.write("model", aid, _fill(b"ok"))  # a retry succeeds
    assert store.read_meta("model", aid) == {"payload": 2}


def test_an_artifact_without_meta_is_refused(workspace):
    store = ArtifactStore(workspace)
    aid = artifact_id("model", {"n": 3})
    with pytest.raises(RuntimeError, match="without meta.json"):
        store.write("model", aid, lambda d: (d / "weights.safetensors").write_bytes(b"w"))
    assert not store.exists("model", aid)


def test_stale_temporaries_of_dead_processes_are_removed(workspace):
    ArtifactStore(workspace)
    stale = workspace / "tmp" / "ds-0123456789abcdef.999999999.deadbeef"
    stale.mkdir()
    (stale / "data.bin").write_bytes(b"partial")
    live = workspace / "tmp" / f"ds-0123456789abcdef.{os.getpid()}.cafebabe"
    live.mkdir()
    ArtifactStore(workspace)
    assert not stale.exists() and live.exists()


def test_concurrent_identical_requests_compute_once(workspace):
    store = ArtifactStore(workspace)
    aid = artifact_id("dataset", {"n": 4})
    computed, results = [], []

    def request():
        with store.lock(aid):
            if store.exists("dataset", aid):
                results.append("reused")
                return
            computed.append(1)
            time.sleep(0.2)  # a slow computation the others must wait for
            store.write("dataset", aid, _fill(b"data"))
            results.append("computed")

    threads = [threading.Thread(target=request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1 and sorted(results) == ["computed"] + ["reused"] * 3


def test_waiting_for_a_lock_honours_cancellation(workspace):
    store = ArtifactStore(workspace)
    stop = threading.Event()

    def check_stop():
        if stop.is_set():
            raise Cancelled("cancelled")

    with store.lock("ds-0123456789abcdef"):
        stop.set()
        with pytest.raises(Cancelled):
            with store.lock("ds-0123456789abcdef", check_stop):
                pass


def test_reuse_across_store_instances(workspace):
    aid = artifact_id("dataset", {"n": 5})
    ArtifactStore(workspace).write("dataset", aid, _fill(b"z"))
    again = ArtifactStore(workspace)  # e.g. a restarted worker
    assert again.exists("dataset", aid)
    assert json.loads((again.path("dataset", aid) / "meta.json").read_text()) == {"payload": 1}
