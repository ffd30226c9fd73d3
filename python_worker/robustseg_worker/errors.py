"""The worker's own exceptions: the engine raises these, and the servicer maps each to one gRPC
status code in a single place (status_mapping.py). Kept free of grpc so the engine and its tests
do not depend on the transport."""

from __future__ import annotations


class WorkerError(Exception):
    """Base class: an error the client caused or can act on, with a one-line message."""


class InvalidArgument(WorkerError):
    """A request field is wrong. `field` is the path in the request, e.g. "config.epochs"."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")


class NotFound(WorkerError):
    """An artifact id that is not in the workspace."""

    def __init__(self, kind: str, artifact_id: str) -> None:
        self.kind = kind
        self.artifact_id = artifact_id
        super().__init__(f"{kind} {artifact_id} not found")


class FailedPrecondition(WorkerError):
    """The request is well formed but the system is not in a state to run it
    (e.g. training diverged, a stored artifact is corrupt)."""


class ResourceExhausted(WorkerError):
    """The work would need more memory or space than the worker allows."""


class Cancelled(WorkerError):
    """The client cancelled the call; work stopped at the next step."""


class Unavailable(WorkerError):
    """The worker is shutting down; the client may retry on another worker."""
