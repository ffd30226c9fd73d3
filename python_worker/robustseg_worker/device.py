"""Which device the worker computes on, and how many CPU threads torch uses."""

from __future__ import annotations

import contextlib
import os
import re

import torch


class DeviceUnavailable(ValueError):
    """--device names something this machine does not have."""


def select_device(spec: str = "auto") -> torch.device:
    """"auto": CUDA when present, else CPU. "cpu", "cuda" or "cuda:N" force a device and fail
    clearly when it is not there."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise DeviceUnavailable(f"--device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if not torch.cuda.is_available():
        raise DeviceUnavailable(f"--device {spec}: CUDA is not available on this machine (torch {torch.__version__})")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceUnavailable(f"--device {spec}: only {count} CUDA device(s) here (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def configure_threads(count: int | None = None) -> int:
    """`count` threads, by default every core this process may run on (torch may start with
    fewer, e.g. 1 in containers); also serves CPU-side work when computing on CUDA."""
    torch.set_num_threads(count or max(1, len(os.sched_getaffinity(0))))
    return torch.get_num_threads()


def describe(device: torch.device) -> tuple[str, str]:
    """(human name, type): ("NVIDIA H100 80GB HBM3", "cuda") or ("cpu", "cpu")."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device), "cuda"
    return "cpu", device.type


def autocast(device: torch.device):
    """bf16 autocast on CUDA (docs/ARCHITECTURE.md section 13); full precision on CPU, where results must be
    reproducible bit for bit."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
