"""Per-step cost of each model backend on this machine (not a test): one training step (forward,
backward, Adam) and one PGD step (forward and input gradient, eval mode), the model framed as
the worker frames it.

    python -m robustseg_worker.bench_backends [--tile-size 64] [--batch 16] [--reps 4]
        [--threads 0] [--device auto] [--only smp]

Prints one JSON object per model spec; each time is the minimum over `--reps` repetitions after
a warm-up, so other processes on a shared machine inflate it less than a mean would."""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in __main__, before torch loads

# The backends' defaults, and the smaller variants examples are likely to choose.
SPECS = [
    ("unet", {"depth": 3, "base_width": 16}),
    ("unet", {}),
    ("smp", {}),
    ("smp", {"encoder_depth": 3}),
    ("smp", {"architecture": "FPN", "encoder_depth": 3}),
    ("smp", {"architecture": "Linknet", "encoder_depth": 3}),
    ("smp", {"architecture": "Segformer", "encoder_depth": 3}),
    ("smp", {"architecture": "DeepLabV3Plus"}),
    ("monai", {}),
    ("monai", {"architecture": "UNet"}),
    ("monai", {"architecture": "AttentionUnet"}),
    ("monai", {"architecture": "SwinUNETR"}),
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--reps", type=int, default=4)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--only", default="", help="a backend name: measure its specs only")
    args = p.parse_args()

    import torch
    import torch.nn.functional as F

    from . import models
    from .device import configure_threads, describe, select_device

    device = select_device(args.device)
    threads = configure_threads(args.threads or None)
    n, side, c = args.batch, args.tile_size, args.classes
    x = torch.rand(n, 3, side, side, device=device)
    y = torch.randint(0, c, (n, side, side), device=device)

    def timed(step) -> float:
        step()  # warm-up: allocations, oneDNN kernel choice
        times = []
        for _ in range(args.reps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        return min(times)

    for name, fields in SPECS:
        if args.only and name != args.only:
            continue
        backend = models.get(name)
        spec = backend.resolve_spec(fields, f"model.{name}")
        torch.manual_seed(0)
        model = backend.build(spec, c, 3, None, None).to(device)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)

        def train_step() -> None:
            model.train()
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()

        def pgd_step() -> None:
            model.eval()
            xv = x.detach().clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xv), y), xv)

        print(json.dumps({
            "backend": name, "spec": {k: v for k, v in spec.items() if k not in ("weights_file", "weights_sha256")},
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "tile_size": side, "batch": n, "train_step_s": round(timed(train_step), 4),
            "pgd_step_s": round(timed(pgd_step), 4), "device": describe(device)[0], "torch_threads": threads,
        }), flush=True)


if __name__ == "__main__":
    main()
