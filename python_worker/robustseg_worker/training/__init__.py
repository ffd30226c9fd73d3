"""Training (docs/ARCHITECTURE.md section 7 and issue 2): config validation, augmentation, the loop."""

from .config import TrainingConfig
from .trainer import Replica, TrainingOutcome, batch_bounds, build_seeded, train

__all__ = ["Replica", "TrainingConfig", "TrainingOutcome", "batch_bounds", "build_seeded", "train"]
