"""Transport security with a throwaway CA made at test time (test/fixtures/make-test-certs.sh):
TLS and mutual TLS work; a wrong CA, a missing or foreign client certificate, a missing or wrong
token are each refused; beyond loopback the worker will not start without a token, nor without
TLS unless --insecure."""

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from robustseg_worker.proto.inference import grpc_predict_v2_pb2 as oip
from robustseg_worker.proto.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from robustseg_worker.proto.robustseg.v1 import worker_service_pb2, worker_service_pb2_grpc

MAKE_CERTS = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "make-test-certs.sh"
TOKEN = "t0ken-for-the-tls-tests"  # beyond loopback a token needs 16+ characters
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    subprocess.run(["bash", str(MAKE_CERTS), str(directory)], check=True, timeout=120)
    return directory


def read(certs, name):
    return (certs / name).read_bytes()


def call_info(address, credentials, metadata=(("authorization", f"Bearer {TOKEN}"),)):
    with grpc.secure_channel(address, credentials) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        try:
            stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=10, metadata=list(metadata))
        except grpc.RpcError as e:
            return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def localhost(worker):
    return f"localhost:{worker.address.rsplit(':', 1)[1]}"


def test_tls_works_and_refuses_a_wrong_ca_or_token(start_worker, certs):
    worker = start_worker("--token", TOKEN, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))
    address = localhost(worker)
    good = grpc.ssl_channel_credentials(root_certificates=read(certs, "ca.pem"))
    assert call_info(address, good)[0] == grpc.StatusCode.OK
    with grpc.secure_channel(address, good) as channel:  # the Open Inference Protocol: same port, same TLS
        response = oip_grpc.GRPCInferenceServiceStub(channel).ServerLive(
            oip.ServerLiveRequest(), timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")])
        assert response.live
    code, details = call_info(address, grpc.ssl_channel_credentials(root_certificates=read(certs, "other-ca.pem")))
    assert code == grpc.StatusCode.UNAVAILABLE, details
    assert call_info(address, good, metadata=())[0] == grpc.StatusCode.UNAUTHENTICATED
    code, details = call_info(address, good, metadata=(("authorization", "Bearer wrong"),))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in details
    # Plain TCP against a TLS port gets nowhere.
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as e:
            worker_service_pb2_grpc.WorkerServiceStub(channel).GetInfo(worker_service_pb2.GetInfoRequest(), timeout=5)
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_mutual_tls_needs_a_client_certificate_from_the_ca(start_worker, certs):
    worker = start_worker("--token", TOKEN, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
                          "--tls-client-ca", str(certs / "ca.pem"))
    address = localhost(worker)
    ca = read(certs, "ca.pem")
    with_cert = grpc.ssl_channel_credentials(ca, read(certs, "client.key"), read(certs, "client.pem"))
    assert call_info(address, with_cert)[0] == grpc.StatusCode.OK
    assert call_info(address, grpc.ssl_channel_credentials(ca))[0] == grpc.StatusCode.UNAVAILABLE
    rogue = grpc.ssl_channel_credentials(ca, read(certs, "rogue.key"), read(certs, "rogue.pem"))
    assert call_info(address, rogue)[0] == grpc.StatusCode.UNAVAILABLE
    assert call_info(address, with_cert, metadata=())[0] == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("args, message", [
    (["--token", TOKEN], "pass --tls-cert FILE --tls-key FILE"),
    ([], "pass --token TOKEN"),
])
def test_beyond_loopback_needs_a_token_and_tls(start_worker, args, message):
    worker = start_worker(*args, listen="0.0.0.0:0", wait_ready=False, env={"ROBUSTSEG_WORKER_TOKEN": ""})
    assert worker.wait(timeout=60) == 2
    assert message in worker.stderr() and worker.proc.stdout.read() == b""


def test_beyond_loopback_with_tls_or_explicitly_insecure(start_worker, certs):
    tls = start_worker("--token", TOKEN, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
                       listen="0.0.0.0:0")
    assert "TLS" in tls.stderr()
    insecure = start_worker("--token", TOKEN, "--insecure", listen="0.0.0.0:0")
    assert insecure.ready["ready"] is True


@pytest.mark.parametrize("args, message", [
    (["--tls-cert", "{certs}/server.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "{certs}/server.pem", "--tls-key", "{certs}/client.key"], "does not fit --tls-cert"),
    (["--tls-cert", "{certs}/missing.pem", "--tls-key", "{certs}/server.key"], "cannot read it"),
    (["--tls-cert", "{certs}/server.key", "--tls-key", "{certs}/server.key"], "not a PEM file with a BEGIN CERTIFICATE block"),
    (["--tls-client-ca", "{certs}/ca.pem"], "--tls-client-ca needs --tls-cert and --tls-key"),
    (["--tls-cert", "{certs}/server.pem", "--tls-key", "{certs}/locked.key"],
     "--tls-key {certs}/locked.key: the key is protected by a passphrase, and the worker never prompts"),
    (["--tls-cert", "{certs}/expired.pem", "--tls-key", "{certs}/expired.key"],
     "--tls-cert {certs}/expired.pem: the certificate expired on Jan  2 00:00:00 2020 GMT"),
])
def test_bad_tls_files_are_one_clear_line(start_worker, certs, args, message):
    worker = start_worker(*[a.format(certs=certs) for a in args], wait_ready=False)
    assert worker.wait(timeout=60) == 2
    stderr = worker.stderr()
    assert message.format(certs=certs) in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_a_passphrase_protected_key_is_refused_without_reading_stdin(certs, monkeypatch):
    import io
    import sys

    from robustseg_worker import tls

    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\n"))
    with pytest.raises(tls.TlsError, match="protected by a passphrase"):
        tls.load(str(certs / "server.pem"), str(certs / "locked.key"))
    assert sys.stdin.read() == "secret\n"


def test_openssls_passphrase_request_is_refused_not_prompted(certs):
    import ssl

    from robustseg_worker import tls

    # Past the header check (a protected key in a form it does not recognise), OpenSSL's
    # request for a passphrase ends in the same refusal, never a prompt on the terminal.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(tls._PassphraseNeeded):
        context.load_cert_chain(str(certs / "server.pem"), str(certs / "locked.key"), password=tls._refuse_passphrase)
