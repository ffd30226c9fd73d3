"""Cancellation that stops work within a layer, not a step.

The engine polls `check_stop` between steps, but one step of a large model (a forward and
backward pass over a batch of big tiles) can take minutes. Every model the worker builds or
loads therefore gets stop points: a forward pre-hook on every module, and during a backward
pass a hook on the output of every module that has its own parameters. Each calls the stop
check of the call the current thread is serving (`stopping`), so a cancelled call, a passed
deadline or a shutdown raises out of the middle of a pass. Models are shared between calls
(the engine's caches), which is why the check is looked up per thread: each gRPC call runs on
its own thread, and a call that set none is never stopped by these hooks.

After a call ends, `release_memory` returns freed memory to the system (CUDA's cache, glibc's
heap), so a cancelled call's activations do not stay in the worker's resident size.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Callable, Iterator

import torch
from torch import nn

_current = threading.local()
_INSTALLED = "_robustseg_stop_points"


@contextlib.contextmanager
def stopping(check_stop: Callable[[], None] | None) -> Iterator[None]:
    """Make `check_stop` this thread's stop check while the block runs."""
    previous = getattr(_current, "check", None)
    _current.check = check_stop
    try:
        yield
    finally:
        _current.check = previous


def check() -> None:
    fn = getattr(_current, "check", None)
    if fn is not None:
        fn()


def _before_forward(_module: nn.Module, _inputs) -> None:
    check()


def _on_gradient(_grad: torch.Tensor) -> None:
    check()


def _after_forward(module: nn.Module, _inputs, output) -> None:
    if getattr(_current, "check", None) is None or not any(True for _ in module.parameters(recurse=False)):
        return
    for t in output if isinstance(output, (tuple, list)) else [output]:
        if isinstance(t, torch.Tensor) and t.requires_grad:
            t.register_hook(_on_gradient)


def install(model: nn.Module) -> nn.Module:
    """Add stop points to every module of `model` (once; returns it)."""
    if getattr(model, _INSTALLED, False):
        return model
    for module in model.modules():
        module.register_forward_pre_hook(_before_forward)
        module.register_forward_hook(_after_forward)
    setattr(model, _INSTALLED, True)
    return model


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Collect cycles, empty CUDA's cache and trim glibc's heap."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _TRIM is not None:
        _TRIM(0)
