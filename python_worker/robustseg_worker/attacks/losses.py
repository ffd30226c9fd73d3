"""Attack losses, kept separate from the threat model (docs/ARCHITECTURE.md section 9).

Every loss here is the pixel-wise cross-entropy J(θ, x, y) with an optional per-pixel weight:

    J_w(x, y) = mean over pixels of  w_i · CE(f(x)_i, y_i)          (one value per image)

The weight is computed from the current logits and *detached*, so it rescales each pixel's
gradient without adding a gradient of its own. Plain CE has w = 1; SegPGD and CosPGD are two
weightings. A loss is any callable

    loss(logits (N,C,H,W), target (N,H,W) int64, *, step, steps, targeted) -> (N,) per-image loss

where ``step`` is t in 1..T (``steps`` = T) and ``targeted`` says whether ``target`` is the class
the attack steps *towards* (it then descends the loss) or the truth it steps away from (ascends).
Returning one value per image (rather than a batch mean) keeps each image's gradient the same
whatever else is in the batch; the attacks sum the values before differentiating.
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LOSSES",
    "PixelLoss",
    "WeightedPixelCE",
    "cospgd_weights",
    "get_loss",
    "loss_total",
    "pixel_ce",
    "segpgd_lambda",
    "segpgd_weights",
]


class PixelLoss(Protocol):
    def __call__(
        self, logits: Tensor, target: Tensor, *, step: int, steps: int, targeted: bool
    ) -> Tensor: ...


def pixel_ce(logits: Tensor, target: Tensor) -> Tensor:
    """Per-pixel cross-entropy (N,H,W), computed in float32 whatever the logits' dtype."""
    return F.cross_entropy(logits.float(), target, reduction="none")


def segpgd_lambda(step: int, steps: int) -> float:
    """λ(t) = (t − 1) / (2T) for step t in 1..T (Gu et al. 2022, SegPGD, Eq. 4).

    Rises from 0 at the first step to just under 1/2 at the last. (The CosPGD authors' code
    writes ``iteration / (2 * iterations)`` with a 0-based iteration: the same thing.)
    """
    if steps < 1 or not 1 <= step <= steps:
        raise ValueError(f"step: must be in 1..{steps}, got {step}")
    return (step - 1) / (2.0 * steps)


def segpgd_weights(logits: Tensor, target: Tensor, *, step: int, steps: int, targeted: bool) -> Tensor:
    """SegPGD's per-pixel weights (N,H,W), detached.

    Untargeted (Gu et al. 2022): pixels the model still classifies correctly (argmax = y) get
    (1 − λ(t)), already-fooled pixels get λ(t): early steps push the correct pixels, later steps
    balance both. Targeted (our reading, docs/ARCHITECTURE.md section 9, as in the CosPGD authors' ``segpgd_scale``): the
    weights swap, so pixels already at the target get λ(t) and those not yet there (1 − λ(t)).
    Argmax ties go to the lowest class index (``torch.argmax``).
    """
    lam = segpgd_lambda(step, steps)
    with torch.no_grad():
        hit = logits.argmax(dim=1) == target
        w_hit, w_miss = (lam, 1.0 - lam) if targeted else (1.0 - lam, lam)
        w = torch.where(hit, w_hit, w_miss)
    return w.to(torch.float32)


def cospgd_weights(logits: Tensor, target: Tensor, *, targeted: bool) -> Tensor:
    """CosPGD's per-pixel weights (N,H,W), detached.

    cos_i = cos(softmax(f(x)_i), onehot(y_i)) = softmax(f(x)_i)[y_i] / ‖softmax(f(x)_i)‖₂.
    Untargeted weights are cos_i (pixels still confidently right weigh most); targeted weights
    are 1 − cos_i (pixels still far from the target weigh most), and the attack descends.

    Note on the reading: the CosPGD paper (Agnihotri et al., arXiv 2302.02213, Algorithm 1)
    writes the cosine over sigmoid(f(x)); the authors' released code (``cospgd_scale`` in
    cospgd/attack_implementations.py) uses softmax over classes, and so do we (docs/ARCHITECTURE.md
    section 9).
    """
    with torch.no_grad():
        p = torch.softmax(logits.float(), dim=1)
        p_true = p.gather(1, target.unsqueeze(1)).squeeze(1)
        cos = p_true / p.norm(p=2, dim=1).clamp_min(1e-12)
        w = 1.0 - cos if targeted else cos
    return w


WeightFn = Callable[..., Tensor]


class WeightedPixelCE:
    """Mean over pixels of ``weight · CE`` per image; ``weight_fn=None`` is plain CE."""

    def __init__(self, name: str, weight_fn: WeightFn | None = None) -> None:
        self.name = name
        self._weight_fn = weight_fn

    def weights(self, logits: Tensor, target: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False) -> Tensor:
        if self._weight_fn is None:
            return torch.ones(target.shape, dtype=torch.float32, device=target.device)
        return self._weight_fn(logits, target, step=step, steps=steps, targeted=targeted)

    def __call__(
        self, logits: Tensor, target: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False
    ) -> Tensor:
        ce = pixel_ce(logits, target)
        if self._weight_fn is not None:
            ce = ce * self.weights(logits, target, step=step, steps=steps, targeted=targeted).detach()
        return ce.flatten(1).mean(dim=1)

    def total(
        self, logits: Tensor, target: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False
    ) -> Tensor:
        """The sum over images of :meth:`__call__`, as one reduction: Σ_pixels w·CE / (H·W).

        What the attacks differentiate. It has the very same gradient as summing the per-image
        means (each pixel's CE gets 1/(H·W) either way), without the per-image reduction and its
        backward; plain CE goes through the fused ``reduction="sum"`` kernel.
        """
        pixels = max(1, math.prod(target.shape[1:]))
        if self._weight_fn is None:
            return F.cross_entropy(logits.float(), target, reduction="sum") / pixels
        w = self.weights(logits, target, step=step, steps=steps, targeted=targeted).detach()
        return (pixel_ce(logits, target) * w).sum() / pixels

    def __repr__(self) -> str:
        return f"WeightedPixelCE({self.name!r})"


def _cospgd(logits: Tensor, target: Tensor, *, step: int, steps: int, targeted: bool) -> Tensor:
    return cospgd_weights(logits, target, targeted=targeted)


LOSSES: dict[str, WeightedPixelCE] = {
    "ce": WeightedPixelCE("ce"),
    "segpgd": WeightedPixelCE("segpgd", segpgd_weights),
    "cospgd": WeightedPixelCE("cospgd", _cospgd),
}


def loss_total(
    loss_fn: PixelLoss, logits: Tensor, target: Tensor, *, step: int, steps: int, targeted: bool
) -> Tensor:
    """Σ over images of ``loss_fn``'s per-image values (one reduction when the loss offers
    ``total``, as :class:`WeightedPixelCE` does; any other callable is summed)."""
    total = getattr(loss_fn, "total", None)
    if total is not None:
        return total(logits, target, step=step, steps=steps, targeted=targeted)
    return loss_fn(logits, target, step=step, steps=steps, targeted=targeted).sum()


def get_loss(loss: "str | PixelLoss") -> PixelLoss:
    """A loss by name (``ce``, ``segpgd``, ``cospgd``) or any callable with the loss signature."""
    if callable(loss):
        return loss
    key = str(loss).strip().lower()
    if key not in LOSSES:
        raise ValueError(f"loss: unknown loss {loss!r} (expected one of {', '.join(LOSSES)})")
    return LOSSES[key]
