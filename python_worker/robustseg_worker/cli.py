"""`python -m robustseg_worker`: parse flags, pick the device, start the server, print the one
readiness line on stdout, serve until told to stop.

stdout carries exactly one line, {"ready": true, "address": ..., "pid": ...}; everything else
(logs, warnings, stray prints from libraries) goes to stderr. To guarantee that, file
descriptor 1 is pointed at stderr during start-up and the readiness line is written to a
private duplicate of the original stdout."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from . import __version__
from .listen import ListenError, check_listen

log = logging.getLogger("robustseg_worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m robustseg_worker", description="robustseg PyTorch worker (gRPC)")
    p.add_argument("--listen", default="127.0.0.1:0",
                   help="HOST:PORT or unix:PATH (default 127.0.0.1:0 = a free loopback port)")
    p.add_argument("--workspace", default="./runs", help="artifact directory (default ./runs)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="exit when this process ends (default: when re-parented; 0: never)")
    p.add_argument("--token", default=os.environ.get("ROBUSTSEG_WORKER_TOKEN"),
                   help="require 'authorization: Bearer TOKEN' on every call; needed beyond loopback "
                        "(env ROBUSTSEG_WORKER_TOKEN keeps it out of the process list)")
    p.add_argument("--max-message-mb", type=int, default=64, help="max gRPC message size either way (MiB)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0 = every available core)")
    p.add_argument("--data-root", action="append", default=[], metavar="DIR",
                   help="a folder data sources may read files from (repeatable); without one, a loopback "
                        "worker reads any readable path and any other reads none")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="attacks and method-two scoring: auto = bf16 autocast on CUDA, fp32 on CPU "
                        "(reproducible bit for bit); bf16 forces autocast, fp32 turns it off")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the attacks' model (pays off only for long attacks at a fixed "
                        "tile size: compiling takes minutes)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--version", action="version", version=__version__)
    args = p.parse_args(argv)
    if not 1 <= args.max_message_mb <= 2047:
        p.error(f"--max-message-mb must be between 1 and 2047, got {args.max_message_mb}")
    if args.threads < 0:
        p.error(f"--threads must be >= 0, got {args.threads}")
    for root in args.data_root:
        if not os.path.isdir(root):
            p.error(f"--data-root {root}: not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        _, _, loopback = check_listen(args.listen, args.token)  # before the slow imports: refuse at once
    except ListenError as e:
        print(f"robustseg worker: error: {e}", file=sys.stderr)
        return 2
    ready_out = os.fdopen(os.dup(1), "w")  # the only way to the real stdout from here on
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s [worker %(process)d]: %(message)s")

    # Imported after the redirect: torch may print at import time.
    import torch

    from .data import DataPaths
    from .device import DeviceUnavailable, configure_threads, select_device
    from .engine import Engine
    from .server import WorkerServer, parent_watcher

    try:
        device = select_device(args.device)
        threads = configure_threads(args.threads or None)
        from .attacks import Runtime, set_default_runtime

        set_default_runtime(Runtime(precision=args.precision, compile=args.compile))
        # DESIGN section 10: only the data roots; none given: any path when local (loopback).
        data_paths = DataPaths(args.data_root, allow_any=loopback)
        engine = Engine(args.workspace, device, args.max_message_mb * 2**20, data_paths=data_paths)
        server = WorkerServer(engine, args.listen, token=args.token, max_message_bytes=args.max_message_mb * 2**20)
    except (DeviceUnavailable, ListenError, OSError) as e:
        print(f"robustseg worker: error: {e}", file=sys.stderr)
        return 2

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal(server))
    server.start()
    log.info("robustseg worker %s, torch %s, %d threads, workspace %s", __version__, torch.__version__,
             threads, engine.store.root)
    try:
        ready_out.write(json.dumps({"ready": True, "address": server.address, "pid": os.getpid()}) + "\n")
        ready_out.flush()
        ready_out.close()
    except OSError as e:  # nobody reads our stdout any more: the parent is gone
        log.warning("cannot write the readiness line (%s); stopping", e)
        server.stop()
        return 1
    reason = server.serve_until_stopped(parent_watcher(args.parent_pid))
    log.info("stopped (%s)", reason)
    if not server.threads_finished:
        # The interpreter would wait for the stuck thread at exit; do not.
        logging.shutdown()
        os._exit(0)
    return 0


def _on_signal(server):
    def handle(signum, _frame):
        if server.shutting_down.is_set():
            os._exit(128 + signum)  # a second signal: stop waiting for in-flight work
        # Not set() here: the handler runs on the main thread, which may hold the event's
        # lock at that moment; a helper thread simply waits for it.
        threading.Thread(target=server.request_shutdown, args=(signal.Signals(signum).name,), daemon=True).start()

    return handle
