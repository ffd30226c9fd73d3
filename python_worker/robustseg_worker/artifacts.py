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

from . import __version__, cancellation, models, safetensors_io
from .data import TileSet
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


def read_dataset_info(store: ArtifactStore, dataset_id: str) -> DatasetInfo:
    """meta.json as DatasetInfo; a file that parses but lacks fields is corrupt too."""
    meta = store.read_meta("dataset", dataset_id)
    try:
        info = dataset_info(meta)
        _check_dataset_meta(info)
    except (KeyError, TypeError, ValueError) as e:
        raise store.corrupt("dataset", dataset_id, META_FILE, f"not a dataset description ({_problem(e)})") from None
    return info


def _check_dataset_meta(info: DatasetInfo) -> None:
    sizes = (info.num_images, info.channels, info.height, info.width)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in sizes):
        raise ValueError(f"sizes {list(sizes)} are not counts")
    if not isinstance(info.class_names, list) or not info.class_names or \
            not all(isinstance(c, str) for c in info.class_names):
        raise ValueError("class_names is not a list of names")
    if not isinstance(info.class_pixel_counts, list) or len(info.class_pixel_counts) != len(info.class_names):
        raise ValueError("class_pixel_counts does not have one count per class")


# Images are checked in chunks of this many bytes: one pass, no whole-dataset temporaries.
_CHECK_CHUNK_BYTES = 64 * 2**20


def load_dataset(store: ArtifactStore, dataset_id: str) -> TileSet:
    """The dataset as numpy: images are a read-only memory map of the file (no copy until
    used), labels are widened to int64. The file is checked against its manifest first, and
    the values against the invariants every consumer relies on (finite images in [0, 1],
    labels below the number of classes)."""
    info = read_dataset_info(store, dataset_id)
    path = store.checked_file("dataset", dataset_id, DATASET_TENSORS)

    def corrupt(problem: str) -> Exception:
        return store.corrupt("dataset", dataset_id, DATASET_TENSORS, problem)

    try:
        arrays, _ = safetensors_io.load_file(path)
        images, labels = arrays["images"], arrays["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise corrupt(f"not a dataset tensor file ({_problem(e)})") from None
    expected = (info.num_images, info.channels, info.height, info.width)
    if images.shape != expected or labels.shape != (expected[0], *expected[2:]):
        raise corrupt(f"tensors {list(images.shape)} and {list(labels.shape)} do not match meta.json {list(expected)}")
    if images.dtype != np.float32 or labels.dtype.kind not in "iu":
        raise corrupt(f"dtypes {images.dtype}/{labels.dtype}, expected float32 images and integer labels")
    per_chunk = max(1, _CHECK_CHUNK_BYTES // max(1, images[:1].nbytes))
    for start in range(0, len(images), per_chunk):
        chunk = images[start:start + per_chunk]
        if not np.isfinite(chunk).all():
            raise corrupt(f"images {start}-{start + len(chunk) - 1} hold NaN or infinite values")
        if chunk.size and (chunk.min() < 0 or chunk.max() > 1):
            raise corrupt(f"images {start}-{start + len(chunk) - 1} hold values outside [0, 1] "
                          f"(min {chunk.min():g}, max {chunk.max():g})")
    if labels.size and (labels.min() < 0 or labels.max() >= len(info.class_names)):
        raise corrupt(f"labels outside [0, {len(info.class_names)}) (the dataset's classes)")
    return TileSet(images, labels.astype(np.int64), tuple(info.class_names))


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


def read_model_info(store: ArtifactStore, model_id: str) -> tuple[ModelInfo, dict[str, Any]]:
    """meta.json as ModelInfo plus what rebuilds the module; missing fields mean corrupt."""
    meta = store.read_meta("model", model_id)
    try:
        info, rebuild = model_info(meta), meta["rebuild"]
        if not isinstance(info.spec, dict) or not isinstance(info.num_classes, int) or info.num_classes < 1 or \
                not isinstance(rebuild, dict):
            raise ValueError("spec, num_classes or rebuild malformed")
    except (KeyError, TypeError, ValueError) as e:
        raise store.corrupt("model", model_id, META_FILE, f"not a model description ({_problem(e)})") from None
    return info, rebuild


def load_model(store: ArtifactStore, model_id: str, device: torch.device) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the module from meta.json and load its weights (checked against the manifest,
    every floating tensor finite); eval mode, on `device`."""
    info, rebuild = read_model_info(store, model_id)
    path = store.checked_file("model", model_id, MODEL_WEIGHTS)
    try:
        model = models.build_model(info.backend, info.spec, info.num_classes, rebuild["in_channels"],
                                   rebuild["input_mean"], rebuild["input_std"])
    except (KeyError, TypeError, ValueError) as e:
        raise store.corrupt("model", model_id, META_FILE, f"cannot rebuild the module from it ({_problem(e)})") from None
    try:
        state = safetensors_io.load_torch(path)
    except (OSError, KeyError, ValueError) as e:
        raise store.corrupt("model", model_id, MODEL_WEIGHTS, f"not a weights file ({_problem(e)})") from None
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise store.corrupt("model", model_id, MODEL_WEIGHTS, f"tensor {name} holds NaN or infinite values")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise store.corrupt("model", model_id, MODEL_WEIGHTS,
                            f"does not fit the {info.backend} module ({_problem(e)})") from None
    return cancellation.install(model.to(device).eval()), info


def _problem(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] or type(exc).__name__) if not isinstance(exc, KeyError) else f"missing field {text}"
