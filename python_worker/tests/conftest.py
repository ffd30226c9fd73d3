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
