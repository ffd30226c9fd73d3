"""robustseg.v1.WorkerService: a thin layer that turns messages into plain values, calls the
engine and turns its events back into messages. It raises errors.py exceptions only; the
status codes come from status_mapping.py.

Streaming calls poll `check_stop` at every step of the engine: when the client cancels (or
its deadline passes) the work stops there with CANCELLED; when the worker is shutting down it
stops with UNAVAILABLE so a supervisor may retry elsewhere."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Generator, Iterator

import grpc
import numpy as np

from . import cancellation, convert, convert_predict, maintenance, run_usage
from .engine import Engine
from .errors import Cancelled, Unavailable
from .store import CallLeases
from .proto.robustseg.v1 import attack_pb2, data_pb2, model_pb2, worker_service_pb2, worker_service_pb2_grpc

log = logging.getLogger(__name__)


class WorkerServicer(worker_service_pb2_grpc.WorkerServiceServicer):
    def __init__(self, engine: Engine, shutting_down: threading.Event, request_shutdown: Callable[[str], None]) -> None:
        self.engine = engine
        self._shutting_down = shutting_down
        self._request_shutdown = request_shutdown

    def _stopper(self, context: grpc.ServicerContext) -> Callable[[], None]:
        def check_stop() -> None:
            if self._shutting_down.is_set():
                raise Unavailable("the worker is shutting down")
            if not context.is_active():
                raise Cancelled("cancelled by the client")

        return check_stop

    def GetInfo(self, request, context):
        return convert.info(self.engine.info())

    def CreateDataset(self, request, context):
        source, params = convert.create_dataset_request(request)
        stop = self._stopper(context)
        yield from _stream(self.engine.create_dataset(source, params, stop), convert.create_dataset_event, stop)

    def GetDataset(self, request, context):
        return data_pb2.GetDatasetResponse(dataset=convert.dataset_info(self.engine.get_dataset(request.dataset_id)))

    def Train(self, request, context):
        stop = self._stopper(context)
        yield from _stream(self.engine.train(convert.train_request(request), stop), convert.train_event, stop)

    def GetModel(self, request, context):
        return model_pb2.GetModelResponse(model=convert.model_info(self.engine.get_model(request.model_id)))

    def Evaluate(self, request, context):
        attack = convert.attack_spec_params(request.attack) if request.HasField("attack") else None
        stop = self._stopper(context)
        yield from _stream(
            self.engine.evaluate(request.model_id, request.dataset_id, request.batch_size, stop,
                                 attack=attack, attack_model_id=request.attack_model_id,
                                 distributed=convert.distributed(request)),
            convert.evaluate_event, stop)

    def EvaluateWorstCase(self, request, context):
        members = [convert.attack_spec_params(m) for m in request.members]
        stop = self._stopper(context)
        yield from _stream(
            self.engine.evaluate_worst_case(request.model_id, request.dataset_id, members, request.batch_size,
                                            stop, attack_model_id=request.attack_model_id,
                                            distributed=convert.distributed(request)),
            convert.evaluate_worst_case_event, stop)

    def AttackDataset(self, request, context):
        attack = convert.attack_spec_params(request.attack)
        stop = self._stopper(context)
        yield from _stream(
            self.engine.attack_dataset(request.model_id, request.dataset_id, attack, request.batch_size, stop,
                                       distributed=convert.distributed(request)),
            convert.dataset_build_event, stop)

    def ScoreCandidates(self, request, context):
        centres = convert.tensor_to_numpy(request.centres, "centres") if request.HasField("centres") else None
        stop = self._stopper(context)
        with _unary(stop):
            result = self.engine.score_candidates(
                request.model_id, request.dataset_id, request.epsilon, request.project,
                np.asarray(request.image_indices, dtype=np.int64),
                convert.tensor_to_numpy(request.candidates, "candidates"), stop,
                scoring=convert.candidate_scoring(request.scoring), centres=centres,
                distributed=convert.distributed(request))
        return convert.score_candidates_response(result)

    def BuildEnhancedDataset(self, request, context):
        stop = self._stopper(context)
        yield from _stream(
            self.engine.build_enhanced_dataset(
                request.model_id, request.dataset_id, request.epsilon, request.project,
                convert.tensor_to_numpy(request.signs, "signs"), request.batch_size, stop,
                distributed=convert.distributed(request)),
            convert.dataset_build_event, stop)

    def RenderPanels(self, request, context):
        attack = convert.attack_spec_params(request.attack) if request.HasField("attack") else None
        stop = self._stopper(context)
        with _unary(stop):
            return convert.render_panels_response(self.engine.render_panels(
                request.model_id, request.dataset_id, list(request.image_indices), attack=attack,
                attack_model_id=request.attack_model_id, perturbed_dataset_id=request.perturbed_dataset_id,
                perturbation_gain=request.perturbation_gain, scale=request.scale, check_stop=stop))

    def VerifyStore(self, request, context):
        stop = self._stopper(context)
        yield from _stream(maintenance.verify_store(self.engine.store, not request.leave_corrupt, stop),
                           convert.verify_store_event, stop)

    def CollectGarbage(self, request, context):
        min_age = request.min_age_seconds if request.HasField("min_age_seconds") else None
        max_artifacts = request.max_artifacts if request.HasField("max_artifacts") else None
        return convert.collect_garbage_response(maintenance.collect_garbage(
            self.engine.store, list(request.keep_ids), request.dry_run, min_age, max_artifacts,
            convert.run_usage_checks(request.checked_runs)))

    def RecordRunUsage(self, request, context):
        usage = run_usage.record_run_usage(self.engine.store, request.host, request.run_folder,
                                           list(request.artifact_ids))
        return convert.record_run_usage_response(usage)

    def ListRunUsage(self, request, context):
        return convert.list_run_usage_response(run_usage.list_run_usage(self.engine.store))

    def ValidatePlan(self, request, context):
        return convert.validate_plan_response(self.engine.validate_plan(convert.validate_plan_request(request)))

    def ExportModel(self, request, context):
        stop = self._stopper(context)
        yield from _stream(
            self.engine.export_model(request.model_id, convert.export_format(request.format), request.opset, stop),
            convert.export_model_event, stop)

    # --- embedding (predict.proto) ------------------------------------------------------------

    def Predict(self, request_iterator, context):
        options, bands = convert_predict.split_stream(request_iterator)
        stop = self._stopper(context)
        yield from _stream(
            self.engine.predict(options.model_id, bands, probabilities=options.probabilities,
                                tiling=convert_predict.tiling_params(options), check_stop=stop),
            convert_predict.predict_event, stop)

    def Probe(self, request_iterator, context):
        options, bands = convert_predict.split_stream(request_iterator)
        attack = convert.attack_spec_params(options.attack) if options.HasField("attack") else None
        stop = self._stopper(context)
        yield from _stream(
            self.engine.probe(options.model_id, attack, bands, adversarial_images=options.adversarial_images,
                              tiling=convert_predict.tiling_params(options), check_stop=stop),
            convert_predict.probe_event, stop)

    def SetModelAlias(self, request, context):
        model_id, previous = self.engine.set_model_alias(request.alias, request.model_id)
        return convert_predict.alias_response(request.alias, model_id, previous)

    def ListModelAliases(self, request, context):
        return convert_predict.aliases_response(self.engine.model_aliases())

    def Shutdown(self, request, context):
        # Answer first: the server stops (gracefully) once this response is on its way.
        self._request_shutdown("Shutdown RPC")
        return worker_service_pb2.ShutdownResponse()


def _stream(events: Generator, to_message: Callable, check_stop: Callable[[], None]) -> Iterator:
    """Convert engine events. The engine runs with this call's stop check in reach of the
    model's stop points (cancellation.py) and its leases on the artifacts it touches (store.py);
    closing the stream (client gone) closes the engine's generator right away, which releases
    its artifact lock and drops its tensors, then the leases go."""
    finished = False
    leases = CallLeases()
    try:
        while True:
            with cancellation.stopping(check_stop), leases.active():
                try:
                    event = next(events)
                except StopIteration:
                    finished = True
                    return
            yield to_message(event)
    finally:
        events.close()
        leases.release()
        if not finished:  # cancelled or failed: give the memory of its tensors back now
            cancellation.release_memory()


@contextlib.contextmanager
def _unary(check_stop: Callable[[], None]) -> Iterator[None]:
    leases = CallLeases()
    with cancellation.stopping(check_stop), leases.active():
        try:
            yield
        except BaseException:
            cancellation.release_memory()
            raise
        finally:
            leases.release()
