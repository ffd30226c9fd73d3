"""Fixtures for the attack tests: tiny seeded conv nets and batches (CPU, a few ms each)."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class TinySegNet(nn.Module):
    """conv-BN-ReLU-dropout-conv-ReLU-conv: logits (N, classes, H, W) at the input size."""

    def __init__(self, classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.drop = nn.Dropout2d(0.2)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn(self.conv1(x))))
        return self.head(torch.relu(self.conv2(h)))


_TRAINED: dict[tuple[int, int, int], dict[str, torch.Tensor]] = {}


def make_batch(n: int = 3, size: int = 12, classes: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images whose label is a band of the red channel (learnable by the tiny net)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 3, size, size), generator=g)
    # Some pixels exactly at the range's ends, so clipping matters.
    x[:, :, 0, :3] = 0.0
    x[:, :, 1, :3] = 1.0
    y = (x[:, 0] * classes).long().clamp_(max=classes - 1)
    return x, y


def make_model(classes: int = 4, seed: int = 0, width: int = 8) -> TinySegNet:
    """A tiny net briefly trained (seeded, cached) so that it predicts a mix of classes."""
    key = (classes, seed, width)
    if key not in _TRAINED:
        torch.manual_seed(seed)
        net = TinySegNet(classes, width)
        x, y = make_batch(n=8, size=12, classes=classes, seed=seed + 100)
        opt = torch.optim.Adam(net.parameters(), lr=0.03)
        net.train()
        for _ in range(60):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        _TRAINED[key] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    torch.manual_seed(seed)
    model = TinySegNet(classes, width)
    model.load_state_dict(_TRAINED[key])
    return model


@pytest.fixture
def model() -> TinySegNet:
    return make_model()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return make_batch()


def per_image_ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """J(θ, x, y) per image, in eval mode, as an independent reference."""
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.nn.functional.cross_entropy(model(x), y, reduction="none").flatten(1).mean(1)
    model.train(was)
    return out


# Helpers as fixtures, so test modules never import this conftest by name.
@pytest.fixture
def model_factory():
    return make_model


@pytest.fixture
def batch_factory():
    return make_batch


@pytest.fixture
def ref_loss():
    return per_image_ce
