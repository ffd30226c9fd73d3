"""Exceptions become status codes in one place, for unary and streaming calls alike."""

import threading

import grpc
import pytest
import torch

from robustseg_worker import errors
from robustseg_worker.events import Progress
from robustseg_worker.proto.robustseg.v1 import data_pb2, worker_service_pb2, worker_service_pb2_grpc
from robustseg_worker.server import WorkerServer
from robustseg_worker.status_mapping import status_for


@pytest.mark.parametrize("exc, code, message", [
    (errors.InvalidArgument("config.epochs", "must be > 0, got -1"), grpc.StatusCode.INVALID_ARGUMENT,
     "config.epochs: must be > 0, got -1"),
    (errors.NotFound("model", "m-abc"), grpc.StatusCode.NOT_FOUND, "model m-abc not found"),
    (errors.FailedPrecondition("diverged"), grpc.StatusCode.FAILED_PRECONDITION, "diverged"),
    (errors.ResourceExhausted("too big"), grpc.StatusCode.RESOURCE_EXHAUSTED, "too big"),
    (errors.Cancelled("stop"), grpc.StatusCode.CANCELLED, "stop"),
    (errors.Unavailable("shutting down"), grpc.StatusCode.UNAVAILABLE, "shutting down"),
    (NotImplementedError("Method not implemented!"), grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!"),
    (MemoryError(), grpc.StatusCode.RESOURCE_EXHAUSTED, "MemoryError"),
    (torch.cuda.OutOfMemoryError("CUDA out of memory"), grpc.StatusCode.RESOURCE_EXHAUSTED, "out of GPU memory: CUDA out of memory"),
    (OSError(28, "No space left on device"), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "no space left for the workspace: [Errno 28] No space left on device"),
    (KeyError("x"), grpc.StatusCode.INTERNAL, "internal error: KeyError: 'x'"),
    # A client-streamed call's request iterator, once the client has gone (found by the fuzz suite).
    (grpc.RpcError(), grpc.StatusCode.CANCELLED, "the client cancelled the call or its deadline passed while its requests were read"),
    (RuntimeError("first line\nsecond line"), grpc.StatusCode.INTERNAL, "internal error: RuntimeError: first line"),
])
def test_status_for(exc, code, message):
    assert status_for(exc) == (code, message)


class FailingEngine:
    """Stands in for the engine: fails in the ways the mapping must handle."""

    device = torch.device("cpu")

    def info(self):
        raise RuntimeError("unexpected\ntraceback detail")

    def create_dataset(self, source, params, check_stop):
        yield Progress("create", 1, 2)
        raise errors.ResourceExhausted("split needs 99 GiB")

    def get_dataset(self, dataset_id):
        raise errors.NotFound("dataset", dataset_id)


@pytest.fixture
def failing_server():
    server = WorkerServer(FailingEngine(), "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(server.address)
    yield worker_service_pb2_grpc.WorkerServiceStub(channel), server
    channel.close()
    server.stop(grace=0)


def test_unexpected_errors_are_internal_with_one_line(failing_server, caplog):
    stub, _ = failing_server
    with pytest.raises(grpc.RpcError) as e:
        stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=5)
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert e.value.details() == "internal error: RuntimeError: unexpected"
    assert any(r.exc_info for r in caplog.records)  # the traceback goes to the log


def test_errors_in_the_middle_of_a_stream_end_it_with_their_code(failing_server):
    stub, _ = failing_server
    call = stub.CreateDataset(data_pb2.CreateDatasetRequest(), timeout=5)
    assert next(call).progress.done == 1
    with pytest.raises(grpc.RpcError) as e:
        next(call)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and e.value.details() == "split needs 99 GiB"


def test_worker_errors_keep_their_code(failing_server):
    stub, _ = failing_server
    with pytest.raises(grpc.RpcError) as e:
        stub.GetDataset(data_pb2.GetDatasetRequest(dataset_id="ds-1"), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and e.value.details() == "dataset ds-1 not found"


def test_shutdown_rpc_requests_a_stop(failing_server):
    stub, server = failing_server
    stopped = threading.Event()
    threading.Thread(target=lambda: (server.serve_until_stopped(), stopped.set()), daemon=True).start()
    stub.Shutdown(worker_service_pb2.ShutdownRequest(), timeout=5)
    assert stopped.wait(timeout=10)
