"""The gRPC server and its lifecycle: bind, serve, and stop on Shutdown, on a signal or when
the parent process dies (so a crashed control plane never leaves a worker behind)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent import futures

import grpc

from . import tls as tls_files
from .auth import BearerTokenInterceptor
from .engine import Engine
from .health import WORKER_SERVICE, HealthServicer
from .inference_service import INFERENCE_SERVICE, InferenceServicer
from .listen import ListenError, check_listen
from .proto.grpc.health.v1 import health_pb2_grpc
from .proto.inference import grpc_predict_v2_pb2_grpc
from .proto.robustseg.v1 import worker_service_pb2_grpc
from .servicer import WorkerServicer
from .status_mapping import StatusMappingInterceptor

log = logging.getLogger(__name__)

# In-flight calls get this long to finish after shutdown begins; running work stops at its
# next step anyway (UNAVAILABLE), so this is rarely reached.
SHUTDOWN_GRACE_S = 5.0


class WorkerServer:
    def __init__(self, engine: Engine, listen: str, *, token: str | None = None,
                 max_message_bytes: int = 64 * 2**20, max_workers: int = 16,
                 tls: tls_files.TlsConfig | None = None, insecure: bool = False) -> None:
        host, port, self.loopback = check_listen(listen, token, tls=tls is not None, insecure=insecure)
        self.engine = engine
        self.tls = tls
        self.shutting_down = threading.Event()
        self._stop_reason: str | None = None
        self.threads_finished = True
        self.health = HealthServicer(("", WORKER_SERVICE, INFERENCE_SERVICE))
        interceptors: list[grpc.ServerInterceptor] = []
        if token:
            # Health stays open on loopback so a local supervisor can probe without the secret.
            interceptors.append(BearerTokenInterceptor(token, health_exempt=self.loopback))
        interceptors.append(StatusMappingInterceptor())
        self._executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc")
        self._server = grpc.server(
            self._executor,
            interceptors=interceptors,
            options=[
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),  # a port in use is an error, not a shared port
            ],
        )
        worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(
            WorkerServicer(engine, self.shutting_down, self.request_shutdown), self._server)
        # The Open Inference Protocol on the same port, behind the same token and TLS.
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(engine, self.shutting_down), self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        try:
            if tls is None:
                bound = self._server.add_insecure_port(listen)
            else:
                bound = self._server.add_secure_port(listen, tls_files.server_credentials(tls))
        except RuntimeError as e:
            raise ListenError(f"cannot listen on {listen}: {e}") from None
        self.address = host if port is None else (f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}")

    def start(self) -> None:
        self._server.start()
        self.health.set_serving(True)
        security = "plain TCP" if self.tls is None else ("mutual TLS" if self.tls.mutual else "TLS")
        log.info("serving on %s (%s, device %s)", self.address, security, self.engine.device)

    def request_shutdown(self, reason: str) -> None:
        """Thread-safe: the serving loop does the actual stopping."""
        if not self.shutting_down.is_set():
            self._stop_reason = reason
            self.shutting_down.set()

    def serve_until_stopped(self, parent_alive: Callable[[], bool] | None = None, poll_s: float = 1.0) -> str:
        """Block until a shutdown is requested or the parent dies; then stop gracefully.
        Returns the reason."""
        while not self.shutting_down.wait(timeout=poll_s):
            if parent_alive is not None and not parent_alive():
                self.request_shutdown("parent process exited")
        reason = self._stop_reason or "shutdown"
        log.info("shutting down: %s", reason)
        self.threads_finished = self.stop()
        return reason

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> bool:
        """Stop serving; True when every RPC thread has finished."""
        self.shutting_down.set()
        self.health.close()
        self._server.stop(grace).wait()
        # Worker threads end within a step of the shutdown event; do not wait forever on one
        # stuck in a long kernel.
        waiter = threading.Thread(target=self._executor.shutdown, kwargs={"wait": True}, daemon=True)
        waiter.start()
        waiter.join(timeout=10.0)
        if waiter.is_alive():
            log.warning("worker threads still busy 10 s after shutdown")
            return False
        return True


def _is_zombie(pid: int) -> bool:
    """An exited process its own parent has not reaped yet still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def parent_watcher(parent_pid: int | None) -> Callable[[], bool] | None:
    """A predicate that turns False once the parent is gone: the given pid no longer exists,
    or (without one) we were re-parented. parent_pid 0 disables watching."""
    if parent_pid == 0:
        return None
    if parent_pid is not None:
        def given_parent_alive() -> bool:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return not _is_zombie(parent_pid)

        return given_parent_alive
    original = os.getppid()
    return lambda: os.getppid() == original

