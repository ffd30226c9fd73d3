"""Per-epoch training checkpoints: an interrupted training resumes after its last
finished epoch instead of from epoch 1, and ends with the same weights as an uninterrupted one.

`<workspace>/checkpoints/<model id>/epoch-NNNNN/` holds `state.safetensors` (the model's and
the best epoch's state_dict, Adam's moments, the random generator's state) and `state.json`
(epoch, best epoch and loss, history, Adam's hyper-parameters), sealed by a manifest like an
artifact and renamed into place whole; older epochs are then removed. The folder goes once the
model artifact is written. The model id names the recipe, so a checkpoint is only ever resumed
by the same training request; one that fails its checks is skipped (an older one, or epoch 1).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import failpoints, safetensors_io
from ..events import EpochSummary
from ..store import CHECKPOINTS, ArtifactStore, Damaged, check_folder, write_folder
from .trainer import TrainingState

log = logging.getLogger(__name__)
_TENSORS, _STATE = "state.safetensors", "state.json"
_FORMAT = "robustseg-training-checkpoint-1"


def _flatten(state: TrainingState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {f"model.{k}": v for k, v in state.model_state.items()}
    if state.best_state is not None:
        tensors.update({f"best.{k}": v for k, v in state.best_state.items()})
    tensors["generator"] = state.generator_state
    moments: dict[str, list[str]] = {}
    for index, entry in state.optimizer_state["state"].items():
        moments[str(index)] = sorted(entry)
        tensors.update({f"optimizer.{index}.{k}": torch.as_tensor(v) for k, v in entry.items()})
    meta = {
        "format": _FORMAT, "epoch": state.epoch, "best_epoch": state.best_epoch,
        "best_loss": state.best_loss, "has_best": state.best_state is not None,
        "history": [h.__dict__ for h in state.history],
        "optimizer": {"param_groups": state.optimizer_state["param_groups"], "state": moments},
    }
    return tensors, meta


def _unflatten(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> TrainingState:
    def group(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    optimizer = {"param_groups": meta["optimizer"]["param_groups"], "state": {
        int(index): {k: tensors[f"optimizer.{index}.{k}"] for k in keys}
        for index, keys in meta["optimizer"]["state"].items()}}
    return TrainingState(
        epoch=meta["epoch"], model_state=group("model."), optimizer_state=optimizer,
        generator_state=tensors["generator"], best_state=group("best.") if meta["has_best"] else None,
        best_epoch=meta["best_epoch"], best_loss=meta["best_loss"],
        history=[EpochSummary(**h) for h in meta["history"]])


class TrainingCheckpoints:
    """The checkpoints of one model id (the caller holds the id's lock)."""

    def __init__(self, store: ArtifactStore, model_id: str) -> None:
        self.store = store
        self.model_id = model_id
        self.directory = store.root / CHECKPOINTS / model_id

    def _epochs(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted((p for p in self.directory.iterdir() if p.name.startswith("epoch-")), reverse=True)

    def save(self, state: TrainingState, elapsed_s: float) -> None:
        """Store `state`; `elapsed_s` is the compute time so far (over every attempt)."""
        tensors, meta = _flatten(state)
        meta["elapsed_s"] = elapsed_s

        def fill(tmp: Path) -> None:
            safetensors_io.save_torch(tensors, tmp / _TENSORS, metadata={"format": _FORMAT, "model_id": self.model_id})
            with open(tmp / _STATE, "w", encoding="utf-8") as f:
                json.dump(meta, f)  # NaN allowed: a diverged validation loss is kept as it was

        final = self.directory / f"epoch-{state.epoch:05d}"
        tmp = self.store.root / "tmp" / f"{self.model_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        if final.exists():  # written by an attempt that died before removing older ones
            shutil.rmtree(final)
        write_folder(tmp, final, self.model_id, fill)
        failpoints.hit("checkpoint.saved")
        for older in self._epochs():
            if older != final:
                shutil.rmtree(older, ignore_errors=True)

    def latest(self) -> tuple[TrainingState, float] | None:
        """The newest checkpoint that passes its checks and the compute time it holds, or None."""
        for folder in self._epochs():
            try:
                check_folder(folder, self.model_id)
                arrays, dtypes = safetensors_io.load_file(folder / _TENSORS, mmap=False)
                tensors = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
                with open(folder / _STATE, encoding="utf-8") as f:
                    meta = json.load(f)
                if meta.get("format") != _FORMAT:
                    raise Damaged(_STATE, f"format {meta.get('format')!r}")
                return _unflatten(tensors, meta), float(meta["elapsed_s"])
            except (Damaged, OSError, ValueError, KeyError, TypeError) as e:
                log.warning("training checkpoint %s is unusable (%s); trying an older one", folder, e)
        return None

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
