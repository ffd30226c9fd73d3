"""What a benchmark ran on, and the memory an operation peaked at."""

from __future__ import annotations

import os
import platform
import resource
from typing import Any

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def describe(device: torch.device) -> dict[str, Any]:
    """device, torch, threads, CPU and cores; the GPU's name and memory on CUDA."""
    out: dict[str, Any] = {
        "device": "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device),
        "deviceType": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "torchattacks": _torchattacks_version(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out["cudaMemoryBytes"] = int(props.total_memory)
        out["cuda"] = torch.version.cuda
    return out


def _torchattacks_version() -> str | None:
    try:
        import torchattacks  # noqa: PLC0415 (benchmark-only, optional)
    except Exception:
        return None
    return str(getattr(torchattacks, "__version__", "unknown"))


class MemoryPeak:
    """Peak resident memory (and CUDA max allocated) of this process during a ``with`` block.

    Linux resets the kernel's peak RSS (VmHWM) when "5" is written to /proc/self/clear_refs;
    where that is not possible the figure is the process's lifetime peak (``reset`` False)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.rss_bytes: int | None = None
        self.cuda_bytes: int | None = None
        self.reset = False

    def __enter__(self) -> "MemoryPeak":
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        self.rss_bytes = _vm_hwm()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.cuda_bytes = int(torch.cuda.max_memory_allocated(self.device))

    def as_dict(self) -> dict[str, Any]:
        return {"peakRssBytes": self.rss_bytes, "peakRssSinceReset": self.reset, "cudaMaxAllocatedBytes": self.cuda_bytes}


def _vm_hwm() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # ru_maxrss is KiB on Linux (bytes on macOS); only a lifetime peak.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if platform.system() == "Darwin" else peak * 1024)
