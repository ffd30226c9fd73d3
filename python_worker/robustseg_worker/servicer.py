"""robustseg.v1.WorkerService: a thin layer that turns messages into plain values, calls the
engine and turns its events back into messages. It raises errors.py exceptions only; the
status codes come from status_mapping.py.

Streaming calls poll `check_stop` at every step of the engine: when the client cancels (or
its deadline passes) the work stops there with CANCELLED; when the worker is shutting down it
stops with UNAVAILABLE so a supervisor may retry elsewhere."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator

import grpc
import numpy as np

from . import convert, convert_predict
from .engine import Engine
from .errors import Cancelled, Unavailable
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
        yield from _stream(self.engine.create_dataset(source, params, self._stopper(context)),
                           convert.create_dataset_event)

    def GetDataset(self, request, context):
        return data_pb2.GetDatasetResponse(dataset=convert.dataset_info(self.engine.get_dataset(request.dataset_id)))

    def Train(self, request, context):
        yield from _stream(self.engine.train(convert.train_request(request), self._stopper(context)),
                           convert.train_event)

    def GetModel(self, request, context):
        return model_pb2.GetModelResponse(model=convert.model_info(self.engine.get_model(request.model_id)))

    def Evaluate(self, request, context):
        attack = convert.attack_spec_params(request.attack) if request.HasField("attack") else None
        yield from _stream(
            self.engine.evaluate(request.model_id, request.dataset_id, request.batch_size, self._stopper(context),
                                 attack=attack, attack_model_id=request.attack_model_id),
            convert.evaluate_event)

    def EvaluateWorstCase(self, request, context):
        members = [convert.attack_spec_params(m) for m in request.members]
        yield from _stream(
            self.engine.evaluate_worst_case(request.model_id, request.dataset_id, members, request.batch_size,
                                            self._stopper(context), attack_model_id=request.attack_model_id),
            convert.evaluate_worst_case_event)

    def AttackDataset(self, request, context):
        attack = convert.attack_spec_params(request.attack)
        yield from _stream(
            self.engine.attack_dataset(request.model_id, request.dataset_id, attack, request.batch_size,
                                       self._stopper(context)),
            convert.dataset_build_event)

    def ScoreCandidates(self, request, context):
        centres = convert.tensor_to_numpy(request.centres, "centres") if request.HasField("centres") else None
        result = self.engine.score_candidates(
            request.model_id, request.dataset_id, request.epsilon, request.project,
            np.asarray(request.image_indices, dtype=np.int64),
            convert.tensor_to_numpy(request.candidates, "candidates"), self._stopper(context),
            scoring=convert.candidate_scoring(request.scoring), centres=centres)
        return convert.score_candidates_response(result)

    def BuildEnhancedDataset(self, request, context):
        yield from _stream(
            self.engine.build_enhanced_dataset(
                request.model_id, request.dataset_id, request.epsilon, request.project,
                convert.tensor_to_numpy(request.signs, "signs"), request.batch_size, self._stopper(context)),
            convert.dataset_build_event)

    def RenderPanels(self, request, context):
        attack = convert.attack_spec_params(request.attack) if request.HasField("attack") else None
        return convert.render_panels_response(self.engine.render_panels(
            request.model_id, request.dataset_id, list(request.image_indices), attack=attack,
            attack_model_id=request.attack_model_id, perturbed_dataset_id=request.perturbed_dataset_id,
            perturbation_gain=request.perturbation_gain, scale=request.scale, check_stop=self._stopper(context)))

    def ValidatePlan(self, request, context):
        return convert.validate_plan_response(self.engine.validate_plan(convert.validate_plan_request(request)))

    def ExportModel(self, request, context):
        yield from _stream(
            self.engine.export_model(request.model_id, convert.export_format(request.format), request.opset,
                                     self._stopper(context)),
            convert.export_model_event)

    # --- embedding (predict.proto) ------------------------------------------------------------

    def Predict(self, request_iterator, context):
        options, bands = convert_predict.split_stream(request_iterator)
        yield from _stream(
            self.engine.predict(options.model_id, bands, probabilities=options.probabilities,
                                tiling=convert_predict.tiling_params(options), check_stop=self._stopper(context)),
            convert_predict.predict_event)

    def Probe(self, request_iterator, context):
        options, bands = convert_predict.split_stream(request_iterator)
        attack = convert.attack_spec_params(options.attack) if options.HasField("attack") else None
        yield from _stream(
            self.engine.probe(options.model_id, attack, bands, adversarial_images=options.adversarial_images,
                              tiling=convert_predict.tiling_params(options), check_stop=self._stopper(context)),
            convert_predict.probe_event)

    def SetModelAlias(self, request, context):
        model_id, previous = self.engine.set_model_alias(request.alias, request.model_id)
        return convert_predict.alias_response(request.alias, model_id, previous)

    def ListModelAliases(self, request, context):
        return convert_predict.aliases_response(self.engine.model_aliases())

    def Shutdown(self, request, context):
        # Answer first: the server stops (gracefully) once this response is on its way.
        self._request_shutdown("Shutdown RPC")
        return worker_service_pb2.ShutdownResponse()


def _stream(events: Generator, to_message: Callable) -> Iterator:
    """Convert engine events; closing the stream (client gone) closes the engine's generator
    right away, which releases its artifact lock and drops its tensors."""
    try:
        for event in events:
            yield to_message(event)
    finally:
        events.close()
