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


MIN_TOKEN_LENGTH = 16
MIN_TOKEN_DISTINCT = 6
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def check_token_strength(token: str) -> None:
    """A token that guards a listener beyond loopback: at least 16 characters, no whitespace or
    control characters, not one character repeated. The message never repeats the token."""
    problem = None
    if len(token) < MIN_TOKEN_LENGTH:
        problem = f"is {len(token)} characters long; it needs at least {MIN_TOKEN_LENGTH}"
    elif any(c.isspace() or not c.isprintable() for c in token):
        problem = "contains whitespace or control characters"
    elif len(set(token)) < MIN_TOKEN_DISTINCT:
        problem = f"uses only {len(set(token))} different characters"
    if problem:
        raise ListenError(f"the token (--token or ROBUSTSEG_WORKER_TOKEN) {problem} to guard a listener beyond "
                          f"loopback; make one with: {MAKE_TOKEN}")


def check_listen(listen: str, token: str | None, *, tls: bool = False, insecure: bool = False
                 ) -> tuple[str, int | None, bool]:
    """(host, port, is_loopback). Beyond loopback a strong token is required, and TLS unless
    the caller says --insecure (a token in clear text is anyone's on the path)."""
    host, port = split_address(listen)
    loopback = is_loopback(host)
    if not loopback and not token:
        raise ListenError(
            f"--listen {listen} is not a loopback address: pass --token TOKEN (or set "
            "ROBUSTSEG_WORKER_TOKEN); clients then send 'authorization: Bearer TOKEN'"
        )
    if not loopback:
        check_token_strength(token)
    if not loopback and not tls and not insecure:
        raise ListenError(
            f"--listen {listen} is not a loopback address: pass --tls-cert FILE --tls-key FILE so the token "
            "does not travel in clear text, or --insecure to accept that explicitly"
        )
    return host, port, loopback
