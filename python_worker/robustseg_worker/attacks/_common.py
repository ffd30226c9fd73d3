"""Shared plumbing for the attacks: model mode, input checks, callbacks, the input gradient."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from .losses import PixelLoss, loss_total
from .runtime import Runtime, autocast

OnStep = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class AttackCancelled(RuntimeError):
    """Raised when ``should_stop()`` returned True; ``done``/``total`` say how far it got.

    Nothing the caller passed in has been modified; the partial result is discarded.
    """

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"attack cancelled after {done} of {total} steps")
        self.done = done
        self.total = total


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the duration and restore every submodule's own flag after.

    Restoring per submodule (not just ``model.train(was_training)``) keeps mixed set-ups intact,
    e.g. a model in train mode with frozen BatchNorm layers.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def grad_enabled() -> Iterator[None]:
    """Gradients on, even when the caller sits in ``torch.no_grad`` or ``torch.inference_mode``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def check_images(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name}: expected shape (N, channels, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor in [0, 1], got {x.dtype}")


def prepare(x: Tensor, y: Tensor, name_y: str = "target") -> tuple[Tensor, Tensor]:
    """A private copy of ``x`` (never the caller's storage) and ``y`` as int64 on ``x.device``."""
    check_images(x)
    if not isinstance(y, Tensor):
        raise TypeError(f"{name_y}: expected a tensor, got {type(y).__name__}")
    if y.dim() != 3 or (y.shape[0], y.shape[1], y.shape[2]) != (x.shape[0], x.shape[2], x.shape[3]):
        raise ValueError(
            f"{name_y}: expected shape (N, H, W) = {(x.shape[0], x.shape[2], x.shape[3])}, got {tuple(y.shape)}"
        )
    if y.is_floating_point() or y.is_complex():
        raise ValueError(f"{name_y}: expected integer class indices, got {y.dtype}")
    # Copies made outside inference mode, so they can enter autograd even when the caller is
    # inside torch.inference_mode (inference tensors cannot).
    with torch.inference_mode(False):
        x = x.detach().clone()
        y = y.detach().to(device=x.device, dtype=torch.long).clone()
    return x, y


def clone_images(x: Tensor) -> Tensor:
    """A private, autograd-usable copy of ``x`` (see :func:`prepare`)."""
    check_images(x)
    with torch.inference_mode(False):
        return x.detach().clone()


def input_grad(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    loss_fn: PixelLoss,
    *,
    step: int,
    steps: int,
    targeted: bool,
    runtime: Runtime | None = None,
) -> Tensor:
    """∇ₓ of the summed per-image loss, w.r.t. the input only (no ``.grad`` on parameters).

    ``model`` is usually the attack's gradient model (:func:`~.runtime.gradient_model`); the
    forward pass runs under ``runtime``'s autocast, the loss in float32."""
    xv = x.detach().requires_grad_(True)
    with autocast(x.device, runtime):
        logits = model(xv)
    loss = loss_total(loss_fn, logits, target, step=step, steps=steps, targeted=targeted)
    (grad,) = torch.autograd.grad(loss, xv)
    return grad


def make_generator(device: torch.device, seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def check_stop(should_stop: ShouldStop | None, done: int, total: int) -> None:
    if should_stop is not None and should_stop():
        raise AttackCancelled(done, total)
