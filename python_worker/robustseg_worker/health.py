"""grpc.health.v1.Health, written against the generated stubs (no grpcio-health-checking).

The worker registers "" (the server as a whole) and "robustseg.v1.WorkerService"; both read
NOT_SERVING until the engine is ready and again once shutdown begins. Watch streams the
current status and every change, and ends when the server shuts down."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import grpc

from .errors import NotFound
from .proto.grpc.health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
WORKER_SERVICE = "robustseg.v1.WorkerService"


class HealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self, services: Iterable[str] = ("", WORKER_SERVICE)) -> None:
        self._status = {name: NOT_SERVING for name in services}
        self._changed = threading.Condition()
        self._closed = False

    def set_serving(self, serving: bool) -> None:
        with self._changed:
            if self._closed:
                return
            for name in self._status:
                self._status[name] = SERVING if serving else NOT_SERVING
            self._changed.notify_all()

    def close(self) -> None:
        """Shutdown: NOT_SERVING for good; watchers get that last update and end."""
        with self._changed:
            for name in self._status:
                self._status[name] = NOT_SERVING
            self._closed = True
            self._changed.notify_all()

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext):
        with self._changed:
            status = self._status.get(request.service)
        if status is None:
            raise NotFound("service", repr(request.service))  # the protocol's answer: NOT_FOUND
        return health_pb2.HealthCheckResponse(status=status)

    def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> Iterator:
        last = None
        while context.is_active():
            with self._changed:
                status = self._status.get(request.service, SERVICE_UNKNOWN)
                closed = self._closed
                if status == last:
                    if closed:
                        return
                    self._changed.wait(timeout=1.0)  # wake now and then to notice a gone client
                    continue
            yield health_pb2.HealthCheckResponse(status=status)
            last = status
