"""FGSM and PGD in L∞ pixel space, untargeted and targeted (docs/ARCHITECTURE.md section 9).

    FGSM   untargeted  x + ε·sign(∇ₓ J(θ, x, y))        targeted  x − ε·sign(∇ₓ J(θ, x, t))
    PGD    x_{k+1} = Π(x_k ± α·sign(∇ₓ J(θ, x_k, ·)))   (+ untargeted on y, − targeted on t)

with Π the projection onto the ε-ball around the original x intersected with [0, 1], α
defaulting to 2.5·ε/K, and an optional (seeded) uniform random start in the ball. The loss J is
pluggable (``"ce"``, ``"segpgd"``, ``"cospgd"`` or a callable, see :mod:`.losses`); the threat
model is a :class:`~.threat.LinfBall`.

Every attack clones its inputs, runs the model in eval mode (restoring each submodule's mode
afterwards), differentiates w.r.t. the input only, and uses ``x.device`` for everything.

Progress and cancellation: ``on_step(done, total)`` is called after every gradient step;
``should_stop()`` is polled before every step and, when it returns True, the attack raises
:class:`AttackCancelled` (nothing is returned, nothing the caller owns was changed).
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, replace
from typing import Sequence

import torch
from torch import Tensor, nn

from ._common import (
    AttackCancelled,
    OnStep,
    ShouldStop,
    check_images,
    check_stop,
    eval_mode,
    grad_enabled,
    input_grad,
    make_generator,
    prepare,
)
from .losses import PixelLoss, get_loss
from .runtime import Runtime, gradient_model, input_layout
from .threat import MIN_EPSILON, MIN_STEP, LinfBall, RandomSource

__all__ = [
    "AttackCancelled",
    "AttackSpec",
    "PAPER_EPS",
    "PAPER_STEPS",
    "fgsm",
    "full_area_target",
    "paper_attack",
    "paper_attack_spec",
    "pgd",
]

# The paper's evaluation attack: targeted PGD towards full-area background, ε = 1%, 100 steps.
PAPER_EPS = 0.01
PAPER_STEPS = 100
BACKGROUND = 0


@dataclass(frozen=True)
class AttackSpec:
    """One FGSM/PGD attack.

    eps:          L∞ radius as a fraction of the pixel range (0.01 = 1%).
    steps:        PGD iterations K (FGSM ignores it).
    alpha:        PGD step size; None means 2.5·eps/steps (FGSM always steps by eps).
    random_start: start PGD from a uniform point in the ball (FGSM ignores it).
    seed:         seed for the random start (None: torch's global generator).
    targeted:     descend J(x, t) towards the given target instead of ascending J(x, y).
    loss:         "ce" | "segpgd" | "cospgd", or a callable with the loss signature.
    """

    eps: float
    steps: int = 10
    alpha: float | None = None
    random_start: bool = False
    seed: int | None = None
    targeted: bool = False
    loss: "str | PixelLoss" = "ce"

    def __post_init__(self) -> None:
        # Normalised in place (numpy scalars from a config become plain floats and ints).
        fix = object.__setattr__  # the dataclass is frozen
        # Between 0 and the floors float32 would leave pixels near 1 as they were (threat.MIN_EPSILON).
        fix(self, "eps", _real("eps", self.eps, f"0 or a finite number >= {MIN_EPSILON:g}",
                               lambda v: v == 0 or v >= MIN_EPSILON))
        fix(self, "steps", _integer("steps", self.steps, "an integer >= 1", lambda v: v >= 1))
        if self.alpha is not None:
            fix(self, "alpha", _real("alpha", self.alpha, f"a finite number >= {MIN_STEP:.3g} (or None for 2.5·eps/steps)",
                                     lambda v: v >= MIN_STEP))
        if self.seed is not None:
            fix(self, "seed", _integer("seed", self.seed, "an integer or None", lambda v: True))
        get_loss(self.loss)  # raises "loss: unknown loss ..." early

    @property
    def step_size(self) -> float:
        return float(self.alpha) if self.alpha is not None else 2.5 * self.eps / self.steps

    @property
    def ball(self) -> LinfBall:
        return LinfBall(float(self.eps))

    def with_(self, **changes) -> "AttackSpec":
        return replace(self, **changes)


def _real(name: str, value, what: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name}: must be {what}, got {value!r}")
    return float(value)


def _integer(name: str, value, what: str, ok) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}: must be {what}, got {value!r}") from None
    if not ok(out):
        raise ValueError(f"{name}: must be {what}, got {value!r}")
    return out


def full_area_target(
    like: "Tensor | Sequence[int] | torch.Size",
    class_index: "int | str",
    *,
    class_names: Sequence[str] | None = None,
    device: "torch.device | str | None" = None,
) -> Tensor:
    """t_c: an int64 (N, H, W) label map with every pixel = class c.

    ``like`` is the images x (N, 3, H, W), a label map y (N, H, W), or either shape. ``class_index``
    is an index, or a name looked up (case-insensitively) in ``class_names``. The device is
    ``like``'s when it is a tensor, else ``device`` (default CPU).
    """
    if isinstance(like, Tensor):
        shape = tuple(like.shape)
        device = like.device if device is None else device
    else:
        shape = tuple(int(s) for s in like)
    if len(shape) == 4:
        shape = (shape[0], shape[2], shape[3])
    elif len(shape) != 3:
        raise ValueError(f"like: expected (N, C, H, W) images or (N, H, W) labels, got shape {shape}")
    if isinstance(class_index, str):
        if not class_names:
            raise ValueError(f"class_index: a class name ({class_index!r}) needs class_names")
        lowered = [n.lower() for n in class_names]
        if class_index.lower() not in lowered:
            raise ValueError(f"class_index: unknown class {class_index!r} (classes: {', '.join(class_names)})")
        class_index = lowered.index(class_index.lower())
    if isinstance(class_index, bool) or not isinstance(class_index, int) or class_index < 0:
        raise ValueError(f"class_index: must be a class index >= 0 or a name, got {class_index!r}")
    if class_names is not None and class_index >= len(class_names):
        raise ValueError(f"class_index: {class_index} out of range for {len(class_names)} classes")
    return torch.full(shape, class_index, dtype=torch.long, device=device)


def fgsm(
    model: nn.Module,
    x: Tensor,
    y_or_target: Tensor,
    spec: AttackSpec,
    *,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    runtime: Runtime | None = None,
) -> Tensor:
    """FGSM: one signed-gradient step of size ``spec.eps``, clipped to [0, 1].

    Uses ``spec.eps``, ``spec.targeted`` and ``spec.loss`` (evaluated as step 1 of 1); ``steps``,
    ``alpha`` and ``random_start`` do not apply. Equals :func:`pgd` with steps=1, alpha=eps and
    no random start, bit for bit (under the same ``runtime``, see :mod:`.runtime`).
    """
    x, target = prepare(x, y_or_target)
    loss_fn = get_loss(spec.loss)
    eps = float(spec.eps)
    check_stop(should_stop, 0, 1)
    with eval_mode(model), grad_enabled():
        net = gradient_model(model, x.device, runtime)
        grad = input_grad(net, input_layout(x, runtime), target, loss_fn, step=1, steps=1, targeted=spec.targeted,
                          runtime=runtime)
    if spec.targeted:
        x_adv = x - eps * torch.sign(grad)
    else:
        x_adv = x + eps * torch.sign(grad)
    x_adv = x_adv.clamp_(0.0, 1.0).contiguous()
    if on_step is not None:
        on_step(1, 1)
    return x_adv


def pgd(
    model: nn.Module,
    x: Tensor,
    y_or_target: Tensor,
    spec: AttackSpec,
    *,
    generators: Sequence[torch.Generator] | None = None,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    runtime: Runtime | None = None,
) -> Tensor:
    """PGD (Madry et al.) under ``spec``; returns x_adv with ‖x_adv − x‖∞ ≤ eps, in [0, 1].

    Untargeted: ``y_or_target`` is the truth y and the attack ascends J(x, y). Targeted: it is
    the target t (e.g. :func:`full_area_target`) and the attack descends J(x, t).
    ``generators``: one CPU generator per image for the random start
    (:func:`~.threat.image_generators`), in place of one generator seeded with ``spec.seed``.
    """
    x, target = prepare(x, y_or_target)
    return run_pgd(
        model,
        x_start=x,
        centre=x,
        target=target,
        spec=spec,
        generator=random_source(spec, x.device, generators),
        done_before=0,
        total=spec.steps,
        on_step=on_step,
        should_stop=should_stop,
        runtime=runtime,
    )


def run_pgd(
    model: nn.Module,
    *,
    x_start: Tensor,
    centre: Tensor,
    target: Tensor,
    spec: AttackSpec,
    generator: RandomSource,
    done_before: int,
    total: int,
    on_step: OnStep | None,
    should_stop: ShouldStop | None,
    runtime: Runtime | None = None,
) -> Tensor:
    """The PGD loop, starting at ``x_start`` and projecting around ``centre`` (internal).

    Method one calls it once per layer with the centre its budget gives and a running step count
    (``done_before``, ``total``) so progress is reported over all layers.

    Per step: one forward and backward pass of the gradient model (:mod:`.runtime`: BatchNorm
    folded, parameters frozen), the loss summed in one reduction, then the signed step and the
    projection in place. The projection's bounds ``clip(centre ± ε, 0, 1)`` are computed once:
    clamping to them equals projecting onto the ball and then clipping to [0, 1], bit for bit
    (:meth:`LinfBall.project`), because the ball's centre lies in [0, 1].
    """
    loss_fn = get_loss(spec.loss)
    ball = spec.ball
    alpha = spec.step_size
    steps = spec.steps
    direction = -alpha if spec.targeted else alpha
    centre = centre.detach()
    with eval_mode(model), grad_enabled():
        net = gradient_model(model, centre.device, runtime)
        x_adv = x_start.detach()
        if spec.random_start:
            x_adv = ball.project(ball.random_start(x_adv, generator), centre)
        lo, hi = (input_layout(b, runtime) for b in ball.bounds(centre))
        x_adv = input_layout(x_adv, runtime)
        if x_adv is x_start or x_adv.data_ptr() == x_start.data_ptr():
            x_adv = x_adv.clone()  # updated in place below: never the caller's storage
        for t in range(1, steps + 1):
            check_stop(should_stop, done_before + t - 1, total)
            grad = input_grad(net, x_adv, target, loss_fn, step=t, steps=steps, targeted=spec.targeted,
                              runtime=runtime)
            x_adv.add_(grad.sign_(), alpha=direction)
            torch.maximum(x_adv, lo, out=x_adv)
            torch.minimum(x_adv, hi, out=x_adv)
            if on_step is not None:
                on_step(done_before + t, total)
    return x_adv.detach().contiguous()


def random_source(spec: AttackSpec, device: torch.device,
                  generators: Sequence[torch.Generator] | None) -> RandomSource:
    """What a random start draws from: the per-image generators when given, else one generator
    on ``device`` seeded with ``spec.seed`` (None: torch's global one); nothing without a start."""
    if not spec.random_start:
        return None
    return list(generators) if generators is not None else make_generator(device, spec.seed)


def paper_attack_spec(steps: int = PAPER_STEPS, eps: float = PAPER_EPS, **overrides) -> AttackSpec:
    """The paper's evaluation attack: targeted PGD, ε = 0.01, K = 100 (α = 2.5·ε/K), CE loss."""
    return AttackSpec(eps=eps, steps=steps, targeted=True, **overrides)


def paper_attack(
    model: nn.Module,
    x: Tensor,
    *,
    steps: int = PAPER_STEPS,
    eps: float = PAPER_EPS,
    target_class: int = BACKGROUND,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    runtime: Runtime | None = None,
    **overrides,
) -> Tensor:
    """Targeted PGD towards full-area ``target_class`` (background by default), white-box
    against ``model``. For transfer, attack with one model and evaluate another on the result."""
    check_images(x)
    spec = paper_attack_spec(steps=steps, eps=eps, **overrides)
    return pgd(model, x, full_area_target(x, target_class), spec, on_step=on_step, should_stop=should_stop,
               runtime=runtime)
