"""Which run folders use which artifacts, recorded in the workspace (`run-usage/<key>.json`).

A run folder lives beside the CLI that ran it, which for a remote worker is another machine; gc
used to learn what a run uses only by reading run folders under the directory it was started
from, so a typo or another current directory made every artifact look unused. The runner now
records each stage's artifacts here as it goes (RecordRunUsage), and gc keeps them: the CLI looks
at each recorded folder on its own machine and says which records it checked (maintenance.py)."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidArgument
from .store import ArtifactStore, canonical_json, kind_of, pid_alive

log = logging.getLogger(__name__)

RUN_USAGE = "run-usage"
_LOCK = "run-usage"  # one lock for every record: recording is rare and quick
_MAX_PATH = 4096
_MAX_HOST = 255
_MAX_IDS = 100_000
_KEY = re.compile(r"[0-9a-f]{16}")


@dataclass
class RunUsage:
    key: str
    host: str
    run_folder: str
    artifact_ids: list[str] = field(default_factory=list)
    revision: int = 0
    updated_at: str = ""


def usage_key(host: str, run_folder: str) -> str:
    return hashlib.sha256(canonical_json([host, run_folder]).encode("ascii")).hexdigest()[:16]


def _is_absolute(path: str) -> bool:
    """POSIX or Windows: the CLI's machine need not be the worker's."""
    return path.startswith("/") or re.match(r"[A-Za-z]:[\\/]", path) is not None or path.startswith("\\\\")


def _check_text(field_name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(field_name, f"longer than {limit} characters")
    if any(c in value for c in "\0\n\r"):
        raise InvalidArgument(field_name, "must be one line without NUL characters")


def _directory(store: ArtifactStore) -> Path:
    directory = store.root / RUN_USAGE
    directory.mkdir(exist_ok=True)
    return directory


def _read(path: Path) -> RunUsage | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        usage = RunUsage(**{k: raw[k] for k in RunUsage.__dataclass_fields__})
        if not isinstance(usage.artifact_ids, list) or not all(isinstance(i, str) for i in usage.artifact_ids):
            raise ValueError("artifact_ids is not a list of ids")
        return usage
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        # It protected something, but what can no longer be known: say so, and go on without it.
        log.warning("%s: unreadable run-usage record, ignored (%s)", path, e)
        return None


def _write(path: Path, usage: RunUsage) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")  # see stale_temporaries
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(usage.__dict__, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def record_run_usage(store: ArtifactStore, host: str, run_folder: str, artifact_ids: Iterable[str]) -> RunUsage:
    """Add ids to the folder's record (created when absent); the record as it stands now."""
    if not run_folder:
        raise InvalidArgument("run_folder", "required (the run folder's absolute path)")
    _check_text("run_folder", run_folder, _MAX_PATH)
    if not _is_absolute(run_folder):
        raise InvalidArgument("run_folder", f"must be an absolute path, got {run_folder[:200]!r}")
    _check_text("host", host, _MAX_HOST)
    ids = list(artifact_ids)
    if len(ids) > _MAX_IDS:
        raise InvalidArgument("artifact_ids", f"at most {_MAX_IDS} ids, got {len(ids)}")
    for i, artifact_id in enumerate(ids):
        if not isinstance(artifact_id, str) or kind_of(artifact_id) is None:
            raise InvalidArgument(f"artifact_ids[{i}]", f"not an artifact id (ds-… or m-… with 16 hex digits): "
                                                        f"{str(artifact_id)[:40]!r}")
    key = usage_key(host, run_folder)
    path = _directory(store) / f"{key}.json"
    with store.lock(_LOCK):
        usage = _read(path) or RunUsage(key, host, run_folder)
        merged = sorted({*usage.artifact_ids, *ids})
        if merged != usage.artifact_ids or not path.exists():
            usage.artifact_ids = merged
            usage.revision += 1
            usage.updated_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            _write(path, usage)
    return usage


def list_run_usage(store: ArtifactStore) -> list[RunUsage]:
    directory = _directory(store)
    records = [_read(p) for p in sorted(directory.glob("*.json")) if _KEY.fullmatch(p.stem)]
    return sorted((r for r in records if r is not None), key=lambda r: (r.host, r.run_folder))


def forget_run_usage(store: ArtifactStore, key: str, revision: int) -> bool:
    """Delete a record, unless it changed since `revision` was seen (a run recorded more)."""
    if not _KEY.fullmatch(key):
        return False
    path = _directory(store) / f"{key}.json"
    with store.lock(_LOCK):
        usage = _read(path)
        if usage is None or usage.revision != revision:
            return False
        path.unlink(missing_ok=True)
    return True


def stale_temporaries(store: ArtifactStore) -> list[Path]:
    """Half-written records (`.<key>.json.<pid>.<random>`) of writers that are gone."""
    stale = []
    for entry in sorted(_directory(store).glob(".*")):
        parts = entry.name.split(".")
        pid = int(parts[-2]) if len(parts) >= 5 and parts[-2].isdigit() else None
        if pid is None or (pid != os.getpid() and not pid_alive(pid)):
            stale.append(entry)
    return stale
