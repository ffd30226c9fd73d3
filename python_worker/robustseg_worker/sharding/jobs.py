"""The worker's side of a sharded stage: write the job, launch torchrun on sharding.rank, turn
the ranks' progress into the stage's Progress events, and read back the gathered result.

A job names the workspace, the model and the dataset by id; every rank loads them from the store
itself (checked like any load), so nothing but the request's own arrays is copied. Each node's
first process writes the gathered result, so in a multi-node job every node's worker ends with
the same artifact (datasets and models must exist under the same ids on every node).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import torchrun
from ..candidate_scoring import ScoreResult
from ..evaluation import BatchCounts
from ..events import Progress
from ..torchrun import DistributedOptions
from ..worst_case import WorstCaseBatch

StopFn = Callable[[], None]
RANK_MODULE = "robustseg_worker.sharding.rank"


@dataclass(frozen=True)
class ShardJob:
    """What every sharded call shares: how to launch, where, and on which artifacts."""

    options: DistributedOptions
    workspace: Path
    device: torch.device
    threads: int  # the worker's; divided among a node's processes on CPU
    model_id: str
    dataset_id: str


@dataclass(frozen=True)
class ShardedScores:
    result: ScoreResult
    directions: list[torch.Tensor]  # int8 (C, 3, H, W) per distinct image, in the request's order


def rendezvous_id(kind: str, job: ShardJob, params: dict[str, Any]) -> str:
    """The default rendezvous id: a digest of the request, so every node's worker, given the same
    call, joins the same job without being told an id."""
    digest = hashlib.sha256(f"{kind}|{job.model_id}|{job.dataset_id}".encode())
    for key in sorted(params):
        value = params[key]
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray)
                      else json.dumps(value, sort_keys=True, default=str).encode())
    return f"{kind}-{digest.hexdigest()[:16]}"


def _run(job: ShardJob, kind: str, params: dict[str, Any], stage: str, total: int, unit: int,
         check_stop: StopFn) -> Generator[Progress, None, Any]:
    """Launch, relay progress (each rank reports images done; × ``unit`` for the stage's units),
    return the gathered result. The job folder is removed either way."""
    job_dir = torchrun.job_folder(job.workspace / "tmp", f"{kind}-{job.model_id}")
    job_dir.mkdir(parents=True)
    try:
        torch.save({"kind": kind, "workspace": str(job.workspace), "model_id": job.model_id,
                    "dataset_id": job.dataset_id, "device": job.device.type,
                    "backend": job.options.backend_for(job.device),
                    "threads": job.options.threads_per_process(job.device, job.threads),
                    **params}, job_dir / "job.pt")
        command = torchrun.torchrun_command(job.options, job_dir, rendezvous_id(kind, job, params), RANK_MODULE)
        yield Progress(stage, 0, total, "launch: " + " ".join(command))
        done: dict[int, int] = {}
        for event in torchrun.launch(command, check_stop, f"sharded {stage}"):
            if event.get("kind") == "progress":
                done[int(event["rank"])] = int(event["done"])
                yield Progress(stage, min(total, sum(done.values()) * unit), total)
        return torchrun.load_result(job_dir)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def attack_images(job: ShardJob, attack: dict[str, Any] | None, batch: int, steps_per_image: int,
                  out: torch.Tensor, check_stop: StopFn) -> Generator[Progress, None, None]:
    """x_adv of every image against the job's model into ``out`` (progress in image-steps)."""
    n = int(out.shape[0])
    parts = yield from _run(job, "attack", {"attack": attack, "batch": batch}, "attack", n * steps_per_image,
                            steps_per_image, check_stop)
    _place(parts, out)


def enhance_images(job: ShardJob, epsilon: float, project: bool, signs: np.ndarray, batch: int,
                   out: torch.Tensor, check_stop: StopFn) -> Generator[Progress, None, None]:
    """Method two's x_{s*} of every image into ``out`` (progress in images)."""
    parts = yield from _run(job, "enhance", {"epsilon": epsilon, "project": project, "signs": signs, "batch": batch},
                            "enhance", int(out.shape[0]), 1, check_stop)
    _place(parts, out)


def evaluate_counts(job: ShardJob, num_images: int, batch: int, attack: dict[str, Any] | None,
                    attack_model_id: str, check_stop: StopFn) -> Generator[Progress, None, list[BatchCounts]]:
    """Every batch's counts (evaluation.total_counts adds them in batch order)."""
    parts = yield from _run(job, "evaluate", {"attack": attack, "attack_model_id": attack_model_id, "batch": batch},
                            "evaluate", num_images, 1, check_stop)
    return [BatchCounts(int(s), loss, confusion) for s, loss, confusion in parts]


def worst_case_parts(job: ShardJob, num_images: int, batch: int, members: list[dict[str, Any]], attack_model_id: str,
                     check_stop: StopFn) -> Generator[Progress, None, list[WorstCaseBatch]]:
    """Every batch's share of a worst-case evaluation (worst_case.total_worst_case adds them)."""
    parts = yield from _run(job, "worst_case", {"members": members, "attack_model_id": attack_model_id, "batch": batch},
                            "worst-case", num_images * len(members), len(members), check_stop)
    return parts


def score_candidates(job: ShardJob, uniq: np.ndarray, inverse: np.ndarray, candidates: np.ndarray, epsilon: float,
                     project: bool, scoring: str, centres: np.ndarray | None, check_stop: StopFn) -> ShardedScores:
    """ScoreCandidates' result and the directions of the distinct images."""
    events = _run(job, "score", {"uniq": uniq, "inverse": inverse, "candidates": candidates, "epsilon": epsilon,
                                 "project": project, "scoring": scoring, "centres": centres},
                  "score", len(uniq), 1, check_stop)
    while True:  # a unary call: progress has nowhere to go
        try:
            next(events)
        except StopIteration as finished:
            parts = finished.value
            break
    m = candidates.shape[0]
    losses = np.empty(m, dtype=np.float64)
    exact = np.zeros(m, dtype=np.uint8) if scoring == "logit_additive" else None
    directions: list[torch.Tensor | None] = [None] * len(uniq)
    forwards = 0
    for part in parts:
        losses[part["rows"]] = part["losses"]
        if exact is not None:
            exact[part["rows"]] = part["exact"]
        for u, d in zip(part["positions"].tolist(), part["directions"]):
            directions[u] = d
        forwards += part["forward_passes"]
    return ShardedScores(ScoreResult(losses, exact, forwards), directions)  # type: ignore[arg-type]


def _place(parts: list[tuple[int, torch.Tensor]], out: torch.Tensor) -> None:
    for start, images in parts:
        out[start:start + images.shape[0]] = images.to(out.device)
