"""Bearer-token check for every call (docs/ARCHITECTURE.md section 12: listening beyond loopback needs a
token). Health may be exempt so a local supervisor can probe without the secret."""

from __future__ import annotations

import hmac
import logging

import grpc

log = logging.getLogger(__name__)
HEALTH_PREFIX = "/grpc.health.v1.Health/"


def _reject(context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token (metadata 'authorization: Bearer TOKEN')")


class BearerTokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str, health_exempt: bool) -> None:
        self._expected = f"Bearer {token}".encode()
        self._health_exempt = health_exempt

    def _authorised(self, handler_call_details) -> bool:
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)  # constant time
        return False

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if (self._health_exempt and method.startswith(HEALTH_PREFIX)) or self._authorised(handler_call_details):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        log.warning("rejected %s: missing or wrong bearer token", method)
        codec = {"request_deserializer": handler.request_deserializer,
                 "response_serializer": handler.response_serializer}

        def deny(_request, context):
            _reject(context)

        def deny_stream(_request, context):
            _reject(context)
            yield  # pragma: no cover - makes this a generator, never reached

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(deny, **codec)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(deny_stream, **codec)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(deny, **codec)
        return grpc.stream_stream_rpc_method_handler(deny_stream, **codec)
