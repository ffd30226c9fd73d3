"""The training loop: Adam on pixel-wise cross-entropy, per-step loss events, per-epoch train
loss and validation loss/confusion, and the weights of the best validation loss kept.

Reproducible on CPU for a seed: the model is initialised under that seed, and every random
draw of the loop (shuffling, augmentation) comes from one seeded generator."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import failpoints
from ..device import autocast
from ..errors import FailedPrecondition
from ..evaluation import evaluate
from ..models.registry import BUILD_LOCK
from ..events import EpochSummary, Progress, TrainStep
from .augment import flip_rotate
from .config import TrainingConfig

BatchTransform = Callable[[nn.Module, torch.Tensor, torch.Tensor, int, int], torch.Tensor]

def build_seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build a model whose initial weights depend only on `seed`. Initialisation draws from
    torch's global generator: the models' build lock keeps every other thread's build (another
    training, a model loaded for an evaluation) from drawing between the seed and the weights."""
    with BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Batch ranges over n samples. A trailing batch of one sample joins the previous batch:
    BatchNorm cannot normalise a single sample whose bottleneck is 1x1."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


@dataclass(frozen=True)
class Replica:
    """This process's place in data-parallel training (:mod:`.distributed`): every replica draws
    the same shuffling and augmentation as a single process, then trains on rows
    ``rank::world_size`` of each batch through ``net`` (the DistributedDataParallel wrapper).
    ``validates``: this replica validates after each epoch and keeps the best weights (the first
    process of each node, so every node's worker gets the same model)."""

    rank: int
    world_size: int
    net: nn.Module
    validates: bool


@dataclass
class TrainingOutcome:
    best_epoch: int
    best_validation_loss: float
    history: list[EpochSummary]


@dataclass
class TrainingState:
    """Everything the loop needs to continue after `epoch` exactly as if it had not stopped
    (checkpoint.py stores it): the same weights, optimizer moments and random stream."""

    epoch: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict
    generator_state: torch.Tensor
    best_state: dict[str, torch.Tensor] | None
    best_epoch: int
    best_loss: float
    history: list[EpochSummary]


def train(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    validation_images: torch.Tensor,
    validation_labels: torch.Tensor,
    num_classes: int,
    config: TrainingConfig,
    check_stop: Callable[[], None] = lambda: None,
    validation_batch_size: int | None = None,
    resume: TrainingState | None = None,
    on_epoch: Callable[[TrainingState], None] | None = None,
    replica: Replica | None = None,
    batch_transform: BatchTransform | None = None,
) -> Generator[Progress | TrainStep | EpochSummary, None, TrainingOutcome]:
    """Train `model` in place (it ends holding the best weights). Tensors should already be on
    the model's device: they are indexed there, never copied per step. `resume` continues
    after a stored epoch; `on_epoch` receives the state after each epoch (to store it).

    `batch_transform(model, x, y, epoch, step)`, when given, replaces each (augmented) batch's
    images before the training step: adversarial training (adversarial.py) is this loop with a
    transform. Validation stays clean, so every model picks its epoch by the same rule. The
    transform draws its randomness from (seed, epoch, step), so a resumed training attacks the
    same batches as an uninterrupted one.

    With ``replica`` (data-parallel), the loss of each replica's rows is scaled so that the
    gradients DistributedDataParallel averages equal the gradient of the whole batch's mean loss;
    the reported loss is the whole batch's. Before validating, every replica takes rank 0's
    BatchNorm buffers, so the replicas that validate (``replica.validates``) see the same model;
    the others return an outcome without weights or history. (Data-parallel training starts
    from epoch 1: per-epoch checkpoints are written by single-process training only.)"""
    net = replica.net if replica is not None else model
    rank, world = (replica.rank, replica.world_size) if replica is not None else (0, 1)
    validates = replica is None or replica.validates
    n = int(train_images.shape[0])
    bounds = batch_bounds(n, config.batch_size)
    steps = len(bounds)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    device = train_images.device
    history: list[EpochSummary] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    first_epoch = 1
    if resume is not None:
        model.load_state_dict(resume.model_state)
        optimizer.load_state_dict(resume.optimizer_state)
        generator.set_state(resume.generator_state)
        best_state, best_epoch, best_loss = resume.best_state, resume.best_epoch, resume.best_loss
        history, first_epoch = list(resume.history), resume.epoch + 1
    yield Progress("train", (first_epoch - 1) * steps, config.epochs * steps, f"{n} tiles, {steps} steps per epoch")

    for epoch in range(first_epoch, config.epochs + 1):
        net.train()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = 0.0
        for step, (start, stop) in enumerate(bounds, 1):
            check_stop()
            index = order[start:stop]
            x, y = train_images[index], train_labels[index]
            if config.augment:
                x, y = flip_rotate(x, y, generator)
            if batch_transform is not None:
                x = batch_transform(model, x, y, epoch, step)
            optimizer.zero_grad(set_to_none=True)
            if world == 1:
                with autocast(device):
                    logits = model(x)
                loss = F.cross_entropy(logits.float(), y)
                loss.backward()
                optimizer.step()
                value = loss.item()
            else:
                value = _replica_step(net, optimizer, x[rank::world], y[rank::world], y.numel(), world, device)
            if not math.isfinite(value):
                raise FailedPrecondition(
                    f"training diverged: loss is {value} at epoch {epoch} step {step}; "
                    f"try a lower config.learning_rate (now {config.learning_rate})"
                )
            loss_sum += value * (stop - start)
            failpoints.hit("train.step")
            yield TrainStep(epoch, step, steps, value)

        check_stop()
        if world > 1:
            _broadcast_buffers(model)
        if not validates:
            continue  # this replica's next all-reduce waits for the validating ones
        result = yield from evaluate(
            model, validation_images, validation_labels, num_classes,
            validation_batch_size or max(config.batch_size, 16), check_stop, stage="validate",
        )
        is_best = math.isfinite(result.mean_loss) and result.mean_loss < best_loss
        if is_best:
            best_loss, best_epoch = result.mean_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        summary = EpochSummary(epoch, loss_sum / n, result.mean_loss, result.confusion, is_best)
        history.append(summary)
        if on_epoch is not None:
            on_epoch(TrainingState(epoch, model.state_dict(), optimizer.state_dict(), generator.get_state(),
                                   best_state, best_epoch, best_loss, list(history)))
        yield summary

    if not validates:
        return TrainingOutcome(0, math.nan, history)
    if best_state is None:
        raise FailedPrecondition("validation loss was never finite; no weights worth keeping")
    model.load_state_dict(best_state)
    model.eval()
    return TrainingOutcome(best_epoch, best_loss, history)


def _replica_step(net: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  batch_pixels: int, world: int, device: torch.device) -> float:
    """One data-parallel step on this replica's rows: the summed loss over the batch's pixel
    count times ``world``, so DDP's gradient average is the batch mean's gradient; returns the
    batch's mean loss (summed over the replicas)."""
    import torch.distributed as dist

    with autocast(device):
        logits = net(x)
    loss = F.cross_entropy(logits.float(), y, reduction="sum") * (world / batch_pixels)
    loss.backward()
    optimizer.step()
    value = loss.detach() / world
    dist.all_reduce(value)
    return value.item()


def _broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) to every replica: each replica's last
    forward pass updated its own from its rows."""
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, 0)
