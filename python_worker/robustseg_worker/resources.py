"""Memory estimates, checked before work starts: training, attacks and scoring are
refused up front with RESOURCE_EXHAUSTED naming the request field to change, the estimate and
the limit, instead of running until the kernel kills the worker.

An estimate adds what the work holds at its peak:
- the model: parameters and buffers (float32), plus gradients for a backward pass, plus Adam's
  two moments and the best epoch's copy when training;
- activations: the float32 elements one tile keeps for the backward pass (every layer's
  output), times the batch; inference keeps a fraction of them alive at once;
- data: the tensors moved to the device (whole datasets for training and evaluation).

The factors come from peak RSS measured around one step on CPU (torch 2.15): a U-Net of depth 3,
width 16, 16 tiles of 128 px (525 MiB of activations as counted here) grew 483 MiB training,
494 MiB attacking and 136 MiB in inference; depth 4, width 32, 4 tiles of 256 px (1077 MiB)
grew 993 MiB training and 313 MiB in inference. Estimates are "about": they exist to refuse what cannot fit, not to
pack memory tightly.

The limit is the smaller of --max-memory-gb and 80% of what the device has free (CUDA: free
device memory; CPU: MemAvailable, and the cgroup's limit when the worker runs in a container).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import models
from .errors import ResourceExhausted

log = logging.getLogger(__name__)

HEADROOM = 0.8
FLOAT_BYTES = 4
BACKWARD_FACTOR = 1.0  # peak of a forward+backward step / the activations counted
INFERENCE_FACTOR = 0.3  # peak of an inference pass / the activations counted
GIB = 2**30


@dataclass(frozen=True)
class ModelProfile:
    parameters: int  # elements
    buffers: int  # elements
    activations: int  # float32 elements one tile keeps for a backward pass


@dataclass
class Estimate:
    """What a piece of work will hold at its peak, in parts the message can name."""

    what: str  # e.g. "training"
    fixed: list[tuple[str, int]] = field(default_factory=list)  # (part, bytes) independent of the batch
    per_item: int = 0  # bytes per batch item (activations)
    batch: int = 0
    batch_field: str = ""  # the request field that sets the batch, e.g. "config.batch_size"
    item_words: str = "tiles"

    @property
    def total(self) -> int:
        return sum(b for _, b in self.fixed) + self.per_item * self.batch


@dataclass(frozen=True)
class Limit:
    bytes: int
    explanation: str  # e.g. "80% of the 22.69 GiB available on cpu"


def gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


# --- the model's size --------------------------------------------------------------------------


def _with_shape_only_norms(model: nn.Module) -> nn.Module:
    # Normalisation layers on the meta device go through torch's Python decompositions, whose
    # first use imports torch._dynamo (seconds); their output has the input's shape anyway.
    for module in model.modules():
        if isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            module.forward = torch.empty_like  # type: ignore[method-assign]
    return model


@functools.lru_cache(maxsize=64)
def _profile(backend_name: str, spec_json: str, num_classes: int, in_channels: int, height: int,
             width: int) -> ModelProfile | None:
    backend = models.get(backend_name)
    spec = json.loads(spec_json)
    try:
        with torch.device("meta"):  # no memory: only shapes
            model = models.build_model(backend_name, spec, num_classes, in_channels).to("meta")
    except Exception as e:  # noqa: BLE001 - a backend that cannot build on meta is not estimated
        log.debug("no memory estimate for %s %s: %s", backend_name, spec, e)
        return None
    parameters = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    count = getattr(backend, "activation_elements", None)
    if count is not None:
        activations = int(count(spec, num_classes, in_channels, height, width))
    else:
        activations = _traced_activations(_with_shape_only_norms(model), in_channels, height, width)
        if activations is None:
            return None
    return ModelProfile(parameters, buffers, activations)


def _traced_activations(model: nn.Module, in_channels: int, height: int, width: int) -> int | None:
    """Sum of every leaf module's output elements for one tile, by a forward pass on meta."""
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(t, torch.Tensor):
                total += t.numel()

    handles = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        model.eval()(torch.empty(1, in_channels, height, width, device="meta"))
    except Exception as e:  # noqa: BLE001
        log.debug("no activation estimate: %s", e)
        return None
    finally:
        for h in handles:
            h.remove()
    return total


def model_profile(backend_name: str, spec: dict, num_classes: int, in_channels: int, height: int,
                  width: int) -> ModelProfile | None:
    """Sizes of a model for tiles of height x width; None when the backend cannot be sized."""
    return _profile(backend_name, json.dumps(spec, sort_keys=True), num_classes, in_channels, height, width)


# --- estimates ---------------------------------------------------------------------------------


def training(profile: ModelProfile, batch: int, data_bytes: int) -> Estimate:
    weights = (profile.parameters + profile.buffers) * FLOAT_BYTES
    return Estimate(
        "training",
        fixed=[("the model with gradients, Adam's state and the best epoch's copy",
                weights * 2 + profile.parameters * FLOAT_BYTES * 3),
               ("the training and validation data", data_bytes)],
        per_item=math.ceil(profile.activations * FLOAT_BYTES * BACKWARD_FACTOR), batch=batch,
        batch_field="config.batch_size")


def attack(profiles: list[ModelProfile], batch: int, data_bytes: int, batch_field: str = "batch_size",
           what: str = "the attack") -> Estimate:
    """Gradient attacks: every model's weights, the attacked one's gradients and activations."""
    weights = sum((p.parameters + p.buffers) * FLOAT_BYTES for p in profiles)
    attacked = profiles[-1]
    return Estimate(
        what,
        fixed=[("the models' weights and gradients", weights + attacked.parameters * FLOAT_BYTES),
               ("the dataset", data_bytes)],
        per_item=math.ceil(attacked.activations * FLOAT_BYTES * BACKWARD_FACTOR), batch=batch,
        batch_field=batch_field)


def inference(profile: ModelProfile, batch: int, data_bytes: int, batch_field: str = "batch_size",
              what: str = "the evaluation", item_words: str = "tiles") -> Estimate:
    return Estimate(
        what,
        fixed=[("the model", (profile.parameters + profile.buffers) * FLOAT_BYTES), ("the dataset", data_bytes)],
        per_item=math.ceil(profile.activations * FLOAT_BYTES * INFERENCE_FACTOR), batch=batch,
        batch_field=batch_field, item_words=item_words)


# --- the limit -----------------------------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_available(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """cgroup v2 memory.max - memory.current of this process's cgroup (a container's limit),
    or None when unlimited or unknown."""
    try:
        relative = next(line.split("::", 1)[1].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                        if line.startswith("0::"))
        directory = root / relative.lstrip("/")
        maximum = (directory / "memory.max").read_text().strip()
        if maximum == "max":
            return None
        return max(0, int(maximum) - int((directory / "memory.current").read_text().strip()))
    except (OSError, StopIteration, ValueError):
        return None


def available_memory(device: torch.device) -> int | None:
    """Free bytes on the device; None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    return min(found) if found else None


def limit_for(device: torch.device, configured: int | None) -> Limit | None:
    free = available_memory(device)
    candidates = []
    if free is not None:
        candidates.append(Limit(int(HEADROOM * free), f"{HEADROOM:.0%} of the {gib(free)} available on {device.type}"))
    if configured:
        candidates.append(Limit(configured, f"the worker's --max-memory-gb {configured / GIB:g}"))
    return min(candidates, key=lambda c: c.bytes) if candidates else None


def require(estimate: Estimate, limit: Limit | None, model_field: str, data_field: str = "") -> None:
    """Refuse with RESOURCE_EXHAUSTED naming the field to change: the batch size when a
    smaller batch fits, else the model (or the data) that alone is too large."""
    if limit is None or estimate.total <= limit.bytes:
        return
    parts = "; ".join(f"{name} {gib(b)}" for name, b in estimate.fixed if b)
    if estimate.batch:
        parts += f"; activations {gib(estimate.per_item * estimate.batch)} for {estimate.batch} {estimate.item_words} per batch"
    head = f"{estimate.what} needs about {gib(estimate.total)} ({parts}), over the limit of {gib(limit.bytes)} ({limit.explanation})"
    fixed = dict(estimate.fixed)
    fixed_total = sum(fixed.values())
    fits = (limit.bytes - fixed_total) // estimate.per_item if estimate.per_item else 0
    if estimate.batch and estimate.batch_field and fits >= 1:
        raise ResourceExhausted(f"{head}; at most {fits} {estimate.item_words} per batch fit", estimate.batch_field)
    data_bytes = next((b for name, b in estimate.fixed if "data" in name), 0)
    if data_field and data_bytes > fixed_total - data_bytes:
        raise ResourceExhausted(f"{head}; the data alone does not fit: use fewer or smaller tiles", data_field)
    raise ResourceExhausted(f"{head}; not even one {estimate.item_words[:-1]} per batch fits: use a smaller model",
                            model_field)


def tensor_bytes(num_images: int, channels: int, height: int, width: int, label_bytes: int = 8) -> int:
    """float32 images and int64 labels of a dataset on the device."""
    return num_images * height * width * (channels * FLOAT_BYTES + label_bytes)
