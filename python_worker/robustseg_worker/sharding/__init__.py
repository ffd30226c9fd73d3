"""The dataset-building stages sharded across torch.distributed processes
(docs/scaling.md): an attack on a dataset (method one included), method two's scoring and
building, and evaluation. The worker launches torchrun (torchrun.py), every rank takes its share
of the work by image index (plan.py) and the shares are gathered into the result a single process
would have computed (rank.py); jobs.py is the worker's side.
"""

from .jobs import ShardedScores, attack_images, enhance_images, evaluate_counts, score_candidates, worst_case_parts
from .plan import batch_starts, image_positions

__all__ = ["ShardedScores", "attack_images", "batch_starts", "enhance_images", "evaluate_counts", "image_positions",
           "score_candidates", "worst_case_parts"]
