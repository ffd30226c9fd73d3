"""`python -m robustseg_worker.healthcheck`: exit 0 when the worker at --address reports SERVING
(grpc.health.v1), 1 otherwise, with one line on stderr. For container health checks, where no
grpc_health_probe binary is at hand. The token comes from ROBUSTSEG_WORKER_TOKEN (as for the
worker); with --tls-ca (and --tls-cert/--tls-key under mutual TLS) it speaks TLS."""

from __future__ import annotations

import argparse
import os
import sys

import grpc

from .proto.grpc.health.v1 import health_pb2, health_pb2_grpc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustseg_worker.healthcheck")
    p.add_argument("--address", default="127.0.0.1:50051", help="HOST:PORT of the worker")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds")
    p.add_argument("--tls-ca", help="PEM CA of the worker's certificate (turns TLS on)")
    p.add_argument("--tls-cert", help="client certificate (mutual TLS)")
    p.add_argument("--tls-key", help="client key (mutual TLS)")
    p.add_argument("--tls-server-name", help="name in the worker's certificate, when not the host dialled")
    args = p.parse_args(argv)
    token = os.environ.get("ROBUSTSEG_WORKER_TOKEN") or os.environ.get("ROBUSTSEG_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else []
    if args.tls_ca:
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        credentials = grpc.ssl_channel_credentials(read(args.tls_ca), args.tls_key and read(args.tls_key),
                                                   args.tls_cert and read(args.tls_cert))
        options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
        channel = grpc.secure_channel(args.address, credentials, options)
    else:
        channel = grpc.insecure_channel(args.address)
    try:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=args.timeout,
                                                          metadata=metadata).status
    except grpc.RpcError as e:
        print(f"unhealthy: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    finally:
        channel.close()
    if status != health_pb2.HealthCheckResponse.SERVING:
        print(f"unhealthy: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
