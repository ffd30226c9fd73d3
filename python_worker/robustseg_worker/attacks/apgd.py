"""APGD, Auto-PGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks", ICML 2020, arXiv 2003.01690), L∞, for segmentation.

The algorithm follows the reference implementation (github.com/fra31/auto-attack,
``autoattack/autopgd_base.py``, ``APGDAttack.attack_single_run``) step for step:

- step size η⁽⁰⁾ = 2ε, one per image;
- first step z = Π(x⁽⁰⁾ + η sign ∇f(x⁽⁰⁾)), later steps with momentum α = 0.75:
  z = Π(x⁽ᵏ⁾ + η sign ∇f(x⁽ᵏ⁾)),  x⁽ᵏ⁺¹⁾ = Π(x⁽ᵏ⁾ + α (z − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾));
- checkpoints w_j after p_j·N iterations, p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03,
  0.06) (the reference: window k = max(⌊0.22N⌋, 1), shrinking by max(⌊0.03N⌋, 1) to at least
  max(⌊0.06N⌋, 1)); at each one, per image, the step size halves and the iterate restarts from the
  best point x_max (with its gradient) when
  (1) the loss rose in at most ρ·(w_j − w_{j−1}) of the window's steps (ρ = 0.75), or
  (2) the step size was not halved at the previous checkpoint and the best loss has not improved
      since it;
- the best-loss iterate x_max is kept (strictly higher loss replaces it), so the returned point's
  loss is never below the starting point's.

Two details are the reference's code rather than the paper's text, and are kept for exactness:
condition (1) counts increases ``<= ρ·k`` (the paper writes ``<``), and at the first checkpoint the
window's oldest comparison reads the not yet written last slot of the loss history (0), not the
starting point's loss (Python's negative index). Both only matter at the first checkpoint or when
ρ·k is an integer.

For segmentation the objective is a per-image mean over pixels (SEA, Croce, Singh, Hein 2024), so
the reference's per-example logic applies per image unchanged. SEA adds two things, available
here as options of :class:`ApgdSpec`:

- ``iterate="lowest-accuracy"``: besides x_max, each image keeps the iterate with the lowest
  accuracy seen (``<=``: the later one on ties) and returns it (the reference code's ``x_best_adv``
  in ``apgd_train``); masked losses shrink as pixels flip, so their best-loss point need not be the
  most damaging one. ``score`` says what "accuracy" is (default: pixel accuracy w.r.t. the labels);
- ``progressive_radius``: SEA's ``apgd_largereps``: 30% of the steps at 2ε, 30% at 1.5ε, the rest
  at ε, each stage started from the previous stage's returned iterate projected onto its ball.
  Only the last stage (radius ε) decides what is returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ._common import OnStep, ShouldStop, check_stop, eval_mode, grad_enabled, prepare
from .losses import LOSSES, PixelLoss
from .sea_losses import SEA_LOSSES
from .threat import MIN_EPSILON, LinfBall, RandomSource, uniform_noise

__all__ = ["APGD_LOSSES", "ApgdResult", "ApgdSpec", "apgd", "apgd_checkpoints", "apgd_random_start", "radius_stages"]

APGD_LOSSES: dict[str, PixelLoss] = {"ce": LOSSES["ce"], "segpgd": LOSSES["segpgd"], "cospgd": LOSSES["cospgd"], **SEA_LOSSES}
ITERATES = ("best-loss", "lowest-accuracy")
# SEA's progressive radius reduction: (radius factor, share of the steps); the last stage takes
# the steps the first two leave.
_RADIUS_SCHEDULE = ((2.0, 0.3), (1.5, 0.3), (1.0, None))

Score = Callable[[Tensor], Tensor]  # logits (N,C,H,W) -> (N,) per image, lower = attack better


@dataclass(frozen=True)
class ApgdSpec:
    """One APGD run.

    eps:        L∞ radius (fraction of the pixel range).
    steps:      iterations N (the reference's ``n_iter``).
    loss:       a name of :data:`APGD_LOSSES` or a loss callable (:mod:`.losses` signature).
    targeted:   descend the loss towards the given target (only for ce/segpgd/cospgd) instead of
                ascending it on the truth.
    rho:        condition (1)'s threshold (0.75). momentum: α (0.75).
    iterate:    "best-loss" (APGD's x_max) or "lowest-accuracy" (SEA's choice).
    progressive_radius: SEA's 2ε → 1.5ε → ε schedule.
    """

    eps: float
    steps: int = 100
    loss: "str | PixelLoss" = "ce"
    targeted: bool = False
    rho: float = 0.75
    momentum: float = 0.75
    iterate: str = "best-loss"
    progressive_radius: bool = False

    def __post_init__(self) -> None:
        if (isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not math.isfinite(self.eps)
                or not (self.eps == 0 or self.eps >= MIN_EPSILON)):
            # Between 0 and the floor float32 would leave pixels near 1 as they were (threat.MIN_EPSILON).
            raise ValueError(f"eps: must be 0 or a finite number >= {MIN_EPSILON:g}, got {self.eps!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps: must be an integer >= 1, got {self.steps!r}")
        for name in ("rho", "momentum"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                raise ValueError(f"{name}: must be in (0, 1], got {value!r}")
        if self.iterate not in ITERATES:
            raise ValueError(f"iterate: must be one of {', '.join(ITERATES)}, got {self.iterate!r}")
        loss_fn(self.loss)
        if self.targeted and isinstance(self.loss, str) and self.loss.strip().lower() in SEA_LOSSES:
            raise ValueError(f"loss: {self.loss} attacks the truth (untargeted only); targeted APGD uses ce, segpgd or cospgd")

    def with_(self, **changes) -> "ApgdSpec":
        return replace(self, **changes)


def loss_fn(loss: "str | PixelLoss") -> PixelLoss:
    if callable(loss):
        return loss
    key = str(loss).strip().lower()
    if key not in APGD_LOSSES:
        raise ValueError(f"loss: unknown loss {loss!r} (expected one of {', '.join(APGD_LOSSES)})")
    return APGD_LOSSES[key]


@dataclass
class ApgdResult:
    x: Tensor  # the iterate the spec asks for (per image)
    x_best_loss: Tensor  # x_max of the last stage
    loss_best: Tensor  # (N,) its objective (the loss, negated for a targeted attack)
    x_lowest_score: Tensor  # per image the iterate of lowest score (last stage)
    score_lowest: Tensor  # (N,)
    loss_start: Tensor  # (N,) objective at the last stage's starting point
    step_size: Tensor  # (N,) the final step sizes
    checks: list[int]  # iterations (1-based) after which the last stage checked the step size


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations w₁ < w₂ < … ≤ N after which APGD checks the step size."""
    k = max(int(0.22 * steps), 1)
    size_decr = max(int(0.03 * steps), 1)
    k_min = max(int(0.06 * steps), 1)
    out, at = [], 0
    while at + k <= steps:
        at += k
        out.append(at)
        k = max(k - size_decr, k_min)
    return out


def radius_stages(eps: float, steps: int, progressive: bool) -> list[tuple[float, int]]:
    """(radius, iterations) per stage: one stage, or SEA's 2ε/1.5ε/ε for 30%/30%/the rest."""
    if not progressive:
        return [(eps, steps)]
    first = [int(share * steps) for _, share in _RADIUS_SCHEDULE[:-1]]
    counts = [*first, steps - sum(first)]
    return [(factor * eps, n) for (factor, _), n in zip(_RADIUS_SCHEDULE, counts)]


def apgd_random_start(x: Tensor, eps: float, noise: Tensor | None = None, generator: RandomSource = None) -> Tensor:
    """The reference's L∞ random start: t ~ U(−1, 1) per coordinate, scaled per image so that its
    largest entry is ε (x + ε·t/‖t‖∞), clipped to [0, 1]. ``generator`` as for
    :meth:`LinfBall.random_start` (one per image: :func:`~.threat.image_generators`); ``noise`` (a
    U(−1, 1) draw of x's shape) replaces the draw."""
    if noise is None:
        noise = uniform_noise(x, generator)
    scale = noise.abs().flatten(1).amax(dim=1).view(-1, *([1] * (x.dim() - 1))) + 1e-12
    return (x + eps * noise.to(device=x.device, dtype=x.dtype) / scale).clamp(0.0, 1.0)


def pixel_accuracy_score(labels: Tensor) -> Score:
    def score(logits: Tensor) -> Tensor:
        return (logits.argmax(dim=1) == labels).flatten(1).to(torch.float32).mean(dim=1)
    return score


def apgd(
    model: nn.Module,
    x: Tensor,
    y_or_target: Tensor,
    spec: ApgdSpec,
    *,
    x_init: Tensor | None = None,
    score: Score | None = None,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> ApgdResult:
    """APGD under ``spec`` from ``x_init`` (default: x itself; see :func:`apgd_random_start`).

    ``score(logits)`` ranks iterates for ``iterate="lowest-accuracy"`` (default: pixel accuracy
    w.r.t. ``y_or_target`` untargeted, the share of pixels *not* at the target when targeted).
    Every returned point lies in the ε-ball around x and in [0, 1].
    """
    x, target = prepare(x, y_or_target)
    objective = loss_fn(spec.loss)
    if score is None:
        hit = pixel_accuracy_score(target)
        score = (lambda logits: 1.0 - hit(logits)) if spec.targeted else hit
    start = x if x_init is None else _checked_start(x_init, x)
    stages = radius_stages(float(spec.eps), spec.steps, spec.progressive_radius)
    total, done = spec.steps, 0
    result: ApgdResult | None = None
    with eval_mode(model), grad_enabled():
        for radius, iterations in stages:
            start = LinfBall(radius).project(start, x)
            result = _run(model, x, target, start, radius, iterations, objective, score, spec,
                          done_before=done, total=total, on_step=on_step, should_stop=should_stop)
            done += iterations
            start = result.x
    assert result is not None
    return result


def _checked_start(x_init: Tensor, x: Tensor) -> Tensor:
    if not isinstance(x_init, Tensor) or x_init.shape != x.shape:
        raise ValueError(f"x_init: expected a tensor of shape {tuple(x.shape)}")
    with torch.inference_mode(False):
        return x_init.detach().to(device=x.device, dtype=x.dtype).clone()


def _forward(model, x_adv: Tensor, target: Tensor, objective: PixelLoss, spec: ApgdSpec, step: int, steps: int,
             need_grad: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """Logits, per-image objective (to be maximised) and, when asked, its input gradient."""
    xv = x_adv.detach().requires_grad_(need_grad)
    logits = model(xv)
    value = objective(logits, target, step=max(1, min(step, steps)), steps=max(steps, 1), targeted=spec.targeted)
    if spec.targeted:
        value = -value
    grad = None
    if need_grad:
        # allow_unused: a model whose output ignores its input has a zero gradient, not an error.
        (grad,) = torch.autograd.grad(value.sum(), xv, allow_unused=True)
        grad = torch.zeros_like(xv) if grad is None else grad.detach()
    return logits.detach(), value.detach(), grad


def _oscillation(loss_steps: Tensor, j: int, k: int, rho: float) -> Tensor:
    """Condition (1) per image, as the reference's ``check_oscillation``: the number of increases
    among the last k steps is <= ρ·k. ``loss_steps[j - c - 1]`` may be index −1 at the first
    checkpoint (the reference's wrap-around to a not yet written, zero slot)."""
    t = torch.zeros(loss_steps.shape[1], device=loss_steps.device)
    for c in range(k):
        t += (loss_steps[j - c] > loss_steps[j - c - 1]).float()
    return t <= k * rho


def _run(model, x, target, start, eps, steps, objective, score, spec, *, done_before, total, on_step, should_stop) -> ApgdResult:
    ball = LinfBall(eps)
    n = x.shape[0]
    view = (-1, *([1] * (x.dim() - 1)))
    k = max(int(0.22 * steps), 1)
    k_min = max(int(0.06 * steps), 1)
    size_decr = max(int(0.03 * steps), 1)

    x_adv = start.clamp(0.0, 1.0)
    logits, loss, grad = _forward(model, x_adv, target, objective, spec, 1, steps, need_grad=steps > 0)
    x_best, grad_best, loss_best = x_adv.clone(), (grad.clone() if grad is not None else None), loss.clone()
    loss_start = loss.clone()
    x_low, score_low = x_adv.clone(), score(logits)
    step_size = torch.full((n,), 2.0 * eps, dtype=x.dtype, device=x.device)
    loss_steps = torch.zeros((max(steps, 1), n), device=x.device)
    loss_best_last_check = loss_best.clone()
    reduced_last_check = torch.ones(n, dtype=torch.bool, device=x.device)
    x_old = x_adv.clone()
    counter, checks = 0, []

    for i in range(steps):
        check_stop(should_stop, done_before + i, total)
        with torch.no_grad():
            momentum_term = x_adv - x_old
            x_old = x_adv.clone()
            a = spec.momentum if i > 0 else 1.0
            z = ball.project(x_adv + step_size.view(view) * torch.sign(grad), x)
            x_adv = ball.project(x_adv + (z - x_adv) * a + momentum_term * (1.0 - a), x)
        # No gradient is needed after the last step (saves one backward pass, as SEA's code does).
        logits, loss, grad = _forward(model, x_adv, target, objective, spec, i + 1, steps, need_grad=i < steps - 1)
        with torch.no_grad():
            s = score(logits)
            lower = s <= score_low
            x_low[lower] = x_adv[lower]
            score_low = torch.minimum(score_low, s)
            loss_steps[i] = loss
            better = loss > loss_best
            x_best[better] = x_adv[better]
            if grad is not None:
                grad_best[better] = grad[better]
            loss_best = torch.where(better, loss, loss_best)
            counter += 1
            if counter == k:
                checks.append(i + 1)
                halve = _oscillation(loss_steps, i, k, spec.rho)
                halve |= ~reduced_last_check & (loss_best_last_check >= loss_best)
                reduced_last_check = halve.clone()
                loss_best_last_check = loss_best.clone()
                if halve.any():
                    step_size[halve] /= 2.0
                    x_adv[halve] = x_best[halve]
                    if grad is not None:
                        grad[halve] = grad_best[halve]
                counter = 0
                k = max(k - size_decr, k_min)
        if on_step is not None:
            on_step(done_before + i + 1, total)

    chosen = x_low if spec.iterate == "lowest-accuracy" else x_best
    return ApgdResult(x=chosen.detach(), x_best_loss=x_best.detach(), loss_best=loss_best, x_lowest_score=x_low.detach(),
                      score_lowest=score_low, loss_start=loss_start, step_size=step_size, checks=checks)
