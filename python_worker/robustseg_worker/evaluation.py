"""Scoring a model on a dataset: the confusion matrix (rows truth, columns prediction) and the
summed pixel-wise cross-entropy, accumulated on the device over the whole dataset. Every metric
(accuracy, IoU, Dice, ...) is derived by the control plane from these raw counts."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from .device import autocast
from .events import EvaluationResult, Progress

T = TypeVar("T")


def confusion_matrix(predicted: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C x C int64 counts on the tensors' device; one bincount instead of a loop over pixels."""
    index = truth.reshape(-1).to(torch.int64) * num_classes + predicted.reshape(-1).to(torch.int64)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass(frozen=True)
class BatchCounts:
    """One batch's share of an evaluation: its first image index, summed loss (float64) and
    confusion matrix. Totals are these summed in batch order, so a sharded evaluation (each
    process a subset of the batches) sums to the same bits as a single process."""

    start: int
    loss_sum: torch.Tensor  # float64 scalar
    confusion: torch.Tensor  # int64 (C, C)


def evaluate_batches(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    batch_size: int,
    starts: Iterable[int],
    check_stop: Callable[[], None] = lambda: None,
    stage: str = "evaluate",
    perturb: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
) -> Generator[Progress | BatchCounts, None, None]:
    """The counts of the batches beginning at `starts` (multiples of `batch_size`), each followed
    by Progress (images done of those batches). Batches are moved to the model's device only if
    they are not there already (training keeps its validation set on the device).
    `perturb(x, y, first_index)`, when given, replaces each batch before the forward pass
    (evaluation under attack: x_adv computed per batch)."""
    device = next(model.parameters()).device
    n = int(images.shape[0])
    starts = list(starts)
    total = sum(min(batch_size, n - s) for s in starts)
    done = 0
    was_training = model.training
    model.eval()
    try:
        for start in starts:
            check_stop()
            x = images[start:start + batch_size].to(device, non_blocking=True)
            y = labels[start:start + batch_size].to(device, non_blocking=True)
            if perturb is not None:
                x = perturb(x, y, start)
            with torch.inference_mode():
                with autocast(device):
                    logits = model(x)
                logits = logits.float()
                yield BatchCounts(start, F.cross_entropy(logits, y, reduction="sum").double(),
                                  confusion_matrix(logits.argmax(dim=1), y, num_classes))
            done += int(x.shape[0])
            yield Progress(stage, done, total)
    finally:
        model.train(was_training)


def collect(events: Iterable[Any], kind: type[T]) -> Generator[Any, None, list[T]]:
    """Passes every event on but the `kind` ones, which it returns (per-batch shares)."""
    parts: list[T] = []
    for event in events:
        if isinstance(event, kind):
            parts.append(event)
        else:
            yield event
    return parts


def total_counts(parts: Iterable[BatchCounts], num_classes: int, num_images: int, height: int, width: int,
                 device: torch.device | str = "cpu") -> EvaluationResult:
    """The evaluation's totals: batch counts added in batch order (float64 loss, int64 counts)."""
    with torch.inference_mode():
        confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for part in sorted(parts, key=lambda p: p.start):
            loss_sum += part.loss_sum.to(device)
            confusion += part.confusion.to(device)
    num_pixels = num_images * height * width
    return EvaluationResult(
        confusion=confusion.cpu().tolist(),
        mean_loss=float(loss_sum.item() / num_pixels) if num_pixels else float("nan"),
        num_pixels=num_pixels,
        num_images=num_images,
    )


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    batch_size: int,
    check_stop: Callable[[], None] = lambda: None,
    stage: str = "evaluate",
    perturb: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
) -> Generator[Progress, None, EvaluationResult]:
    """Every batch (:func:`evaluate_batches`); yields Progress per batch and returns the totals."""
    n = int(images.shape[0])
    parts = yield from collect(evaluate_batches(model, images, labels, num_classes, batch_size,
                                                range(0, n, batch_size), check_stop, stage, perturb), BatchCounts)
    return total_counts(parts, num_classes, n, int(labels.shape[-2]), int(labels.shape[-1]),
                        next(model.parameters()).device)
