"""Cancellation within a layer: a cancelled call stops in the middle of a forward or
backward pass rather than at the end of a step, only the cancelled call stops, and the worker
gives the memory back."""

import threading
import time
import traceback

import grpc
import pytest
import torch
import torch.nn.functional as F

from robustseg_worker import cancellation, models
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import Cancelled
from robustseg_worker.events import TrainStep
from robustseg_worker.proto.robustseg.v1 import data_pb2, model_pb2, worker_service_pb2, worker_service_pb2_grpc
from worker_harness import WorkerProcess


def _model():
    return cancellation.install(models.build_model("unet", {"depth": 3, "base_width": 4, "upsampling": "bilinear"}, 3))


class StopAfter:
    def __init__(self, calls):
        self.left = calls
        self.calls = 0

    def __call__(self):
        self.calls += 1
        self.left -= 1
        if self.left < 0:
            raise Cancelled("cancelled by the client")


def test_a_forward_pass_stops_at_the_next_layer():
    model = _model()
    ran = []
    for m in model.modules():
        m.register_forward_hook(lambda mod, i, o: ran.append(mod))
    stop = StopAfter(5)
    with cancellation.stopping(stop), pytest.raises(Cancelled):
        model(torch.rand(2, 3, 32, 32))
    assert 0 < len(ran) < len(list(model.modules())) // 4


def test_a_backward_pass_stops_at_the_next_layer():
    model = _model()
    stop = StopAfter(10**9)
    with cancellation.stopping(stop):
        loss = F.cross_entropy(model(torch.rand(2, 3, 32, 32)), torch.zeros(2, 32, 32, dtype=torch.long))
        forward_calls = stop.calls
        stop.left = 3  # the client cancels now
        with pytest.raises(Cancelled):
            loss.backward()
    assert stop.calls - forward_calls == 4  # three stop points passed, the fourth raised
    grads = [p.grad for p in model.parameters()]
    assert any(g is None for g in grads)  # the pass did not reach the first layers


def test_a_thread_without_a_stop_check_is_not_stopped_by_another_calls_check():
    model = _model().eval()
    errors = []

    def other_call():
        try:
            with torch.inference_mode():
                model(torch.rand(1, 3, 32, 32))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    with cancellation.stopping(StopAfter(0)):
        with pytest.raises(Cancelled):
            model(torch.rand(1, 3, 32, 32))
        thread = threading.Thread(target=other_call)
        thread.start()
        thread.join()
    assert errors == []


def test_a_cancelled_training_stops_inside_the_step(workspace):
    engine = Engine(workspace)
    train, validation, _ = list(engine.create_dataset(
        "synthetic_histology", {"tile_size": 32, "num_train": 8, "num_validation": 4, "num_test": 4}))[-1].datasets
    request = TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                           {"epochs": 50, "batch_size": 8, "learning_rate": 0.01})
    calls = {"n": 0, "steps": 0}

    def check_stop():
        calls["n"] += 1
        if calls["steps"] >= 2 and calls["n"] > calls["at_step"] + 7:
            raise Cancelled("cancelled by the client")

    events = engine.train(request, check_stop)
    with cancellation.stopping(check_stop), pytest.raises(Cancelled) as raised:
        for event in events:
            if isinstance(event, TrainStep):
                calls["steps"] += 1
                calls["at_step"] = calls["n"]
    frames = [f.name for f in traceback.extract_tb(raised.value.__traceback__)]
    assert "_before_forward" in frames or "_on_gradient" in frames  # inside a pass, not between steps
    assert engine.store.list_ids("model") == []


# --- over gRPC: only the cancelled call stops, and its memory is given back -------------------


def _rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_cancelling_one_call_stops_it_frees_its_memory_and_leaves_the_others_running(tmp_path):
    worker = WorkerProcess(tmp_path, "--parent-pid", str(__import__("os").getpid()))
    channel = grpc.insecure_channel(worker.address)
    stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
    try:
        source = data_pb2.DataSource(synthetic_histology=data_pb2.SyntheticHistologySource(
            tile_size=96, num_train=24, num_validation=4, num_test=4, seed=1))
        created = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(source=source), timeout=300))[-1].result
        train, validation, test = (d.id for d in created.datasets)

        def train_request(width, batch, epochs, seed):
            return model_pb2.TrainRequest(
                model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=3, base_width=width)),
                train_dataset_ids=[train], validation_dataset_id=validation,
                config=model_pb2.TrainingConfig(epochs=epochs, batch_size=batch, learning_rate=0.01, seed=seed))

        small = list(stub.Train(train_request(2, 4, 1, 0), timeout=300))[-1].result.model.id
        baseline = _rss(worker.proc.pid)
        # The other call: an evaluation that keeps going while the big training is cancelled.
        evaluation = stub.Evaluate(model_pb2.EvaluateRequest(model_id=small, dataset_id=test, batch_size=1),
                                   timeout=300)
        big = stub.Train(train_request(24, 24, 1000, 1), timeout=300)  # ~1 GB of activations per step
        _wait_for(lambda: _rss(worker.proc.pid) > baseline + 400 * 2**20, 240, "the big step's memory")
        big.cancel()
        _wait_for(lambda: "Train: cancelled by the client" in worker.stderr(), 60, "the worker to stop training")
        _wait_for(lambda: _rss(worker.proc.pid) < baseline + 200 * 2**20, 60, "the memory to be given back")
        result = list(evaluation)[-1].result
        assert result.num_images == 4
        assert stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=10).version
        assert list((worker.workspace / "models").iterdir()) == [worker.workspace / "models" / small]
    finally:
        channel.close()
        worker.close()
