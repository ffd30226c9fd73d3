"""The one place where exceptions become gRPC status codes (docs/ARCHITECTURE.md section 4).

A server interceptor wraps the behaviour of every method of every service, unary and
streaming alike (for a stream, exceptions surface while the response generator is consumed,
so the wrapper iterates it). The servicers therefore only raise errors.py exceptions and never
call context.abort themselves."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from . import errors

log = logging.getLogger(__name__)

_CODES: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Cancelled, grpc.StatusCode.CANCELLED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    # What the generated base servicer raises for an RPC this worker does not serve.
    (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED),
    (MemoryError, grpc.StatusCode.RESOURCE_EXHAUSTED),
]

# What a client-streamed call's request iterator raises once the client has cancelled, or its
# deadline has passed, while the worker still reads (Predict and Probe read images lazily).
CLIENT_GONE = "the client cancelled the call or its deadline passed while its requests were read"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """(code, one-line message) for an exception."""
    import torch  # late: keeps this module importable without paying for torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, "out of GPU memory: " + _one_line(exc)
    if isinstance(exc, grpc.RpcError):
        return grpc.StatusCode.CANCELLED, CLIENT_GONE
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, "no space left for the workspace: " + _one_line(exc)
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        # The workspace became read-only after start-up (the start-up check refuses one that is).
        return grpc.StatusCode.FAILED_PRECONDITION, f"read-only file system: {exc.filename or _one_line(exc)}"
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code, _one_line(exc) or cls.__name__
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else ""


def _fail(context: grpc.ServicerContext, method: str, exc: BaseException) -> None:
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.error("%s failed: %s", method, message, exc_info=exc)
    elif code == grpc.StatusCode.CANCELLED:
        log.info("%s: %s", method, message)
    else:
        log.warning("%s: %s %s", method, code.name, message)
    context.abort(code, message)  # raises: ends the call with this status


def _wrap_unary(behaviour: Callable, method: str) -> Callable:
    def handle(request_or_iterator: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request_or_iterator, context)
        except Exception as exc:  # noqa: BLE001 - this is the mapping point
            _fail(context, method, exc)

    return handle


def _wrap_stream(behaviour: Callable, method: str) -> Callable:
    def handle(request_or_iterator: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behaviour(request_or_iterator, context)
        except GeneratorExit:
            # gRPC stops pulling from a stream whose client cancelled or went away and drops
            # it; closing here unwinds the engine (its locks, its work) at the step it was on.
            log.info("%s: cancelled by the client (stream closed)", method)
            raise
        except Exception as exc:  # noqa: BLE001 - this is the mapping point
            _fail(context, method, exc)

    return handle


class StatusMappingInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        codec = {"request_deserializer": handler.request_deserializer,
                 "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(_wrap_unary(handler.unary_unary, method), **codec)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(_wrap_stream(handler.unary_stream, method), **codec)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(_wrap_unary(handler.stream_unary, method), **codec)
        return grpc.stream_stream_rpc_method_handler(_wrap_stream(handler.stream_stream, method), **codec)
