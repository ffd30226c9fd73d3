"""Which process computes what. Work is dealt out in the units a single process uses, so each
unit's computation is the same whichever process runs it:

- batches (attack, method two's building, evaluation): the single-process batches of
  ``batch`` images, batch ``b`` to rank ``b mod world`` (round robin keeps the shares within one
  batch of each other);
- images (method two's scoring): the distinct images of the request in ascending order, image
  ``u`` to rank ``u mod world``, with every candidate row of that image.
"""

from __future__ import annotations

import numpy as np


def batch_starts(num_images: int, batch: int, rank: int, world_size: int) -> list[int]:
    """First image index of every batch this rank computes."""
    if batch < 1 or world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need batch >= 1 and 0 <= rank < world_size, got {batch}, {rank}, {world_size}")
    return list(range(0, num_images, batch))[rank::world_size]


def image_positions(num_unique: int, rank: int, world_size: int) -> np.ndarray:
    """Positions (in the request's ascending list of distinct images) this rank scores."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got {rank}, {world_size}")
    return np.arange(rank, num_unique, world_size)
