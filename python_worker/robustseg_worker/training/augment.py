"""Geometric augmentation applied identically to images and labels: random horizontal and
vertical flips and, for square tiles, rotations by multiples of 90 degrees (which keep the
shape). Histology has no preferred orientation, so these are label-preserving."""

from __future__ import annotations

import torch


def _select(flags: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample choice between two batches of the same shape."""
    return torch.where(flags.view(-1, *([1] * (a.dim() - 1))), a, b)


def flip_rotate(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """images (N, C, H, W), labels (N, H, W). Random draws come from `generator` (CPU) so a
    seeded run is reproducible; the work itself happens on the tensors' device."""
    n, device = images.shape[0], images.device
    hflip = torch.rand(n, generator=generator).lt(0.5).to(device)
    vflip = torch.rand(n, generator=generator).lt(0.5).to(device)
    images = _select(hflip, images.flip(-1), images)
    labels = _select(hflip, labels.flip(-1), labels)
    images = _select(vflip, images.flip(-2), images)
    labels = _select(vflip, labels.flip(-2), labels)
    if images.shape[-1] == images.shape[-2]:
        # Flips already give rotations by 180 degrees; a transpose adds the 90/270 ones
        # (transpose + the flips above cover all 8 symmetries of the square).
        transpose = torch.rand(n, generator=generator).lt(0.5).to(device)
        images = _select(transpose, images.transpose(-1, -2), images)
        labels = _select(transpose, labels.transpose(-1, -2), labels)
    return images, labels
