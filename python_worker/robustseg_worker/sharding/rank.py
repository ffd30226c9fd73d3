"""One rank of a sharded stage (run by torchrun: ``python -m robustseg_worker.sharding.rank JOB``).

The rank loads the job's model and dataset from the store, computes its share (plan.py) with the
same functions and the same batches as the worker's own process, reports images done, and
all-gathers the shares; the first process of each node saves them for its worker (jobs.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import artifacts, attacks, torchrun
from ..attack_specs import resolve as resolve_attack
from ..candidate_scoring import direction_signs, score_rows
from ..evaluation import BatchCounts, evaluate_batches
from ..store import ArtifactStore
from ..worst_case import WorstCaseBatch, worst_case_batches
from .plan import batch_starts, image_positions


def _never() -> bool:
    return False


class _Share:
    """The rank's view of the job: its artifacts on its device and a progress reporter."""

    def __init__(self, job: dict[str, Any], me: torchrun.RankInfo) -> None:
        self.job, self.me = job, me
        self.store = ArtifactStore(job["workspace"], remove_stale=False)
        self.model, self.info = artifacts.load_model(self.store, job["model_id"], me.device)
        tiles = artifacts.load_dataset(self.store, job["dataset_id"])
        self.images = torch.from_numpy(np.array(tiles.images, dtype=np.float32)).to(me.device)
        self.labels = torch.from_numpy(tiles.labels).to(me.device)
        self.done = 0

    def progress(self, images: int) -> None:
        self.done += images
        torchrun.emit("progress", {"rank": self.me.rank, "done": self.done})

    def starts(self) -> list[int]:
        return batch_starts(int(self.images.shape[0]), int(self.job["batch"]), self.me.rank, self.me.world_size)


def _attack(share: _Share) -> list[tuple[int, torch.Tensor]]:
    spec = resolve_attack(share.job["attack"], share.info.num_classes)
    out, b = [], int(share.job["batch"])
    for start in share.starts():
        x_adv = spec.run(share.model, share.images[start:start + b], share.labels[start:start + b], start)
        out.append((start, x_adv.cpu()))
        share.progress(int(x_adv.shape[0]))
    return out


def _enhance(share: _Share) -> list[tuple[int, torch.Tensor]]:
    job, b, c = share.job, int(share.job["batch"]), share.info.num_classes
    eps, project, signs = float(job["epsilon"]), bool(job["project"]), job["signs"]
    out = []
    for start in share.starts():
        x = share.images[start:start + b]
        d = direction_signs(share.model, x, c).to(torch.float32).mul_(eps)
        s = torch.from_numpy(signs[start:start + x.shape[0]]).to(x.device)
        out.append((start, attacks.apply_signs(x, d, s, project_eps=eps if project else None).cpu()))
        share.progress(int(x.shape[0]))
    return out


def _perturb(share: _Share, attack: dict[str, Any]):
    """x_adv per batch against the job's attack model (empty: the evaluated one, white-box)."""
    attacker = share.model
    if share.job["attack_model_id"]:
        attacker, _ = artifacts.load_model(share.store, share.job["attack_model_id"], share.me.device)
    spec = resolve_attack(attack, share.info.num_classes)

    def perturb(x, y, first_index):
        return spec.run(attacker, x, y, first_index)

    return perturb


def _evaluate(share: _Share) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    job = share.job
    perturb = _perturb(share, job["attack"]) if job["attack"] is not None else None

    out = []
    for event in evaluate_batches(share.model, share.images, share.labels, share.info.num_classes,
                                  int(job["batch"]), share.starts(), perturb=perturb):
        if isinstance(event, BatchCounts):
            out.append((event.start, event.loss_sum.cpu(), event.confusion.cpu()))
            share.progress(min(int(job["batch"]), int(share.images.shape[0]) - event.start))
    return out


def _score(share: _Share) -> list[dict[str, Any]]:
    job, me = share.job, share.me
    uniq, inverse, candidates = job["uniq"], job["inverse"], job["candidates"]
    positions = image_positions(len(uniq), me.rank, me.world_size)
    if not positions.size:  # more processes than distinct images
        return []
    rows = np.flatnonzero(np.isin(inverse, positions))  # every distinct image has rows
    local = np.searchsorted(positions, inverse[rows])  # each row's image among this rank's
    sel = torch.from_numpy(uniq[positions]).to(me.device)
    images, labels = share.images[sel], share.labels[sel]
    directions = direction_signs(share.model, images, share.info.num_classes)
    centres = job["centres"][rows] if job["centres"] is not None else None
    result = score_rows(share.model, images, labels, directions, local, candidates[rows], float(job["epsilon"]),
                        bool(job["project"]), job["scoring"], centres, _never)
    share.progress(len(positions))
    return [{"rows": rows, "positions": positions, "directions": list(directions.cpu()), "losses": result.losses,
             "forward_passes": result.forward_passes, "exact": result.exact}]


def _worst_case(share: _Share) -> list[WorstCaseBatch]:
    job = share.job
    members = [_perturb(share, m) for m in job["members"]]
    out = []
    for event in worst_case_batches(share.model, share.images, share.labels, share.info.num_classes, int(job["batch"]),
                                    members, share.starts()):
        if isinstance(event, WorstCaseBatch):
            out.append(event.cpu())
            share.progress(int(event.chosen.shape[0]))
    return out


_KINDS = {"attack": _attack, "enhance": _enhance, "evaluate": _evaluate, "score": _score, "worst_case": _worst_case}


def run_rank(job_dir: Path) -> None:
    import torch.distributed as dist

    job = torch.load(job_dir / "job.pt", weights_only=False)
    with torchrun.process_group(job["device"], job["backend"], int(job["threads"])) as me:
        mine = _KINDS[job["kind"]](_Share(job, me))
        gathered: list[Any] = [None] * me.world_size
        dist.all_gather_object(gathered, mine)
        if me.local_rank == 0:
            torchrun.save_result(job_dir, [part for share in gathered for part in share])
        dist.barrier()


if __name__ == "__main__":
    run_rank(Path(sys.argv[1]))
