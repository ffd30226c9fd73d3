"""The worst case over an ensemble of attacks, per image (SEA: Croce, Singh, Hein, ECCV 2024,
which takes for every image the attack of its ensemble that leaves the lowest accuracy; their
``tools/worse_case_miou.py`` selects by per-image pixel accuracy).

Every member attacks every batch; the model is evaluated on each member's x_adv, and each image
contributes to the worst-case totals the confusion matrix and loss of the member with the lowest
*foreground* accuracy on that image (background holds ~80% of histology pixels, so pixel accuracy
would rank attacks by the background they leave). An image without foreground pixels is ranked by
pixel accuracy. Ties go to the lower pixel accuracy, then to the earlier member.

The totals of each member alone come back too (its own row beside the worst case), with the
chosen member per image and the per-image scores. Metrics are derived from the raw counts by the
control plane, as for every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .device import autocast
from .evaluation import collect
from .events import EvaluationResult, Progress

Perturb = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]  # (x, y, first_index) -> x_adv


@dataclass
class WorstCaseResult:
    members: list[EvaluationResult]  # each member alone, in order
    worst_case: EvaluationResult
    chosen_member: list[int]  # per image (dataset order): the member its worst case came from
    image_scores: np.ndarray  # float64 (members, images): the selection key (foreground accuracy)


def per_image_confusion(predicted: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, C, C) int64 counts, rows truth, columns prediction, one matrix per image."""
    b = truth.shape[0]
    offset = torch.arange(b, device=truth.device).view(-1, *([1] * (truth.dim() - 1))) * num_classes * num_classes
    index = offset + truth.to(torch.int64) * num_classes + predicted.to(torch.int64)
    counts = torch.bincount(index.reshape(-1), minlength=b * num_classes * num_classes)
    return counts.reshape(b, num_classes, num_classes)


def image_scores(confusions: torch.Tensor, background: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(foreground accuracy, or pixel accuracy without foreground; pixel accuracy) per image, as
    float64, from (..., C, C) confusion matrices."""
    c = confusions.to(torch.float64)
    correct = torch.diagonal(c, dim1=-2, dim2=-1)
    total = c.sum(dim=(-2, -1))
    pixel = correct.sum(dim=-1) / total.clamp_min(1.0)
    keep = torch.ones(c.shape[-1], dtype=torch.bool, device=c.device)
    keep[background] = False
    fg_total = c[..., keep, :].sum(dim=(-2, -1))
    fg = correct[..., keep].sum(dim=-1) / fg_total.clamp_min(1.0)
    return torch.where(fg_total > 0, fg, pixel), pixel


def choose_members(scores: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """Per image (column) the member (row) of lowest score, then lowest pixel accuracy, then first."""
    m = scores.shape[0]
    order = np.arange(m)
    return np.array([np.lexsort((order, pixel[:, j], scores[:, j]))[0] for j in range(scores.shape[1])], dtype=np.int64)


@dataclass
class WorstCaseBatch:
    """One batch's share: each member's counts and float64 loss sums, the worst case's, and the
    per-image scores and choices. Totals add these in batch order (:func:`total_worst_case`), so
    a sharded evaluation gives one process's bits."""

    start: int
    member_conf: torch.Tensor  # int64 (M, C, C)
    member_loss: torch.Tensor  # float64 (M,)
    worst_conf: torch.Tensor  # int64 (C, C)
    worst_loss: torch.Tensor  # float64 scalar
    scores: np.ndarray  # float64 (M, b)
    chosen: np.ndarray  # int64 (b,)

    def cpu(self) -> WorstCaseBatch:
        return WorstCaseBatch(self.start, self.member_conf.cpu(), self.member_loss.cpu(), self.worst_conf.cpu(),
                              self.worst_loss.cpu(), self.scores, self.chosen)


def worst_case_batches(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    batch_size: int,
    members: Sequence[Perturb],
    starts: Iterable[int],
    check_stop: Callable[[], None] = lambda: None,
    stage: str = "worst-case",
) -> Generator[Progress | WorstCaseBatch, None, None]:
    """The batches beginning at `starts`: each member attacks the batch, the model is evaluated
    on each x_adv, and per image the member of lowest foreground accuracy is chosen. Yields
    Progress (images × members of these batches) after every member, and each batch's share."""
    if not members:
        raise ValueError("members: at least one attack is needed")
    device = next(model.parameters()).device
    n, m = int(images.shape[0]), len(members)
    starts = list(starts)
    total = sum(min(batch_size, n - s) for s in starts) * m
    done = 0
    was_training = model.training
    model.eval()
    try:
        for start in starts:
            check_stop()
            x = images[start:start + batch_size].to(device, non_blocking=True)
            y = labels[start:start + batch_size].to(device, non_blocking=True)
            b = x.shape[0]
            confs, losses = [], []
            for perturb in members:
                x_adv = perturb(x, y, start)
                with torch.inference_mode():
                    with autocast(device):
                        logits = model(x_adv)
                    logits = logits.float()
                    losses.append(F.cross_entropy(logits, y, reduction="none").flatten(1).sum(dim=1).double())
                    confs.append(per_image_confusion(logits.argmax(dim=1), y, num_classes))
                done += b
                yield Progress(stage, done, total)
            with torch.inference_mode():
                stacked, stacked_loss = torch.stack(confs), torch.stack(losses)  # (M, B, C, C), (M, B)
                score, pixel = image_scores(stacked)
                pick = choose_members(score.cpu().numpy(), pixel.cpu().numpy())
                rows = torch.from_numpy(pick).to(device)
                cols = torch.arange(b, device=device)
                yield WorstCaseBatch(start, stacked.sum(dim=1), stacked_loss.sum(dim=1), stacked[rows, cols].sum(dim=0),
                                     stacked_loss[rows, cols].sum(), score.cpu().numpy(), pick)
    finally:
        model.train(was_training)


def total_worst_case(parts: Iterable[WorstCaseBatch], num_members: int, num_classes: int, num_images: int,
                     height: int, width: int, device: torch.device | str = "cpu") -> WorstCaseResult:
    """The totals: batch shares added in batch order."""
    m, n = num_members, num_images
    with torch.inference_mode():
        member_conf = torch.zeros(m, num_classes, num_classes, dtype=torch.int64, device=device)
        member_loss = torch.zeros(m, dtype=torch.float64, device=device)
        worst_conf = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
        worst_loss = torch.zeros((), dtype=torch.float64, device=device)
        scores = np.zeros((m, n), dtype=np.float64)
        chosen = np.zeros(n, dtype=np.int64)
        for part in sorted(parts, key=lambda p: p.start):
            # Member by member, as the batches' own sums were added before sharding existed.
            for k in range(m):
                member_conf[k] += part.member_conf[k].to(device)
                member_loss[k] += part.member_loss[k].to(device)
            worst_conf += part.worst_conf.to(device)
            worst_loss += part.worst_loss.to(device)
            b = part.chosen.shape[0]
            scores[:, part.start:part.start + b] = part.scores
            chosen[part.start:part.start + b] = part.chosen
    num_pixels = n * height * width

    def result(conf: torch.Tensor, loss: torch.Tensor) -> EvaluationResult:
        mean = float(loss.item() / num_pixels) if num_pixels else float("nan")
        return EvaluationResult(confusion=conf.cpu().tolist(), mean_loss=mean, num_pixels=num_pixels, num_images=n)

    return WorstCaseResult(
        members=[result(member_conf[k], member_loss[k]) for k in range(m)],
        worst_case=result(worst_conf, worst_loss),
        chosen_member=chosen.tolist(),
        image_scores=scores,
    )


def evaluate_worst_case(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    batch_size: int,
    members: Sequence[Perturb],
    check_stop: Callable[[], None] = lambda: None,
    stage: str = "worst-case",
) -> Generator[Progress, None, WorstCaseResult]:
    """Every batch (:func:`worst_case_batches`); yields Progress (images × members done) after
    every member of every batch and returns the totals."""
    n = int(images.shape[0])
    parts = yield from collect(worst_case_batches(model, images, labels, num_classes, batch_size, members,
                                                  range(0, n, batch_size), check_stop, stage), WorstCaseBatch)
    return total_worst_case(parts, len(members), num_classes, n, int(labels.shape[-2]), int(labels.shape[-1]),
                            next(model.parameters()).device)
