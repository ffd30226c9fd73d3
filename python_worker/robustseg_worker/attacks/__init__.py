"""robustseg's attack library: plain PyTorch functions, usable without the server.

Conventions: ``model(x)`` returns logits (N, C, H, W); x is float in [0, 1] (N, 3, H, W); labels
and targets are int64 (N, H, W); ε is a fraction of the pixel range (0.01 = 1%); L∞ throughout.
Every function clones its inputs, uses ``x.device``, runs the model in eval mode and restores
each submodule's mode afterwards, and differentiates w.r.t. the input only (no ``.grad`` is left
on parameters).

- threat models (:mod:`.threat`): :class:`LinfBall`, :class:`Budget`, per-image seeded random
  starts :func:`image_generators`
- losses (:mod:`.losses`): pixel-wise CE, SegPGD and CosPGD weightings, :func:`get_loss`
- FGSM / PGD (:mod:`.pgd`): :class:`AttackSpec`, :func:`fgsm`, :func:`pgd`,
  :func:`full_area_target`, the paper's evaluation attack :func:`paper_attack`
- APGD (:mod:`.apgd`): :class:`ApgdSpec`, :func:`apgd` (Croce & Hein 2020; SEA's lowest-accuracy
  iterate and progressive radius as options), with SEA's losses (:mod:`.sea_losses`)
- method one (:mod:`.layered`): :class:`LayeredSpec`, :func:`layered_pgd`
- method two (:mod:`.enhance`): :func:`class_directions`, :func:`apply_signs`,
  :func:`score_candidates`, :func:`clean_loss`, reference :func:`select_exhaustive`; the
  estimates of the surrogate strategy :func:`logit_additive_scores`
- how they run (:mod:`.runtime`): :class:`Runtime` (precision, BatchNorm folding, layout,
  ``torch.compile``), :func:`set_default_runtime`

Long-running functions take ``on_step``/``on_progress(done, total)`` and ``should_stop()``
callbacks; a True from ``should_stop`` raises :class:`AttackCancelled`.
"""

from ._common import AttackCancelled, eval_mode
from .apgd import APGD_LOSSES, ApgdResult, ApgdSpec, apgd, apgd_checkpoints, apgd_random_start, radius_stages
from .enhance import (
    ExhaustiveChoice,
    all_sign_vectors,
    apply_signs,
    Estimates,
    class_directions,
    clean_loss,
    default_batch,
    logit_additive_scores,
    score_candidates,
    select_exhaustive,
)
from .layered import LayeredSpec, layered_pgd
from .losses import (
    LOSSES,
    PixelLoss,
    WeightedPixelCE,
    cospgd_weights,
    get_loss,
    pixel_ce,
    segpgd_lambda,
    segpgd_weights,
)
from .pgd import (
    BACKGROUND,
    PAPER_EPS,
    PAPER_STEPS,
    AttackSpec,
    fgsm,
    full_area_target,
    paper_attack,
    paper_attack_spec,
    pgd,
)
from .runtime import Runtime, default_runtime, set_default_runtime
from .sea_losses import SEA_LOSSES, balanced_ce, jensen_shannon, masked_ce, masked_spherical
from .threat import MIN_EPSILON, MIN_STEP, Budget, LinfBall, image_generators

__all__ = [
    "MIN_EPSILON",
    "MIN_STEP",
    "APGD_LOSSES",
    "SEA_LOSSES",
    "ApgdResult",
    "ApgdSpec",
    "apgd",
    "apgd_checkpoints",
    "apgd_random_start",
    "balanced_ce",
    "jensen_shannon",
    "masked_ce",
    "masked_spherical",
    "radius_stages",
    "BACKGROUND",
    "LOSSES",
    "PAPER_EPS",
    "PAPER_STEPS",
    "AttackCancelled",
    "AttackSpec",
    "Budget",
    "Estimates",
    "ExhaustiveChoice",
    "LayeredSpec",
    "LinfBall",
    "PixelLoss",
    "Runtime",
    "WeightedPixelCE",
    "all_sign_vectors",
    "apply_signs",
    "class_directions",
    "clean_loss",
    "cospgd_weights",
    "default_batch",
    "default_runtime",
    "eval_mode",
    "fgsm",
    "full_area_target",
    "get_loss",
    "image_generators",
    "layered_pgd",
    "logit_additive_scores",
    "paper_attack",
    "paper_attack_spec",
    "pgd",
    "pixel_ce",
    "score_candidates",
    "segpgd_lambda",
    "segpgd_weights",
    "select_exhaustive",
    "set_default_runtime",
]
