"""How datasets and models are laid out inside their artifact directories, and how they come
back as plain objects. The store (store.py) decides where and when; this decides what.

datasets/<id>/data.safetensors  images F32 (N,3,H,W) in [0,1]; labels U8 (N,H,W) (int64 in
                                memory; one byte on disk while there are <= 256 classes)
datasets/<id>/meta.json         DatasetInfo fields + provenance
models/<id>/weights.safetensors the state_dict (best validation loss), incl. BatchNorm and
                                input-normalisation buffers
models/<id>/meta.json           ModelInfo fields (+ full history with validation confusion
                                matrices) + what is needed to rebuild the module
"""

from __future__ import annotations

import datetime
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import __version__, models, safetensors_io
from .data import TileSet
from .errors import FailedPrecondition
from .events import DatasetInfo, EpochSummary, ModelInfo
from .store import CODE_VERSION, META_FILE, ArtifactStore, write_json

DATASET_TENSORS = "data.safetensors"
MODEL_WEIGHTS = "weights.safetensors"


def provenance(kind: str, recipe: dict[str, Any], parents: dict[str, Any], seed: int, **extra: Any) -> dict[str, Any]:
    """What made an artifact: the hashed recipe plus context that does not change the id."""
    return {
        "kind": kind,
        "recipe": recipe,
        "parents": parents,
        "seed": seed,
        "code_version": CODE_VERSION,
        "worker_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


# --- datasets ------------------------------------------------------------------------------------


def write_dataset(directory: Path, tiles: TileSet, info: DatasetInfo) -> None:
    labels = tiles.labels.astype(np.uint8) if len(tiles.class_names) <= 256 else tiles.labels
    safetensors_io.save_file(
        {"images": tiles.images, "labels": labels}, directory / DATASET_TENSORS,
        metadata={"artifact_id": info.id, "format": "robustseg-dataset-1"},
    )
    write_json(directory / META_FILE, {"format": "robustseg-dataset-1", **info.__dict__})


def dataset_info(meta: dict[str, Any]) -> DatasetInfo:
    # tag_name/image_tags came later: older meta.json files lack them (no tags).
    return DatasetInfo(**{k: meta[k] for k in DatasetInfo.__dataclass_fields__ if k in meta})


def load_dataset(store: ArtifactStore, dataset_id: str) -> TileSet:
    """The dataset as numpy: images are a read-only memory map of the file (no copy until
    used), labels are widened to int64."""
    meta = store.read_meta("dataset", dataset_id)
    path = store.require("dataset", dataset_id) / DATASET_TENSORS
    try:
        arrays, _ = safetensors_io.load_file(path)
        images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as e:
        raise FailedPrecondition(f"dataset {dataset_id} is unreadable ({e}); delete {path.parent} to rebuild it") from e
    expected = (meta["num_images"], meta["channels"], meta["height"], meta["width"])
    if images.shape != expected or labels.shape != (expected[0], *expected[2:]):
        raise FailedPrecondition(f"dataset {dataset_id}: tensors {images.shape} do not match meta.json {expected}")
    return TileSet(images, labels, tuple(meta["class_names"]))


# --- models --------------------------------------------------------------------------------------


def write_model(directory: Path, model: nn.Module, info: ModelInfo, rebuild: dict[str, Any]) -> None:
    safetensors_io.save_torch(
        model.state_dict(), directory / MODEL_WEIGHTS,
        metadata={"artifact_id": info.id, "format": "robustseg-model-1", "backend": info.backend},
    )
    meta = {"format": "robustseg-model-1", **info.__dict__, "rebuild": rebuild}
    meta["history"] = [h.__dict__ for h in info.history]
    write_json(directory / META_FILE, meta)


def model_info(meta: dict[str, Any]) -> ModelInfo:
    fields = {k: meta[k] for k in ModelInfo.__dataclass_fields__}
    fields["history"] = [EpochSummary(**h) for h in meta["history"]]
    return ModelInfo(**fields)


def load_model(store: ArtifactStore, model_id: str, device: torch.device) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the module from meta.json and load its weights; eval mode, on `device`."""
    meta = store.read_meta("model", model_id)
    info = model_info(meta)
    rebuild = meta["rebuild"]
    path = store.require("model", model_id) / MODEL_WEIGHTS
    model = models.build_model(info.backend, info.spec, info.num_classes, rebuild["in_channels"],
                               rebuild["input_mean"], rebuild["input_std"])
    try:
        model.load_state_dict(safetensors_io.load_torch(path))
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise FailedPrecondition(f"model {model_id} is unreadable ({e}); delete {path.parent} to retrain it") from e
    return model.to(device).eval(), info
