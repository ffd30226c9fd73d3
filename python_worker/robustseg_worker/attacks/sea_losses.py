"""The losses of SEA, the Segmentation Ensemble Attack (Croce, Singh, Hein, "Towards Reliable
Evaluation and Fast Training of Robust Semantic Segmentation Models", ECCV 2024, arXiv 2306.12941;
reference code: github.com/nmndeep/Robust-Segmentation, ``semseg/utils/attacker.py``).

Each is a per-pixel objective averaged over *all* pixels of an image (the reference's
``pixel_to_img_loss``), with the signature of :mod:`.losses`:

    loss(logits (N,C,H,W), y (N,H,W) int64, *, step, steps, targeted) -> (N,) per image

and each is *ascended* by an untargeted attack. With p = softmax(u) at a pixel of truth y:

- ``balanced-ce``   w · CE(u, y) with w = 1 − n_y / n, n_y the pixels of class y in that image and n
                     all its pixels (``cls_balanced_loss``): frequent classes (background) weigh less.
- ``js``             JS(p ‖ e_y) = ½ KL(p ‖ m) + ½ KL(e_y ‖ m), m = (p + e_y) / 2, summed over classes
                     (``js_loss``). Bounded by log 2, so pixels already fooled stop dominating.
- ``masked-ce``      1[argmax u = y] · CE(u, y) (``masked_cross_entropy``): only pixels still correct.
- ``masked-spherical``  −1[argmax u = y] · u_y / ‖u‖₂ (``single_logits_loss(normalized=True,
                     masked=True)``, SEA's Mask-Sph): the correct class's logit on the unit sphere,
                     for pixels still correct.

Masks are computed from the current logits and detached, as in the reference. Plain CE is
:data:`.losses.LOSSES` ``["ce"]``. These losses are untargeted only (SEA attacks the truth);
``targeted=True`` is refused.

Two numerical notes (same values as the reference where both are finite):
- JS is evaluated in closed form. Because e_y is one-hot, m_c = p_c / 2 for c ≠ y and
  m_y = (1 + p_y) / 2, and the sum over classes collapses to
  JS = log 2 + ½ [p_y log p_y − (1 + p_y) log(1 + p_y)], computed from log-softmax. The reference
  takes ``log m`` of every class, which is −inf (and its gradient NaN) when some p_c underflows to 0.
- The spherical loss divides by ‖u‖₂ clamped at 1e-12 (the reference divides by ‖u‖₂ as is).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .losses import pixel_ce

__all__ = ["SEA_LOSSES", "balanced_ce", "jensen_shannon", "masked_ce", "masked_spherical"]


def _untargeted_only(name: str, targeted: bool) -> None:
    if targeted:
        raise ValueError(f"loss: {name} attacks the truth (untargeted); targeted attacks use ce, segpgd or cospgd")


def _image_mean(values: Tensor) -> Tensor:
    return values.flatten(1).mean(dim=1)


def _correct(logits: Tensor, y: Tensor) -> Tensor:
    """1 where the model still predicts the truth (argmax ties go to the lowest index), detached."""
    with torch.no_grad():
        return (logits.argmax(dim=1) == y).to(torch.float32)


def balanced_ce(logits: Tensor, y: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False) -> Tensor:
    _untargeted_only("balanced-ce", targeted)
    n, c = logits.shape[0], logits.shape[1]
    with torch.no_grad():
        flat = y.flatten(1)
        counts = torch.zeros((n, c), dtype=torch.float32, device=y.device)
        counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float32))
        share = counts.gather(1, flat).view_as(y) / flat.shape[1]
    return _image_mean((1.0 - share) * pixel_ce(logits, y))


def jensen_shannon(logits: Tensor, y: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False) -> Tensor:
    _untargeted_only("js", targeted)
    log_p_y = F.log_softmax(logits.float(), dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
    p_y = log_p_y.exp()
    js = math.log(2.0) + 0.5 * (p_y * log_p_y - (1.0 + p_y) * torch.log1p(p_y))
    return _image_mean(js)


def masked_ce(logits: Tensor, y: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False) -> Tensor:
    _untargeted_only("masked-ce", targeted)
    return _image_mean(_correct(logits, y) * pixel_ce(logits, y))


def masked_spherical(logits: Tensor, y: Tensor, *, step: int = 1, steps: int = 1, targeted: bool = False) -> Tensor:
    _untargeted_only("masked-spherical", targeted)
    u = logits.float()
    unit = u / u.norm(p=2, dim=1, keepdim=True).clamp_min(1e-12)
    return _image_mean(-_correct(logits, y) * unit.gather(1, y.unsqueeze(1)).squeeze(1))


SEA_LOSSES = {
    "balanced-ce": balanced_ce,
    "js": jensen_shannon,
    "masked-ce": masked_ce,
    "masked-spherical": masked_spherical,
}
