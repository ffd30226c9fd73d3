"""The worker inside another Python program: `serve(...)` runs it until it is told to stop,
`start_server(...)` starts it and hands back the running server (`.address`, `.stop()`).

    from robustseg_worker import serve
    serve("runs/workspace", listen="127.0.0.1:50051", token="s3cret")

Both take the command line's options as keyword arguments (cli.py calls start_server too). Every
argument is checked before anything starts: a value of the wrong type is a TypeError, a value out
of range a ValueError (ListenError, TlsError, DeviceUnavailable), each one line naming the
argument; OSError when the worker cannot start. `data_roots` is a list of folders, and one path
(a str or os.PathLike) is a list of that one folder: a string is never taken apart character by
character, which would make "/" a data root."""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import tls as tls_files
from .listen import check_listen

if TYPE_CHECKING:
    from torch import nn

    from .events import ModelInfo
    from .server import WorkerServer

log = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]


def start_server(workspace: PathArg = "runs", listen: str = "127.0.0.1:0", *, token: str | None = None,
                 device: str = "auto", tls_cert: PathArg | None = None, tls_key: PathArg | None = None,
                 tls_client_ca: PathArg | None = None, insecure: bool = False,
                 data_roots: PathArg | Sequence[PathArg] = (), max_message_mb: int = 64, threads: int | None = None,
                 max_image_pixels: int | None = None, max_memory_gb: float | None = None,
                 read_only: bool = False) -> WorkerServer:
    """A started WorkerServer (robustseg_worker.server). `data_roots`: the folders requests may
    read data from (one path or a list; none: any path when listening on loopback, none beyond
    it). `threads`: torch CPU threads (0 = every available core; None = leave torch's setting
    alone, as a host program may have chosen it). `max_image_pixels`: the largest image Predict
    and ModelInfer take (None: 4096 x 4096). `max_memory_gb`: work whose memory estimate
    exceeds it is refused (None: 80% of the free memory decides alone). `read_only`: the workspace
    is only read (store verify on read-only storage): no lock files, and whatever would write is
    refused with FAILED_PRECONDITION."""
    workspace = _path("workspace", workspace)
    _text("listen", listen)
    _optional_text("token", token)
    _text("device", device)
    tls_paths = [_optional_path(name, value) for name, value in
                 (("tls_cert", tls_cert), ("tls_key", tls_key), ("tls_client_ca", tls_client_ca))]
    _flag("insecure", insecure)
    roots = _data_roots(data_roots)
    _integer("max_message_mb", max_message_mb, 1, 2047)
    if threads is not None:
        _integer("threads", threads, 0)
    if max_image_pixels is not None:
        _integer("max_image_pixels", max_image_pixels, 1)
    if max_memory_gb is not None:
        _positive_number("max_memory_gb", max_memory_gb, 1e6)
    _flag("read_only", read_only)

    from .data import DataPaths
    from .device import configure_threads, select_device
    from .engine import Engine
    from .server import WorkerServer

    tls = tls_files.load(*tls_paths)
    _, _, loopback = check_listen(listen, token, tls=tls is not None, insecure=insecure)
    try:
        chosen = select_device(device)
    except ValueError as exc:
        # The device check speaks of the CLI's --device; an embedding caller passed `device`.
        raise ValueError(f"device: {str(exc).removeprefix('--device').lstrip(': ')}") from None
    if threads is not None:
        configure_threads(threads or None)
    # docs/ARCHITECTURE.md section 12: only the data roots; none given: any path when local (loopback).
    engine = Engine(workspace, chosen, max_message_mb * 2**20, data_paths=DataPaths(list(roots), allow_any=loopback),
                    memory_limit_bytes=int(max_memory_gb * 2**30) if max_memory_gb else None, read_only=read_only)
    if max_image_pixels:
        engine.max_image_pixels = int(max_image_pixels)
    server = WorkerServer(engine, listen, token=token, max_message_bytes=max_message_mb * 2**20, tls=tls,
                          insecure=insecure)
    server.start()
    return server


def serve(workspace: PathArg = "runs", listen: str = "127.0.0.1:0", *, parent_pid: int = 0, token: str | None = None,
          device: str = "auto", tls_cert: PathArg | None = None, tls_key: PathArg | None = None,
          tls_client_ca: PathArg | None = None, insecure: bool = False, data_roots: PathArg | Sequence[PathArg] = (),
          max_message_mb: int = 64, threads: int | None = None, max_image_pixels: int | None = None,
          max_memory_gb: float | None = None) -> str:
    """Start the worker and block until the Shutdown RPC, SIGTERM/SIGINT (when called on the main
    thread) or the end of `parent_pid` (0: not watched). Returns why it stopped. The other
    arguments are start_server's."""
    from .server import parent_watcher

    _integer("parent_pid", parent_pid, 0)
    server = start_server(workspace, listen, token=token, device=device, tls_cert=tls_cert, tls_key=tls_key,
                          tls_client_ca=tls_client_ca, insecure=insecure, data_roots=data_roots,
                          max_message_mb=max_message_mb, threads=threads, max_image_pixels=max_image_pixels,
                          max_memory_gb=max_memory_gb)
    log.info("robustseg worker serving on %s", server.address)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, _frame: threading.Thread(
                target=server.request_shutdown, args=(signal.Signals(signum).name,), daemon=True).start())
    try:
        return server.serve_until_stopped(parent_watcher(parent_pid))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def load_model(workspace: PathArg, model_id: str, device: str = "cpu") -> tuple[nn.Module, ModelInfo]:
    """A trained model of a workspace as a torch module (eval mode) and its ModelInfo, for using
    it directly, e.g. with robustseg_worker.attacks: pixels (N, 3, H, W) in [0, 1] -> logits."""
    import torch

    from .artifacts import load_model as load
    from .store import ArtifactStore

    workspace = _path("workspace", workspace)
    _text("model_id", model_id)
    _text("device", device)
    return load(ArtifactStore(workspace), model_id, torch.device(device))


# --- argument checks: one line naming the argument --------------------------------------------------


def _path(name: str, value: object) -> Path:
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: must be a path (str or os.PathLike), got {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise TypeError(f"{name}: must be a path (str or os.PathLike), got a bytes path")
    if not text:
        raise ValueError(f"{name}: must not be empty")
    return Path(text)


def _optional_path(name: str, value: object) -> str | None:
    return None if value is None else str(_path(name, value))


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: must be a str, got {type(value).__name__}")
    return value


def _optional_text(name: str, value: object) -> str | None:
    return None if value is None else _text(name, value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: must be True or False, got {type(value).__name__}")
    return value


def _integer(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name}: must be {bounds}, got {value}")
    return value


def _positive_number(name: str, value: object, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and 0 < value < high):
        raise ValueError(f"{name}: must be a finite number > 0 and < {high:g}, got {value!r}")
    return float(value)


def _data_roots(value: object) -> list[Path]:
    """One path is a list of one root; a list (or tuple) is checked item by item. Each root must
    be an existing folder, as the command line's --data-root."""
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Sequence):
        raise TypeError(f"data_roots: must be a path or a list of paths, got {type(value).__name__}")
    roots = [_path(f"data_roots[{i}]", item) for i, item in enumerate(value)]
    for i, root in enumerate(roots):
        if not root.expanduser().is_dir():
            raise ValueError(f"data_roots[{i}]: {root}: " + ("not a folder" if root.exists() else "no such folder"))
    return roots
