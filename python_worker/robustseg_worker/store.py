"""Artifact store (docs/ARCHITECTURE.md section 5): datasets and models live in the workspace as
`datasets/<id>/` and `models/<id>/`, each a directory of tensors (safetensors) and a `meta.json`
sidecar. Ids are derived from what made the artifact, so asking twice for the same thing finds
the first result (also after a restart: that is how an interrupted experiment resumes).

Writes are atomic: an artifact is built in `tmp/` inside the workspace (same filesystem), every
file fsynced, then the directory is renamed into place. A directory under `datasets/` or
`models/` is therefore always complete; a crash leaves at most a stale `tmp/` entry, which the
next store to open the workspace removes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import __version__
from .errors import NotFound

log = logging.getLogger(__name__)

# Part of every id: a new worker version never reuses artifacts an older one made.
CODE_VERSION = __version__

# kind -> (directory, id prefix)
_KINDS = {"dataset": ("datasets", "ds"), "model": ("models", "m")}
_ID_HEX = 16
META_FILE = "meta.json"


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def artifact_id(kind: str, recipe: dict[str, Any]) -> str:
    """`ds-`/`m-` + the first 16 hex digits of sha256 over the canonical JSON of the kind, the
    recipe (source or backend, request parameters, parent ids, seed) and the code version."""
    _, prefix = _KINDS[kind]
    payload = {"kind": kind, "code_version": CODE_VERSION, "recipe": recipe}
    digest = hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()
    return f"{prefix}-{digest[:_ID_HEX]}"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_valid_id(kind: str, artifact_id_: str) -> bool:
    _, prefix = _KINDS[kind]
    return re.fullmatch(rf"{prefix}-[0-9a-f]{{{_ID_HEX}}}", artifact_id_) is not None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)  # NaN allowed: a diverged epoch is a fact
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ArtifactStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        for sub in ("datasets", "models", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._remove_stale_temporaries()

    # --- paths and lookups ------------------------------------------------------------------

    def path(self, kind: str, artifact_id_: str) -> Path:
        """The artifact's directory. Ids are checked before they touch the filesystem, so a
        malformed id ("../x") is simply not found."""
        if not is_valid_id(kind, artifact_id_):
            raise NotFound(kind, repr(artifact_id_) if artifact_id_ else "''")
        directory, _ = _KINDS[kind]
        return self.root / directory / artifact_id_

    def exists(self, kind: str, artifact_id_: str) -> bool:
        return is_valid_id(kind, artifact_id_) and (self.path(kind, artifact_id_) / META_FILE).is_file()

    def require(self, kind: str, artifact_id_: str) -> Path:
        path = self.path(kind, artifact_id_)
        if not (path / META_FILE).is_file():
            raise NotFound(kind, artifact_id_)
        return path

    def read_meta(self, kind: str, artifact_id_: str) -> dict[str, Any]:
        with open(self.require(kind, artifact_id_) / META_FILE, encoding="utf-8") as f:
            return json.load(f)

    def list_ids(self, kind: str) -> list[str]:
        directory, _ = _KINDS[kind]
        return sorted(p.name for p in (self.root / directory).iterdir() if self.exists(kind, p.name))

    # --- concurrency --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, artifact_id_: str, check_stop: Callable[[], None] | None = None) -> Iterator[None]:
        """Exclusive per-id lock: a thread lock for this process and an flock on
        `locks/<id>.lock` for other workers sharing the workspace. Waiting polls `check_stop`
        so a cancelled caller does not wait forever behind a long computation."""
        with self._locks_guard:
            thread_lock = self._locks.setdefault(artifact_id_, threading.Lock())
        while not thread_lock.acquire(timeout=0.1):
            if check_stop:
                check_stop()
        try:
            with open(self.root / "locks" / f"{artifact_id_}.lock", "a+") as lock_file:
                while True:
                    try:
                        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if check_stop:
                            check_stop()
                        time.sleep(0.1)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
        finally:
            thread_lock.release()

    # --- writing ------------------------------------------------------------------------------

    def write(self, kind: str, artifact_id_: str, fill: Callable[[Path], None]) -> Path:
        """Create an artifact atomically: `fill(tmp_dir)` writes its files, then the directory
        is fsynced and renamed into place. On any failure nothing appears under the kind's
        directory and the temporary directory is removed."""
        final = self.path(kind, artifact_id_)
        tmp = self.root / "tmp" / f"{artifact_id_}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            fill(tmp)
            if not (tmp / META_FILE).is_file():
                raise RuntimeError(f"artifact {artifact_id_} was written without {META_FILE}")
            for child in tmp.iterdir():  # fill() may have skipped fsync on some file
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
            _fsync_dir(tmp)
            try:
                os.rename(tmp, final)
            except OSError as e:
                # Another worker sharing the workspace finished the same id first: same recipe,
                # same content, keep theirs.
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                log.info("%s %s appeared while writing; keeping the existing one", kind, artifact_id_)
                shutil.rmtree(tmp, ignore_errors=True)
            _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def _remove_stale_temporaries(self) -> None:
        for entry in (self.root / "tmp").iterdir():
            parts = entry.name.split(".")
            pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
            if pid is None or (pid != os.getpid() and not _pid_alive(pid)):
                log.info("removing unfinished artifact %s", entry.name)
                shutil.rmtree(entry, ignore_errors=True)
