"""The contract end to end against a real worker process on a free port."""

import json
import time

import grpc
import pytest

from worker_harness import WorkerProcess
from robustseg_worker.engine import CAPABILITIES
from robustseg_worker.proto.grpc.health.v1 import health_pb2, health_pb2_grpc
from robustseg_worker.proto.robustseg.v1 import (
    attack_pb2,
    common_pb2,
    data_pb2,
    model_pb2,
    worker_service_pb2,
    worker_service_pb2_grpc,
)

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    process = WorkerProcess(tmp_path_factory.mktemp("grpc"), "--parent-pid", str(__import__("os").getpid()))
    channel = grpc.insecure_channel(process.address)
    yield process, worker_service_pb2_grpc.WorkerServiceStub(channel), health_pb2_grpc.HealthStub(channel)
    channel.close()
    process.close()


def _source(**fields):
    values = {"tile_size": 16, "num_train": 24, "num_validation": 8, "num_test": 8, "seed": 5, **fields}
    return data_pb2.CreateDatasetRequest(
        source=data_pb2.DataSource(synthetic_histology=data_pb2.SyntheticHistologySource(**values)))


@pytest.fixture(scope="module")
def datasets(worker):
    _, stub, _ = worker
    events = list(stub.CreateDataset(_source(), timeout=120))
    return events


def _train_request(datasets, **config):
    result = datasets[-1].result
    values = {"epochs": 2, "batch_size": 8, "learning_rate": 0.01, "seed": 1, "augment": True, **config}
    return model_pb2.TrainRequest(
        model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=4)),
        train_dataset_ids=[result.datasets[0].id], validation_dataset_id=result.datasets[1].id,
        config=model_pb2.TrainingConfig(**values))


@pytest.fixture(scope="module")
def trained(worker, datasets):
    _, stub, _ = worker
    return list(stub.Train(_train_request(datasets), timeout=300))


def test_readiness_line(worker):
    process, _, _ = worker
    assert set(process.ready) == {"ready", "address", "pid"}
    assert process.ready["ready"] is True and process.ready["pid"] == process.proc.pid
    host, port = process.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_health_serving_for_the_server_and_the_service(worker):
    _, _, health = worker
    for service in ("", "robustseg.v1.WorkerService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == SERVING
    with pytest.raises(grpc.RpcError) as e:
        health.Check(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert next(watch).status == SERVING
    watch.cancel()


def test_get_info(worker):
    process, stub, _ = worker
    info = stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=5)
    assert info.version == "0.1.0" and info.device == "cpu" and info.device_type == "cpu"
    assert info.torch_version and info.torch_threads >= 1
    assert list(info.backends) == ["monai", "smp", "unet"] and list(info.data_sources) == ["folder", "kandinsky", "pannuke", "synthetic-histology"]
    assert list(info.capabilities) == CAPABILITIES
    assert {"attack_dataset", "evaluate_under_attack", "score_candidates", "build_enhanced_dataset",
            "fgsm", "pgd", "segpgd", "cospgd", "layered_pgd"} <= set(info.capabilities)
    assert info.workspace == str(process.workspace.resolve())
    assert info.max_message_bytes == 64 * 2**20


def test_create_dataset_streams_progress_then_the_result(worker, datasets):
    _, stub, _ = worker
    kinds = [e.WhichOneof("event") for e in datasets]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"progress"}
    result = datasets[-1].result
    assert not result.reused
    assert [d.split for d in result.datasets] == [common_pb2.SPLIT_TRAIN, common_pb2.SPLIT_VALIDATION, common_pb2.SPLIT_TEST]
    train = result.datasets[0]
    assert (train.num_images, train.height, train.width, train.channels) == (24, 16, 16, 3)
    assert list(train.class_names) == ["background", "neoplastic", "inflammatory", "connective", "dead", "epithelial"]
    assert sum(train.class_pixel_counts) == 24 * 16 * 16 and train.source == "synthetic-histology"
    assert json.loads(train.provenance_json)["recipe"]["tile_size"] == 16
    again = list(stub.CreateDataset(_source(), timeout=60))[-1].result
    assert again.reused and [d.id for d in again.datasets] == [d.id for d in result.datasets]
    fetched = stub.GetDataset(data_pb2.GetDatasetRequest(dataset_id=train.id), timeout=5).dataset
    assert fetched == train


def test_train_streams_steps_epochs_and_the_model(worker, trained):
    _, stub, _ = worker
    kinds = [e.WhichOneof("event") for e in trained]
    assert kinds[-1] == "result" and kinds.count("step") == 2 * 3 and kinds.count("epoch") == 2
    model = trained[-1].result.model
    assert not trained[-1].result.reused and model.id.startswith("m-")
    assert model.spec.unet.depth == 2 and model.spec.unet.base_width == 4
    assert model.spec.unet.upsampling == model_pb2.UPSAMPLING_BILINEAR  # the resolved default
    assert [h.epoch for h in model.history] == [1, 2] and model.best_epoch in (1, 2)
    confusion = model.history[0].validation_confusion
    assert confusion.num_classes == 6 and sum(confusion.counts) == 8 * 16 * 16
    assert stub.GetModel(model_pb2.GetModelRequest(model_id=model.id), timeout=5).model == model


def test_evaluate_returns_raw_counts(worker, datasets, trained):
    _, stub, _ = worker
    model = trained[-1].result.model
    events = list(stub.Evaluate(model_pb2.EvaluateRequest(model_id=model.id, dataset_id=datasets[-1].result.datasets[1].id), timeout=60))
    result = events[-1].result
    assert result.num_images == 8 and result.num_pixels == 8 * 16 * 16 and sum(result.confusion.counts) == result.num_pixels
    assert result.mean_loss == pytest.approx(model.best_validation_loss, rel=1e-5)


def test_unknown_ids_are_not_found_with_the_id(worker, datasets):
    _, stub, _ = worker
    test_id = datasets[-1].result.datasets[2].id
    with pytest.raises(grpc.RpcError) as e:
        list(stub.Evaluate(model_pb2.EvaluateRequest(model_id="m-00000000deadbeef", dataset_id=test_id), timeout=10))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "m-00000000deadbeef" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        stub.GetDataset(data_pb2.GetDatasetRequest(dataset_id="ds-0123456789abcdef"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and e.value.details() == "dataset ds-0123456789abcdef not found"


def test_invalid_arguments_name_the_field(worker, datasets):
    _, stub, _ = worker
    with pytest.raises(grpc.RpcError) as e:
        list(stub.CreateDataset(_source(tile_size=0), timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "source.synthetic_histology.tile_size: must be > 0, got 0"
    with pytest.raises(grpc.RpcError) as e:
        list(stub.Train(_train_request(datasets, epochs=-1), timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "config.epochs: must be > 0, got -1"


def test_evaluation_under_an_unspecified_attack_method_names_the_field(worker, datasets, trained):
    _, stub, _ = worker
    request = model_pb2.EvaluateRequest(
        model_id=trained[-1].result.model.id, dataset_id=datasets[-1].result.datasets[1].id,
        attack=attack_pb2.AttackSpec(gradient=attack_pb2.GradientAttack(epsilon=0.01)))
    with pytest.raises(grpc.RpcError) as e:
        list(stub.Evaluate(request, timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith("attack.gradient.method: must be one of FGSM, PGD, SEGPGD, COSPGD")


def _steps_then_cancel(stub, request, steps_wanted):
    call = stub.Train(request, timeout=120)
    steps = 0
    for event in call:
        steps += event.WhichOneof("event") == "step"
        if steps == steps_wanted:
            break
    call.cancel()
    return steps


def test_cancelling_a_long_train_stops_the_work(worker, datasets):
    process, stub, _ = worker
    models_before = sorted((process.workspace / "models").iterdir())
    request = _train_request(datasets, epochs=10_000, seed=99)
    assert _steps_then_cancel(stub, request, 3) == 3
    deadline = time.monotonic() + 20
    while "Train: cancelled by the client" not in process.stderr() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Train: cancelled by the client" in process.stderr()
    # The same request again starts at once: the cancelled one released its lock.
    assert _steps_then_cancel(stub, request, 1) == 1
    assert sorted((process.workspace / "models").iterdir()) == models_before  # nothing half-made
    assert stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=5).version


def test_get_info_describes_each_backend(worker):
    _, stub, _ = worker
    info = stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=5)
    by_name = {b.name: b for b in info.backend_infos}
    assert sorted(by_name) == list(info.backends) and {"validate_plan", "export_model"} <= set(info.capabilities)
    assert by_name["unet"].available and json.loads(by_name["unet"].defaults_json) == {
        "depth": 4, "base_width": 64, "upsampling": "bilinear"}
    smp = by_name["smp"]
    assert smp.available and smp.package_version == "0.6.0" and "resnet18" in smp.encoders
    assert "DeepLabV3Plus" in smp.architectures and json.loads(smp.defaults_json)["encoder_weights"] == "none"
    assert by_name["monai"].available and list(by_name["monai"].architectures) == [
        "BasicUNet", "UNet", "AttentionUnet", "SwinUNETR"]


def test_validate_plan_resolves_or_names_the_field(worker):
    _, stub, _ = worker
    request = worker_service_pb2.ValidatePlanRequest(
        source=_source().source,
        models=[model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2)),
                model_pb2.ModelSpec(monai=model_pb2.MonaiSpec(architecture="UNet", channels=[4, 8], strides=[2]))],
        trainings=[model_pb2.TrainingConfig(epochs=1, batch_size=4, learning_rate=0.01)],
        attacks=[attack_pb2.AttackSpec(gradient=attack_pb2.GradientAttack(
            method=attack_pb2.ATTACK_METHOD_PGD, epsilon=0.01, steps=2))])
    response = stub.ValidatePlan(request, timeout=60)
    assert response.class_names[0] == "background" and (response.tile_height, response.tile_width) == (16, 16)
    assert response.models[0].unet.base_width == 64 and response.models[0].unet.upsampling == model_pb2.UPSAMPLING_BILINEAR
    assert list(response.models[1].monai.channels) == [4, 8] and response.models[1].monai.num_res_units == 0
    request.models.append(model_pb2.ModelSpec(smp=model_pb2.SmpSpec(encoder="resnet1000")))
    with pytest.raises(grpc.RpcError) as e:
        stub.ValidatePlan(request, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith("models[2].smp.encoder: unknown encoder 'resnet1000'; close: ")
    del request.models[2]
    request.attacks[0].gradient.target.full_area_class = 6
    with pytest.raises(grpc.RpcError) as e:
        stub.ValidatePlan(request, timeout=60)
    assert e.value.details() == "attacks[0].gradient.target.full_area_class: must be in [0, 6), got 6"


def test_export_model_streams_the_file_then_its_description(worker, trained):
    import hashlib

    import numpy as np
    import onnxruntime as ort

    process, stub, _ = worker
    model = trained[-1].result.model
    events = list(stub.ExportModel(model_pb2.ExportModelRequest(model_id=model.id, format=model_pb2.EXPORT_FORMAT_ONNX),
                                   timeout=120))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "progress" and kinds[-1] == "result" and "chunk" in kinds
    chunks = [e.chunk for e in events if e.WhichOneof("event") == "chunk"]
    assert [c.offset for c in chunks] == list(np.cumsum([0] + [len(c.data) for c in chunks[:-1]]))
    data = b"".join(c.data for c in chunks)
    result = events[-1].result
    assert result.size_bytes == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.format == model_pb2.EXPORT_FORMAT_ONNX and result.opset == 18
    assert result.file_name == f"{model.id}.opset18.onnx" and list(result.class_names) == list(model.class_names)
    assert result.workspace_path == str(process.workspace.resolve() / "exports" / result.file_name)
    assert json.loads(result.metadata_json)["robustseg.dynamic_axes"] == "batch,height,width"
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    logits = session.run([result.output_name], {result.input_name: np.random.rand(3, 3, 16, 16).astype(np.float32)})[0]
    assert logits.shape == (3, 6, 16, 16)
    again = list(stub.ExportModel(model_pb2.ExportModelRequest(model_id=model.id, format=model_pb2.EXPORT_FORMAT_ONNX),
                                  timeout=60))
    assert again[0].progress.message == f"reused {result.file_name}" and again[-1].result.sha256 == result.sha256
    for request, field in [(model_pb2.ExportModelRequest(model_id=model.id), "format"),
                           (model_pb2.ExportModelRequest(model_id=model.id, format=model_pb2.EXPORT_FORMAT_SAFETENSORS,
                                                         opset=17), "opset")]:
        with pytest.raises(grpc.RpcError) as e:
            list(stub.ExportModel(request, timeout=30))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and e.value.details().startswith(f"{field}: ")
    with pytest.raises(grpc.RpcError) as e:
        list(stub.ExportModel(model_pb2.ExportModelRequest(model_id="m-00000000deadbeef",
                                                           format=model_pb2.EXPORT_FORMAT_ONNX), timeout=30))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
