"""Training (docs/ARCHITECTURE.md section 7): config validation, augmentation, the loop, and
per-epoch checkpoints."""

from .checkpoint import TrainingCheckpoints
from .config import TrainingConfig
from .trainer import Replica, TrainingOutcome, TrainingState, batch_bounds, build_seeded, train

__all__ = ["Replica", "TrainingCheckpoints", "TrainingConfig", "TrainingOutcome", "TrainingState", "batch_bounds",
           "build_seeded", "train"]
