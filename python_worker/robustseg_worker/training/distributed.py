"""Data-parallel training on torch.distributed (issue 12, docs/scaling.md).

The worker does not schedule processes itself: it writes a job folder (the seeded initial model,
the training and validation tensors, the config) and launches ``torchrun``
(``python -m torch.distributed.run``) on this module. Every rank wraps the model in
DistributedDataParallel (gloo on CPU, nccl on CUDA) and runs the same training loop
(:func:`.trainer.train` with a :class:`.trainer.Replica`); the first process of the node prints its events as JSON lines,
which the worker turns back into the Train stream, and saves the kept weights for the worker to
store as usual. In a multi-node job every node's worker launches its own torchrun with its node
rank (:func:`torchrun_command`) on its own job folder; the first process of each node validates
and saves, so every node's worker stores the same model (docs/scaling.md).

Run by torchrun: ``python -m robustseg_worker.training.distributed JOB_DIR``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FailedPrecondition, InvalidArgument
from ..events import EpochSummary, Progress, TrainStep
from .config import TrainingConfig
from .trainer import Replica, TrainingOutcome, train

EVENT_PREFIX = "robustseg-event "
MAX_PROCESSES = 1024
BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class DistributedOptions:
    """The contract's DistributedTraining, validated (INVALID_ARGUMENT names the field)."""

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


def torchrun_command(options: DistributedOptions, job_dir: Path, rdzv_id: str,
                     python: str = sys.executable) -> list[str]:
    """The torchrun command line of this node. One node without an endpoint: ``--standalone``
    (a free loopback port); otherwise c10d rendezvous at ``rdzv_endpoint``."""
    cmd = [python, "-m", "torch.distributed.run", f"--nproc-per-node={options.nproc_per_node}"]
    if options.nnodes == 1 and not options.rdzv_endpoint:
        cmd.append("--standalone")
    else:
        cmd += [f"--nnodes={options.nnodes}", f"--node-rank={options.node_rank}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={options.rdzv_endpoint}", f"--rdzv-id={options.rdzv_id or rdzv_id}"]
    return [*cmd, "-m", __name__, str(job_dir)]


def check_batch(options: DistributedOptions, config: TrainingConfig, min_batch: int) -> None:
    """Every replica needs at least ``min_batch`` rows of every batch (BatchNorm)."""
    if config.batch_size < options.world_size * min_batch:
        raise InvalidArgument("distributed.nproc_per_node",
                              f"{options.world_size} processes need config.batch_size >= "
                              f"{options.world_size * min_batch} (at least {min_batch} tiles each), "
                              f"got {config.batch_size}")


# --- the worker's side -------------------------------------------------------------------------


def train_distributed(
    model: nn.Module,
    tensors: dict[str, torch.Tensor],
    num_classes: int,
    config: TrainingConfig,
    options: DistributedOptions,
    job_dir: Path,
    rdzv_id: str,
    device: torch.device,
    check_stop: Callable[[], None],
    threads: int,
) -> Iterator[Progress | TrainStep | EpochSummary]:
    """Launch torchrun on a job in ``job_dir`` and yield the events of this node's first process; returns the outcome
    and leaves ``model`` holding the kept weights. ``tensors``: train_images, train_labels,
    validation_images, validation_labels (any device; saved on CPU)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.cpu(), job_dir / "model.pt")
    torch.save({k: v.cpu() for k, v in tensors.items()}, job_dir / "data.pt")
    (job_dir / "job.json").write_text(json.dumps({
        "num_classes": num_classes, "config": config.as_dict(), "device": device.type,
        "backend": options.backend_for(device),
        "threads": max(1, threads // options.nproc_per_node) if device.type == "cpu" else threads,
    }))
    command = torchrun_command(options, job_dir, rdzv_id)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    yield Progress("launch", 0, options.world_size, " ".join(command))
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
                yield _event(json.loads(line[len(EVENT_PREFIX):]))
        code = process.wait()
        err_thread.join(timeout=5)
        if code != 0:
            tail = "".join(stderr[-20:]).strip()
            raise FailedPrecondition(f"distributed training failed (torchrun exit {code}): {tail[-2000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
    result = torch.load(job_dir / "result.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(result["state"])
    model.to(device).eval()
    return TrainingOutcome(result["best_epoch"], result["best_validation_loss"],
                           [EpochSummary(**e) for e in result["history"]])


def _pump(stream, put: Callable[[Any], None], end: bool) -> None:
    for line in stream:
        put(line)
    if end:
        put(None)


def _event(data: dict[str, Any]) -> Progress | TrainStep | EpochSummary:
    kind = data.pop("kind")
    return {"progress": Progress, "step": TrainStep, "epoch": EpochSummary}[kind](**data)


# --- a rank's side (run by torchrun) ------------------------------------------------------------


def _emit(event: Progress | TrainStep | EpochSummary) -> None:
    kind = {Progress: "progress", TrainStep: "step", EpochSummary: "epoch"}[type(event)]
    print(EVENT_PREFIX + json.dumps({"kind": kind, **event.__dict__}), flush=True)


def run_rank(job_dir: Path) -> None:
    """One rank of a job: DDP over the process group torchrun set up; the node's first process reports and saves."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    job = json.loads((job_dir / "job.json").read_text())
    rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    if job["device"] == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(int(job["threads"]))
    dist.init_process_group(job["backend"])
    try:
        model = torch.load(job_dir / "model.pt", map_location=device, weights_only=False)
        data = torch.load(job_dir / "data.pt", map_location=device)
        net = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
        config = TrainingConfig(**job["config"])
        events = train(model, data["train_images"], data["train_labels"], data["validation_images"],
                       data["validation_labels"], int(job["num_classes"]), config,
                       replica=Replica(rank, world, net, validates=local_rank == 0))
        while True:
            try:
                event = next(events)
            except StopIteration as done:
                outcome: TrainingOutcome = done.value
                break
            if local_rank == 0:
                _emit(event)
        if local_rank == 0:
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            torch.save({"state": state, "best_epoch": outcome.best_epoch,
                        "best_validation_loss": outcome.best_validation_loss,
                        "history": [e.__dict__ for e in outcome.history]}, job_dir / "result.pt.tmp")
            os.replace(job_dir / "result.pt.tmp", job_dir / "result.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run_rank(Path(sys.argv[1]))
