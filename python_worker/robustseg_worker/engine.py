"""The engine: what the worker can do, as plain Python (no grpc), so it is testable directly and
the servicer stays a thin translation layer.

Long work is a generator of events (events.py) whose last event is the result. Every such
method takes `check_stop`, a callable that raises (Cancelled, Unavailable) when the caller wants
the work to stop; it is polled at every step.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, artifacts, cancellation, data, figures, models, resources, sharding, torchrun, training
from . import worst_case
from .attack_specs import ATTACK_METHODS, resolve as resolve_attack
from .engine_attacks import AttackMixin
from .engine_export import ExportMixin
from .engine_plan import PlanMixin
from .engine_serving import ServingMixin
from .device import describe
from .errors import InvalidArgument
from .evaluation import evaluate as evaluate_model
from .evaluation import total_counts
from .events import (
    DatasetInfo,
    DatasetsCreated,
    EvaluationResult,
    ModelInfo,
    ModelTrained,
    Progress,
    WorkerInfo,
)
from .store import ArtifactStore, artifact_id
from .training.distributed import DistributedOptions, train_distributed
from .training.distributed import check_batch as check_distributed_batch

log = logging.getLogger(__name__)

CAPABILITIES = ["create_dataset", "train", "evaluate", "attack_dataset", "evaluate_under_attack",
                "score_candidates", "build_enhanced_dataset", "render_panels", "validate_plan", "export_model",
                "evaluate_worst_case", "adversarial_training",
                *ATTACK_METHODS, "predict", "probe", "model_aliases", "open_inference_protocol", "verify_store",
                "collect_garbage", "resume_training"]
DEFAULT_EVALUATION_BATCH = 16
MAX_EVALUATION_BATCH = 65_536
MAX_ENSEMBLE_MEMBERS = 32


def _never_stop() -> None:
    return None


@dataclass
class TrainRequest:
    """A Train call as plain values: the backend's oneof member and its fields, dataset ids and
    the raw TrainingConfig fields (validated here, naming the field on error)."""

    architecture: str | None  # e.g. "unet"; None when the request set none
    spec: dict[str, Any] = field(default_factory=dict)
    train_dataset_ids: list[str] = field(default_factory=list)
    validation_dataset_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    # The raw DistributedTraining fields (empty: in the worker's process).
    distributed: dict[str, Any] = field(default_factory=dict)


class Engine(AttackMixin, PlanMixin, ExportMixin, ServingMixin):
    def __init__(self, workspace: str | Path, device: torch.device | str = "cpu",
                 max_message_bytes: int = 64 * 2**20, data_paths: data.DataPaths | None = None,
                 memory_limit_bytes: int | None = None, read_only: bool = False) -> None:
        # read_only: store verify on read-only storage (cli.py --read-only); see ArtifactStore.
        self.store = ArtifactStore(workspace, read_only=read_only)
        # Work whose memory estimate exceeds this (or 80% of the device's free memory) is
        # refused before it starts (resources.py); None: only the free memory counts.
        self.memory_limit_bytes = memory_limit_bytes
        # Which files file-based data sources may read (docs/ARCHITECTURE.md section 12); default: any
        # readable path (a local worker). cli.py passes --data-root and the loopback rule.
        self.data_paths = data_paths or data.DataPaths.unrestricted()
        self.device = torch.device(device)
        self.max_message_bytes = max_message_bytes
        self._init_caches()

    # --- info --------------------------------------------------------------------------------

    def info(self) -> WorkerInfo:
        name, kind = describe(self.device)
        return WorkerInfo(
            version=__version__,
            device=name,
            device_type=kind,
            torch_version=torch.__version__,
            torch_threads=torch.get_num_threads(),
            backends=models.names(),
            backend_details=models.all_details(),
            data_sources=data.names(),
            capabilities=list(CAPABILITIES),
            workspace=str(self.store.root),
            max_message_bytes=self.max_message_bytes,
        )

    # --- datasets ----------------------------------------------------------------------------

    def create_dataset(self, source_field: str | None, params: dict[str, Any],
                       check_stop: Callable[[], None] = _never_stop) -> Iterator[Progress | DatasetsCreated]:
        """One dataset artifact per non-empty split; a split that already exists is reused."""
        if not source_field:
            raise InvalidArgument("source", "must set one of: " + ", ".join(
                data.get(n).request_field for n in data.names()))
        source = data.by_request_field(source_field)
        plans = source.plan(params, f"source.{source_field}", paths=self.data_paths)
        for plan in plans:  # every split whose tile size is known is checked before any work
            size = plan.recipe.get("tile_size") or 0
            if size and not self.store.exists("dataset", artifact_id("dataset", {"source": source.name, **plan.recipe})):
                self._check_split_memory(source, plan, 3, size, size)
        created, all_reused = [], True
        for plan in plans:
            dataset_id = artifact_id("dataset", {"source": source.name, **plan.recipe})
            with self.store.lock(dataset_id, check_stop):
                if self.store.exists_intact("dataset", dataset_id):
                    log.info("dataset %s (%s) reused", dataset_id, plan.split)
                    yield Progress(f"create:{plan.split}", plan.num_images, plan.num_images, f"reused {dataset_id}")
                else:
                    all_reused = False
                    yield from self._render_split(source, plan, dataset_id, check_stop)
            created.append(self.get_dataset(dataset_id))
        yield DatasetsCreated(created, all_reused)

    def _check_split_memory(self, source: data.DataSource, plan: data.SplitPlan, channels: int, height: int,
                            width: int) -> None:
        # Generation holds float32 images and int64 labels of the whole split in memory.
        n = plan.num_images
        self.require_memory(resources.Estimate(
            f"the {plan.split} split of {n} tiles of {height}x{width}",
            fixed=[("its data", resources.tensor_bytes(n, channels, height, width, label_bytes=9))]),
            "source", f"source.{source.request_field}", device=torch.device("cpu"))

    def _render_split(self, source: data.DataSource, plan: data.SplitPlan, dataset_id: str,
                      check_stop: Callable[[], None]) -> Iterator[Progress]:
        started = time.monotonic()
        n, stage = plan.num_images, f"create:{plan.split}"
        yield Progress(stage, 0, n)  # before the first tile, which may take seconds
        first = source.render(plan, 0, 1)
        _, channels, height, width = first.images.shape
        self._check_split_memory(source, plan, channels, height, width)
        images = np.empty((n, channels, height, width), dtype=np.float32)
        labels = np.empty((n, height, width), dtype=np.int64)
        class_names = data.plan_class_names(source, plan)
        tags: list[str] = []
        warnings = list(dict.fromkeys(first.warnings))
        for warning in warnings:
            log.warning("dataset %s (%s): %s", dataset_id, plan.split, warning)
            yield Progress(stage, 0, n, f"warning: {warning}")
        chunk = max(1, 2**18 // (height * width))  # ~a quarter second of work per progress event
        for start in range(0, n, chunk):
            check_stop()
            stop = min(start + chunk, n)
            tiles = first if (start, stop) == (0, 1) else source.render(plan, start, stop)
            tiles.check()
            images[start:stop], labels[start:stop] = tiles.images, tiles.labels
            if plan.tag_name:
                tags.extend(tiles.tags or [""] * (stop - start))
            warnings += [w for w in tiles.warnings if w not in warnings]
            yield Progress(stage, stop, n)
        tiles = data.TileSet(images, labels, class_names)
        info = DatasetInfo(
            id=dataset_id, split=plan.split, num_images=n, height=height, width=width, channels=channels,
            class_names=list(class_names), class_pixel_counts=tiles.class_pixel_counts(),
            source=source.name, tag_name=plan.tag_name, image_tags=tags, warnings=warnings,
            provenance=artifacts.provenance("dataset", {"source": source.name, **plan.recipe}, {},
                                            plan.recipe.get("seed", 0),
                                            duration_s=round(time.monotonic() - started, 3)),
        )
        check_stop()
        self.store.write("dataset", dataset_id, lambda d: artifacts.write_dataset(d, tiles, info))
        log.info("dataset %s (%s, %d tiles %dx%d) created in %.2fs", dataset_id, plan.split, n, height, width,
                 time.monotonic() - started)

    def get_dataset(self, dataset_id: str, field: str = "dataset_id") -> DatasetInfo:
        if not dataset_id:
            raise InvalidArgument(field, "required")
        return artifacts.read_dataset_info(self.store, dataset_id)

    def load_dataset(self, dataset_id: str) -> data.TileSet:
        return artifacts.load_dataset(self.store, dataset_id)

    def require_memory(self, estimate: resources.Estimate, model_field: str, data_field: str = "",
                       device: torch.device | None = None) -> None:
        """RESOURCE_EXHAUSTED naming the field, the estimate and the limit when it does not fit."""
        device = device or self.device
        resources.require(estimate, resources.limit_for(device, self.memory_limit_bytes), model_field, data_field)

    def model_profile(self, info: ModelInfo, in_channels: int, height: int, width: int) -> resources.ModelProfile | None:
        return resources.model_profile(info.backend, info.spec, info.num_classes, in_channels, height, width)

    def _dataset_tensors(self, dataset_ids: list[str], what: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenated images and labels, moved to the device once."""
        sets = [self.load_dataset(i) for i in dataset_ids]
        images = torch.from_numpy(np.concatenate([s.images for s in sets])).to(self.device)
        labels = torch.from_numpy(np.concatenate([s.labels for s in sets])).to(self.device)
        return images, labels

    # --- training ----------------------------------------------------------------------------

    def train(self, request: TrainRequest,
              check_stop: Callable[[], None] = _never_stop) -> Iterator[Any]:
        """Events: Progress, TrainStep, EpochSummary, then ModelTrained. The same request again
        returns the stored model (reused=True) without training."""
        backend = models.by_request_field(request.architecture, "model")
        spec = backend.resolve_spec(request.spec, f"model.{request.architecture}", self.data_paths)
        config = training.TrainingConfig.from_params(request.config, "config")
        models.check_training_batch(backend, spec, config.batch_size, "config.batch_size")
        distributed = DistributedOptions.from_params(request.distributed)
        if distributed.enabled:
            distributed.check_local(self.device)
            check_distributed_batch(distributed, config, backend.min_training_batch(spec))
            if config.adversarial:
                raise InvalidArgument("distributed", "adversarial training runs in one process for now "
                                      "(leave distributed unset)")
        train_infos = self._training_datasets(request.train_dataset_ids)
        num_train = sum(i.num_images for i in train_infos)
        if num_train < backend.min_training_batch(spec):
            raise InvalidArgument("train_dataset_ids", f"{num_train} training image(s): this {backend.name} model "
                                  f"trains on batches of at least {backend.min_training_batch(spec)}")
        validation_info = self._validation_dataset(request.validation_dataset_id, train_infos[0])

        recipe = {
            "backend": backend.name,
            "spec": spec,
            "config": config.as_dict(),
            "train_dataset_ids": list(request.train_dataset_ids),
            "validation_dataset_id": request.validation_dataset_id,
        }
        if distributed.enabled:
            # Not the single-process model: BatchNorm normalises each replica's rows apart.
            recipe["data_parallel_world_size"] = distributed.world_size
        model_id = artifact_id("model", recipe)
        if not self.store.exists("model", model_id):  # refused before waiting or loading anything
            self._check_training_memory(request, backend, spec, config, train_infos, validation_info)
        with self.store.lock(model_id, check_stop):
            if self.store.exists_intact("model", model_id):
                log.info("model %s reused", model_id)
                yield ModelTrained(self.get_model(model_id), reused=True)
                return
            yield from self._train_new(model_id, recipe, backend, spec, config, train_infos, validation_info, check_stop,
                                       distributed)

    def _training_datasets(self, dataset_ids: list[str]) -> list[DatasetInfo]:
        if not dataset_ids:
            raise InvalidArgument("train_dataset_ids", "at least one dataset id is required")
        infos = []
        for i, dataset_id in enumerate(dataset_ids):
            if not dataset_id:
                raise InvalidArgument(f"train_dataset_ids[{i}]", "must not be empty")
            info = self.get_dataset(dataset_id)
            first = infos[0] if infos else info
            if info.class_names != first.class_names:
                raise InvalidArgument(f"train_dataset_ids[{i}]", f"dataset {dataset_id} has classes {info.class_names}, "
                                      f"but train_dataset_ids[0] has {first.class_names}")
            if (info.height, info.width, info.channels) != (first.height, first.width, first.channels):
                raise InvalidArgument(f"train_dataset_ids[{i}]", f"dataset {dataset_id} has tiles {info.channels}x"
                                      f"{info.height}x{info.width}, but train_dataset_ids[0] has "
                                      f"{first.channels}x{first.height}x{first.width}")
            infos.append(info)
        return infos

    def _validation_dataset(self, dataset_id: str, reference: DatasetInfo) -> DatasetInfo:
        if not dataset_id:
            raise InvalidArgument("validation_dataset_id", "required: the best epoch is chosen by validation loss")
        info = self.get_dataset(dataset_id)
        if info.class_names != reference.class_names or info.channels != reference.channels:
            raise InvalidArgument("validation_dataset_id", f"dataset {dataset_id} has classes {info.class_names} and "
                                  f"{info.channels} channels, the training data {reference.class_names} and "
                                  f"{reference.channels}")
        return info

    def _check_training_memory(self, request: TrainRequest, backend, spec, config, train_infos, validation_info) -> None:
        first = train_infos[0]
        profile = resources.model_profile(backend.name, spec, len(first.class_names), first.channels, first.height,
                                          first.width)
        if profile is None:
            return
        data_bytes = sum(resources.tensor_bytes(i.num_images, i.channels, i.height, i.width)
                         for i in (*train_infos, validation_info))
        estimate = resources.training(profile, min(config.batch_size, sum(i.num_images for i in train_infos)), data_bytes)
        estimate.what = f"training on {first.height}x{first.width} tiles"
        self.require_memory(estimate, f"model.{request.architecture}", "train_dataset_ids")

    def _train_new(self, model_id, recipe, backend, spec, config, train_infos, validation_info, check_stop,
                   distributed: DistributedOptions):
        started = time.monotonic()
        num_classes = len(train_infos[0].class_names)
        yield Progress("load", 0, 2, "moving datasets to " + str(self.device))
        train_images, train_labels = self._dataset_tensors(recipe["train_dataset_ids"], "training data")
        val_images, val_labels = self._dataset_tensors([validation_info.id], "validation data")
        yield Progress("load", 2, 2)
        # The input normalisation inside the model: per-channel statistics of the training
        # pixels, fixed from then on (buffers, not parameters).
        flat = train_images.transpose(0, 1).reshape(train_images.shape[1], -1).double()
        mean = flat.mean(dim=1).tolist()
        std = [max(s, 1e-3) for s in flat.std(dim=1).tolist()]
        del flat
        model = cancellation.install(training.build_seeded(
            lambda: models.build_model(backend.name, spec, num_classes, int(train_images.shape[1]), mean, std), config.seed
        ).to(self.device))
        checkpoints = training.TrainingCheckpoints(self.store, model_id)
        state, earlier_s = None, 0.0
        if distributed.enabled:
            tensors = {"train_images": train_images, "train_labels": train_labels,
                       "validation_images": val_images, "validation_labels": val_labels}
            job_dir = torchrun.job_folder(self.store.root / "tmp", f"train-{model_id}")
            try:
                outcome = yield from train_distributed(model, tensors, num_classes, config, distributed, job_dir,
                                                       model_id, self.device, check_stop, torch.get_num_threads())
            finally:
                shutil.rmtree(job_dir, ignore_errors=True)
        else:
            # An earlier attempt that was interrupted left its last epoch here: continue after it.
            resumed = checkpoints.latest()
            state, earlier_s = resumed if resumed else (None, 0.0)
            if state is not None:
                log.info("model %s: resuming after epoch %d of %d", model_id, state.epoch, config.epochs)
                yield Progress("resume", state.epoch, config.epochs, f"resuming after epoch {state.epoch}")
            outcome = yield from training.train(
                model, train_images, train_labels, val_images, val_labels, num_classes, config, check_stop,
                resume=state, on_epoch=lambda s: checkpoints.save(s, earlier_s + time.monotonic() - started),
                batch_transform=config.adversarial.transform(config.seed) if config.adversarial else None,
            )
        info = ModelInfo(
            id=model_id, backend=backend.name, spec=spec, num_classes=num_classes,
            class_names=list(train_infos[0].class_names),
            num_parameters=sum(p.numel() for p in model.parameters()),
            best_epoch=outcome.best_epoch, best_validation_loss=outcome.best_validation_loss,
            history=outcome.history,
            provenance=artifacts.provenance(
                "model", recipe,
                {"train_dataset_ids": recipe["train_dataset_ids"], "validation_dataset_id": validation_info.id},
                config.seed, device=describe(self.device)[0],
                torch_threads=torch.get_num_threads(),
                duration_s=round(earlier_s + time.monotonic() - started, 3),
                resumed_after_epoch=state.epoch if state is not None else 0,
            ),
        )
        rebuild = {"in_channels": int(train_images.shape[1]), "input_mean": mean, "input_std": std,
                   "tile_height": int(train_images.shape[2]), "tile_width": int(train_images.shape[3])}
        check_stop()
        self.store.write("model", model_id, lambda d: artifacts.write_model(d, model, info, rebuild))
        checkpoints.remove()
        log.info("model %s trained in %.1fs (best epoch %d, validation loss %.4f)", model_id,
                 time.monotonic() - started, outcome.best_epoch, outcome.best_validation_loss)
        yield ModelTrained(info, reused=False)

    def get_model(self, model_id: str, field: str = "model_id") -> ModelInfo:
        if not model_id:
            raise InvalidArgument(field, "required")
        return artifacts.read_model_info(self.store, model_id)[0]

    def load_model(self, model_id: str) -> tuple[torch.nn.Module, ModelInfo]:
        """The stored model in eval mode on the worker's device (for evaluation and attacks)."""
        return artifacts.load_model(self.store, model_id, self.device)

    # --- evaluation --------------------------------------------------------------------------

    @staticmethod
    def _check_evaluation_args(model_id: str, dataset_id: str, batch_size: Any) -> None:
        for field_name, value in (("model_id", model_id), ("dataset_id", dataset_id)):
            if not value:
                raise InvalidArgument(field_name, "required")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 <= batch_size <= MAX_EVALUATION_BATCH:
            raise InvalidArgument("batch_size", f"must be between 0 (default {DEFAULT_EVALUATION_BATCH}) "
                                  f"and {MAX_EVALUATION_BATCH}, got {batch_size!r}")

    def evaluate(self, model_id: str, dataset_id: str, batch_size: int = 0,
                 check_stop: Callable[[], None] = _never_stop, attack: dict[str, Any] | None = None,
                 attack_model_id: str = "", distributed: dict[str, Any] | None = None
                 ) -> Iterator[Progress | EvaluationResult]:
        """Clean evaluation, or (with `attack`) evaluation of `model_id` on x_adv computed per
        batch against `attack_model_id` (empty: `model_id` itself, white-box; another id:
        transfer). Progress: stage "evaluate", images done/total. ``distributed`` (DistributedStage
        fields): the batches are shared among torchrun's processes, their counts added in batch
        order (the same totals)."""
        self._check_evaluation_args(model_id, dataset_id, batch_size)
        shards = DistributedOptions.from_params(distributed)
        model_info, dataset_info = self._pair(model_id, dataset_id)
        spec = None
        attacker_id = attack_model_id or model_id
        batch = batch_size or DEFAULT_EVALUATION_BATCH
        if attack is not None:
            attacker_info, _ = self._pair(attacker_id, dataset_id, "attack_model_id" if attack_model_id else "model_id")
            spec = resolve_attack(attack, attacker_info.num_classes)
            self._check_attack_memory([model_info, attacker_info], dataset_info, batch, "batch_size",
                                      "evaluation under attack")
        elif attack_model_id:
            raise InvalidArgument("attack_model_id", "set without attack: a clean evaluation attacks nothing")
        else:
            profile = self.model_profile(model_info, dataset_info.channels, dataset_info.height, dataset_info.width)
            if profile is not None:
                self.require_memory(resources.inference(profile, min(batch, dataset_info.num_images),
                                                        self.dataset_bytes_to_load(dataset_info)), "model_id")
        if shards.enabled:
            job = self._shard_job(shards, model_id, dataset_id)
            parts = yield from sharding.evaluate_counts(job, dataset_info.num_images, batch, attack, attack_model_id,
                                                        check_stop)
            result = total_counts(parts, model_info.num_classes, dataset_info.num_images, dataset_info.height,
                                  dataset_info.width, self.device)
        else:
            perturb = None
            if spec is not None:  # the ranks load their own attacker when sharded
                attacker, _ = self.cached_model(attacker_id)

                def perturb(x, y, first_index):
                    return spec.run(attacker, x, y, first_index, check_stop)

            model, _ = self.cached_model(model_id)
            images, labels = self.cached_dataset(dataset_id)
            result = yield from evaluate_model(model, images, labels, model_info.num_classes,
                                               batch, check_stop, perturb=perturb)
        if not math.isfinite(result.mean_loss):
            log.warning("evaluation of %s on %s: loss is %s", model_id, dataset_id, result.mean_loss)
        yield result

    def evaluate_worst_case(self, model_id: str, dataset_id: str, members: list[dict[str, Any]],
                            batch_size: int = 0, check_stop: Callable[[], None] = _never_stop,
                            attack_model_id: str = "", distributed: dict[str, Any] | None = None
                            ) -> Iterator[Progress | worst_case.WorstCaseResult]:
        """Every member attack per batch (against `attack_model_id`, empty = white-box), the model
        evaluated on each, and per image the member of lowest foreground accuracy: worst_case.py.
        Progress: stage "worst-case", images x members done/total. ``distributed``: batches
        shared among torchrun's processes, their shares added in batch order."""
        self._check_evaluation_args(model_id, dataset_id, batch_size)
        shards = DistributedOptions.from_params(distributed)
        if not members:
            raise InvalidArgument("members", "at least one attack is required")
        if len(members) > MAX_ENSEMBLE_MEMBERS:
            raise InvalidArgument("members", f"at most {MAX_ENSEMBLE_MEMBERS} attacks, got {len(members)}")
        model_info, dataset_info = self._pair(model_id, dataset_id)
        attacker_id = attack_model_id or model_id
        attacker_info, _ = self._pair(attacker_id, dataset_id, "attack_model_id" if attack_model_id else "model_id")
        specs = [resolve_attack(m, attacker_info.num_classes, f"members[{i}]") for i, m in enumerate(members)]
        self._check_attack_memory([model_info, attacker_info], dataset_info, batch_size or DEFAULT_EVALUATION_BATCH,
                                  "batch_size", "worst-case evaluation")
        batch = batch_size or DEFAULT_EVALUATION_BATCH
        if shards.enabled:
            parts = yield from sharding.worst_case_parts(self._shard_job(shards, model_id, dataset_id),
                                                         dataset_info.num_images, batch, members, attack_model_id,
                                                         check_stop)
            yield worst_case.total_worst_case(parts, len(members), model_info.num_classes, dataset_info.num_images,
                                              dataset_info.height, dataset_info.width, self.device)
            return
        attacker, _ = self.cached_model(attacker_id)
        model, _ = self.cached_model(model_id)
        images, labels = self.cached_dataset(dataset_id)

        def perturb_with(spec):
            return lambda x, y, first_index: spec.run(attacker, x, y, first_index, check_stop)

        result = yield from worst_case.evaluate_worst_case(
            model, images, labels, model_info.num_classes, batch,
            [perturb_with(s) for s in specs], check_stop)
        yield result

    # --- figures -----------------------------------------------------------------------------

    def render_panels(self, model_id: str, dataset_id: str, image_indices: list[int], **options: Any
                      ) -> figures.RenderedPanels:
        """Figure panels as PNG (image, truth, predictions, perturbation, target): figures.py."""
        return figures.render_panels(self, model_id, dataset_id, image_indices, **options)
