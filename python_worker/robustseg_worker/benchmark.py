"""Timings of the foundation's hot paths on this machine (not a test).

    python -m robustseg_worker.benchmark [--device auto] [--threads 0] [--tile-size 64]

Creates 200 + 48 + 64 synthetic tiles, trains a depth-3 base-16 U-Net for one epoch on the
200 training tiles (batch 16) and evaluates it on the test split, in a fresh temporary
workspace; prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in __main__, before torch loads


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()

    import torch

    from .device import configure_threads, describe, select_device
    from .engine import Engine, TrainRequest
    from .events import DatasetsCreated, ModelTrained

    device = select_device(args.device)
    threads = configure_threads(args.threads or None)
    with tempfile.TemporaryDirectory() as workspace:
        engine = Engine(workspace, device)
        source = {"tile_size": args.tile_size, "num_train": 200, "num_validation": 48, "num_test": 64, "seed": 0}
        start = time.perf_counter()
        created = [e for e in engine.create_dataset("synthetic_histology", source) if isinstance(e, DatasetsCreated)][0]
        create_s = time.perf_counter() - start
        start = time.perf_counter()
        list(engine.create_dataset("synthetic_histology", source))
        reuse_s = time.perf_counter() - start
        train, validation, test = (d.id for d in created.datasets)
        request = TrainRequest("unet", {"depth": 3, "base_width": 16}, [train], validation,
                               {"epochs": args.epochs, "batch_size": 16, "learning_rate": 1e-3, "seed": 0, "augment": True})
        start = time.perf_counter()
        model = [e for e in engine.train(request) if isinstance(e, ModelTrained)][0].model
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        list(engine.evaluate(model.id, test))
        evaluate_s = time.perf_counter() - start
    print(json.dumps({
        "device": describe(device)[0], "torch_threads": threads, "torch": torch.__version__,
        "tile_size": args.tile_size, "create_200_48_64_s": round(create_s, 3), "reuse_s": round(reuse_s, 4),
        f"train_depth3_base16_{args.epochs}epoch_200tiles_batch16_s": round(train_s, 3),
        "train_includes_validation_of_48_tiles": True,
        "evaluate_64_tiles_s": round(evaluate_s, 3), "num_parameters": model.num_parameters,
    }))


if __name__ == "__main__":
    main()
