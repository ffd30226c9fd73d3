"""The dataset-building stages sharded across two gloo processes (torchrun on CPU) give the
artifacts and figures of a single process, bit for bit: an attack dataset (PGD with per-image
random starts, and method one), evaluation under attack and the worst case over an ensemble,
method two's scoring (exact and logit-additive) and its enhanced dataset."""

import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import Cancelled, InvalidArgument
from robustseg_worker.events import DatasetBuilt, EvaluationResult, Progress
from robustseg_worker.sharding import batch_starts, image_positions

SMALL = {"tile_size": 16, "num_train": 8, "num_validation": 2, "num_test": 5, "seed": 4}
TWO = {"nproc_per_node": 2, "backend": "gloo"}
PGD = {"kind": "gradient", "method": "pgd", "epsilon": 0.03, "steps": 3, "step_size": 0.0, "random_start": True,
       "seed": 7, "target": {"kind": "full_area_class", "full_area_class": 0}}
METHOD_ONE = {"kind": "layered_pgd", "epsilon": 0.03, "steps": 2, "step_size": 0.0, "class_order": [],
              "budget": "per_layer", "random_start": False, "seed": 0}


def _last(events):
    return list(events)[-1]


def test_plan_deals_whole_batches_and_distinct_images():
    assert batch_starts(10, 3, 0, 2) == [0, 6] and batch_starts(10, 3, 1, 2) == [3, 9]
    assert sorted(batch_starts(10, 3, 0, 3) + batch_starts(10, 3, 1, 3) + batch_starts(10, 3, 2, 3)) == [0, 3, 6, 9]
    assert batch_starts(2, 4, 1, 2) == []  # more processes than batches: an idle rank
    assert image_positions(5, 1, 2).tolist() == [1, 3]
    with pytest.raises(ValueError):
        batch_starts(4, 0, 0, 1)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """The same workspace twice: one engine computes in its own process, the other shards.
    One torch thread in both (each gloo process gets one of the worker's threads), so the two
    runs use the same kernels."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sharded")
    single = Engine(root / "single")
    train_info, validation_info, test = _last(single.create_dataset("synthetic_histology", SMALL)).datasets
    model = _last(single.train(TrainRequest("unet", {"depth": 2, "base_width": 4}, [train_info.id],
                                            validation_info.id, {"epochs": 1, "batch_size": 4, "learning_rate": 0.01, "seed": 1}))).model
    shutil.copytree(root / "single", root / "sharded")
    yield single, Engine(root / "sharded"), model.id, test.id
    torch.set_num_threads(threads)


def _dataset(engine, events):
    built = _last(events)
    assert isinstance(built, DatasetBuilt) and not built.reused
    tiles = engine.load_dataset(built.dataset.id)
    return built, np.asarray(tiles.images)


@pytest.mark.parametrize("attack", [PGD, METHOD_ONE], ids=["pgd-random-start", "method-one"])
def test_an_attack_dataset_is_the_single_process_one(engines, attack):
    single, sharded, model_id, dataset_id = engines
    want, want_images = _dataset(single, single.attack_dataset(model_id, dataset_id, attack, batch_size=2))
    events = list(sharded.attack_dataset(model_id, dataset_id, attack, batch_size=2, distributed=TWO))
    got, got_images = _dataset(sharded, events)
    assert got.dataset.id == want.dataset.id
    assert np.array_equal(got_images, want_images)  # bit-identical
    assert got.dataset.provenance["processes"] == 2
    progress = [e for e in events if isinstance(e, Progress) and e.stage == "attack"]
    launch = [e.message for e in progress if e.message.startswith("launch: ")]
    assert len(launch) == 1 and "torch.distributed.run" in launch[0] and "--nproc-per-node=2" in launch[0]
    assert progress[-1].done == progress[-1].total
    assert not list((sharded.store.root / "tmp").iterdir())  # the job folder is removed


def test_evaluation_under_attack_sums_to_the_single_process_counts(engines):
    single, sharded, model_id, dataset_id = engines
    want = _last(single.evaluate(model_id, dataset_id, 2, attack=PGD))
    got = _last(sharded.evaluate(model_id, dataset_id, 2, attack=PGD, distributed=TWO))
    assert isinstance(got, EvaluationResult)
    assert got.confusion == want.confusion and got.num_pixels == want.num_pixels
    assert got.mean_loss == want.mean_loss  # per-batch sums added in batch order: the same bits


def test_the_worst_case_over_an_ensemble_is_the_single_process_one(engines):
    single, sharded, model_id, dataset_id = engines
    fgsm = {**PGD, "method": "fgsm", "steps": 1, "random_start": False}
    want = _last(single.evaluate_worst_case(model_id, dataset_id, [PGD, fgsm], 2))
    got = _last(sharded.evaluate_worst_case(model_id, dataset_id, [PGD, fgsm], 2, distributed=TWO))
    assert got.chosen_member == want.chosen_member
    assert np.array_equal(got.image_scores, want.image_scores)
    for a, b in zip([got.worst_case, *got.members], [want.worst_case, *want.members]):
        assert a.confusion == b.confusion and a.mean_loss == b.mean_loss


@pytest.mark.parametrize("scoring", ["loss", "logit_additive"])
def test_method_two_scores_and_directions_are_the_single_process_ones(engines, scoring):
    single, sharded, model_id, dataset_id = engines
    rng = np.random.default_rng(3)
    idx = np.repeat(np.array([4, 0, 2]), 12)
    rows = rng.integers(-1, 2, size=(idx.size, 6)).astype(np.int8)
    centres = rng.integers(-1, 2, size=rows.shape).astype(np.int8) if scoring == "logit_additive" else None
    for engine in (single, sharded):
        engine.reset_scoring_caches()
    want = single.score_candidates(model_id, dataset_id, 0.02, True, idx, rows, scoring=scoring, centres=centres)
    got = sharded.score_candidates(model_id, dataset_id, 0.02, True, idx, rows, scoring=scoring, centres=centres,
                                   distributed=TWO)
    assert np.array_equal(got.losses, want.losses)
    assert got.forward_passes == want.forward_passes
    if scoring == "logit_additive":
        assert np.array_equal(got.exact, want.exact)
    # The gathered directions are the worker's cache now: equal to its own computation.
    for i in (0, 2, 4):
        assert torch.equal(sharded._direction_cache.get((model_id, dataset_id, i)),
                           single._direction_cache.get((model_id, dataset_id, i)))


def test_an_enhanced_dataset_is_the_single_process_one(engines):
    single, sharded, model_id, dataset_id = engines
    signs = np.random.default_rng(5).integers(-1, 2, size=(SMALL["num_test"], 6)).astype(np.int8)
    want, want_images = _dataset(single, single.build_enhanced_dataset(model_id, dataset_id, 0.02, False, signs, 2))
    got, got_images = _dataset(sharded, sharded.build_enhanced_dataset(model_id, dataset_id, 0.02, False, signs, 2,
                                                                       distributed=TWO))
    assert got.dataset.id == want.dataset.id and np.array_equal(got_images, want_images)


def test_options_are_checked_before_any_work(engines):
    _, sharded, model_id, dataset_id = engines
    with pytest.raises(InvalidArgument) as e:
        list(sharded.attack_dataset(model_id, dataset_id, PGD, distributed={"nproc_per_node": 0, "nnodes": 2}))
    assert e.value.field == "distributed.rdzv_endpoint"
    with pytest.raises(InvalidArgument) as e:
        list(sharded.evaluate(model_id, dataset_id, distributed={"backend": "mpi"}))
    assert e.value.field == "distributed.backend"
    # No more processes than the node has cores (or GPUs): a request cannot fork hundreds.
    with pytest.raises(InvalidArgument) as e:
        list(sharded.evaluate(model_id, dataset_id, distributed={"nproc_per_node": 1000}))
    assert e.value.field == "distributed.nproc_per_node" and "at most" in str(e.value)
    assert not list((sharded.store.root / "tmp").iterdir())


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_a_stopped_sharded_call_leaves_no_process_and_no_job_folder(engines):
    _, sharded, model_id, dataset_id = engines
    polls = {"n": 0}
    running: list[int] = []

    def stop():
        # Polled twice a second: stop once torchrun and both ranks are up (or after a minute).
        polls["n"] += 1
        found = _processes_mentioning(str(sharded.store.root))
        if len(found) >= 3 or polls["n"] > 120:
            running.extend(found)
            raise Cancelled("stopped by the test")

    long = {**PGD, "steps": 200, "seed": 99}
    with pytest.raises(Cancelled):
        list(sharded.attack_dataset(model_id, dataset_id, long, batch_size=1, check_stop=stop, distributed=TWO))
    assert len(running) >= 3  # torchrun and its two processes were there when the call stopped
    assert not list((sharded.store.root / "tmp").iterdir())
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(sharded.store.root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(sharded.store.root)) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_each_store_the_single_process_artifact(engines, tmp_path):
    """Two "nodes" on this machine (two workers, each with its own copy of the workspace and its
    own torchrun, joined by c10d rendezvous): both end with the one-process artifact."""
    single, sharded, model_id, dataset_id = engines
    other = Engine(shutil.copytree(sharded.store.root, tmp_path / "node-1"))
    attack = {**PGD, "seed": 21}
    want, want_images = _dataset(single, single.attack_dataset(model_id, dataset_id, attack, batch_size=2))
    endpoint = f"127.0.0.1:{_free_port()}"
    results: dict[int, object] = {}

    def node(rank: int, engine: Engine) -> None:
        # No rdzv_id: the default (a digest of the request) is the same on both nodes.
        options = {"nproc_per_node": 1, "nnodes": 2, "node_rank": rank, "rdzv_endpoint": endpoint, "backend": "gloo"}
        try:
            results[rank] = _dataset(engine, engine.attack_dataset(model_id, dataset_id, attack, batch_size=2,
                                                                   distributed=options))
        except Exception as e:  # noqa: BLE001 (reported below)
            results[rank] = e

    threads = [threading.Thread(target=node, args=(r, e)) for r, e in ((0, sharded), (1, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for rank in (0, 1):
        assert not isinstance(results.get(rank), Exception), results.get(rank)
        built, images = results[rank]
        assert built.dataset.id == want.dataset.id and np.array_equal(images, want_images)
