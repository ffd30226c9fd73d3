"""The worker as a process: start-up errors, the readiness line, how it stops, tokens."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

from worker_harness import PYTHON_WORKER_DIR
from robustseg_worker.proto.grpc.health.v1 import health_pb2, health_pb2_grpc
from robustseg_worker.proto.robustseg.v1 import data_pb2, model_pb2, worker_service_pb2, worker_service_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _stubs(address):
    channel = grpc.insecure_channel(address)
    return channel, worker_service_pb2_grpc.WorkerServiceStub(channel), health_pb2_grpc.HealthStub(channel)


def _gone(pid, timeout):
    """True once pid no longer runs (gone or a zombie nobody reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_shutdown_rpc_answers_then_the_process_exits(start_worker):
    worker = start_worker()
    channel, stub, health = _stubs(worker.address)
    watch = health.Watch(health_pb2.HealthCheckRequest(service="robustseg.v1.WorkerService"), timeout=30)
    assert next(watch).status == SERVING
    assert stub.Shutdown(worker_service_pb2.ShutdownRequest(), timeout=5) == worker_service_pb2.ShutdownResponse()
    assert next(watch).status == NOT_SERVING  # announced before the server goes away
    assert worker.wait(timeout=20) == 0
    assert worker.proc.stdout.read() == b""  # nothing on stdout but the readiness line
    assert "shutting down: Shutdown RPC" in worker.stderr()
    channel.close()


def test_shutdown_stops_running_work_with_unavailable(start_worker):
    worker = start_worker()
    channel, stub, _ = _stubs(worker.address)
    created = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(source=data_pb2.DataSource(
        synthetic_histology=data_pb2.SyntheticHistologySource(tile_size=16, num_train=16, num_validation=4))), timeout=60))
    ids = created[-1].result.datasets
    call = stub.Train(model_pb2.TrainRequest(
        model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=1, base_width=4)),
        train_dataset_ids=[ids[0].id], validation_dataset_id=ids[1].id,
        config=model_pb2.TrainingConfig(epochs=100_000, batch_size=4, learning_rate=1e-3)), timeout=60)
    assert next(e for e in call if e.WhichOneof("event") == "step")
    threading.Timer(0.2, lambda: _stubs(worker.address)[1].Shutdown(worker_service_pb2.ShutdownRequest(), timeout=5)).start()
    with pytest.raises(grpc.RpcError) as e:
        for _ in call:
            pass
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in e.value.details()
    assert worker.wait(timeout=20) == 0
    channel.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_worker(start_worker, sig):
    worker = start_worker()
    worker.proc.send_signal(sig)
    assert worker.wait(timeout=20) == 0
    assert f"shutting down: {sig.name}" in worker.stderr()


def test_exits_when_the_given_parent_pid_dies(start_worker):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        worker = start_worker("--parent-pid", str(parent.pid))
        time.sleep(1.5)
        assert worker.proc.poll() is None  # parent alive: keeps serving
        parent.kill()  # not reaped yet: a zombie still answers kill(pid, 0)
        assert worker.wait(timeout=15) == 0
        assert "parent process exited" in worker.stderr()
    finally:
        parent.kill()
        parent.wait()


def test_exits_when_reparented(tmp_path):
    """No --parent-pid: the worker notices that its parent process is gone (re-parenting)."""
    launcher = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'robustseg_worker', '--listen', '127.0.0.1:0',"
        f" '--workspace', {str(tmp_path / 'ws')!r}], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
        "print(p.pid, p.stdout.readline().decode().strip(), flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", launcher], capture_output=True, timeout=90,
                         env={**os.environ, "PYTHONPATH": str(PYTHON_WORKER_DIR)}, check=True).stdout.decode()
    pid, line = out.split(" ", 1)
    assert json.loads(line)["ready"] is True
    try:
        assert _gone(int(pid), timeout=45)
    finally:
        if not _gone(int(pid), 0.01):
            os.kill(int(pid), signal.SIGKILL)


def test_non_loopback_needs_a_token(start_worker):
    worker = start_worker(listen="0.0.0.0:0", wait_ready=False, env={"ROBUSTSEG_WORKER_TOKEN": ""})
    assert worker.wait(timeout=60) == 2
    assert worker.proc.stdout.read() == b""
    assert "--listen 0.0.0.0:0 is not a loopback address: pass --token" in worker.stderr()


def test_unavailable_device_is_a_clear_start_up_error(start_worker):
    worker = start_worker("--device", "cuda:7", wait_ready=False)
    assert worker.wait(timeout=60) == 2
    assert "--device cuda:7" in worker.stderr() and worker.proc.stdout.read() == b""


def test_bad_listen_address_is_a_clear_start_up_error(start_worker):
    worker = start_worker(listen="nonsense", wait_ready=False)
    assert worker.wait(timeout=60) == 2
    assert "--listen must be HOST:PORT or unix:PATH" in worker.stderr()


def _code(call):
    try:
        call()
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def test_token_is_required_on_every_call_but_local_health(start_worker):
    worker = start_worker("--token", "s3cret", "--max-message-mb", "1")
    channel, stub, health = _stubs(worker.address)
    good = [("authorization", "Bearer s3cret")]
    info = worker_service_pb2.GetInfoRequest()
    assert _code(lambda: stub.GetInfo(info, timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: stub.GetInfo(info, timeout=5, metadata=[("authorization", "Bearer wrong")])) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: list(stub.CreateDataset(data_pb2.CreateDatasetRequest(), timeout=5))) == grpc.StatusCode.UNAUTHENTICATED
    assert stub.GetInfo(info, timeout=5, metadata=good).max_message_bytes == 2**20
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING  # loopback: open
    # explicit message limits: a 2 MiB request is refused by a 1 MiB worker
    huge = data_pb2.GetDatasetRequest(dataset_id="x" * (2 * 2**20))
    assert _code(lambda: stub.GetDataset(huge, timeout=5, metadata=good)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _code(lambda: stub.Shutdown(worker_service_pb2.ShutdownRequest(), timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    stub.Shutdown(worker_service_pb2.ShutdownRequest(), timeout=5, metadata=good)
    assert worker.wait(timeout=20) == 0
    channel.close()


def test_beyond_loopback_even_health_needs_the_token(start_worker):
    worker = start_worker("--token", "t0k", "--insecure", listen="0.0.0.0:0")
    port = worker.address.rsplit(":", 1)[1]
    channel, stub, health = _stubs(f"127.0.0.1:{port}")
    assert _code(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5, metadata=[("authorization", "Bearer t0k")]).status == SERVING
    channel.close()


def test_listens_on_a_unix_socket(start_worker, tmp_path):
    socket_path = tmp_path / "worker.sock"
    worker = start_worker(listen=f"unix:{socket_path}")
    assert worker.address == f"unix:{socket_path}"
    channel, stub, health = _stubs(worker.address)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING
    assert stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=5).device_type == "cpu"
    channel.close()
