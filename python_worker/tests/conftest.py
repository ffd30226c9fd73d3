"""Shared set-up for the worker's tests."""

import os

# As in __main__: OpenMP threads sleep instead of spinning, so tests stay fast when the two
# cores are shared with other processes. Must happen before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))


@pytest.fixture
def workspace(tmp_path):
    return tmp_path / "workspace"


@pytest.fixture
def engine_with_tiny_model(tmp_path):
    """An engine on tmp_path/ws with tiny synthetic splits and a U-Net trained one epoch on them:
    (engine, model id, train dataset id)."""
    from robustseg_worker.engine import Engine, TrainRequest

    engine = Engine(tmp_path / "ws")
    created = list(engine.create_dataset("synthetic_histology", {"tile_size": 16, "num_train": 4, "num_validation": 2,
                                                                 "num_test": 1, "seed": 3}))
    train, validation, _ = created[-1].datasets
    trained = list(engine.train(TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                                             {"epochs": 1, "batch_size": 2, "learning_rate": 0.001, "seed": 1})))
    return engine, trained[-1].model.id, train.id


# --- a real worker process -------------------------------------------------------------------

from worker_harness import WorkerProcess  # noqa: E402


@pytest.fixture
def start_worker(tmp_path):
    """Start workers (each in its own directory); all are killed at the end of the test."""
    started = []

    def start(*args, **kwargs):
        worker = WorkerProcess(tmp_path / f"w{len(started)}", *args, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()
