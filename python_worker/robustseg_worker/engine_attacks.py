"""The engine's attack work: attacked datasets, method two's scoring and building, and
the caches behind them. A mixin of engine.Engine: plain Python generators, no grpc.

Caches (lru.py): loaded models and dataset tensors per id (on the worker's device), and method
two's directions as int8 signs per (model id, dataset id, image index). A direction is
a_c = ε · sign(∇ₓ J(x, t_c)); the sign does not depend on ε, so one cached entry serves every ε.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import artifacts, attack_specs, attacks, failpoints, resources, sharding
from .candidate_scoring import SCORINGS, ScoreResult, direction_signs, score_rows
from .data import TileSet
from .errors import InvalidArgument
from .events import DatasetBuilt, DatasetInfo, ModelInfo, Progress
from .lru import LRU
from .sharding.jobs import ShardJob
from .store import artifact_id
from .torchrun import DistributedOptions

log = logging.getLogger(__name__)

MAX_ATTACK_BATCH = 65_536
# A sharded ScoreCandidates call launches processes (seconds) only when it has gradient work
# (directions not cached yet) or at least this many candidate rows per process; otherwise the
# worker's own process scores it, with the same result.
MIN_SHARDED_ROWS_PER_PROCESS = 256
StopFn = Callable[[], None]


def _never_stop() -> None:
    return None


def _outside_inference_mode(load: Callable[..., Any], *args: Any) -> Any:
    """What the caches hold is later attacked with gradients; loaded inside a caller's
    inference mode (Predict, evaluation) its tensors would be inference tensors, which autograd
    refuses."""
    with torch.inference_mode(False):
        return load(*args)


def _check_epsilon(value: Any, field: str = "epsilon") -> float:
    return attack_specs.check_epsilon(field, value)


class AttackMixin:
    """Needs from Engine: store, device, get_model, get_dataset, load_model, load_dataset."""

    def _init_caches(self, models: int = 4, datasets: int = 4, dataset_bytes: int = 4 * 2**30,
                     direction_bytes: int = 1 * 2**30) -> None:
        self._models: LRU = LRU(models)
        self._datasets: LRU = LRU(datasets, dataset_bytes)
        self._direction_cache_bytes = direction_bytes
        self._direction_cache: LRU = LRU(1 << 30, direction_bytes)

    # --- cached artifacts ----------------------------------------------------------------------

    def cached_model(self, model_id: str, field: str = "model_id") -> tuple[torch.nn.Module, ModelInfo]:
        self.get_model(model_id, field)  # InvalidArgument when empty, NotFound when unknown
        # Keyed by the file's identity too: a weights file changed on disk since it was loaded
        # (and checked) is loaded, and so checked, again instead of served from memory.
        key = (model_id, self._file_stamp("model", model_id, artifacts.MODEL_WEIGHTS))
        return self._models.get_or_load(key, lambda: _outside_inference_mode(self.load_model, model_id))

    def cached_dataset(self, dataset_id: str, field: str = "dataset_id") -> tuple[torch.Tensor, torch.Tensor]:
        """(images float32 (N,3,H,W), labels int64 (N,H,W)) on the worker's device."""
        self.get_dataset(dataset_id, field)

        def load() -> tuple[torch.Tensor, torch.Tensor]:
            tiles = self.load_dataset(dataset_id)
            return (torch.from_numpy(np.array(tiles.images, dtype=np.float32)).to(self.device),
                    torch.from_numpy(tiles.labels).to(self.device))

        return self._datasets.get_or_load((dataset_id, self._file_stamp("dataset", dataset_id, artifacts.DATASET_TENSORS)),
                                          lambda: _outside_inference_mode(load))

    def _file_stamp(self, kind: str, artifact_id: str, name: str) -> tuple[int, int, int]:
        try:
            st = (self.store.path(kind, artifact_id) / name).stat()
        except FileNotFoundError:
            return (-1, -1, -1)  # the load names the missing file
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    def dataset_bytes_to_load(self, info: DatasetInfo) -> int:
        """What cached_dataset would allocate for the dataset (0 when it is cached already)."""
        if (info.id, self._file_stamp("dataset", info.id, artifacts.DATASET_TENSORS)) in self._datasets:
            return 0
        return resources.tensor_bytes(info.num_images, info.channels, info.height, info.width)

    def _check_attack_memory(self, model_infos: list[ModelInfo], dataset: DatasetInfo, batch: int, batch_field: str,
                             what: str) -> None:
        """Gradient work against the last of `model_infos` (the others are only held)."""
        profiles = [self.model_profile(i, dataset.channels, dataset.height, dataset.width) for i in model_infos]
        if any(p is None for p in profiles):
            return
        estimate = resources.attack(profiles, min(batch, dataset.num_images), self.dataset_bytes_to_load(dataset),
                                    batch_field, what)
        self.require_memory(estimate, "model_id", "dataset_id")

    def _default_gradient_batch(self, dataset: DatasetInfo) -> int:
        return attacks.default_batch(torch.empty(0, dataset.channels, dataset.height, dataset.width, device=self.device),
                                     backward=True)

    def _pair(self, model_id: str, dataset_id: str, model_field: str = "model_id",
              dataset_field: str = "dataset_id") -> tuple[ModelInfo, DatasetInfo]:
        model = self.get_model(model_id, model_field)
        dataset = self.get_dataset(dataset_id, dataset_field)
        if dataset.class_names != model.class_names:
            raise InvalidArgument(dataset_field, f"dataset {dataset_id} has classes {dataset.class_names}, "
                                  f"model {model_id} predicts {model.class_names}")
        return model, dataset

    # --- attack a dataset ----------------------------------------------------------------------

    def attack_dataset(self, model_id: str, dataset_id: str, attack: dict[str, Any] | None, batch_size: int = 0,
                       check_stop: StopFn = _never_stop,
                       distributed: dict[str, Any] | None = None) -> Iterator[Progress | DatasetBuilt]:
        """Every image attacked against the model -> a new dataset (same labels). Id from
        (model id, dataset id, canonical spec, code version); asking again reuses it.
        Progress: stage "attack", done/total in image-steps (images × gradient steps per image),
        after every batch (and every layer of method one). ``distributed`` (DistributedStage
        fields): the batches are shared among torchrun's processes (sharding/), same artifact."""
        model_info, dataset = self._pair(model_id, dataset_id)
        spec = attack_specs.resolve(attack, model_info.num_classes)
        _check_batch(batch_size)
        shards = DistributedOptions.from_params(distributed)
        self._check_attack_memory([model_info], dataset, batch_size or self._default_gradient_batch(dataset),
                                  "batch_size" if batch_size else "", "the attack")
        recipe = {"source": "attack", "model_id": model_id, "dataset_id": dataset_id, "attack": spec.canonical}
        new_id = artifact_id("dataset", recipe)
        per_image = spec.steps_per_image
        total = dataset.num_images * per_image

        def build(images, labels, out, stop):
            model, _ = self.cached_model(model_id)
            n = images.shape[0]
            batch = batch_size or attacks.default_batch(images, backward=True, model=model)
            if shards.enabled:
                yield from sharding.attack_images(self._shard_job(shards, model_id, dataset_id), attack, batch,
                                                  per_image, out, stop)
                return
            for start in range(0, n, batch):
                x, y = images[start:start + batch], labels[start:start + batch]
                x_adv = spec.run(model, x, y, start, stop)
                out[start:start + x.shape[0]] = x_adv
                failpoints.hit("attack.batch")
                yield Progress("attack", start * per_image + x.shape[0] * per_image, total)
        yield from self._build_dataset(new_id, recipe, dataset, {"model_id": model_id, "dataset_id": dataset_id},
                                       "attack", spec.canonical.get("seed", 0), build, check_stop, total, shards)

    # --- method two ----------------------------------------------------------------------------

    def _directions(self, model, model_id: str, dataset_id: str, images: torch.Tensor, indices: list[int],
                    num_classes: int, check_stop: StopFn) -> torch.Tensor:
        """int8 signs (U, C, 3, H, W) of ∇ₓ J(x, t_c) for the given image indices, cached."""
        found = [self._direction_cache.get((model_id, dataset_id, i)) for i in indices]
        missing = [k for k, d in enumerate(found) if d is None]
        if missing:
            def should_stop() -> bool:
                check_stop()
                return False
            x = images[[indices[k] for k in missing]]
            signs = direction_signs(model, x, num_classes, should_stop)
            for k, s in zip(missing, signs):
                found[k] = self._direction_cache.put((model_id, dataset_id, indices[k]), s.clone())
        return torch.stack(found)

    def score_candidates(self, model_id: str, dataset_id: str, epsilon: float, project: bool,
                         image_indices: np.ndarray, candidates: np.ndarray,
                         check_stop: StopFn = _never_stop, scoring: str = "loss",
                         centres: np.ndarray | None = None, distributed: dict[str, Any] | None = None) -> ScoreResult:
        """Method two's scorer. ``scoring="loss"``: J(θ, x_s, y) of each candidate row, x_s built
        from the row's image (image_indices[m]) and signs (candidates[m]); rows of one image share
        its directions, rows of all images share forward passes. ``"logit_additive"``: estimates
        around each row's centre (``centres`` (M, C) int8, default s = 0;
        attacks.logit_additive_scores), exact on basis rows (``exact``). ``distributed``: the
        distinct images are shared among torchrun's processes when the call is worth a launch
        (:data:`MIN_SHARDED_ROWS_PER_PROCESS`); same scores either way."""
        eps = _check_epsilon(epsilon)  # before anything is loaded
        model_info, dataset = self._pair(model_id, dataset_id)
        c = model_info.num_classes
        idx = np.asarray(image_indices)
        shards = DistributedOptions.from_params(distributed)
        _check_sign_rows(candidates, "candidates", c)
        m = candidates.shape[0]
        if idx.shape != (m,):
            raise InvalidArgument("image_indices", f"must have one entry per candidate row ({m}), got {idx.size}")
        if m and (idx.min() < 0 or idx.max() >= dataset.num_images):
            bad = int(idx[(idx < 0) | (idx >= dataset.num_images)][0])
            raise InvalidArgument("image_indices", f"must be in [0, {dataset.num_images}), got {bad}")
        if scoring not in SCORINGS:
            raise InvalidArgument("scoring", f"must be one of {', '.join(s.upper() for s in SCORINGS)}, got {scoring!r}")
        if centres is not None:
            if scoring != "logit_additive":
                raise InvalidArgument("centres", "only with scoring LOGIT_ADDITIVE")
            _check_sign_rows(centres, "centres", c)
            if centres.shape != candidates.shape:
                raise InvalidArgument("centres", f"shape must be {tuple(candidates.shape)} like candidates, got "
                                      f"{tuple(centres.shape)}")
        if m == 0:
            return ScoreResult(np.empty(0, dtype=np.float64), None, 0)
        # Directions are gradients of image x class pairs in the attack library's default chunks.
        self._check_attack_memory([model_info], dataset, self._default_gradient_batch(dataset), "",
                                  "scoring method two's candidates")
        model, _ = self.cached_model(model_id)
        images, labels = self.cached_dataset(dataset_id)
        uniq, inverse = np.unique(idx, return_inverse=True)
        check_stop()

        def should_stop() -> bool:
            check_stop()
            return False

        if shards.enabled and self._worth_sharding(model_id, dataset_id, uniq, m, shards):
            sharded = sharding.score_candidates(self._shard_job(shards, model_id, dataset_id), uniq, inverse,
                                                candidates, eps, project, scoring, centres, check_stop)
            for i, signs in zip(uniq.tolist(), sharded.directions):
                self._direction_cache.put((model_id, dataset_id, i), signs.to(self.device))
            return sharded.result
        model, _ = self.cached_model(model_id)
        images, labels = self.cached_dataset(dataset_id)
        directions = self._directions(model, model_id, dataset_id, images, uniq.tolist(), c, check_stop)
        sel = torch.from_numpy(uniq).to(self.device)
        return score_rows(model, images[sel], labels[sel], directions, inverse, candidates, eps, project, scoring,
                          centres, should_stop)

    def _worth_sharding(self, model_id: str, dataset_id: str, uniq: np.ndarray, rows: int,
                        shards: DistributedOptions) -> bool:
        if shards.nnodes > 1:  # every node must launch for every call, whatever its cache holds
            return True
        missing = any(self._direction_cache.get((model_id, dataset_id, i)) is None for i in uniq.tolist())
        return missing or rows >= MIN_SHARDED_ROWS_PER_PROCESS * shards.world_size

    def _shard_job(self, shards: DistributedOptions, model_id: str, dataset_id: str) -> ShardJob:
        shards.check_local(self.device)
        return ShardJob(shards, self.store.root, self.device, torch.get_num_threads(), model_id, dataset_id)

    def reset_scoring_caches(self) -> None:
        """Forgets method two's cached directions (benchmarks: each run pays its own)."""
        self._direction_cache = LRU(1 << 30, self._direction_cache_bytes)

    def build_enhanced_dataset(self, model_id: str, dataset_id: str, epsilon: float, project: bool,
                               signs: np.ndarray, batch_size: int = 0, check_stop: StopFn = _never_stop,
                               distributed: dict[str, Any] | None = None) -> Iterator[Progress | DatasetBuilt]:
        """x_{s*} = clip(x + Σ_c s_c a_c, 0, 1) (projected onto the ε-ball with `project`) per
        image -> a new dataset. Id from (model, dataset, ε, project, sha256 of the signs' bytes).
        Progress: stage "enhance", images done/total."""
        eps = _check_epsilon(epsilon)  # before anything is loaded
        model_info, dataset = self._pair(model_id, dataset_id)
        c, n = model_info.num_classes, dataset.num_images
        if signs.dtype != np.int8:
            raise InvalidArgument("signs", f"dtype must be int8, got {signs.dtype}")
        if signs.shape != (n, c):
            raise InvalidArgument("signs", f"shape must be ({n}, {c}): one row per image of dataset {dataset_id}, "
                                  f"one column per class, got {tuple(signs.shape)}")
        if signs.size and np.abs(signs).max() > 1:
            raise InvalidArgument("signs", "values must be -1, 0 or +1")
        _check_batch(batch_size)
        shards = DistributedOptions.from_params(distributed)
        self._check_attack_memory([model_info], dataset, batch_size or self._default_gradient_batch(dataset),
                                  "batch_size" if batch_size else "", "building the enhanced dataset")
        signs = np.ascontiguousarray(signs)
        recipe = {"source": "enhance", "model_id": model_id, "dataset_id": dataset_id, "epsilon": eps,
                  "project": bool(project), "signs_sha256": hashlib.sha256(signs.tobytes()).hexdigest()}
        new_id = artifact_id("dataset", recipe)

        def build(images, labels, out, stop):
            model, _ = self.cached_model(model_id)
            batch = batch_size or attacks.default_batch(images, backward=True)
            if shards.enabled:
                yield from sharding.enhance_images(self._shard_job(shards, model_id, dataset_id), eps, project, signs,
                                                   batch, out, stop)
                return
            for start in range(0, n, batch):
                stop()
                rows = list(range(start, min(start + batch, n)))
                d = self._directions(model, model_id, dataset_id, images, rows, c, stop).to(torch.float32).mul_(eps)
                s = torch.from_numpy(signs[start:start + len(rows)]).to(self.device)
                out[start:start + len(rows)] = attacks.apply_signs(images[start:start + len(rows)], d, s,
                                                                   project_eps=eps if project else None)
                yield Progress("enhance", start + len(rows), n)
        yield from self._build_dataset(new_id, recipe, dataset, {"model_id": model_id, "dataset_id": dataset_id},
                                       "enhance", 0, build, check_stop, n, shards)

    # --- shared: build-or-reuse a derived dataset ---------------------------------------------

    def _build_dataset(self, new_id: str, recipe: dict, parent: DatasetInfo, parents: dict, stage: str, seed: int,
                       build, check_stop: StopFn, total: int,
                       shards: DistributedOptions = DistributedOptions()) -> Iterator[Progress | DatasetBuilt]:
        with self.store.lock(new_id, check_stop):
            if self.store.exists_intact("dataset", new_id):
                info = self.get_dataset(new_id)
                log.info("dataset %s (%s of %s) reused", new_id, stage, parent.id)
                yield Progress(stage, total, total, f"reused {new_id}")
                yield DatasetBuilt(info, True, info.provenance.get("mean_linf", float("nan")),
                                   info.provenance.get("max_linf", float("nan")))
                return
            started = time.monotonic()
            images, labels = self.cached_dataset(parent.id)
            out = torch.empty_like(images)
            yield Progress(stage, 0, total)
            yield from build(images, labels, out, check_stop)
            check_stop()
            linf = (out - images).abs().flatten(1).amax(dim=1) if len(out) else torch.zeros(1)
            mean_linf, max_linf = float(linf.double().mean()), float(linf.max())
            tiles = TileSet(out.cpu().numpy(), labels.cpu().numpy(), tuple(parent.class_names))
            tiles.check()
            # Same images in the same order: a derived dataset keeps its parent's per-image
            # fields (e.g. tags) where DatasetInfo has them.
            inherited = {k: getattr(parent, k) for k in ("tag_name", "image_tags") if hasattr(parent, k)}
            info = DatasetInfo(
                **inherited, id=new_id, split=parent.split, num_images=parent.num_images, height=parent.height,
                width=parent.width, channels=parent.channels, class_names=list(parent.class_names),
                class_pixel_counts=list(parent.class_pixel_counts), source=stage,
                provenance=artifacts.provenance("dataset", recipe, parents, seed, mean_linf=mean_linf,
                                                max_linf=max_linf, device=str(self.device),
                                                processes=shards.world_size,
                                                duration_s=round(time.monotonic() - started, 3)),
            )
            self.store.write("dataset", new_id, lambda d: artifacts.write_dataset(d, tiles, info))
            log.info("dataset %s (%s of %s against %s) in %.1fs, mean L-inf %.4g, max %.4g", new_id, stage,
                     parent.id, parents.get("model_id"), time.monotonic() - started, mean_linf, max_linf)
            yield DatasetBuilt(info, False, mean_linf, max_linf)


def _check_sign_rows(rows: np.ndarray, field: str, c: int) -> None:
    if rows.dtype != np.int8:
        raise InvalidArgument(field, f"dtype must be int8, got {rows.dtype}")
    if rows.ndim != 2 or rows.shape[1] != c:
        raise InvalidArgument(field, f"shape must be (M, {c}) for a model with {c} classes, got {tuple(rows.shape)}")
    if rows.size and np.abs(rows).max() > 1:
        raise InvalidArgument(field, "values must be -1, 0 or +1")


def _check_batch(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 <= batch_size <= MAX_ATTACK_BATCH:
        raise InvalidArgument("batch_size", f"must be between 0 (the worker's default) and {MAX_ATTACK_BATCH}, "
                              f"got {batch_size!r}")
