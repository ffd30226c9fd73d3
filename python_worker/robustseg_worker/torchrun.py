"""Launching work on torch.distributed (docs/scaling.md): the options of a distributed call, the
``torchrun`` command line, the worker's side of a launch (a process group it can cancel, events
read back from the ranks' JSON lines) and a rank's set-up. Data-parallel training
(training/distributed.py) and the sharded dataset-building stages (sharding/) both use it; the
worker never schedules processes itself.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import FailedPrecondition, InvalidArgument

EVENT_PREFIX = "robustseg-event "
MAX_PROCESSES = 1024
BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class DistributedOptions:
    """The contract's DistributedTraining / DistributedStage, validated (INVALID_ARGUMENT names
    the field)."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""
    rdzv_id: str = ""
    backend: str = ""

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_params(cls, params: dict[str, Any] | None, prefix: str = "distributed") -> DistributedOptions:
        params = params or {}

        def count(name: str, default: int) -> int:
            value = params.get(name, 0) or default
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PROCESSES:
                raise InvalidArgument(f"{prefix}.{name}", f"must be an integer in [1, {MAX_PROCESSES}], got {value!r}")
            return value

        nproc, nnodes = count("nproc_per_node", 1), count("nnodes", 1)
        node_rank = params.get("node_rank", 0)
        if isinstance(node_rank, bool) or not isinstance(node_rank, int) or not 0 <= node_rank < nnodes:
            raise InvalidArgument(f"{prefix}.node_rank", f"must be in [0, nnodes={nnodes}), got {node_rank!r}")
        endpoint = str(params.get("rdzv_endpoint", "") or "")
        if nnodes > 1 and not endpoint:
            raise InvalidArgument(f"{prefix}.rdzv_endpoint", "required with nnodes > 1 (host:port every node reaches)")
        if endpoint and (":" not in endpoint or not endpoint.rsplit(":", 1)[1].isdigit()):
            raise InvalidArgument(f"{prefix}.rdzv_endpoint", f"must be host:port, got {endpoint!r}")
        backend = str(params.get("backend", "") or "")
        if backend and backend not in BACKENDS:
            raise InvalidArgument(f"{prefix}.backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
        return cls(nproc, nnodes, node_rank, endpoint, str(params.get("rdzv_id", "") or ""), backend)

    def backend_for(self, device: torch.device) -> str:
        return self.backend or ("nccl" if device.type == "cuda" else "gloo")

    def check_local(self, device: torch.device) -> None:
        """A node runs at most one process per GPU (CUDA) or per core (CPU; at least 2, so a
        one-core box can still run the two-process set-up): a request cannot make the worker
        fork hundreds of interpreters."""
        if device.type == "cuda":
            limit, what = torch.cuda.device_count(), "GPUs"
        else:
            limit, what = max(2, os.cpu_count() or 1), "CPU cores"
        if self.nproc_per_node > limit:
            raise InvalidArgument("distributed.nproc_per_node",
                                  f"at most {limit} processes on this node (its {what}), got {self.nproc_per_node}")

    def threads_per_process(self, device: torch.device, threads: int) -> int:
        """CPU: the worker's threads divided among this node's processes (at least one each)."""
        return max(1, threads // self.nproc_per_node) if device.type == "cpu" else threads


def torchrun_command(options: DistributedOptions, job_dir: Path, rdzv_id: str, module: str,
                     python: str = sys.executable) -> list[str]:
    """The torchrun command line of this node running ``python -m module JOB_DIR`` in every
    process. One node without an endpoint: ``--standalone`` (a free loopback port); otherwise c10d
    rendezvous at ``rdzv_endpoint``."""
    cmd = [python, "-m", "torch.distributed.run", f"--nproc-per-node={options.nproc_per_node}"]
    if options.nnodes == 1 and not options.rdzv_endpoint:
        cmd.append("--standalone")
    else:
        cmd += [f"--nnodes={options.nnodes}", f"--node-rank={options.node_rank}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={options.rdzv_endpoint}", f"--rdzv-id={options.rdzv_id or rdzv_id}"]
    return [*cmd, "-m", module, str(job_dir)]


def job_folder(tmp_root: Path, tag: str) -> Path:
    """A job folder under the workspace's tmp/, named like the store's temporaries
    (``<tag>.<pid>.<random>``) so a store opened meanwhile keeps it while this process lives."""
    return tmp_root / f"{tag}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


# --- the worker's side -------------------------------------------------------------------------


def launch(command: list[str], check_stop: Callable[[], None], what: str) -> Iterator[dict[str, Any]]:
    """Runs torchrun and yields the events its ranks print (JSON after EVENT_PREFIX) as dicts.
    ``check_stop`` is polled twice a second; a stop (or any exit from the generator) kills the
    process group. A non-zero exit raises FAILED_PRECONDITION with the end of stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    stderr: list[str] = []
    threading.Thread(target=_pump, args=(process.stdout, lines.put, True), daemon=True).start()
    err_thread = threading.Thread(target=_pump, args=(process.stderr, stderr.append, False), daemon=True)
    err_thread.start()
    try:
        while True:
            check_stop()
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith(EVENT_PREFIX):
                yield json.loads(line[len(EVENT_PREFIX):])
        code = process.wait()
        err_thread.join(timeout=5)
        if code != 0:
            tail = "".join(stderr[-20:]).strip()
            raise FailedPrecondition(f"{what} failed (torchrun exit {code}): {tail[-2000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()


def _pump(stream, put: Callable[[Any], None], end: bool) -> None:
    for line in stream:
        put(line)
    if end:
        put(None)


# --- a rank's side (run by torchrun) ------------------------------------------------------------


def emit(kind: str, payload: dict[str, Any]) -> None:
    """One event line for the worker (read back by :func:`launch`). One write per line: the
    node's processes share torchrun's stdout, and print()'s separate newline could interleave."""
    sys.stdout.write(EVENT_PREFIX + json.dumps({"kind": kind, **payload}) + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class RankInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


@contextmanager
def process_group(device_type: str, backend: str, threads: int) -> Iterator[RankInfo]:
    """Joins the process group torchrun set up (one GPU per process by LOCAL_RANK on CUDA; the
    given thread count on CPU) and leaves it on exit."""
    import torch.distributed as dist

    rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    if device_type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(threads)
    dist.init_process_group(backend)
    try:
        yield RankInfo(rank, world, local_rank, device)
    finally:
        dist.destroy_process_group()


def save_result(job_dir: Path, result: Any) -> None:
    """The job's result for the worker, written atomically."""
    torch.save(result, job_dir / "result.pt.tmp")
    os.replace(job_dir / "result.pt.tmp", job_dir / "result.pt")


def load_result(job_dir: Path) -> Any:
    return torch.load(job_dir / "result.pt", map_location="cpu", weights_only=False)
