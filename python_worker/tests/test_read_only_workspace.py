"""A workspace on read-only storage: the worker refuses to start on it with one line naming
--workspace, except with --read-only (what `robustseg store verify` passes), where store verify
works, a damaged artifact is reported and left in place, and whatever would write is refused with
FAILED_PRECONDITION naming the workspace. An EROFS met later is FAILED_PRECONDITION too, never
INTERNAL.

Tests run as root in CI, which ignores file modes: the storage is made read-only with a read-only
bind mount where mounting is allowed, else with the immutable attribute (chattr +i) on every
folder, else (not root) with file modes."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from robustseg_worker import maintenance
from robustseg_worker.cli import workspace_problem
from robustseg_worker.engine import Engine
from robustseg_worker.errors import FailedPrecondition
from robustseg_worker.events import DatasetsCreated
from robustseg_worker.status_mapping import status_for

SMALL = {"tile_size": 8, "num_train": 2, "num_validation": 1, "num_test": 1, "seed": 5}


def _run(*command: str) -> bool:
    return shutil.which(command[0]) is not None and subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0


def _writable(path: Path) -> bool:
    try:
        (path / ".probe").touch()
    except OSError:
        return False
    (path / ".probe").unlink()
    return True


@contextlib.contextmanager
def read_only(path: Path):
    """`path` and everything below it read-only for this process, root included."""
    folders = [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]
    if os.geteuid() != 0:
        for f in folders:
            f.chmod(0o555)
        undo = [lambda: [f.chmod(0o755) for f in folders]]
    elif _run("mount", "--bind", str(path), str(path)):
        if not _run("mount", "-o", "remount,bind,ro", str(path)):
            _run("umount", str(path))
            pytest.skip("cannot remount a bind mount read-only here")
        undo = [lambda: _run("umount", str(path))]
    elif all(_run("chattr", "+i", str(f)) for f in folders):
        undo = [lambda: [_run("chattr", "-i", str(f)) for f in folders]]
    else:
        [_run("chattr", "-i", str(f)) for f in folders]
        pytest.skip("no way to make a read-only folder here (no mount, no chattr)")
    try:
        assert not _writable(path), "the folder is still writable"
        yield path
    finally:
        for step in undo:
            step()


@pytest.fixture
def made(tmp_path):
    """A workspace with the datasets of one small synthetic set."""
    workspace = tmp_path / "ws"
    created = list(Engine(workspace).create_dataset("synthetic_histology", SMALL))[-1]
    assert isinstance(created, DatasetsCreated)
    return workspace, [d.id for d in created.datasets]


def test_start_up_check_names_the_workspace(made, tmp_path):
    workspace, _ = made
    assert workspace_problem(str(workspace), read_only=False) is None
    with read_only(workspace):
        problem = workspace_problem(str(workspace), read_only=False)
        assert problem is not None and problem.startswith(f"--workspace {workspace}: not writable (")
        assert workspace_problem(str(workspace), read_only=True) is None
    assert workspace_problem("/proc/robustseg-nope", read_only=False).startswith(
        "--workspace /proc/robustseg-nope: not writable (")
    (tmp_path / "file").write_text("x")
    assert workspace_problem(str(tmp_path / "file"), read_only=True) == f"--workspace {tmp_path / 'file'}: not a folder"
    assert workspace_problem(str(tmp_path / "none"), read_only=True) == (
        f"--workspace {tmp_path / 'none'}: no such folder (--read-only makes nothing)")


def test_read_only_store_reuses_but_refuses_to_make(made):
    workspace, ids = made
    with read_only(workspace):
        engine = Engine(workspace, read_only=True)
        # Reusing existing artifacts is a read; making a new one is refused before any work.
        reused = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
        assert isinstance(reused, DatasetsCreated) and [d.id for d in reused.datasets] == ids
        with pytest.raises(FailedPrecondition) as refused:
            list(engine.create_dataset("synthetic_histology", {**SMALL, "seed": 6}))
        assert str(refused.value).startswith(f"the workspace {workspace} is open read-only (--read-only): cannot make ds-")


def test_read_only_store_verify_leaves_a_damaged_artifact_in_place(made):
    workspace, ids = made
    meta = workspace / "datasets" / ids[0] / "meta.json"
    meta.write_text(meta.read_text() + " ")  # damaged: its size and sha256 no longer match
    locks_before = sorted(p.name for p in (workspace / "locks").iterdir())
    with read_only(workspace):
        engine = Engine(workspace, read_only=True)
        result = list(maintenance.verify_store(engine.store))[-1]
        assert [(a.id, a.ok, a.file, a.quarantined_to) for a in result.artifacts if not a.ok] == [(ids[0], False, "meta.json", "")]
        assert result.corrupt == 1 and len(result.artifacts) == len(ids)
    assert (workspace / "datasets" / ids[0]).is_dir()  # left in place, not quarantined
    assert sorted(p.name for p in (workspace / "locks").iterdir()) == locks_before


def test_a_read_only_file_system_met_later_is_failed_precondition():
    code, message = status_for(OSError(errno.EROFS, "Read-only file system", "/ws/locks/m-1.lock"))
    assert (code, message) == (grpc.StatusCode.FAILED_PRECONDITION, "read-only file system: /ws/locks/m-1.lock")


def test_the_worker_refuses_a_read_only_workspace_unless_told_read_only(made, start_worker):
    workspace, _ = made
    with read_only(workspace):
        refused = start_worker("--workspace", str(workspace), wait_ready=False)
        assert refused.wait(timeout=60) == 2
        stderr = refused.stderr().strip()
        assert stderr.startswith(f"robustseg worker: error: --workspace {workspace}: not writable (")
        assert len(stderr.splitlines()) == 1
        from robustseg_worker.proto.robustseg.v1 import store_pb2, worker_service_pb2_grpc

        worker = start_worker("--workspace", str(workspace), "--read-only")
        with grpc.insecure_channel(worker.address) as channel:
            stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
            events = list(stub.VerifyStore(store_pb2.VerifyStoreRequest(), timeout=60))
        assert events[-1].WhichOneof("event") == "result"
        assert events[-1].result.corrupt == 0
