"""Scoring a model on a dataset: the confusion matrix (rows truth, columns prediction) and the
summed pixel-wise cross-entropy, accumulated on the device over the whole dataset. Every metric
(accuracy, IoU, Dice, ...) is derived by the control plane from these raw counts."""

from __future__ import annotations

from collections.abc import Callable, Generator

import torch
import torch.nn.functional as F
from torch import nn

from .device import autocast
from .events import EvaluationResult, Progress


def confusion_matrix(predicted: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C x C int64 counts on the tensors' device; one bincount instead of a loop over pixels."""
    index = truth.reshape(-1).to(torch.int64) * num_classes + predicted.reshape(-1).to(torch.int64)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


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
    """Yields Progress per batch; returns the totals. Batches are moved to the model's device
    only if they are not there already (training keeps its validation set on the device).
    `perturb(x, y, first_index)`, when given, replaces each batch before the forward pass
    (evaluation under attack: x_adv computed per batch)."""
    device = next(model.parameters()).device
    n = int(images.shape[0])
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    try:
        for start in range(0, n, batch_size):
            check_stop()
            x = images[start:start + batch_size].to(device, non_blocking=True)
            y = labels[start:start + batch_size].to(device, non_blocking=True)
            if perturb is not None:
                x = perturb(x, y, start)
            with torch.inference_mode():
                with autocast(device):
                    logits = model(x)
                logits = logits.float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
                confusion += confusion_matrix(logits.argmax(dim=1), y, num_classes)
            yield Progress(stage, min(start + batch_size, n), n)
    finally:
        model.train(was_training)
    num_pixels = n * int(labels.shape[-2]) * int(labels.shape[-1])
    return EvaluationResult(
        confusion=confusion.cpu().tolist(),
        mean_loss=float(loss_sum.item() / num_pixels) if num_pixels else float("nan"),
        num_pixels=num_pixels,
        num_images=n,
    )
