"""How the attacks run on a device: precision, memory layout, BatchNorm folding, compilation and
batch size. None of these changes what an attack computes beyond floating-point rounding.

The attacks differentiate a *gradient model*: a private copy of the caller's model, prepared
once per model state and reused (:func:`gradient_model`):

- eval mode (what every attack runs the model in), with each BatchNorm that follows a
  convolution folded into it (``W' = W·γ/σ``, ``b' = (b − μ)·γ/σ + β``): in eval mode the two are
  one affine map, and folding removes BatchNorm's forward and backward passes (a quarter of an
  attack step on CPU for our U-Nets);
- parameters frozen (the attacks differentiate w.r.t. the input only);
- channels_last on CUDA (tensor-core convolutions want NHWC; our U-Net converts its input
  itself, other backends get it here);
- optionally ``torch.compile`` (``Runtime.compile``; minutes of compilation, worth it only for
  long attacks at a fixed shape).

The copy is cached per model object and rebuilt when any of its parameters or buffers changed
(a training step, ``load_state_dict``): the cache key is every tensor's storage and version
counter. The caller's model is never modified, and its modes are untouched.

Precision: ``"auto"`` is bf16 autocast on CUDA and float32 elsewhere (CPU results reproducible
bit for bit). The loss is always computed in float32 from the logits. bf16 changes an attack's
result within the tolerance that ``tests/attacks/test_attack_runtime.py`` checks (targeted PGD's success
differs by at most 5 percentage points from float32's on a trained U-Net).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import weakref
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = [
    "PRECISIONS",
    "Runtime",
    "autocast",
    "batch_from_memory",
    "default_runtime",
    "fold_batchnorm",
    "gradient_model",
    "input_layout",
    "set_default_runtime",
]

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Runtime:
    """precision: "auto" (bf16 on CUDA, fp32 elsewhere), "fp32" or "bf16" (autocast, also on CPU).
    fold_batchnorm: fold eval-mode BatchNorm into the preceding convolution.
    channels_last: NHWC activations; None = on CUDA only.
    compile: ``torch.compile`` the gradient model (off by default: compilation takes long)."""

    precision: str = "auto"
    fold_batchnorm: bool = True
    channels_last: bool | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        if self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda"):
            return torch.bfloat16
        return None

    def uses_channels_last(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.channels_last is None else bool(self.channels_last)

    def with_(self, **changes: Any) -> "Runtime":
        return replace(self, **changes)


_default = Runtime()
_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The runtime attacks use when given none (the worker sets it from its flags)."""
    return _default


def set_default_runtime(runtime: Runtime) -> Runtime:
    """Sets the process-wide default; returns the previous one."""
    global _default
    if not isinstance(runtime, Runtime):
        raise TypeError(f"runtime: expected a Runtime, got {type(runtime).__name__}")
    with _lock:
        previous, _default = _default, runtime
    return previous


def autocast(device: torch.device, runtime: Runtime | None = None):
    """The autocast context of ``runtime``'s precision on ``device`` (a null context for fp32)."""
    dtype = (runtime or _default).autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --- BatchNorm folding --------------------------------------------------------------------------

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    return (
        type(conv) in _CONVS
        and type(norm) in _NORMS
        and norm.track_running_stats
        and norm.running_mean is not None
        and norm.running_var is not None
        and conv.out_channels == norm.num_features
    )


def fold_batchnorm(model: nn.Module) -> int:
    """Folds, in place, every eval-mode BatchNorm that directly follows a convolution inside an
    ``nn.Sequential`` (the layout of our U-Net, smp's and MONAI's conv blocks) into that
    convolution, replacing the BatchNorm by ``nn.Identity``. ``model`` must be in eval mode.
    Returns the number of folded pairs."""
    if model.training:
        raise ValueError("fold_batchnorm: the model must be in eval mode")
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, norm = seq._modules[a], seq._modules[b]
            if conv is None or norm is None or not _foldable(conv, norm):
                continue
            seq._modules[a] = fuse_conv_bn_eval(conv, norm)
            seq._modules[b] = nn.Identity()
            folded += 1
    return folded


# --- the cached gradient model ------------------------------------------------------------------


def _state_key(model: nn.Module) -> tuple:
    """Identity of the model's current weights: each tensor's storage, version counter, device
    and dtype. Any in-place update (an optimiser step, load_state_dict) bumps a version."""
    key = []
    for t in (*model.parameters(), *model.buffers()):
        key.append((t.data_ptr(), t._version, t.device, t.dtype, tuple(t.shape)))
    return tuple(key)


class _Prepared:
    __slots__ = ("key", "module", "folded")

    def __init__(self, key: tuple, module: nn.Module, folded: int) -> None:
        self.key = key
        self.module = module
        self.folded = folded


_cache: "weakref.WeakKeyDictionary[nn.Module, _Prepared]" = weakref.WeakKeyDictionary()


def _prepare(model: nn.Module, runtime: Runtime, device: torch.device) -> tuple[nn.Module, int]:
    # The copy is cached and reused for gradients; made inside a caller's inference mode (method
    # two's clean loss) its tensors would be inference tensors, which autograd refuses.
    with torch.inference_mode(False):
        return _prepare_copy(model, runtime, device)


def _prepare_copy(model: nn.Module, runtime: Runtime, device: torch.device) -> tuple[nn.Module, int]:
    try:
        prepared = copy.deepcopy(model)
    except Exception as error:  # a model that cannot be copied is used as it is
        log.debug("gradient model: cannot copy %s (%s); using it unchanged", type(model).__name__, error)
        return model, 0
    prepared.eval()
    folded = fold_batchnorm(prepared) if runtime.fold_batchnorm else 0
    prepared.requires_grad_(False)
    if runtime.uses_channels_last(device):
        prepared = prepared.to(memory_format=torch.channels_last)
    if runtime.compile:
        prepared = torch.compile(prepared, dynamic=False)
    return prepared, folded


def gradient_model(model: nn.Module, device: torch.device, runtime: Runtime | None = None) -> nn.Module:
    """The prepared copy of ``model`` the attacks run (see the module docstring), built on first
    use and whenever the model's weights changed. Call it inside :func:`~._common.eval_mode`
    only for the caller's sake: the copy is always in eval mode.

    With nothing to prepare (no folding, no layout change, no compilation) the model itself is
    returned."""
    runtime = runtime or _default
    if not (runtime.fold_batchnorm or runtime.uses_channels_last(device) or runtime.compile):
        return model
    key = (_state_key(model), runtime.fold_batchnorm, runtime.uses_channels_last(device), runtime.compile)
    with _lock:
        entry = _cache.get(model)
        if entry is not None and entry.key == key:
            return entry.module
    module, folded = _prepare(model, runtime, device)
    if module is model:
        return model
    with _lock:
        _cache[model] = _Prepared(key, module, folded)
    return module


def input_layout(x: Tensor, runtime: Runtime | None = None) -> Tensor:
    """``x`` in the runtime's memory layout for the model (unchanged on CPU by default). Element-
    wise updates keep the layout, so a PGD loop converts once, not per step."""
    runtime = runtime or _default
    if runtime.uses_channels_last(x.device) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


# --- batch size from free memory ----------------------------------------------------------------


def batch_from_memory(free_bytes: int, bytes_per_image: int, *, headroom: float = 0.6, cap: int = 1024) -> int:
    """How many images fit in ``headroom`` of ``free_bytes`` at ``bytes_per_image`` each (at least
    1, at most ``cap``)."""
    if free_bytes <= 0 or bytes_per_image <= 0:
        return 1
    return max(1, min(cap, int(free_bytes * headroom) // int(bytes_per_image)))


_probe_cache: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]]" = weakref.WeakKeyDictionary()


def cuda_bytes_per_image(model: nn.Module, x: Tensor, *, backward: bool, runtime: Runtime | None = None) -> int:
    """Peak CUDA memory one image of ``x``'s shape takes through the gradient model (forward, and
    backward w.r.t. the input when ``backward``), measured once per model, shape and precision
    with two probe batches (1 and 2 images: the difference is the per-image share, without the
    weights and the workspace every batch pays)."""
    runtime = runtime or _default
    device = x.device
    key = (_state_key(model), tuple(x.shape[1:]), x.dtype, backward, runtime)
    known = _probe_cache.setdefault(model, {})
    if key in known:
        return known[key]
    net = gradient_model(model, device, runtime)
    peaks = []
    for n in (1, 2):
        probe = x[:1].detach().expand(n, *x.shape[1:]).clone()
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with autocast(device, runtime):
            if backward:
                with torch.inference_mode(False), torch.enable_grad():
                    probe.requires_grad_(True)
                    out = net(probe)
                    (grad,) = torch.autograd.grad(out.float().sum(), probe)
                    del grad
            else:
                with torch.inference_mode():
                    out = net(probe)
        del out
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    per_image = max(peaks[1] - peaks[0], peaks[0] // 2, 1)
    known.clear()  # one entry per model: shapes and states change rarely
    known[key] = per_image
    return per_image
