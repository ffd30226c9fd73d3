"""Artifact store (docs/ARCHITECTURE.md section 5): datasets and models live in the workspace as
`datasets/<id>/` and `models/<id>/`, each a directory of tensors (safetensors) and a `meta.json`
sidecar. Ids are derived from what made the artifact, so asking twice for the same thing finds
the first result (also after a restart: that is how an interrupted experiment resumes).

Writes are atomic: an artifact is built in `tmp/` inside the workspace (same filesystem), every
file fsynced, then the directory is renamed into place. A directory under `datasets/` or
`models/` is therefore always complete; a crash leaves at most a stale `tmp/` entry, which the
next store to open the workspace removes.

Integrity: the id names the recipe, not the bytes, so every artifact also carries
`manifest.json`, written last inside the temporary directory: the sha256 and size of each of
its files. Every read checks what it reads against it (meta.json on every metadata read, the
tensor file on every load, streamed), and the request that would reuse an artifact checks all
of it first. A mismatch, a missing or unreadable file, or a malformed meta.json moves the whole
directory to `quarantine/<id>.<time>.<pid>/` (with `reason.txt`) and raises ArtifactCorrupt
naming the artifact and the file; the id is then absent, so asking for it again rebuilds it.

Leases: a call (servicer.py opens a CallLeases per call) holds a shared flock on
`locks/<id>.lease` for every artifact it reads, writes or computes, until it ends; gc (in this or
any worker sharing the workspace) removes an artifact only while it holds that file exclusively,
so an artifact in use by a running call is never removed under it.
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
from typing import IO, Any

from . import __version__, failpoints
from .errors import ArtifactCorrupt, FailedPrecondition, NotFound

log = logging.getLogger(__name__)

# Part of every id: a new worker version never reuses artifacts an older one made.
CODE_VERSION = __version__

# kind -> (directory, id prefix)
_KINDS = {"dataset": ("datasets", "ds"), "model": ("models", "m")}
KINDS = tuple(_KINDS)
# Training checkpoints (one folder per model id being trained): see training/checkpoint.py.
CHECKPOINTS = "checkpoints"
_ID_HEX = 16
META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "robustseg-manifest-1"
_HASH_CHUNK = 4 * 2**20


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


def kind_of(artifact_id_: str) -> str | None:
    """"dataset" or "model" for a well-formed id, else None."""
    return next((kind for kind in _KINDS if is_valid_id(kind, artifact_id_)), None)


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


def file_sha256(path: Path) -> str:
    """Streamed: a dataset of gigabytes is never read into memory at once."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _write_manifest(directory: Path, artifact_id_: str) -> None:
    files = {}
    for child in sorted(directory.iterdir()):
        if child.name != MANIFEST_FILE and child.is_file():
            files[child.name] = {"sha256": file_sha256(child), "bytes": child.stat().st_size}
    write_json(directory / MANIFEST_FILE, {"format": MANIFEST_FORMAT, "artifact_id": artifact_id_, "files": files})


class Damaged(Exception):
    """A file of a folder with a manifest is not what was written."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


def read_manifest(directory: Path, artifact_id_: str) -> dict[str, dict[str, Any]]:
    """The manifest's file entries (name -> sha256, bytes); Damaged when missing or malformed."""
    try:
        with open(directory / MANIFEST_FILE, encoding="utf-8") as f:
            manifest = json.load(f)
        files = manifest["files"]
        if manifest.get("artifact_id") != artifact_id_ or not isinstance(files, dict) or not all(
                isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("bytes"), int)
                for e in files.values()):
            raise ValueError("entries do not match this artifact")
    except FileNotFoundError:
        raise Damaged(MANIFEST_FILE, "missing (the checksums of the artifact's files; an older worker or a "
                                     "damaged folder)") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise Damaged(MANIFEST_FILE, f"unreadable ({_first_line(e)})") from None
    return files


def check_file(directory: Path, files: dict[str, dict[str, Any]], name: str) -> None:
    """Size, then sha256 (streamed), of one file against its manifest entry; Damaged if not."""
    entry = files.get(name)
    if entry is None:
        raise Damaged(name, f"not listed in {MANIFEST_FILE}")
    path = directory / name
    try:
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise Damaged(name, f"{size} bytes, {entry['bytes']} were written (truncated or overwritten)")
        if file_sha256(path) != entry["sha256"]:
            raise Damaged(name, "sha256 differs from the one recorded when it was written (the bytes changed)")
    except FileNotFoundError:
        raise Damaged(name, "missing") from None


def check_folder(directory: Path, artifact_id_: str) -> None:
    """Every file of a folder written with a manifest; Damaged at the first problem."""
    files = read_manifest(directory, artifact_id_)
    for name in files:
        check_file(directory, files, name)


def _seal(tmp: Path, artifact_id_: str) -> None:
    """The manifest of what fill() wrote, then everything fsynced (fill may have skipped some)."""
    _write_manifest(tmp, artifact_id_)
    for child in tmp.iterdir():
        with open(child, "rb") as f:
            os.fsync(f.fileno())
    _fsync_dir(tmp)


def write_folder(tmp: Path, final: Path, artifact_id_: str, fill: Callable[[Path], None]) -> None:
    """`fill(tmp)`, a manifest, fsync, rename to `final` (which must not exist)."""
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
        _seal(tmp, artifact_id_)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def lease_path(root: Path, artifact_id_: str) -> Path:
    return root / "locks" / f"{artifact_id_}.lease"


def try_flock(f: IO[str], exclusive: bool) -> bool:
    try:
        fcntl.flock(f.fileno(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class CallLeases:
    """The leases of one call: a shared flock per artifact it touched, held until release().
    flock locks belong to the open file, so they conflict with gc's exclusive attempt also when
    gc runs in this same process."""

    _current = threading.local()

    def __init__(self) -> None:
        self._files: dict[Path, IO[str]] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Leases taken by this thread while the block runs are this call's."""
        previous = getattr(CallLeases._current, "leases", None)
        CallLeases._current.leases = self
        try:
            yield
        finally:
            CallLeases._current.leases = previous

    @staticmethod
    def current() -> CallLeases | None:
        return getattr(CallLeases._current, "leases", None)

    def take(self, root: Path, artifact_id_: str) -> None:
        path = lease_path(root, artifact_id_)
        with self._guard:
            if path in self._files:
                return
            while True:
                f = open(path, "a+")  # noqa: SIM115 (held open until release)
                # Blocks only while gc removes this very artifact (it holds the file exclusively).
                fcntl.flock(f.fileno(), fcntl.LOCK_SH)
                # gc unlinks the file of an artifact it removed: a lease on that inode guards nothing.
                try:
                    if os.fstat(f.fileno()).st_ino == os.stat(path).st_ino:
                        break
                except FileNotFoundError:
                    pass
                f.close()
            self._files[path] = f

    def held(self) -> list[str]:
        """The ids leased, for tests and logs."""
        with self._guard:
            return sorted(p.name.removesuffix(".lease") for p in self._files)

    def release(self) -> None:
        with self._guard:
            files, self._files = self._files, {}
        for f in files.values():
            f.close()  # closing drops the flock


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ArtifactStore:
    def __init__(self, root: str | os.PathLike[str], remove_stale: bool = True, read_only: bool = False) -> None:
        """``remove_stale=False``: a reader beside a live worker (a rank of a sharded call) leaves
        tmp/ alone. ``read_only``: a workspace on read-only storage (store verify): nothing is
        made, moved or locked through a file; what would write fails with FailedPrecondition."""
        self.root = Path(root).resolve()
        self.read_only = read_only
        if not read_only:
            for sub in ("datasets", "models", "tmp", "locks", "quarantine"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._no_quarantine = threading.local()
        if remove_stale and not read_only:
            self._remove_stale_temporaries()

    def refuse_write(self, what: str) -> FailedPrecondition:
        return FailedPrecondition(f"the workspace {self.root} is open read-only (--read-only): cannot {what}")

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
        self._lease(artifact_id_)
        if not (path / META_FILE).is_file():
            raise NotFound(kind, artifact_id_)
        return path

    def read_meta(self, kind: str, artifact_id_: str) -> dict[str, Any]:
        """meta.json, checked against the manifest and parsed; a damaged one is quarantined."""
        path = self.checked_file(kind, artifact_id_, META_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise self.corrupt(kind, artifact_id_, META_FILE, f"not readable JSON ({_first_line(e)})") from None
        if not isinstance(meta, dict):
            raise self.corrupt(kind, artifact_id_, META_FILE, f"a JSON {type(meta).__name__}, not an object")
        return meta

    # --- integrity ----------------------------------------------------------------------------

    def _manifest(self, kind: str, artifact_id_: str) -> dict[str, dict[str, Any]]:
        try:
            return read_manifest(self.require(kind, artifact_id_), artifact_id_)
        except Damaged as d:
            raise self.corrupt(kind, artifact_id_, d.file, d.problem) from None

    def checked_file(self, kind: str, artifact_id_: str, name: str) -> Path:
        """The path of one of the artifact's files after checking its size and sha256 against
        the manifest (streamed); quarantines the artifact and raises ArtifactCorrupt if not."""
        directory = self.path(kind, artifact_id_)
        try:
            check_file(directory, self._manifest(kind, artifact_id_), name)
        except Damaged as d:
            raise self.corrupt(kind, artifact_id_, d.file, d.problem) from None
        return directory / name

    def verify(self, kind: str, artifact_id_: str, quarantine: bool = True) -> None:
        """Check every file of the artifact against its manifest (ArtifactCorrupt if not)."""
        with self._quarantining(quarantine):
            for name in self._manifest(kind, artifact_id_):
                self.checked_file(kind, artifact_id_, name)
            self.read_meta(kind, artifact_id_)

    def exists_intact(self, kind: str, artifact_id_: str) -> bool:
        """For a request about to reuse an artifact: present and intact. A corrupt one is
        quarantined (with a warning) and reported absent, so the caller rebuilds it."""
        if not self.exists(kind, artifact_id_):
            return False
        try:
            self.verify(kind, artifact_id_)
        except ArtifactCorrupt as e:
            log.warning("%s; rebuilding it", e)
            return False
        return True

    def corrupt(self, kind: str, artifact_id_: str, name: str, problem: str) -> ArtifactCorrupt:
        """The error to raise for a damaged artifact, after moving it to quarantine/ (unless a
        caller of verify() asked to leave it)."""
        moved = None
        if getattr(self._no_quarantine, "active", False) is False:
            moved = self.quarantine(kind, artifact_id_, f"{name}: {problem}")
        return ArtifactCorrupt(kind, artifact_id_, name, problem, str(moved) if moved else None)

    @contextlib.contextmanager
    def _quarantining(self, enabled: bool) -> Iterator[None]:
        previous = getattr(self._no_quarantine, "active", False)
        self._no_quarantine.active = not enabled
        try:
            yield
        finally:
            self._no_quarantine.active = previous

    def quarantine(self, kind: str, artifact_id_: str, reason: str) -> Path | None:
        """Move the artifact's directory out of the store (atomic rename); None when another
        thread or worker already did."""
        source = self.path(kind, artifact_id_)
        if self.read_only:
            log.warning("%s %s is damaged (%s); left in place: the workspace is read-only", kind, artifact_id_, reason)
            return None
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.root / "quarantine" / f"{artifact_id_}.{stamp}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        try:
            os.rename(source, target)
        except FileNotFoundError:
            return None
        try:
            (target / "reason.txt").write_text(f"{kind} {artifact_id_}: {reason}\n", encoding="utf-8")
        except OSError:
            pass
        _fsync_dir(source.parent)
        log.warning("%s %s quarantined to %s: %s", kind, artifact_id_, target, reason)
        return target

    def list_ids(self, kind: str) -> list[str]:
        directory, _ = _KINDS[kind]
        if not (self.root / directory).is_dir():  # a read-only workspace no worker has opened
            return []
        return sorted(p.name for p in (self.root / directory).iterdir() if self.exists(kind, p.name))

    # --- concurrency --------------------------------------------------------------------------

    def _lease(self, artifact_id_: str) -> None:
        """Lease the artifact for the call this thread serves (if any, and unless paused)."""
        leases = CallLeases.current()
        if leases is not None and kind_of(artifact_id_) is not None and not self.read_only:
            leases.take(self.root, artifact_id_)

    @staticmethod
    @contextlib.contextmanager
    def without_leases() -> Iterator[None]:
        """For work that visits every artifact under its lock (store verify): no lease each."""
        leases = CallLeases.current()
        if leases is None:
            yield
            return
        CallLeases._current.leases = None
        try:
            yield
        finally:
            CallLeases._current.leases = leases

    def is_leased(self, artifact_id_: str) -> bool:
        """A call (of this or another worker) holds a lease on the id right now."""
        if self.read_only:
            raise self.refuse_write("collect garbage")
        path = lease_path(self.root, artifact_id_)
        if not path.exists():
            return False
        with open(path, "a+") as f:
            if not try_flock(f, exclusive=True):
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False

    @contextlib.contextmanager
    def removal_claim(self, artifact_id_: str) -> Iterator[bool]:
        """True while nobody leases, writes or computes the id and this holds both its lock and
        its lease file exclusively: the artifact may be removed then. The lease file goes with
        it (when the artifact is gone), still held, so a call waiting to lease it finds it absent."""
        if self.read_only:
            raise self.refuse_write("remove artifacts")
        with open(self.root / "locks" / f"{artifact_id_}.lock", "a+") as lock, \
                open(lease_path(self.root, artifact_id_), "a+") as lease:
            if not try_flock(lock, exclusive=True):
                yield False
                return
            if not try_flock(lease, exclusive=True):
                yield False
                return
            try:
                yield True
            finally:
                if kind_of(artifact_id_) is not None and not any(
                        self.path(kind, artifact_id_).exists() for kind in KINDS if is_valid_id(kind, artifact_id_)):
                    lease_path(self.root, artifact_id_).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, artifact_id_: str, check_stop: Callable[[], None] | None = None) -> Iterator[None]:
        """Exclusive per-id lock: a thread lock for this process and an flock on
        `locks/<id>.lock` for other workers sharing the workspace. Waiting polls `check_stop`
        so a cancelled caller does not wait forever behind a long computation.

        Read-only: only the thread lock, around an artifact that exists (reading it, as store
        verify does); locking an absent id means making it, which is refused before any work."""
        if self.read_only and not any(self.exists(kind, artifact_id_) for kind in KINDS):
            raise self.refuse_write(f"make {artifact_id_}")
        self._lease(artifact_id_)  # what the call computes stays its own until the call ends
        with self._locks_guard:
            thread_lock = self._locks.setdefault(artifact_id_, threading.Lock())
        while not thread_lock.acquire(timeout=0.1):
            if check_stop:
                check_stop()
        try:
            if self.read_only:
                yield
                return
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
        if self.read_only:
            raise self.refuse_write(f"write {kind} {artifact_id_}")
        self._lease(artifact_id_)
        tmp = self.root / "tmp" / f"{artifact_id_}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            fill(tmp)
            if not (tmp / META_FILE).is_file():
                raise RuntimeError(f"artifact {artifact_id_} was written without {META_FILE}")
            failpoints.hit("store.write.filled")
            _seal(tmp, artifact_id_)
            failpoints.hit("store.write.sealed")
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
        for entry in stale_temporaries(self):
            log.info("removing unfinished artifact %s", entry.name)
            shutil.rmtree(entry, ignore_errors=True)


def stale_temporaries(store: ArtifactStore) -> list[Path]:
    """tmp/ entries whose writer is gone (named <id>.<pid>.<random>; anything else is stale)."""
    stale: list[Path] = []
    if not (store.root / "tmp").is_dir():  # a read-only workspace no worker has opened
        return stale
    for entry in sorted((store.root / "tmp").iterdir()):
        parts = entry.name.split(".")
        pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if pid is None or (pid != os.getpid() and not pid_alive(pid)):
            stale.append(entry)
    return stale
