"""Transport security: the worker's certificate and key (--tls-cert/--tls-key) and, for mutual
TLS, the CA that client certificates must chain to (--tls-client-ca). Files are read and checked
at start-up with Python's ssl module (the key matches the certificate, the CA file parses), so a
mistake is one clear line before anything listens, not a failed handshake later."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsError(ValueError):
    """A TLS file is missing, unreadable or does not fit the others."""


@dataclass(frozen=True)
class TlsConfig:
    cert_chain: bytes            # PEM: the server certificate (then any intermediates)
    private_key: bytes           # PEM
    client_ca: bytes | None      # PEM: require client certificates signed by this CA (mTLS)

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None


def _read(flag: str, path: str | Path, marker: bytes) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TlsError(f"{flag} {path}: cannot read it ({e.strerror or e})") from None
    if marker not in data:
        raise TlsError(f"{flag} {path}: not a PEM file with a {marker.decode().strip('-').strip()} block")
    return data


def load(cert: str | None, key: str | None, client_ca: str | None = None) -> TlsConfig | None:
    """The TLS configuration the flags describe, or None when TLS is off (no flags)."""
    if not cert and not key:
        if client_ca:
            raise TlsError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
        return None
    if not cert or not key:
        raise TlsError("--tls-cert and --tls-key go together")
    cert_pem = _read("--tls-cert", cert, b"-----BEGIN CERTIFICATE-----")
    key_pem = _read("--tls-key", key, b"PRIVATE KEY-----")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        raise TlsError(f"--tls-key {key} does not fit --tls-cert {cert} ({e.reason or e})") from None
    ca_pem = None
    if client_ca:
        ca_pem = _read("--tls-client-ca", client_ca, b"-----BEGIN CERTIFICATE-----")
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as e:
            raise TlsError(f"--tls-client-ca {client_ca}: not a usable CA certificate ({e.reason or e})") from None
    return TlsConfig(cert_pem, key_pem, ca_pem)


def server_credentials(config: TlsConfig):
    """grpc server credentials; with a client CA, a client without a certificate it signed is
    refused during the handshake."""
    import grpc

    return grpc.ssl_server_credentials(
        [(config.private_key, config.cert_chain)],
        root_certificates=config.client_ca,
        require_client_auth=config.mutual,
    )
