"""Training hyper-parameters, validated field by field (INVALID_ARGUMENT names the field)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidArgument
from .adversarial import AdversarialTraining

MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    batch_size: int
    learning_rate: float  # Adam
    seed: int
    augment: bool  # random flips and 90-degree rotations
    # Every batch attacked on the fly (PGD-AT / SegPGD-AT); None = clean training.
    adversarial: AdversarialTraining | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any], field_prefix: str = "config") -> TrainingConfig:
        def integer(name: str, high: int) -> int:
            value = params.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"{field_prefix}.{name}", f"must be an integer, got {value!r}")
            if value <= 0:
                raise InvalidArgument(f"{field_prefix}.{name}", f"must be > 0, got {value}")
            if value > high:
                raise InvalidArgument(f"{field_prefix}.{name}", f"must be <= {high}, got {value}")
            return value

        epochs = integer("epochs", MAX_EPOCHS)
        batch_size = integer("batch_size", MAX_BATCH_SIZE)
        lr = params.get("learning_rate", 0.0)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise InvalidArgument(f"{field_prefix}.learning_rate", f"must be a finite number > 0, got {lr!r}")
        if lr > 10:
            raise InvalidArgument(f"{field_prefix}.learning_rate", f"must be <= 10, got {lr!r}")
        seed = params.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise InvalidArgument(f"{field_prefix}.seed", f"must be an integer in [0, 2^64), got {seed!r}")
        augment = params.get("augment", False)
        if not isinstance(augment, bool):
            raise InvalidArgument(f"{field_prefix}.augment", f"must be true or false, got {augment!r}")
        adversarial = params.get("adversarial")
        if adversarial is not None:
            adversarial = AdversarialTraining.from_params(adversarial, f"{field_prefix}.adversarial")
        return cls(epochs, batch_size, float(lr), seed, augment, adversarial)

    def as_dict(self) -> dict[str, Any]:
        """The canonical form (hashed into model ids); clean training has no "adversarial" key,
        so its ids are those of before adversarial training existed."""
        out = asdict(self)
        if self.adversarial is None:
            del out["adversarial"]
        return out
