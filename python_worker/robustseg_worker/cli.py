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
import re
import signal
import sys
import tempfile
import threading

from . import __version__
from .listen import ListenError, check_listen
from .tls import TlsError, load as load_tls

log = logging.getLogger("robustseg_worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m robustseg_worker", description="robustseg PyTorch worker (gRPC)")
    p.add_argument("--listen", default="127.0.0.1:0",
                   help="HOST:PORT or unix:PATH (default 127.0.0.1:0 = a free loopback port)")
    p.add_argument("--workspace", default="./runs", help="artifact directory (default ./runs); must be writable")
    p.add_argument("--read-only", action="store_true",
                   help="only read the workspace (store verify on read-only storage): no lock files, damaged "
                        "artifacts left in place, and whatever would write fails with FAILED_PRECONDITION")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="exit when this process ends (default: when re-parented; 0: never)")
    p.add_argument("--token", default=os.environ.get("ROBUSTSEG_WORKER_TOKEN"),
                   help="require 'authorization: Bearer TOKEN' on every call; needed beyond loopback "
                        "(env ROBUSTSEG_WORKER_TOKEN keeps it out of the process list)")
    p.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this PEM certificate (chain); needs --tls-key")
    p.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    p.add_argument("--tls-client-ca", metavar="FILE",
                   help="mutual TLS: refuse clients without a certificate signed by this PEM CA")
    p.add_argument("--insecure", action="store_true",
                   help="allow listening beyond loopback without TLS (the token then travels in clear text)")
    p.add_argument("--max-message-mb", type=int, default=64, help="max gRPC message size either way (MiB)")
    p.add_argument("--max-memory-gb", type=float, default=0,
                   help="refuse work whose memory estimate exceeds this many GiB (default 0: 80%% of the free memory)")
    p.add_argument("--max-image-pixels", type=int, default=0,
                   help="largest image Predict and ModelInfer accept, in pixels (default 4096*4096)")
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
    if not (args.max_memory_gb >= 0 and args.max_memory_gb < 1e6):
        p.error(f"--max-memory-gb must be between 0 and 1e6, got {args.max_memory_gb}")
    if args.max_image_pixels < 0:
        p.error(f"--max-image-pixels must be >= 0, got {args.max_image_pixels}")
    if args.threads < 0:
        p.error(f"--threads must be >= 0, got {args.threads}")
    for root in args.data_root:
        if not os.path.isdir(root):
            p.error(f"--data-root {root}: not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    # As in __main__ (the `robustseg-worker` command comes here directly): idle OpenMP threads
    # sleep instead of spinning; must be set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_args(argv)
    try:  # before the slow imports: refuse at once
        tls = load_tls(args.tls_cert, args.tls_key, args.tls_client_ca)
        check_listen(args.listen, args.token, tls=tls is not None, insecure=args.insecure)
    except (ListenError, TlsError) as e:
        print(f"robustseg worker: error: {e}", file=sys.stderr)
        return 2
    problem = workspace_problem(args.workspace, args.read_only)
    if problem:
        print(f"robustseg worker: error: {problem}", file=sys.stderr)
        return 2
    ready_out = os.fdopen(os.dup(1), "w")  # the only way to the real stdout from here on
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s [worker %(process)d]: %(message)s")

    # Imported after the redirect: torch may print at import time.
    import torch

    from .embedding import start_server
    from .server import parent_watcher

    try:
        from .attacks import Runtime, set_default_runtime

        set_default_runtime(Runtime(precision=args.precision, compile=args.compile))
        server = start_server(args.workspace, args.listen, token=args.token, device=args.device,
                              tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
                              insecure=args.insecure, data_roots=args.data_root, max_message_mb=args.max_message_mb,
                              threads=args.threads, max_image_pixels=args.max_image_pixels or None,
                              max_memory_gb=args.max_memory_gb or None, read_only=args.read_only)
    except (ValueError, OSError) as e:
        print(f"robustseg worker: error: {_as_flags(str(e))}", file=sys.stderr)
        return 2

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal(server))
    log.info("robustseg worker %s, torch %s, %d threads, workspace %s", __version__, torch.__version__,
             torch.get_num_threads(), server.engine.store.root)
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


def workspace_problem(workspace: str, read_only: bool) -> str | None:
    """Why the worker cannot use `workspace`, in one line naming --workspace, or None. Every
    call takes lock files there, so an unwritable workspace would fail each one later;
    read-only, it must only be a folder."""
    path = os.path.abspath(workspace)
    if os.path.exists(path) and not os.path.isdir(path):
        return f"--workspace {path}: not a folder"
    if read_only:
        return None if os.path.isdir(path) else f"--workspace {path}: no such folder (--read-only makes nothing)"
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        hint = "; pass a writable folder (robustseg store verify reads a read-only one)"
        return f"--workspace {path}: not writable ({e.strerror or e}){hint}"
    return None


def _on_signal(server):
    def handle(signum, _frame):
        if server.shutting_down.is_set():
            os._exit(128 + signum)  # a second signal: stop waiting for in-flight work
        # Not set() here: the handler runs on the main thread, which may hold the event's
        # lock at that moment; a helper thread simply waits for it.
        threading.Thread(target=server.request_shutdown, args=(signal.Signals(signum).name,), daemon=True).start()

    return handle


# start_server names its keyword arguments in errors (`device: …`, `data_roots[1]: …`); from the
# command line the same problem is the flag's (`--device …`, `--data-root …`).
_FLAG_OF_ARGUMENT = {"workspace": "--workspace", "listen": "--listen", "token": "--token", "device": "--device",
                     "tls_cert": "--tls-cert", "tls_key": "--tls-key", "tls_client_ca": "--tls-client-ca",
                     "data_roots": "--data-root", "max_message_mb": "--max-message-mb", "threads": "--threads",
                     "max_image_pixels": "--max-image-pixels", "max_memory_gb": "--max-memory-gb",
                     "read_only": "--read-only"}


def _as_flags(message: str) -> str:
    match = re.match(r"(\w+)(\[\d+\])?: ", message)
    if match and match.group(1) in _FLAG_OF_ARGUMENT:
        return f"{_FLAG_OF_ARGUMENT[match.group(1)]} {message[match.end():]}"
    return message
