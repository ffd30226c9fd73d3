"""Workspace maintenance: `store verify` checks every artifact the way a load does;
`store gc` removes what nothing refers to. Plain Python over the store; the servicer converts.

gc keeps the ids it is given, the ids recorded as used by a run folder (run_usage.py) unless the
caller checked that record itself, every artifact a running call leases (store.py), every model a
serving alias points to (aliases.json) and, transitively, every parent named in their provenance
(an attacked set keeps its model and clean set, a model its training and validation sets), so a
kept run can still be explained and rebuilt. Anything younger than `min_age_seconds` stays: a
run in progress may have made it and not yet recorded it. With `max_artifacts`, a collection
that would remove more datasets and models than that removes nothing and says what it would."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArtifactCorrupt, InvalidArgument
from .events import Progress
from .model_names import ModelNames
from . import run_usage
from .store import CHECKPOINTS, KINDS, ArtifactStore, is_valid_id, kind_of, stale_temporaries, try_flock

log = logging.getLogger(__name__)
DEFAULT_MIN_AGE_S = 3600


@dataclass
class ArtifactCheck:
    kind: str
    id: str
    ok: bool
    bytes: int
    file: str = ""
    problem: str = ""
    quarantined_to: str = ""


@dataclass
class VerifyResult:
    artifacts: list[ArtifactCheck]
    corrupt: int
    bytes: int
    quarantined: list[str]
    unfinished: list[str]


@dataclass
class RemovedEntry:
    kind: str
    path: str  # relative to the workspace
    bytes: int


@dataclass
class GarbageResult:
    removed: list[RemovedEntry] = field(default_factory=list)
    kept_ids: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    dry_run: bool = False
    over_limit: bool = False
    forgotten_runs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunUsageCheck:
    """A run-usage record the caller looked at (on the run folder's machine)."""
    key: str
    revision: int
    folder_gone: bool


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _newest_mtime(path: Path) -> float:
    """Of the files inside (a folder's own mtime changes when it is renamed into place)."""
    newest = None
    if path.is_file():
        return path.stat().st_mtime
    for root, _, files in os.walk(path):
        for name in files:
            try:
                mtime = os.stat(os.path.join(root, name)).st_mtime
                newest = mtime if newest is None else max(newest, mtime)
            except OSError:
                pass
    return newest if newest is not None else path.stat().st_mtime


def _all_ids(store: ArtifactStore) -> list[tuple[str, str]]:
    return [(kind, i) for kind in KINDS for i in store.list_ids(kind)]


def verify_store(store: ArtifactStore, quarantine: bool = True,
                 check_stop: Callable[[], None] = lambda: None) -> Iterator[Progress | VerifyResult]:
    """Progress per artifact, then the result. Each artifact is checked under its lock, so a
    request writing the same id is not mistaken for damage."""
    ids = _all_ids(store)
    checks: list[ArtifactCheck] = []
    yield Progress("verify", 0, len(ids))
    for done, (kind, artifact_id) in enumerate(ids, 1):
        check_stop()
        directory = store.path(kind, artifact_id)
        size = _size(directory)
        with store.without_leases(), store.lock(artifact_id, check_stop):
            try:
                store.verify(kind, artifact_id, quarantine=quarantine)
                checks.append(ArtifactCheck(kind, artifact_id, True, size))
            except ArtifactCorrupt as e:
                checks.append(ArtifactCheck(kind, artifact_id, False, size, e.file, e.problem, e.moved_to or ""))
            except FileNotFoundError:
                pass  # removed meanwhile (gc in another process)
        yield Progress("verify", done, len(ids), artifact_id)
    unfinished = [f"tmp/{p.name}" for p in stale_temporaries(store)]
    checkpoints = store.root / CHECKPOINTS
    unfinished += [f"{CHECKPOINTS}/{p.name}" for p in sorted(checkpoints.iterdir())] if checkpoints.is_dir() else []
    yield VerifyResult(
        artifacts=checks,
        corrupt=sum(not c.ok for c in checks),
        bytes=sum(c.bytes for c in checks),
        quarantined=sorted(p.name for p in (store.root / "quarantine").iterdir()),
        unfinished=unfinished,
    )


def _parents(meta: dict[str, Any]) -> Iterable[str]:
    """Artifact ids named in a meta.json's provenance parents (strings or lists of them)."""
    parents = (meta.get("provenance") or {}).get("parents") or {}
    for value in parents.values() if isinstance(parents, dict) else ():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and kind_of(item):
                yield item


def _closure(store: ArtifactStore, keep_ids: Iterable[str]) -> set[str]:
    kept: set[str] = set()
    pending = [i for i in keep_ids if isinstance(i, str)]
    while pending:
        artifact_id = pending.pop()
        kind = kind_of(artifact_id)
        if artifact_id in kept or kind is None or not store.exists(kind, artifact_id):
            continue
        kept.add(artifact_id)
        try:
            pending.extend(_parents(store.read_meta(kind, artifact_id)))
        except ArtifactCorrupt as e:
            log.warning("gc: %s", e)  # quarantined now; its parents are kept only if named elsewhere
            kept.discard(artifact_id)
    return kept


def _lock_is_free(store: ArtifactStore, artifact_id: str) -> bool:
    """Nobody (this process or another worker) holds the id's lock right now."""
    path = store.root / "locks" / f"{artifact_id}.lock"
    if not path.exists():
        return True
    try:
        with open(path, "a+") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False


def _remove_unheld_lease(path: Path, remove: Callable[[], None]) -> None:
    """Unlinked while held exclusively: a call opening it meanwhile sees the inode change and
    leases a new file (store.CallLeases.take), never the unlinked one."""
    with open(path, "a+") as f:
        if try_flock(f, exclusive=True):
            remove()


def _recorded_ids(store: ArtifactStore, checked_runs: Iterable[RunUsageCheck]) -> tuple[list[str], list[RunUsageCheck]]:
    """Ids of the records the caller did not check (or that changed since), and the checked
    records whose folder is gone."""
    checked = {c.key: c for c in checked_runs}
    ids: list[str] = []
    gone: list[RunUsageCheck] = []
    for usage in run_usage.list_run_usage(store):
        check = checked.get(usage.key)
        if check is None or check.revision != usage.revision:
            ids.extend(usage.artifact_ids)
        elif check.folder_gone:
            gone.append(check)
    return ids, gone


def collect_garbage(store: ArtifactStore, keep_ids: Iterable[str], dry_run: bool = False,
                    min_age_seconds: float | None = DEFAULT_MIN_AGE_S, max_artifacts: int | None = None,
                    checked_runs: Iterable[RunUsageCheck] = ()) -> GarbageResult:
    if min_age_seconds is None:
        min_age_seconds = DEFAULT_MIN_AGE_S
    if min_age_seconds < 0:
        raise InvalidArgument("min_age_seconds", f"must be >= 0, got {min_age_seconds}")
    if max_artifacts is not None and max_artifacts < 0:
        raise InvalidArgument("max_artifacts", f"must be >= 0, got {max_artifacts}")
    now = time.time()
    result = GarbageResult(dry_run=dry_run)
    recorded, gone_runs = _recorded_ids(store, checked_runs)
    leased = [i for _, i in _all_ids(store) if store.is_leased(i)]
    kept = _closure(store, [*keep_ids, *recorded, *leased, *ModelNames(store).aliases().values()])

    doomed = []
    for kind, artifact_id in _all_ids(store):
        if artifact_id in kept:
            continue
        young = now - _newest_mtime(store.path(kind, artifact_id)) < min_age_seconds
        if young or not _lock_is_free(store, artifact_id):
            kept.add(artifact_id)
            continue
        doomed.append((kind, artifact_id))
    result.over_limit = max_artifacts is not None and len(doomed) > max_artifacts
    removing = not dry_run and not result.over_limit

    def remove(kind: str, path: Path) -> None:
        size = _size(path)
        result.removed.append(RemovedEntry(kind, str(path.relative_to(store.root)), size))
        result.bytes_freed += size
        if removing:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    for kind, artifact_id in doomed:
        if not removing:
            if store.is_leased(artifact_id):
                kept.add(artifact_id)
            else:
                remove(kind, store.path(kind, artifact_id))
            continue
        # Checked again while holding it: a call may have leased it since the list was made.
        with store.removal_claim(artifact_id) as free:
            if free:
                remove(kind, store.path(kind, artifact_id))
            else:
                kept.add(artifact_id)
    result.kept_ids = sorted(kept)

    for entry in sorted((store.root / "quarantine").iterdir()):
        if now - _newest_mtime(entry) >= min_age_seconds:
            remove("quarantine", entry)
    for entry in [*stale_temporaries(store), *run_usage.stale_temporaries(store)]:
        remove("tmp", entry)
    checkpoints = store.root / CHECKPOINTS
    for entry in sorted(checkpoints.iterdir()) if checkpoints.is_dir() else []:
        model_done = is_valid_id("model", entry.name) and store.exists("model", entry.name)
        if (model_done or now - _newest_mtime(entry) >= min_age_seconds) and _lock_is_free(store, entry.name):
            remove("checkpoint", entry)
    present = {i for _, i in _all_ids(store)} if removing else {i for _, i in _all_ids(store)} - {
        Path(e.path).name for e in result.removed}
    for lock in sorted((store.root / "locks").iterdir()):
        artifact_id, suffix = lock.stem, lock.suffix
        if suffix not in (".lock", ".lease") or not kind_of(artifact_id) or artifact_id in present:
            continue
        if suffix == ".lease":
            _remove_unheld_lease(lock, lambda: remove("lock", lock))
        elif _lock_is_free(store, artifact_id) and not (checkpoints / artifact_id).exists():
            remove("lock", lock)
    for check in gone_runs:
        if not removing or run_usage.forget_run_usage(store, check.key, check.revision):
            result.forgotten_runs.append(check.key)
    log.info("gc%s: %d entries, %d bytes; kept %d artifacts (%d leased)%s",
             " (dry run)" if dry_run else " (over the limit: nothing removed)" if result.over_limit else "",
             len(result.removed), result.bytes_freed, len(result.kept_ids), len(leased),
             f"; forgot {len(result.forgotten_runs)} run folders" if result.forgotten_runs else "")
    return result
