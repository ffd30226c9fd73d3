"""Method one: layered PGD (paper Formula 2, docs/ARCHITECTURE.md section 9).

    x⁽⁰⁾ = x;   for each class c in the configured order:   x⁽ᶜ⁺¹⁾ = PGD_targeted(x⁽ᶜ⁾, t_c, ε, K)

Each layer is a targeted PGD towards the full-area map t_c (every pixel = c) and starts from the
previous layer's output. The budget decides what each layer projects onto (:class:`Budget`):
``per-layer`` (default, as the paper describes) the ε-ball around the layer's own start, so the
total perturbation may reach C·ε; ``total`` one ε-ball around the original x.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from ._common import OnStep, ShouldStop, clone_images, eval_mode
from .losses import PixelLoss
from .pgd import AttackSpec, full_area_target, random_source, run_pgd
from .threat import Budget

__all__ = ["LayeredSpec", "layered_pgd"]


@dataclass(frozen=True)
class LayeredSpec:
    """Method one's parameters.

    eps, steps, alpha, random_start, seed, loss: as :class:`~.pgd.AttackSpec`, for every layer
        (each layer is targeted; alpha defaults to 2.5·eps/steps).
    classes: the layer order, one targeted PGD per entry; None means all classes ascending
        (0..C−1, C read from the model's output).
    budget: "per-layer" (default) or "total".
    """

    eps: float
    steps: int = 10
    alpha: float | None = None
    classes: Sequence[int] | None = None
    budget: "Budget | str" = Budget.PER_LAYER
    random_start: bool = False
    seed: int | None = None
    loss: "str | PixelLoss" = "ce"

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Budget.parse(self.budget))
        if self.classes is not None:
            raw = list(self.classes)
            try:
                classes = tuple(operator.index(c) for c in raw if not isinstance(c, bool))
            except TypeError:
                classes = ()
            if not classes or len(classes) != len(raw) or min(classes) < 0:
                raise ValueError(f"classes: must be a non-empty list of class indices >= 0 (or None for all), got {self.classes!r}")
            object.__setattr__(self, "classes", classes)
        self.layer_spec()  # validates eps, steps, alpha, seed, loss with their field names

    def layer_spec(self) -> AttackSpec:
        """The targeted PGD every layer runs."""
        return AttackSpec(
            eps=self.eps,
            steps=self.steps,
            alpha=self.alpha,
            random_start=self.random_start,
            seed=self.seed,
            targeted=True,
            loss=self.loss,
        )

    def bound(self, layers: int) -> float:
        """The largest L∞ distance from x the budget allows after ``layers`` layers."""
        return self.budget.bound(self.eps, layers)


def _num_classes(model: nn.Module, x: Tensor) -> int:
    with eval_mode(model), torch.inference_mode():
        return int(model(x[:1]).shape[1])


def layered_pgd(
    model: nn.Module,
    x: Tensor,
    spec: LayeredSpec,
    *,
    num_classes: int | None = None,
    return_layers: bool = False,
    generators: Sequence[torch.Generator] | None = None,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> "Tensor | tuple[Tensor, list[Tensor]]":
    """Run method one on a batch; returns x_adv, or ``(x_adv, layers)`` with ``return_layers``.

    ``layers[i]`` is the output of the i-th layer (class ``classes[i]``), so ``layers[-1]`` is
    x_adv (for figures). Progress is counted over all layers: ``on_step(done, len(classes)·steps)``.
    ``should_stop`` is polled before every step (raises :class:`~.pgd.AttackCancelled`).
    With ``random_start``, every layer starts at a random point of its ball; the draws come from
    one generator seeded with ``spec.seed`` or, given ``generators``, from one CPU generator per
    image (:func:`~.threat.image_generators`), layer after layer.
    """
    x_orig = clone_images(x)
    classes = spec.classes
    if classes is None or num_classes is not None:
        c_count = num_classes if num_classes is not None else _num_classes(model, x_orig)
        if classes is None:
            classes = tuple(range(c_count))
        elif max(classes) >= c_count:
            raise ValueError(f"classes: {max(classes)} out of range for {c_count} classes")
    layer = spec.layer_spec()
    budget: Budget = spec.budget  # type: ignore[assignment]
    generator = random_source(layer, x_orig.device, generators)
    total = len(classes) * spec.steps
    current = x_orig
    layers: list[Tensor] = []
    for i, c in enumerate(classes):
        current = run_pgd(
            model,
            x_start=current,
            centre=budget.centre(x_orig, current),
            target=full_area_target(x_orig, c),
            spec=layer,
            generator=generator,
            done_before=i * spec.steps,
            total=total,
            on_step=on_step,
            should_stop=should_stop,
        )
        if return_layers:
            layers.append(current)
    return (current, layers) if return_layers else current
