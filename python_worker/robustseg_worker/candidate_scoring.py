"""Method two's scoring of candidate rows, given each image's class directions: the computation
behind ScoreCandidates, shared by the worker's own process (engine_attacks.py) and the ranks of
a sharded call (sharding/rank.py), so both compute the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import attacks
from .attacks._common import ShouldStop

SCORINGS = ("loss", "logit_additive")


@dataclass(frozen=True)
class ScoreResult:
    losses: np.ndarray  # float64 (M,)
    exact: np.ndarray | None  # uint8 (M,) for logit_additive; None when every row is exact
    forward_passes: int


def direction_signs(model: torch.nn.Module, x: torch.Tensor, num_classes: int,
                    should_stop: ShouldStop | None = None) -> torch.Tensor:
    """int8 signs (N, C, 3, H, W) of ∇ₓ J(x, t_c): method two's directions at ε = 1, the form the
    worker caches them in (a sign does not depend on ε)."""
    return attacks.class_directions(model, x, num_classes, 1.0, should_stop=should_stop).to(torch.int8)


def score_rows(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, directions: torch.Tensor,
               inverse: np.ndarray, candidates: np.ndarray, epsilon: float, project: bool, scoring: str,
               centres: np.ndarray | None, should_stop: ShouldStop) -> ScoreResult:
    """Scores of M candidate rows. ``images``/``labels``/``directions`` (int8 signs, U×C×3×H×W)
    hold the U distinct images; row m belongs to image ``inverse[m]`` and has signs
    ``candidates[m]`` (centre ``centres[m]`` for ``logit_additive``)."""
    m, c = candidates.shape
    device = images.device
    d = directions.to(device=device, dtype=torch.float32).mul_(epsilon)
    project_eps = epsilon if project else None
    if scoring == "logit_additive":
        losses = np.empty(m, dtype=np.float64)
        exact = np.zeros(m, dtype=np.uint8)
        forwards = 0
        for u in range(images.shape[0]):
            rows = np.flatnonzero(inverse == u)
            if not rows.size:
                continue
            cand = torch.from_numpy(candidates[rows]).unsqueeze(0)
            cent = torch.from_numpy(centres[rows]).unsqueeze(0) if centres is not None else None
            est = attacks.logit_additive_scores(model, images[u:u + 1], labels[u:u + 1], d[u:u + 1], cand, cent,
                                                project_eps=project_eps, should_stop=should_stop)
            losses[rows] = est.scores[0].double().cpu().numpy()
            exact[rows] = est.exact[0].numpy()
            forwards += est.forward_passes
        return ScoreResult(losses, exact, forwards)
    # Group rows per image: (U, Kmax, C) signs padded with zeros (zero rows are not run
    # through the batched passes; they get the clean loss), then read back in row order.
    counts = np.bincount(inverse, minlength=images.shape[0])
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.empty(m, dtype=np.int64)
    position[order] = np.arange(m) - starts[inverse[order]]
    padded = np.zeros((images.shape[0], int(counts.max()), c), dtype=np.int8)
    padded[inverse, position] = candidates
    scores = attacks.score_candidates(model, images, labels, d, torch.from_numpy(padded).to(device),
                                      project_eps=project_eps, should_stop=should_stop)
    zero = ~candidates.any(axis=1)
    # One clean pass per image with a zero row, one pass per other row.
    forwards = int(len(np.unique(inverse[zero]))) + int((~zero).sum())
    return ScoreResult(scores.double().cpu().numpy()[inverse, position], None, forwards)
