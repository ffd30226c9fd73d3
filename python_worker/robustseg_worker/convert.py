"""Messages to plain Python values and back: the only module (with servicer.py) that knows the
proto types. Scalar fields convert generically, so a new data source or backend that only has
scalar/enum fields needs no code here."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from . import engine, engine_plan, events, figures, maintenance, models, worst_case
from .errors import InvalidArgument
from .run_usage import RunUsage
from .proto.robustseg.v1 import attack_pb2, common_pb2, data_pb2, figure_pb2, model_pb2, store_pb2, worker_service_pb2

_SPLITS = {
    "train": common_pb2.SPLIT_TRAIN,
    "validation": common_pb2.SPLIT_VALIDATION,
    "test": common_pb2.SPLIT_TEST,
}


def _enum_prefix(enum_descriptor) -> str:
    # Contract convention: every value starts with the enum's name in SCREAMING_CASE
    # (UPSAMPLING_BILINEAR), and the zero value is *_UNSPECIFIED.
    return enum_descriptor.values_by_number[0].name[: -len("UNSPECIFIED")]


def message_to_params(message: Message) -> dict[str, Any]:
    """Scalar fields as Python values; enums as lower-case names without their prefix
    ("transposed_conv"), None for *_UNSPECIFIED, the raw number for an unknown value (the
    engine then rejects it naming the field)."""
    params: dict[str, Any] = {}
    for f in message.DESCRIPTOR.fields:
        value = getattr(message, f.name)
        if f.type == FieldDescriptor.TYPE_ENUM and f.label != FieldDescriptor.LABEL_REPEATED:
            known = f.enum_type.values_by_number.get(value)
            if known is None:
                params[f.name] = value
            elif value == 0:
                params[f.name] = None
            else:
                params[f.name] = known.name[len(_enum_prefix(f.enum_type)):].lower()
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            continue  # nested messages are not part of the scalar specs converted here
        elif f.label == FieldDescriptor.LABEL_REPEATED:
            params[f.name] = list(value)
        else:
            params[f.name] = value
    return params


def params_to_message(params: dict[str, Any], message: Message) -> Message:
    """The inverse of message_to_params for the fields the message has."""
    for f in message.DESCRIPTOR.fields:
        if f.name not in params or params[f.name] is None:
            continue
        value = params[f.name]
        if f.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
            value = f.enum_type.values_by_name[_enum_prefix(f.enum_type) + value.upper()].number
        if f.label == FieldDescriptor.LABEL_REPEATED:
            getattr(message, f.name).extend(value)
        else:
            setattr(message, f.name, value)
    return message


# --- requests ------------------------------------------------------------------------------------


def create_dataset_request(request: data_pb2.CreateDatasetRequest) -> tuple[str | None, dict[str, Any]]:
    member = request.source.WhichOneof("source")
    return member, (message_to_params(getattr(request.source, member)) if member else {})


def training_config_params(config: model_pb2.TrainingConfig) -> dict[str, Any]:
    """A TrainingConfig's fields, with its adversarial-training block (a nested message) when set."""
    params = message_to_params(config)
    if config.HasField("adversarial"):
        params["adversarial"] = message_to_params(config.adversarial)
    return params


def model_spec_params(spec: model_pb2.ModelSpec) -> tuple[str | None, dict[str, Any]]:
    """(the oneof member, its fields) of a ModelSpec; (None, {}) when no member is set."""
    member = spec.WhichOneof("architecture")
    return member, (message_to_params(getattr(spec, member)) if member else {})


def distributed(request: Any) -> dict[str, Any]:
    """A request's DistributedTraining / DistributedRun fields ({} when absent: one process)."""
    return message_to_params(request.distributed) if request.HasField("distributed") else {}


def train_request(request: model_pb2.TrainRequest) -> engine.TrainRequest:
    member, spec = model_spec_params(request.model)
    return engine.TrainRequest(
        architecture=member,
        spec=spec,
        train_dataset_ids=list(request.train_dataset_ids),
        validation_dataset_id=request.validation_dataset_id,
        config=training_config_params(request.config),
        distributed=distributed(request),
    )


# --- results -------------------------------------------------------------------------------------


def progress(p: events.Progress) -> common_pb2.Progress:
    return common_pb2.Progress(stage=p.stage, done=p.done, total=p.total, message=p.message)


def confusion(matrix: list[list[int]]) -> common_pb2.ConfusionMatrix:
    return common_pb2.ConfusionMatrix(num_classes=len(matrix), counts=[c for row in matrix for c in row])


def dataset_info(info: events.DatasetInfo) -> data_pb2.DatasetInfo:
    return data_pb2.DatasetInfo(
        id=info.id, split=_SPLITS.get(info.split, common_pb2.SPLIT_UNSPECIFIED), num_images=info.num_images,
        height=info.height, width=info.width, channels=info.channels, class_names=info.class_names,
        class_pixel_counts=info.class_pixel_counts, source=info.source,
        provenance_json=json.dumps(info.provenance, sort_keys=True),
        tag_name=info.tag_name, image_tags=info.image_tags, warnings=info.warnings,
    )


def epoch_summary(e: events.EpochSummary) -> model_pb2.EpochSummary:
    return model_pb2.EpochSummary(epoch=e.epoch, train_loss=e.train_loss, validation_loss=e.validation_loss,
                                  validation_confusion=confusion(e.validation_confusion), best=e.best)


def model_spec(backend: str, spec: dict[str, Any]) -> model_pb2.ModelSpec:
    """A resolved spec as the ModelSpec member of its backend (keys the message lacks, such as
    a weights file's sha256, stay in the worker's records)."""
    message = model_pb2.ModelSpec()
    params_to_message(spec, getattr(message, models.get(backend).request_field))
    return message


def model_info(info: events.ModelInfo) -> model_pb2.ModelInfo:
    return model_pb2.ModelInfo(
        id=info.id, spec=model_spec(info.backend, info.spec), backend=info.backend, num_classes=info.num_classes, class_names=info.class_names,
        num_parameters=info.num_parameters, best_epoch=info.best_epoch,
        best_validation_loss=info.best_validation_loss, history=[epoch_summary(e) for e in info.history],
        provenance_json=json.dumps(info.provenance, sort_keys=True),
    )


def create_dataset_event(event: Any) -> data_pb2.CreateDatasetEvent:
    if isinstance(event, events.Progress):
        return data_pb2.CreateDatasetEvent(progress=progress(event))
    return data_pb2.CreateDatasetEvent(result=data_pb2.CreateDatasetResult(
        datasets=[dataset_info(d) for d in event.datasets], reused=event.reused))


def train_event(event: Any) -> model_pb2.TrainEvent:
    if isinstance(event, events.Progress):
        return model_pb2.TrainEvent(progress=progress(event))
    if isinstance(event, events.TrainStep):
        return model_pb2.TrainEvent(step=model_pb2.TrainStep(
            epoch=event.epoch, step=event.step, steps_per_epoch=event.steps_per_epoch, loss=event.loss))
    if isinstance(event, events.EpochSummary):
        return model_pb2.TrainEvent(epoch=epoch_summary(event))
    return model_pb2.TrainEvent(result=model_pb2.TrainResult(model=model_info(event.model), reused=event.reused))


def evaluate_result(event: events.EvaluationResult) -> model_pb2.EvaluateResult:
    return model_pb2.EvaluateResult(confusion=confusion(event.confusion), mean_loss=event.mean_loss,
                                    num_pixels=event.num_pixels, num_images=event.num_images)


def evaluate_event(event: Any) -> model_pb2.EvaluateEvent:
    if isinstance(event, events.Progress):
        return model_pb2.EvaluateEvent(progress=progress(event))
    return model_pb2.EvaluateEvent(result=evaluate_result(event))


def evaluate_worst_case_event(event: Any) -> model_pb2.EvaluateWorstCaseEvent:
    if isinstance(event, events.Progress):
        return model_pb2.EvaluateWorstCaseEvent(progress=progress(event))
    result: worst_case.WorstCaseResult = event
    return model_pb2.EvaluateWorstCaseEvent(result=model_pb2.EvaluateWorstCaseResult(
        members=[evaluate_result(m) for m in result.members], worst_case=evaluate_result(result.worst_case),
        chosen_member=result.chosen_member, image_scores=numpy_to_tensor(result.image_scores)))


def info(i: events.WorkerInfo) -> worker_service_pb2.GetInfoResponse:
    return worker_service_pb2.GetInfoResponse(
        version=i.version, device=i.device, device_type=i.device_type, torch_version=i.torch_version,
        torch_threads=i.torch_threads, backends=i.backends, data_sources=i.data_sources,
        capabilities=i.capabilities, workspace=i.workspace, max_message_bytes=i.max_message_bytes,
        backend_infos=[worker_service_pb2.BackendInfo(
            name=d.name, description=d.description, available=d.available, unavailable_reason=d.unavailable_reason,
            architectures=d.architectures, encoders=d.encoders, defaults_json=json.dumps(d.defaults, sort_keys=True),
            package_version=d.package_version) for d in i.backend_details],
    )


# --- plan validation and export ------------------------------------------------------------------


def validate_plan_request(request: worker_service_pb2.ValidatePlanRequest) -> engine_plan.PlanRequest:
    source, source_params = create_dataset_request(request) if request.HasField("source") else (None, {})
    if request.HasField("source") and source is None:
        source = ""  # set without a member: the engine says which members there are
    return engine_plan.PlanRequest(
        source=source, source_params=source_params,
        models=[model_spec_params(m) for m in request.models],
        trainings=[training_config_params(t) for t in request.trainings],
        attacks=[attack_spec_params(a) for a in request.attacks],
        num_classes=request.num_classes,
    )


def validate_plan_response(checked: engine_plan.PlanChecked) -> worker_service_pb2.ValidatePlanResponse:
    return worker_service_pb2.ValidatePlanResponse(
        class_names=checked.class_names, models=[model_spec(name, spec) for name, spec in checked.models],
        tile_height=checked.tile_height, tile_width=checked.tile_width)


_EXPORT_FORMATS = {"onnx": model_pb2.EXPORT_FORMAT_ONNX, "torchscript": model_pb2.EXPORT_FORMAT_TORCHSCRIPT,
                   "safetensors": model_pb2.EXPORT_FORMAT_SAFETENSORS}


def export_format(value: int) -> str | None:
    """The request's ExportFormat as a name (None for unspecified, the number when unknown)."""
    if value == model_pb2.EXPORT_FORMAT_UNSPECIFIED:
        return None
    return next((name for name, number in _EXPORT_FORMATS.items() if number == value), value)


def export_model_event(event: Any) -> model_pb2.ExportModelEvent:
    if isinstance(event, events.Progress):
        return model_pb2.ExportModelEvent(progress=progress(event))
    if isinstance(event, events.ExportChunk):
        return model_pb2.ExportModelEvent(chunk=model_pb2.ExportChunk(offset=event.offset, data=event.data))
    return model_pb2.ExportModelEvent(result=model_pb2.ExportModelResult(
        file_name=event.file_name, workspace_path=event.workspace_path, size_bytes=event.size_bytes,
        sha256=event.sha256, format=_EXPORT_FORMATS[event.format], opset=event.opset, input_name=event.input_name,
        output_name=event.output_name, class_names=event.class_names,
        metadata_json=json.dumps(event.metadata, sort_keys=True)))


# --- attacks -------------------------------------------------------------------------------------

_NUMPY_DTYPES = {
    common_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    common_pb2.DTYPE_INT64: np.dtype("<i8"),
    common_pb2.DTYPE_UINT8: np.dtype("u1"),
    common_pb2.DTYPE_INT8: np.dtype("i1"),
    common_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
}
_PROTO_DTYPES = {v.str: k for k, v in _NUMPY_DTYPES.items()}


def attack_spec_params(spec: attack_pb2.AttackSpec) -> dict[str, Any]:
    """An AttackSpec as the plain dict attack_specs.resolve validates; {} when no member is set."""
    member = spec.WhichOneof("attack")
    if member is None:
        return {}
    inner = getattr(spec, member)
    params = {"kind": member, **message_to_params(inner)}
    if member in ("gradient", "apgd"):
        which = inner.target.WhichOneof("target")
        params["target"] = None if which is None else {"kind": which, which: getattr(inner.target, which)}
    return params


def tensor_to_numpy(tensor: common_pb2.Tensor, field: str) -> np.ndarray:
    """A Tensor message as a numpy array (a view of its bytes), checking dtype, shape and size."""
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise InvalidArgument(f"{field}.dtype", f"must be set to a known dtype, got {tensor.dtype}")
    shape = tuple(int(s) for s in tensor.shape)
    if any(s < 0 for s in shape):
        raise InvalidArgument(f"{field}.shape", f"must be non-negative, got {list(shape)}")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(tensor.data) != expected:
        raise InvalidArgument(f"{field}.data", f"has {len(tensor.data)} bytes, shape {list(shape)} of "
                              f"{dtype.name} needs {expected}")
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape)


def numpy_to_tensor(array: np.ndarray) -> common_pb2.Tensor:
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else None)
    return common_pb2.Tensor(shape=list(array.shape), dtype=_PROTO_DTYPES[array.dtype.str], data=array.tobytes())


_SCORINGS = {
    attack_pb2.CANDIDATE_SCORING_UNSPECIFIED: "loss",
    attack_pb2.CANDIDATE_SCORING_LOSS: "loss",
    attack_pb2.CANDIDATE_SCORING_LOGIT_ADDITIVE: "logit_additive",
}


def candidate_scoring(value: int) -> str:
    if value not in _SCORINGS:
        raise InvalidArgument("scoring", f"unknown value {value}")
    return _SCORINGS[value]


def score_candidates_response(result: Any) -> attack_pb2.ScoreCandidatesResponse:
    response = attack_pb2.ScoreCandidatesResponse(losses=numpy_to_tensor(result.losses),
                                                  forward_passes=result.forward_passes)
    if result.exact is not None:
        response.exact.CopyFrom(numpy_to_tensor(result.exact))
    return response


def dataset_build_event(event: Any) -> attack_pb2.DatasetBuildEvent:
    if isinstance(event, events.Progress):
        return attack_pb2.DatasetBuildEvent(progress=progress(event))
    return attack_pb2.DatasetBuildEvent(result=attack_pb2.DatasetBuildResult(
        dataset=dataset_info(event.dataset), reused=event.reused, mean_linf=event.mean_linf,
        max_linf=event.max_linf))


# --- figures -------------------------------------------------------------------------------------


def render_panels_response(result: figures.RenderedPanels) -> figure_pb2.RenderPanelsResponse:
    return figure_pb2.RenderPanelsResponse(
        panel_sets=[figure_pb2.PanelSet(image_index=s.image_index, linf=s.linf, panels=[
            figure_pb2.Panel(kind=p.kind, png=p.png, width=p.width, height=p.height) for p in s.panels])
            for s in result.panel_sets],
        class_names=result.class_names, class_colors=result.class_colors)


def verify_store_event(event: Any) -> store_pb2.VerifyStoreEvent:
    if isinstance(event, events.Progress):
        return store_pb2.VerifyStoreEvent(progress=progress(event))
    result: maintenance.VerifyResult = event
    return store_pb2.VerifyStoreEvent(result=store_pb2.VerifyStoreResult(
        artifacts=[store_pb2.ArtifactCheck(**a.__dict__) for a in result.artifacts],
        corrupt=result.corrupt, bytes=result.bytes, quarantined=result.quarantined, unfinished=result.unfinished))


def collect_garbage_response(result: maintenance.GarbageResult) -> store_pb2.CollectGarbageResponse:
    return store_pb2.CollectGarbageResponse(
        removed=[store_pb2.RemovedEntry(**e.__dict__) for e in result.removed],
        kept_ids=result.kept_ids, bytes_freed=result.bytes_freed, dry_run=result.dry_run,
        over_limit=result.over_limit, forgotten_runs=result.forgotten_runs)


def run_usage_checks(checks: Any) -> list[maintenance.RunUsageCheck]:
    return [maintenance.RunUsageCheck(c.key, c.revision, c.folder_gone) for c in checks]


def _run_usage(usage: RunUsage) -> store_pb2.RunUsage:
    return store_pb2.RunUsage(**usage.__dict__)


def record_run_usage_response(usage: RunUsage) -> store_pb2.RecordRunUsageResponse:
    return store_pb2.RecordRunUsageResponse(usage=_run_usage(usage))


def list_run_usage_response(runs: list[RunUsage]) -> store_pb2.ListRunUsageResponse:
    return store_pb2.ListRunUsageResponse(runs=[_run_usage(u) for u in runs])
