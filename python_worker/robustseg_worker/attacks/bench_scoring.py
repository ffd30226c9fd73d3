"""Benchmark method two's hot loop: scoring all 3^C candidates per image, by chunk size.

    python -m robustseg_worker.attacks.bench_scoring [--images 8] [--size 64] [--classes 6]
        [--chunks auto,4,8,32,64,128,256,729] [--base 16] [--device cpu] [--repeat 1]

Uses a small self-contained U-Net-like net (so it does not depend on the model registry) and
prints one line per chunk size, then the ratio of each to the fastest; ratios are measured in
one run, as docs/ARCHITECTURE.md section 14 asks. Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from .enhance import all_sign_vectors, class_directions, default_batch, score_candidates


class SmallUNet(nn.Module):
    """Two down, two up, skip connections, BatchNorm and ReLU: a small U-Net."""

    def __init__(self, classes: int = 6, base: int = 16) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
            )

        b = base
        self.enc1, self.enc2, self.mid = block(3, b), block(b, 2 * b), block(2 * b, 4 * b)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * b, 2 * b, 2, stride=2), block(4 * b, 2 * b)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * b, b, 2, stride=2), block(2 * b, b)
        self.head = nn.Conv2d(b, classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--base", type=int, default=16)
    ap.add_argument("--chunks", default="auto,4,8,32,64,128,256,729", help="comma list; auto = default_batch")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--bf16", action="store_true", help="autocast bf16 (CUDA)")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    dev = torch.device(args.device)
    model = SmallUNet(args.classes, args.base).to(dev).eval()
    x = torch.rand(args.images, 3, args.size, args.size, device=dev)
    y = torch.randint(0, args.classes, (args.images, args.size, args.size), device=dev)
    t0 = time.perf_counter()
    d = class_directions(model, x, args.classes, 0.01)
    t_dir = time.perf_counter() - t0
    signs = all_sign_vectors(args.classes, device=dev).unsqueeze(0).expand(args.images, -1, -1)
    n_cand = signs.shape[0] * signs.shape[1]
    params = sum(p.numel() for p in model.parameters())
    print(
        f"device={dev} threads={torch.get_num_threads()} torch={torch.__version__} model=SmallUNet(base={args.base}, "
        f"{params} params) images={args.images}x{args.size}x{args.size} classes={args.classes} "
        f"candidates={n_cand} ({signs.shape[1]}/image)"
    )
    print(f"class_directions: {t_dir:.2f} s for {args.images * args.classes} gradients")
    score_candidates(model, x[:1], y[:1], d[:1], signs[:1, :16], max_batch=16)  # warm-up
    results = []
    chunks = [default_batch(x) if c.strip() == "auto" else int(c) for c in args.chunks.split(",")]
    print(f"default (auto) max_batch for this device and size: {default_batch(x)}")
    for chunk in chunks:
        best = float("inf")
        for _ in range(args.repeat):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            score_candidates(
                model, x, y, d, signs, max_batch=chunk, autocast_dtype=torch.bfloat16 if args.bf16 else None
            )
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        results.append((chunk, best))
        print(f"max_batch={chunk:5d}: {best:7.2f} s  {n_cand / best:8.1f} candidates/s")
    fastest = min(t for _, t in results)
    print("ratio to fastest: " + ", ".join(f"{c}: {t / fastest:.2f}" for c, t in results))


if __name__ == "__main__":
    main()
