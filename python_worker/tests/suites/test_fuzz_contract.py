"""Fuzz suite: Hypothesis generates contract messages for every RPC of WorkerService
and sends them to one real worker. Every answer must be a result or one of the status codes the
contract allows for bad input, with a one-line message (never INTERNAL, UNKNOWN or a traceback),
and the worker must still answer health afterwards.

Messages are built from the descriptors, so a field added to the contract is fuzzed without a
change here. Strings mix random text with ids that exist (so requests get past the id checks),
ids of the wrong kind, path tricks and long strings; numbers include 0, negatives, extremes,
NaN and infinities; enums include values the contract does not define. A streaming call that
starts work (its request was valid) is cancelled after its first event, which also exercises
cancellation. Shutdown and CollectGarbage are left out (they end the worker or empty its store).

Run: `npm run test:fuzz` (with the TypeScript fuzz and the corrupt-file corpus), or
`node scripts/pytest.mjs -m suite tests/suites/test_fuzz_contract.py`. ROBUSTSEG_FUZZ_EXAMPLES
sets the examples per RPC (default 24), ROBUSTSEG_FUZZ_SEED another seed (default: Hypothesis's
derandomized, the same examples every run); the counts go to $ROBUSTSEG_SUITE_REPORT when set."""

import json
import os
import threading
from collections import Counter

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor as F
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from robustseg_worker.proto.grpc.health.v1 import health_pb2, health_pb2_grpc
from robustseg_worker.proto.robustseg.v1 import data_pb2, model_pb2, worker_service_pb2, worker_service_pb2_grpc
from worker_harness import WorkerProcess

pytestmark = pytest.mark.suite

EXAMPLES = int(os.environ.get("ROBUSTSEG_FUZZ_EXAMPLES", "24"))
SEED = os.environ.get("ROBUSTSEG_FUZZ_SEED")
SKIPPED = {"Shutdown", "CollectGarbage"}
# What bad input may get. OK means the request was valid (or harmlessly empty).
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OUT_OF_RANGE,
           grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.CANCELLED}
SERVICE = worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"]
METHODS = [m for m in SERVICE.methods if m.name not in SKIPPED]
TALLY: Counter = Counter()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    # A low memory limit: a fuzzed request for 4096 px tiles must be refused, not computed.
    process = WorkerProcess(tmp_path_factory.mktemp("fuzz"), "--parent-pid", str(os.getpid()),
                            "--max-memory-gb", "1.5", "--max-message-mb", "8")
    channel = grpc.insecure_channel(process.address, options=[("grpc.max_send_message_length", 64 * 2**20)])
    stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
    source = data_pb2.DataSource(synthetic_histology=data_pb2.SyntheticHistologySource(
        tile_size=16, num_train=8, num_validation=4, num_test=4, seed=1))
    created = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(source=source), timeout=120))[-1].result
    datasets = [d.id for d in created.datasets]
    trained = list(stub.Train(model_pb2.TrainRequest(
        model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=4)),
        train_dataset_ids=datasets[:1], validation_dataset_id=datasets[1],
        config=model_pb2.TrainingConfig(epochs=1, batch_size=4, learning_rate=0.01)), timeout=300))[-1].result
    yield process, channel, stub, {"datasets": datasets, "models": [trained.model.id]}
    channel.close()
    process.close()
    report = os.environ.get("ROBUSTSEG_SUITE_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "fuzz-contract", "messages": sum(TALLY.values()),
                                "outcomes": {k: v for k, v in sorted(TALLY.items())}}) + "\n")


def _strings(ids):
    known = st.sampled_from(ids["datasets"] + ids["models"])
    return st.one_of(
        known, known.map(lambda i: i.replace("ds-", "m-", 1) if i.startswith("ds-") else i.replace("m-", "ds-", 1)),
        st.sampled_from(["", " ", "../../etc/passwd", "/etc/shadow", "ds-0000000000000000", "m-ffffffffffffffff",
                         "ds-XYZ", "m-", "\x00", "pgd", "background", "0", "-1", "1e309", "NaN", "unet", "Fold 1"]),
        st.text(max_size=40), st.text(min_size=5000, max_size=6000).filter(lambda s: len(s) >= 5000))


_INTS = {F.TYPE_INT32: (-2**31, 2**31 - 1), F.TYPE_SINT32: (-2**31, 2**31 - 1), F.TYPE_SFIXED32: (-2**31, 2**31 - 1),
         F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1), F.TYPE_INT64: (-2**63, 2**63 - 1),
         F.TYPE_SINT64: (-2**63, 2**63 - 1), F.TYPE_SFIXED64: (-2**63, 2**63 - 1), F.TYPE_UINT64: (0, 2**64 - 1),
         F.TYPE_FIXED64: (0, 2**64 - 1)}


def _scalar(field, ids):
    if field.type in _INTS:
        low, high = _INTS[field.type]
        return st.one_of(st.sampled_from([0, 1, 2, 3, 7, 16, 100, 4096, 100_000, low, high, -1 if low < 0 else 0]),
                         st.integers(low, high))
    if field.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return st.one_of(st.sampled_from([0.0, -0.0, 0.01, 1.0, 1.5, -1.0, 1e30, -1e30, 1e-45]),
                         st.floats(allow_nan=True, allow_infinity=True, width=32 if field.type == F.TYPE_FLOAT else 64))
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type == F.TYPE_STRING:
        return _strings(ids)
    if field.type == F.TYPE_BYTES:
        return st.one_of(st.binary(max_size=256), st.sampled_from([b"", b"\x00" * 4096]))
    if field.type == F.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-5, max(numbers) + 5))
    raise AssertionError(f"unhandled field type {field.type} of {field.full_name}")


def _message(descriptor, ids, depth=0):
    """A strategy for messages of `descriptor`: each field set or not, one member per oneof."""
    cls = message_factory.GetMessageClass(descriptor)
    fields = {}
    for field in descriptor.fields:
        if field.type == F.TYPE_MESSAGE:
            if depth >= 4 or field.message_type.GetOptions().map_entry:
                continue
            value = _message(field.message_type, ids, depth + 1)
        else:
            value = _scalar(field, ids)
        if field.label == F.LABEL_REPEATED:
            value = st.lists(value, max_size=3 if field.type == F.TYPE_MESSAGE else 6)
        fields[field.name] = st.one_of(st.none(), value)

    @st.composite
    def build(draw):
        message = cls()
        chosen_oneofs = {o.name: draw(st.sampled_from([None] + [f.name for f in o.fields])) for o in descriptor.oneofs}
        for field in descriptor.fields:
            if field.name not in fields:
                continue
            if field.containing_oneof is not None and chosen_oneofs[field.containing_oneof.name] != field.name:
                continue
            value = draw(fields[field.name])
            if value is None:
                continue
            if field.label == F.LABEL_REPEATED:
                getattr(message, field.name).extend(value)
            elif field.type == F.TYPE_MESSAGE:
                getattr(message, field.name).CopyFrom(value)
            else:
                setattr(message, field.name, value)
        return message

    return build()


def _call(channel, method, request):
    """(code, details) of one call; a stream that starts work is cancelled after one event."""
    path = f"/{SERVICE.full_name}/{method.name}"
    response_cls = message_factory.GetMessageClass(method.output_type)
    kwargs = {"request_serializer": lambda m: m.SerializeToString(), "response_deserializer": response_cls.FromString}
    try:
        if method.server_streaming:
            call = channel.unary_stream(path, **kwargs)(request, timeout=60)
            for _ in call:
                call.cancel()
                break
            return grpc.StatusCode.OK, ""
        channel.unary_unary(path, **kwargs)(request, timeout=60)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_every_message_gets_a_clear_answer(worker, method):
    process, channel, stub, ids = worker
    lock = threading.Lock()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
              suppress_health_check=list(HealthCheck))
    @given(request=_message(method.input_type, ids))
    @hypothesis_seed(int(SEED or 0))
    def check(request):
        code, details = _call(channel, method, request)
        with lock:
            TALLY[code.name] += 1
        assert code in ALLOWED, f"{method.name}: {code.name} {details!r} for {request}"
        if code != grpc.StatusCode.OK:
            assert details and "\n" not in details and "Traceback" not in details, (method.name, details)

    check()
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert process.proc.poll() is None
    assert "Traceback" not in process.stderr() or "internal error" not in process.stderr()
