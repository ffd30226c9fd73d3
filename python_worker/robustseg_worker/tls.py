"""Transport security: the worker's certificate and key (--tls-cert/--tls-key) and, for mutual
TLS, the CA that client certificates must chain to (--tls-client-ca). Files are read and checked
at start-up with Python's ssl module (the key is not passphrase-protected and matches the
certificate, the certificate has not expired, the CA file parses), so a mistake is one clear
line before anything listens, not a failed handshake later. Nothing here reads stdin: OpenSSL's
own passphrase prompt is replaced by a callback that refuses."""

from __future__ import annotations

import ssl
import time
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


_LOCKED = ("--tls-key {key}: the key is protected by a passphrase, and the worker never prompts for one: "
           "give it an unprotected copy (openssl pkey -in {key} -out KEY, then chmod 600 KEY)")


class _PassphraseNeeded(Exception):
    """Raised by the password callback: OpenSSL asked for a passphrase."""


def _refuse_passphrase() -> bytes:
    raise _PassphraseNeeded


def _passphrase_protected(key_pem: bytes) -> bool:
    # PKCS#8 ("ENCRYPTED PRIVATE KEY") and the traditional PEM header of older OpenSSL.
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_pem or b"Proc-Type: 4,ENCRYPTED" in key_pem


def _check_dates(cert: str | Path) -> None:
    """Refuse a server certificate past its notAfter: every client would fail its handshake."""
    try:
        decoded = ssl._ssl._test_decode_cert(str(cert))  # type: ignore[attr-defined]  # ssl's own decoder
        not_after = decoded["notAfter"]
        expires = ssl.cert_time_to_seconds(not_after)
    except (AttributeError, KeyError, ValueError, ssl.SSLError):
        return  # undecodable dates: OpenSSL accepted the certificate; clients will judge it
    if expires < time.time():
        raise TlsError(f"--tls-cert {cert}: the certificate expired on {not_after} "
                       "(clients refuse it): renew it")


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
    if _passphrase_protected(key_pem):
        raise TlsError(_LOCKED.format(key=key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_refuse_passphrase)
    except _PassphraseNeeded:
        raise TlsError(_LOCKED.format(key=key)) from None
    except ssl.SSLError as e:
        raise TlsError(f"--tls-key {key} does not fit --tls-cert {cert} ({e.reason or e})") from None
    _check_dates(cert)
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
