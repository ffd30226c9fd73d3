"""Threat models, kept separate from the losses (docs/ARCHITECTURE.md section 9).

A threat model says *where* an attack may go (the set it projects onto, how one step moves, how a
random start is drawn); the loss says *which way* is better. The split follows MadryLab
robustness's ``attack_steps`` (one object per constraint with ``project``/``step``/
``random_perturb``), but the object here is stateless: the centre ``x0`` is passed to each call,
so one ball serves every layer of method one whatever its centre (see :class:`Budget`).

Everything is L∞ in [0, 1] pixel space: ``eps`` is a fraction of the pixel range (0.01 = 1%).
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor

__all__ = ["MIN_EPSILON", "MIN_STEP", "Budget", "LinfBall", "RandomSource", "image_generators", "uniform_noise"]

# The smallest ε, and the smallest attack step, that change an image. float32 spaces the values
# of [0.5, 1) 2^-24 (about 6e-8) apart and rounds to the nearest, so a change below 2^-25 leaves
# every such pixel as it was and the "attacked" images equal the clean ones. ε must be 0 (no
# attack) or at least 1e-6 (about 17 spacings: a round number with room for several steps), and
# a step at least one spacing.
MIN_EPSILON = 1e-6
MIN_STEP = 2.0**-24

# Where a random start draws from: torch's global generator (None), one generator on the images'
# device for the whole batch, or one CPU generator per image (see image_generators).
RandomSource = Optional[Union[torch.Generator, Sequence[torch.Generator]]]


def image_generators(seed: int, indices: Iterable[int]) -> list[torch.Generator]:
    """One CPU generator per image, seeded from sha256(seed, the image's index in its dataset).

    An image's random start then depends only on (seed, index): not on the batch size, the
    batch it lands in, or the device (CPU draws, moved to the images' device afterwards).
    """
    generators = []
    for index in indices:
        digest = hashlib.sha256(f"robustseg-random-start:{seed}:{index}".encode()).digest()
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int.from_bytes(digest[:8], "little"))
        generators.append(gen)
    return generators


def uniform_noise(like: Tensor, generator: RandomSource = None) -> Tensor:
    """U(−1, 1) per coordinate, of ``like``'s shape, device and dtype, drawn from ``generator`` as
    :meth:`LinfBall.random_start` describes (a sequence: one CPU generator per image)."""
    if isinstance(generator, Sequence):
        if len(generator) != like.shape[0]:
            raise ValueError(f"generator: one per image needed ({like.shape[0]}), got {len(generator)}")
        noise = torch.stack([torch.rand(tuple(like.shape[1:]), generator=g, dtype=torch.float32) for g in generator])
        noise = noise.to(device=like.device, dtype=like.dtype)
    else:
        noise = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return noise.mul_(2.0).sub_(1.0)


@dataclass(frozen=True)
class LinfBall:
    """The set {x : ‖x − x0‖∞ ≤ eps} ∩ [clip[0], clip[1]] around a centre x0."""

    eps: float
    clip: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps >= 0.0):
            raise ValueError(f"eps: must be a finite number >= 0, got {self.eps!r}")
        lo, hi = self.clip
        if not lo < hi:
            raise ValueError(f"clip: lower bound must be below upper bound, got {self.clip!r}")

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        """Π(x): the nearest point of the ball around ``x0`` (exact for L∞: per coordinate).

        Written as min/max against ``x0 ± eps`` rather than ``x0 + clamp(x − x0)`` so that a
        point already inside (e.g. ``x0 + eps`` itself) comes back bit-for-bit unchanged; FGSM's
        equality with one PGD step relies on it.
        """
        lo, hi = self.clip
        out = torch.maximum(x, x0 - self.eps)
        out = torch.minimum(out, x0 + self.eps)
        return out.clamp_(lo, hi)

    def bounds(self, x0: Tensor) -> tuple[Tensor, Tensor]:
        """``(lo, hi)`` = ``clip(x0 − eps)``, ``clip(x0 + eps)``: clamping a point to them is
        :meth:`project` (the ball's centre lies in the pixel range, so the two boxes meet), with
        the bounds computed once for many projections."""
        lo, hi = self.clip
        return (x0 - self.eps).clamp_(lo, hi), (x0 + self.eps).clamp_(lo, hi)

    def step(self, x: Tensor, grad: Tensor, alpha: float) -> Tensor:
        """One signed-gradient ascent step ``x + alpha · sign(grad)`` (not projected).

        Descent (a targeted attack) passes ``-grad``.
        """
        return x + alpha * torch.sign(grad)

    def random_start(self, x0: Tensor, generator: RandomSource = None) -> Tensor:
        """``x0 + U(−eps, eps)`` per coordinate, clipped to the pixel range.

        ``generator``: None (torch's global generator), one generator on ``x0.device`` for the
        whole batch, or a sequence of CPU generators, one per image (``x0[i]`` draws from
        ``generator[i]``; see :func:`image_generators`). With seeded generators the draw is
        deterministic.
        """
        noise = uniform_noise(x0, generator).mul_(self.eps)
        lo, hi = self.clip
        return (x0 + noise).clamp_(lo, hi)

    def contains(self, x: Tensor, x0: Tensor, atol: float = 1e-6) -> bool:
        """Whether ``x`` lies in the ball around ``x0`` and in the pixel range (with tolerance)."""
        lo, hi = self.clip
        within = bool(((x - x0).abs() <= self.eps + atol).all())
        inside = bool((x >= lo - atol).all() and (x <= hi + atol).all())
        return within and inside


class Budget(str, enum.Enum):
    """How method one's layers share the ε budget (docs/ARCHITECTURE.md section 9, paper Formula 2).

    ``PER_LAYER`` (the default, as the paper describes): each layer projects onto the ball around
    its own start (the previous layer's output), so after C layers the total perturbation can
    reach C·ε. ``TOTAL``: every layer projects onto one ε-ball around the original image.
    """

    PER_LAYER = "per-layer"
    TOTAL = "total"

    @classmethod
    def parse(cls, value: "Budget | str") -> "Budget":
        if isinstance(value, Budget):
            return value
        try:
            return cls(str(value).strip().lower().replace("_", "-"))
        except ValueError:
            allowed = ", ".join(b.value for b in cls)
            raise ValueError(f"budget: unknown value {value!r} (expected one of {allowed})") from None

    def centre(self, x_original: Tensor, x_layer_start: Tensor) -> Tensor:
        """The centre a layer projects around."""
        return x_layer_start if self is Budget.PER_LAYER else x_original

    def bound(self, eps: float, layers: int) -> float:
        """The largest L∞ distance from the original image the budget allows after ``layers``."""
        return eps * layers if self is Budget.PER_LAYER else eps
