"""AttackSpec (attack.proto) as plain values -> validated calls of the attack library.

convert.py turns the message into a dict (`attack_spec_params`); `resolve` validates it against
the model's class count, naming the field path on error ("attack.gradient.epsilon: must be in
(0, 1], got 0"), and returns a `ResolvedAttack`: its canonical form (hashed into artifact ids)
and `run(model, x, y, first_index)`, which attacks one batch.

Every attack runs through the attack library (attacks.fgsm, attacks.pgd, attacks.layered_pgd);
this module only validates and translates. Random starts come from the threat model's per-image
generators (attacks.image_generators: seeded with (seed, the image's index in the dataset)), so
an attacked image does not depend on the batch size, the batch it lands in, or the device.
Method one draws each layer's start from the same per-image generator, layer after layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import attacks
from .errors import InvalidArgument

METHODS = ("fgsm", "pgd", "segpgd", "cospgd")
ATTACK_METHODS = (*METHODS, "layered_pgd", "apgd")
# ApgdAttack.loss (AttackLoss enum names) -> the attack library's loss names.
APGD_LOSSES = {"cross_entropy": "ce", "balanced_cross_entropy": "balanced-ce", "jensen_shannon": "js",
               "masked_cross_entropy": "masked-ce", "masked_spherical": "masked-spherical"}
APGD_ITERATES = {"best_loss": "best-loss", "lowest_accuracy": "lowest-accuracy"}
_LOSS = {"pgd": "ce", "segpgd": "segpgd", "cospgd": "cospgd"}
_MAX_STEPS = 100_000

StopFn = Callable[[], None]


# attacks.threat explains both floors: below them float32 cannot move a pixel near 1.
MIN_EPSILON = attacks.MIN_EPSILON
MIN_STEP = attacks.MIN_STEP


def check_epsilon(field: str, value: Any) -> float:
    """ε of an attack, adversarial training or method two: in [MIN_EPSILON, 1]."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not 0 < value <= 1:
        raise InvalidArgument(field, f"must be > 0 and <= 1 (a fraction of the pixel range), got {value!r}")
    if value < MIN_EPSILON:
        raise InvalidArgument(field, f"must be >= {MIN_EPSILON:g} (float32 holds pixels near 1 only 6e-08 apart: a "
                                     f"smaller ε leaves them, or most of them, as they were), got {value!r}")
    return float(value)


def check_step(field: str, epsilon: float, steps: int, step_size: float | None) -> None:
    """InvalidArgument when a gradient step (`step_size`, or 2.5·ε/steps when None) is below
    MIN_STEP; names `field`.step_size when it was given, else `field`.steps."""
    if step_size is not None:
        if step_size < MIN_STEP:
            raise InvalidArgument(f"{field}.step_size", f"must be >= {MIN_STEP:.3g} (float32's spacing near 1: a "
                                                        f"smaller step leaves pixels there as they were) or 0 for "
                                                        f"2.5·ε/steps, got {step_size!r}")
        return
    if 2.5 * epsilon / steps < MIN_STEP:
        most = math.floor(2.5 * epsilon / MIN_STEP)
        raise InvalidArgument(f"{field}.steps", f"must be <= {most} with epsilon {epsilon:g} (more make the default "
                                                f"step 2.5·ε/steps smaller than float32's spacing near 1, {MIN_STEP:.3g}, "
                                                f"which leaves pixels there as they were) or set step_size, got {steps!r}")


def _steps(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_STEPS:
        raise InvalidArgument(field, f"must be > 0 and <= {_MAX_STEPS}, got {value!r}")
    return value


def _step_size(field: str, value: Any) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise InvalidArgument(field, f"must be >= 0 (0 = 2.5 * epsilon / steps), got {value!r}")
    return float(value) or None


def _class(field: str, value: Any, num_classes: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < num_classes:
        raise InvalidArgument(field, f"must be in [0, {num_classes}), got {value!r}")
    return value


def _seed(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise InvalidArgument(field, f"must be an integer in [0, 2^64), got {value!r}")
    return value


@dataclass(frozen=True)
class ResolvedAttack:
    """A validated attack. `canonical` is what identifies it (hashed into artifact ids)."""

    canonical: dict[str, Any]
    steps_per_image: int  # gradient steps per image (progress unit)

    @property
    def kind(self) -> str:
        return self.canonical["kind"]

    def bound(self) -> float:
        """Largest L-inf distance to the clean image the attack may reach."""
        c = self.canonical
        if c["kind"] == "layered_pgd" and c["budget"] == "per_layer":
            return c["epsilon"] * len(c["class_order"])
        return c["epsilon"]

    def run(self, model: nn.Module, x: Tensor, y: Tensor, first_index: int,
            check_stop: StopFn | None = None) -> Tensor:
        """x_adv for one batch, by the attack library; `first_index` is the dataset index of
        x[0] (it seeds the per-image random starts). `check_stop` is polled before every
        gradient step (it raises to stop)."""
        def should_stop() -> bool:
            if check_stop is not None:
                check_stop()
            return False

        c = self.canonical
        generators = (attacks.image_generators(c["seed"], range(first_index, first_index + x.shape[0]))
                      if c["random_start"] else None)
        if c["kind"] == "apgd":
            return self._apgd(model, x, y, generators, should_stop)
        if c["kind"] == "layered_pgd":
            spec = attacks.LayeredSpec(eps=c["epsilon"], steps=c["steps"], alpha=c["step_size"],
                                       classes=c["class_order"], budget=c["budget"], random_start=c["random_start"])
            return attacks.layered_pgd(model, x, spec, generators=generators, should_stop=should_stop)
        spec = attacks.AttackSpec(eps=c["epsilon"], steps=max(1, c["steps"]), alpha=c["step_size"],
                                  random_start=c["random_start"], targeted=c["target"] is not None,
                                  loss=_LOSS.get(c["method"], "ce"))
        target = y if c["target"] is None else attacks.full_area_target(x, c["target"])
        if c["method"] == "fgsm":
            return attacks.fgsm(model, x, target, spec, should_stop=should_stop)
        return attacks.pgd(model, x, target, spec, generators=generators, should_stop=should_stop)

    def _apgd(self, model, x, y, generators, should_stop) -> Tensor:
        c = self.canonical
        spec = attacks.ApgdSpec(eps=c["epsilon"], steps=c["steps"], loss=c["loss"], targeted=c["target"] is not None,
                                iterate=c["iterate"], progressive_radius=c["progressive_radius"])
        target = y if c["target"] is None else attacks.full_area_target(x, c["target"])
        start = attacks.apgd_random_start(x, spec.eps, generator=generators) if generators else None
        # "Accuracy" for the lowest-accuracy iterate: foreground accuracy against the truth (pixel
        # accuracy for an image without foreground), the worst-case protocol's own criterion.
        return attacks.apgd(model, x, target.to(x.device), spec, x_init=start, score=foreground_accuracy_score(y),
                            should_stop=should_stop).x


def foreground_accuracy_score(labels: Tensor, background: int = 0) -> Callable[[Tensor], Tensor]:
    """Per image: the share of foreground pixels predicted correctly, or, for an image without
    foreground, its pixel accuracy (the same truth for every attack, so rankings stay per image)."""
    labels = labels.detach()

    def score(logits: Tensor) -> Tensor:
        hit = (logits.argmax(dim=1) == labels).flatten(1).to(torch.float32)
        fg = (labels != background).flatten(1).to(torch.float32)
        n_fg = fg.sum(dim=1)
        fg_acc = (hit * fg).sum(dim=1) / n_fg.clamp_min(1.0)
        return torch.where(n_fg > 0, fg_acc, hit.mean(dim=1))
    return score


def resolve(params: dict[str, Any] | None, num_classes: int, field: str = "attack") -> ResolvedAttack:
    """Validate an attack spec (as convert.attack_spec_params gives it) for a model with
    `num_classes` classes."""
    if not params or not params.get("kind"):
        raise InvalidArgument(field, "must set one of: gradient, layered_pgd, apgd")
    kind = params["kind"]
    if kind == "gradient":
        return _gradient(params, num_classes, f"{field}.gradient")
    if kind == "layered_pgd":
        return _layered(params, num_classes, f"{field}.layered_pgd")
    if kind == "apgd":
        return _apgd(params, num_classes, f"{field}.apgd")
    raise InvalidArgument(field, f"unknown attack {kind!r}")


def _target(p: dict[str, Any], num_classes: int, field: str) -> int | None:
    target = p.get("target")
    if target is None or target.get("kind") in (None, "untargeted"):
        return None  # unset target = untargeted
    if target.get("kind") == "full_area_class":
        return _class(f"{field}.target.full_area_class", target.get("full_area_class"), num_classes)
    raise InvalidArgument(f"{field}.target", f"unknown target {target.get('kind')!r}")


def _apgd(p: dict[str, Any], num_classes: int, field: str) -> ResolvedAttack:
    """APGD (Croce & Hein 2020) with one of SEA's losses; step sizes are APGD's own (2ε, halved at
    its checkpoints), so there is no step_size field."""
    eps = check_epsilon(f"{field}.epsilon", p.get("epsilon", 0.0))
    steps = _steps(f"{field}.steps", p.get("steps", 0))
    loss_name = p.get("loss") or "cross_entropy"
    if loss_name not in APGD_LOSSES:
        raise InvalidArgument(f"{field}.loss", f"must be one of {', '.join(n.upper() for n in APGD_LOSSES)}, got {loss_name!r}")
    loss = APGD_LOSSES[loss_name]
    target_class = _target(p, num_classes, field)
    if target_class is not None and loss != "ce":
        raise InvalidArgument(f"{field}.target", f"a targeted APGD needs loss CROSS_ENTROPY; {loss_name.upper()} "
                              "attacks the truth (untargeted)")
    iterate = p.get("iterate") or "best_loss"
    if iterate not in APGD_ITERATES:
        raise InvalidArgument(f"{field}.iterate", f"must be BEST_LOSS or LOWEST_ACCURACY, got {iterate!r}")
    random_start = bool(p.get("random_start", False))
    seed = _seed(f"{field}.seed", p.get("seed", 0)) if random_start else 0
    canonical = {"kind": "apgd", "method": "apgd", "epsilon": eps, "steps": steps, "loss": loss,
                 "target": target_class, "iterate": APGD_ITERATES[iterate],
                 "progressive_radius": bool(p.get("progressive_radius", False)),
                 "random_start": random_start, "seed": seed}
    return ResolvedAttack(canonical, steps)


def _gradient(p: dict[str, Any], num_classes: int, field: str) -> ResolvedAttack:
    method = p.get("method")
    if method not in METHODS:
        raise InvalidArgument(f"{field}.method", f"must be one of {', '.join(m.upper() for m in METHODS)}, got "
                              f"{'unspecified' if method is None else repr(method)}")
    eps = check_epsilon(f"{field}.epsilon", p.get("epsilon", 0.0))
    iterative = method != "fgsm"
    steps = _steps(f"{field}.steps", p.get("steps", 0)) if iterative else 0
    step_size = _step_size(f"{field}.step_size", p.get("step_size", 0.0)) if iterative else None
    if iterative:
        check_step(field, eps, steps, step_size)
    random_start = bool(p.get("random_start", False)) and iterative
    seed = _seed(f"{field}.seed", p.get("seed", 0)) if random_start else 0
    target_class = _target(p, num_classes, field)
    canonical = {"kind": "gradient", "method": method, "epsilon": eps, "steps": steps,
                 "step_size": step_size if step_size is None else float(step_size),
                 "random_start": random_start, "seed": seed, "target": target_class}
    return ResolvedAttack(canonical, steps if iterative else 1)


def _layered(p: dict[str, Any], num_classes: int, field: str) -> ResolvedAttack:
    eps = check_epsilon(f"{field}.epsilon", p.get("epsilon", 0.0))
    steps = _steps(f"{field}.steps", p.get("steps", 0))
    step_size = _step_size(f"{field}.step_size", p.get("step_size", 0.0))
    check_step(field, eps, steps, step_size)
    order = list(p.get("class_order") or [])
    seen: set[int] = set()
    for i, c in enumerate(order):
        _class(f"{field}.class_order[{i}]", c, num_classes)
        if c in seen:
            raise InvalidArgument(f"{field}.class_order[{i}]", f"class {c} is repeated")
        seen.add(c)
    if not order:
        order = list(range(num_classes))
    budget = p.get("budget") or "per_layer"
    if budget not in ("per_layer", "total"):
        raise InvalidArgument(f"{field}.budget", f"must be PER_LAYER or TOTAL, got {budget!r}")
    random_start = bool(p.get("random_start", False))
    seed = _seed(f"{field}.seed", p.get("seed", 0)) if random_start else 0
    canonical = {"kind": "layered_pgd", "method": "layered_pgd", "epsilon": eps, "steps": steps,
                 "step_size": step_size, "class_order": order, "budget": budget,
                 "random_start": random_start, "seed": seed}
    return ResolvedAttack(canonical, steps * len(order))
