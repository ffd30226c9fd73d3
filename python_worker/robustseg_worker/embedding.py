"""The worker inside another Python program: `serve(...)` runs it until it is told to stop,
`start_server(...)` starts it and hands back the running server (`.address`, `.stop()`).

    from robustseg_worker import serve
    serve("runs/workspace", listen="127.0.0.1:50051", token="s3cret")

Both take the command line's options as keyword arguments (cli.py calls start_server too) and
raise ValueError (ListenError, TlsError, DeviceUnavailable) or OSError when they cannot start."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from . import tls as tls_files
from .listen import check_listen

log = logging.getLogger(__name__)


def start_server(workspace: str | Path = "runs", listen: str = "127.0.0.1:0", *, token: str | None = None,
                 device: str = "auto", tls_cert: str | None = None, tls_key: str | None = None,
                 tls_client_ca: str | None = None, insecure: bool = False, data_roots: Sequence[str] = (),
                 max_message_mb: int = 64, threads: int | None = None, max_image_pixels: int | None = None):
    """A started WorkerServer (robustseg_worker.server). `threads`: torch CPU threads (0 = every
    available core; None = leave torch's setting alone, as a host program may have chosen it)."""
    from .data import DataPaths
    from .device import configure_threads, select_device
    from .engine import Engine
    from .server import WorkerServer

    tls = tls_files.load(tls_cert, tls_key, tls_client_ca)
    _, _, loopback = check_listen(listen, token, tls=tls is not None, insecure=insecure)
    if not 1 <= max_message_mb <= 2047:
        raise ValueError(f"max_message_mb must be between 1 and 2047, got {max_message_mb}")
    chosen = select_device(device)
    if threads is not None:
        configure_threads(threads or None)
    # docs/ARCHITECTURE.md section 12: only the data roots; none given: any path when local (loopback).
    engine = Engine(workspace, chosen, max_message_mb * 2**20, data_paths=DataPaths(list(data_roots), allow_any=loopback))
    if max_image_pixels:
        engine.max_image_pixels = int(max_image_pixels)
    server = WorkerServer(engine, listen, token=token, max_message_bytes=max_message_mb * 2**20, tls=tls,
                          insecure=insecure)
    server.start()
    return server


def serve(workspace: str | Path = "runs", listen: str = "127.0.0.1:0", *, parent_pid: int = 0, **options) -> str:
    """Start the worker and block until the Shutdown RPC, SIGTERM/SIGINT (when called on the main
    thread) or the end of `parent_pid` (0: not watched). Returns why it stopped."""
    from .server import parent_watcher

    server = start_server(workspace, listen, **options)
    log.info("robustseg worker serving on %s", server.address)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, _frame: threading.Thread(
                target=server.request_shutdown, args=(signal.Signals(signum).name,), daemon=True).start())
    try:
        return server.serve_until_stopped(parent_watcher(parent_pid))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def load_model(workspace: str | Path, model_id: str, device: str = "cpu"):
    """A trained model of a workspace as a torch module (eval mode) and its ModelInfo, for using
    it directly, e.g. with robustseg_worker.attacks: pixels (N, 3, H, W) in [0, 1] -> logits."""
    import torch

    from .artifacts import load_model as load
    from .store import ArtifactStore

    return load(ArtifactStore(workspace), model_id, torch.device(device))
