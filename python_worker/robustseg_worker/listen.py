"""The --listen address: parsing and the rules beyond loopback (docs/ARCHITECTURE.md section 12:
a token, and TLS unless --insecure). Free of torch and grpc so the command line can refuse a bad address at
once."""

from __future__ import annotations

import ipaddress


class ListenError(ValueError):
    """The listen address is unusable or unsafe without a token."""


def split_address(listen: str) -> tuple[str, int | None]:
    """("127.0.0.1", 0) from "127.0.0.1:0", ("::1", 50051) from "[::1]:50051",
    ("unix:/path", None) for a unix socket."""
    if listen.startswith("unix:"):
        return listen, None
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ListenError(f"--listen must be HOST:PORT or unix:PATH, got {listen!r}")
    if int(port) > 65535:
        raise ListenError(f"--listen port must be 0-65535, got {port}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host.startswith("unix:") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: assume it is reachable from outside


def check_listen(listen: str, token: str | None, *, tls: bool = False, insecure: bool = False
                 ) -> tuple[str, int | None, bool]:
    """(host, port, is_loopback). Beyond loopback a token is required, and TLS unless the
    caller says --insecure (a token in clear text is anyone's on the path)."""
    host, port = split_address(listen)
    loopback = is_loopback(host)
    if not loopback and not token:
        raise ListenError(
            f"--listen {listen} is not a loopback address: pass --token TOKEN (or set "
            "ROBUSTSEG_WORKER_TOKEN); clients then send 'authorization: Bearer TOKEN'"
        )
    if not loopback and not tls and not insecure:
        raise ListenError(
            f"--listen {listen} is not a loopback address: pass --tls-cert FILE --tls-key FILE so the token "
            "does not travel in clear text, or --insecure to accept that explicitly"
        )
    return host, port, loopback
