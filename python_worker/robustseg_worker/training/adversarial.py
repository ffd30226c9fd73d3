"""Adversarial training as a per-batch input transform of the one training loop (trainer.py).

- PGD-AT (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR
  2018): every training batch is replaced, on the fly, by untargeted PGD on the pixel-wise
  cross-entropy at radius ε, K steps of α (default 2.5·ε/K), from a uniform random start in the
  ball, computed against the model being trained (in eval mode for the attack, as MadryLab
  robustness's ``AttackerModel`` does; the training step then runs in train mode).
- SegPGD-AT (Gu et al., "SegPGD: An Effective and Efficient Adversarial Attack for Evaluating and
  Boosting Segmentation Robustness", ECCV 2022): the same with the SegPGD loss.
- ``clean_fraction`` keeps that share of every batch clean (Goodfellow et al. 2015 trained on half
  clean, half adversarial): the first round(B·f) images of the shuffled batch stay as they are.

Random starts come from a stream of its own, seeded by the training seed, epoch and step, so the
shuffling and augmentation draws stay those of clean training under the same seed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .. import attacks
from ..attack_specs import check_epsilon, check_step
from ..errors import InvalidArgument

METHODS = {"pgd": "ce", "segpgd": "segpgd"}
MAX_STEPS = 1000


@dataclass(frozen=True)
class AdversarialTraining:
    method: str  # "pgd" | "segpgd"
    epsilon: float
    steps: int
    step_size: float | None  # None: 2.5 * epsilon / steps
    random_start: bool
    clean_fraction: float

    @classmethod
    def from_params(cls, params: dict[str, Any], field: str) -> "AdversarialTraining":
        method = params.get("method")
        if method not in METHODS:
            raise InvalidArgument(f"{field}.method", f"must be PGD or SEGPGD, got {'unspecified' if method is None else repr(method)}")
        eps = check_epsilon(f"{field}.epsilon", params.get("epsilon", 0.0))
        steps = params.get("steps", 0)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 < steps <= MAX_STEPS:
            raise InvalidArgument(f"{field}.steps", f"must be > 0 and <= {MAX_STEPS}, got {steps!r}")
        step_size = params.get("step_size", 0.0)
        if isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or not math.isfinite(step_size) or step_size < 0:
            raise InvalidArgument(f"{field}.step_size", f"must be >= 0 (0 = 2.5 * epsilon / steps), got {step_size!r}")
        check_step(field, eps, steps, float(step_size) or None)
        fraction = params.get("clean_fraction", 0.0)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise InvalidArgument(f"{field}.clean_fraction", f"must be in [0, 1), got {fraction!r}")
        return cls(method, float(eps), steps, float(step_size) or None, bool(params.get("random_start", False)),
                   float(fraction))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def attack_spec(self, seed: int) -> attacks.AttackSpec:
        return attacks.AttackSpec(eps=self.epsilon, steps=self.steps, alpha=self.step_size,
                                  random_start=self.random_start, seed=seed, loss=METHODS[self.method])

    def transform(self, training_seed: int) -> "AdversarialBatches":
        return AdversarialBatches(self, training_seed)


class AdversarialBatches:
    """The trainer's batch transform: (model, x, y, epoch, step) -> the batch to train on."""

    def __init__(self, config: AdversarialTraining, training_seed: int) -> None:
        self.config = config
        self.training_seed = training_seed

    def start_seed(self, epoch: int, step: int) -> int:
        digest = hashlib.sha256(f"robustseg-adversarial-training:{self.training_seed}:{epoch}:{step}".encode()).digest()
        return int.from_bytes(digest[:8], "little") >> 1

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, epoch: int, step: int) -> Tensor:
        n_clean = min(int(round(x.shape[0] * self.config.clean_fraction)), x.shape[0])
        if n_clean == x.shape[0]:
            return x
        x_adv = attacks.pgd(model, x[n_clean:], y[n_clean:], self.config.attack_spec(self.start_seed(epoch, step)))
        return torch.cat([x[:n_clean], x_adv]) if n_clean else x_adv
