"""The benchmark driver: in-process operations on the worker's own engine, for ts/bench.

    python -m robustseg_worker.bench serve

reads one JSON request per line on stdin, ``{"op": NAME, ...arguments}``, and answers one JSON
line on stdout, ``{"ok": true, ...result}`` or ``{"ok": false, "error": MESSAGE}``. Timed
operations answer ``seconds`` (wall), ``cpuSeconds`` (this process), ``peakRssBytes`` and
``cudaMaxAllocatedBytes`` (see :class:`.machine.MemoryPeak`). The orchestrator interleaves these
with the same work through the worker and the CLI, so load from other processes hits both alike.

The engine is the worker's (:class:`~robustseg_worker.engine.Engine`) on the same workspace, so
models and datasets made through the worker are used here by id, unchanged.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import artifacts, attacks
from ..attack_specs import resolve as resolve_attack
from ..data import TileSet
from ..device import configure_threads, select_device
from ..engine import Engine
from ..events import DatasetInfo, ModelInfo
from ..models import build_model
from ..store import artifact_id
from ..training import build_seeded
from .machine import MemoryPeak, describe, load_average


class DriverError(ValueError):
    """A request the driver cannot answer (reported as {"ok": false})."""


def timed(device: torch.device, work: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Runs ``work`` and returns its value with wall/CPU seconds and memory peaks."""
    with MemoryPeak(device) as peak:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        c0, t0 = time.process_time(), time.perf_counter()
        value = work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return value, {"seconds": seconds, "cpuSeconds": cpu, **peak.as_dict()}


class Driver:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.device = torch.device("cpu")

    # --- set-up --------------------------------------------------------------------------------

    def op_open(self, workspace: str, device: str = "auto", threads: int = 0, precision: str = "auto") -> dict:
        self.device = select_device(device)
        configure_threads(threads or None)
        attacks.set_default_runtime(attacks.Runtime(precision=precision))
        self.engine = Engine(workspace, self.device)
        return {"machine": describe(self.device), "loadAverage": load_average()}

    def op_machine(self) -> dict:
        return {"machine": describe(self.device), "loadAverage": load_average()}

    def _engine(self) -> Engine:
        if self.engine is None:
            raise DriverError("call open first")
        return self.engine

    def _inputs(self, model_id: str, dataset_id: str, images: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
        engine = self._engine()
        model, _ = engine.cached_model(model_id)
        x, y = engine.cached_dataset(dataset_id)
        if not 1 <= images <= x.shape[0]:
            raise DriverError(f"images: must be in [1, {x.shape[0]}], got {images}")
        return model, x[:images], y[:images]

    # --- PGD: robustseg's library against torchattacks ---------------------------------------

    def _pgd_runner(self, impl: str, model: torch.nn.Module, x: torch.Tensor, steps: int, eps: float,
                    target_class: int) -> Callable[[], torch.Tensor]:
        """Targeted PGD towards a full-area class, no random start, α = 2.5·ε/K: the paper's
        evaluation attack, the same for both implementations."""
        target = attacks.full_area_target(x, target_class)
        spec = attacks.AttackSpec(eps=eps, steps=steps, targeted=True)
        if impl == "robustseg":
            return lambda: attacks.pgd(model, x, target, spec)
        if impl == "torchattacks":
            try:
                import torchattacks  # noqa: PLC0415 (benchmark-only)
            except Exception as error:
                raise DriverError(f"torchattacks is not installed ({error}); pip install -r requirements-bench.txt") from None
            attack = torchattacks.PGD(model, eps=eps, alpha=spec.step_size, steps=steps, random_start=False)
            attack.set_mode_targeted_by_label(quiet=True)
            return lambda: attack(x, target)
        raise DriverError(f"impl: must be robustseg or torchattacks, got {impl!r}")

    def op_pgd(self, impl: str, modelId: str, datasetId: str, images: int, steps: int, epsilon: float,
               targetClass: int = 0, warmup: bool = False) -> dict:
        model, x, _ = self._inputs(modelId, datasetId, images)
        run = self._pgd_runner(impl, model, x, steps, epsilon, targetClass)
        if warmup:
            run()
        _, timing = timed(self.device, run)
        return {**timing, "images": images, "steps": steps, "stepsPerSecond": images * steps / timing["seconds"]}

    def op_pgd_agreement(self, modelId: str, datasetId: str, images: int, steps: int, epsilon: float,
                         targetClass: int = 0) -> dict:
        """How alike the two implementations' results are: share of equal pixel values, and the
        targeted success (share of pixels predicted as the target) of each."""
        model, x, _ = self._inputs(modelId, datasetId, images)
        ours = self._pgd_runner("robustseg", model, x, steps, epsilon, targetClass)()
        theirs = self._pgd_runner("torchattacks", model, x, steps, epsilon, targetClass)()
        model.eval()
        with torch.inference_mode():
            hit = [float((model(a).argmax(1) == targetClass).double().mean()) for a in (x, ours, theirs)]
        return {
            "equalShare": float(((ours - theirs).abs() <= 1e-7).double().mean()),
            "maxAbsDifference": float((ours - theirs).abs().max()),
            "successClean": hit[0],
            "successRobustseg": hit[1],
            "successTorchattacks": hit[2],
        }

    # --- method one, evaluation, method two's scoring ----------------------------------------

    def op_method_one(self, modelId: str, datasetId: str, images: int, steps: int, epsilon: float) -> dict:
        model, x, _ = self._inputs(modelId, datasetId, images)
        spec = attacks.LayeredSpec(eps=epsilon, steps=steps)
        _, timing = timed(self.device, lambda: attacks.layered_pgd(model, x, spec))
        classes = int(self._engine().get_model(modelId).num_classes)
        grads = images * steps * classes
        return {**timing, "images": images, "gradientSteps": grads, "stepsPerSecond": grads / timing["seconds"]}

    def op_evaluate(self, modelId: str, datasetId: str, attack: dict | None = None, batchSize: int = 0) -> dict:
        """The engine's Evaluate, in-process (the control-plane overhead's reference)."""
        engine = self._engine()

        def work():
            events = list(engine.evaluate(modelId, datasetId, batchSize, attack=attack))
            return events[-1]

        result, timing = timed(self.device, work)
        return {**timing, "confusion": result.confusion, "numImages": result.num_images}

    def op_reset_caches(self) -> dict:
        """Forgets method two's cached directions and gradients (each strategy run pays its own)."""
        self._engine().reset_scoring_caches()
        return {}

    def op_score(self, modelId: str, datasetId: str, epsilon: float, imageIndices: list[int],
                 candidates: list[list[int]], project: bool = False, scoring: str = "loss",
                 centres: list[list[int]] | None = None) -> dict:
        """The engine's ScoreCandidates, in-process: a scorer for the TypeScript strategies."""
        engine = self._engine()
        cands = np.asarray(candidates, dtype=np.int8).reshape(len(imageIndices), -1)
        kwargs: dict[str, Any] = {"scoring": scoring}
        if centres is not None:
            kwargs["centres"] = np.asarray(centres, dtype=np.int8).reshape(cands.shape)
        result, timing = timed(self.device, lambda: engine.score_candidates(
            modelId, datasetId, epsilon, project, np.asarray(imageIndices, dtype=np.int64), cands, **kwargs))
        out = {**timing, "losses": [float(v) for v in result.losses], "forwardPasses": result.forward_passes}
        if result.exact is not None:
            out["exact"] = [int(v) for v in result.exact]
        return out

    def op_random_pair(self, classes: int, tile: int, images: int, depth: int = 2, baseWidth: int = 8,
                       seed: int = 0) -> dict:
        """A dataset of uniform-noise images with random labels and an untrained U-Net with
        ``classes`` classes, stored as artifacts (for cost curves over the class count, where what
        is measured is work, not what the model learnt). Asking again returns the same ids."""
        engine = self._engine()
        names = ["background", *[f"class{k}" for k in range(1, classes)]]
        recipe = {"source": "bench-random", "classes": classes, "tile": tile, "images": images, "seed": seed}
        dataset_id = artifact_id("dataset", recipe)
        gen = torch.Generator().manual_seed(seed)
        if not engine.store.exists("dataset", dataset_id):
            x = torch.rand((images, 3, tile, tile), generator=gen).numpy()
            y = torch.randint(0, classes, (images, tile, tile), generator=gen).numpy()
            tiles = TileSet(x, y, tuple(names))
            info = DatasetInfo(id=dataset_id, split="train", num_images=images, height=tile, width=tile, channels=3,
                               class_names=names, class_pixel_counts=tiles.class_pixel_counts(), source="bench-random",
                               provenance=artifacts.provenance("dataset", recipe, {}, seed))
            engine.store.write("dataset", dataset_id, lambda d: artifacts.write_dataset(d, tiles, info))
        spec = {"depth": depth, "base_width": baseWidth, "upsampling": "bilinear"}
        model_recipe = {"backend": "unet", "spec": spec, "untrained": True, "classes": classes, "seed": seed}
        model_id = artifact_id("model", model_recipe)
        if not engine.store.exists("model", model_id):
            model = build_seeded(lambda: build_model("unet", spec, classes, 3, [0.5] * 3, [0.25] * 3), seed).eval()
            minfo = ModelInfo(id=model_id, backend="unet", spec=spec, num_classes=classes, class_names=names,
                              num_parameters=sum(p.numel() for p in model.parameters()), best_epoch=0,
                              best_validation_loss=float("nan"), history=[],
                              provenance=artifacts.provenance("model", model_recipe, {}, seed))
            rebuild = {"in_channels": 3, "input_mean": [0.5] * 3, "input_std": [0.25] * 3, "tile_height": tile,
                       "tile_width": tile}
            engine.store.write("model", model_id, lambda d: artifacts.write_model(d, model, minfo, rebuild))
        return {"modelId": model_id, "datasetId": dataset_id}

    def op_attack_spec(self, attack: dict, numClasses: int) -> dict:
        """The canonical form the worker gives an attack spec (checks the TS side's spec)."""
        return {"canonical": resolve_attack(attack, numClasses).canonical}


def serve(stdin=None, stdout=None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    driver = Driver()
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            op = request.pop("op")
            handler = getattr(driver, f"op_{op}", None)
            if handler is None:
                raise DriverError(f"unknown op {op!r}")
            answer = {"ok": True, **handler(**request)}
        except Exception as error:  # every failure is answered; the orchestrator decides
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
    return 0
