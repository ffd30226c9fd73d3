"""Data-parallel training on torch.distributed (docs/scaling.md).

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
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import torchrun
from ..errors import InvalidArgument
from ..events import EpochSummary, Progress, TrainStep
from ..torchrun import DistributedOptions
from .config import TrainingConfig
from .trainer import Replica, TrainingOutcome, train

__all__ = ["DistributedOptions", "check_batch", "torchrun_command", "train_distributed", "run_rank"]


def torchrun_command(options: DistributedOptions, job_dir: Path, rdzv_id: str,
                     python: str = sys.executable) -> list[str]:
    """The torchrun command line of this node (torchrun.torchrun_command on this module)."""
    return torchrun.torchrun_command(options, job_dir, rdzv_id, __name__, python)


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
        "backend": options.backend_for(device), "threads": options.threads_per_process(device, threads),
    }))
    command = torchrun_command(options, job_dir, rdzv_id)
    yield Progress("launch", 0, options.world_size, " ".join(command))
    for data in torchrun.launch(command, check_stop, "distributed training"):
        yield _event(data)
    result = torchrun.load_result(job_dir)
    model.load_state_dict(result["state"])
    model.to(device).eval()
    return TrainingOutcome(result["best_epoch"], result["best_validation_loss"],
                           [EpochSummary(**e) for e in result["history"]])


def _event(data: dict[str, Any]) -> Progress | TrainStep | EpochSummary:
    kind = data.pop("kind")
    return {"progress": Progress, "step": TrainStep, "epoch": EpochSummary}[kind](**data)


# --- a rank's side (run by torchrun) ------------------------------------------------------------


def _emit(event: Progress | TrainStep | EpochSummary) -> None:
    kind = {Progress: "progress", TrainStep: "step", EpochSummary: "epoch"}[type(event)]
    torchrun.emit(kind, event.__dict__)


def run_rank(job_dir: Path) -> None:
    """One rank of a job: DDP over the process group torchrun set up; the node's first process reports and saves."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    job = json.loads((job_dir / "job.json").read_text())
    with torchrun.process_group(job["device"], job["backend"], int(job["threads"])) as me:
        device, rank, world, local_rank = me.device, me.rank, me.world_size, me.local_rank
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
            torchrun.save_result(job_dir, {"state": state, "best_epoch": outcome.best_epoch,
                                           "best_validation_loss": outcome.best_validation_loss,
                                           "history": [e.__dict__ for e in outcome.history]})
        dist.barrier()


if __name__ == "__main__":
    run_rank(Path(sys.argv[1]))
