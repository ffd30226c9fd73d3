"""ValidatePlan: a whole experiment's requests checked before any work starts, by the very
functions the work runs (a mixin of engine.Engine; plain Python, no grpc).

The data source's `plan` (paths, data roots, class names; nothing rendered), each backend's
`resolve_spec`, `TrainingConfig.from_params` and `attack_specs.resolve` against the source's
class count. Each is given the field path of its value in the ValidatePlanRequest, so the first
problem comes back as INVALID_ARGUMENT "models[1].smp.encoder: unknown encoder ...".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import attack_specs, data, models, training
from .errors import InvalidArgument


@dataclass
class PlanRequest:
    """A ValidatePlanRequest as plain values (convert.validate_plan_request)."""

    source: str | None = None  # the DataSource oneof member; None: no source; "": set without a member
    source_params: dict[str, Any] = field(default_factory=dict)
    models: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)  # (oneof member, fields)
    trainings: list[dict[str, Any]] = field(default_factory=list)
    attacks: list[dict[str, Any]] = field(default_factory=list)
    num_classes: int = 0


@dataclass
class PlanChecked:
    class_names: list[str]
    models: list[tuple[str, dict[str, Any]]]  # (backend name, resolved spec)
    tile_height: int = 0  # 0 = unknown without reading data
    tile_width: int = 0


class PlanMixin:
    """Needs from Engine: data_paths."""

    def validate_plan(self, request: PlanRequest) -> PlanChecked:
        class_names: list[str] = []
        tile = (0, 0)
        if request.source is not None:
            if not request.source:
                raise InvalidArgument("source", "must set one of: " + ", ".join(
                    sorted(data.get(n).request_field for n in data.names())))
            source = data.by_request_field(request.source)
            plans = source.plan(request.source_params, f"source.{request.source}", paths=self.data_paths)
            class_names = list(data.plan_class_names(source, plans[0]))
            tile = data.plan_tile_shape(plans[0]) or (0, 0)
        resolved = []
        for i, (member, params) in enumerate(request.models):
            backend = models.by_request_field(member, f"models[{i}]")
            resolved.append((backend.name, backend.resolve_spec(params, f"models[{i}].{member}", self.data_paths)))
        configs = [training.TrainingConfig.from_params(p, f"trainings[{i}]") for i, p in enumerate(request.trainings)]
        # A model spec and a training config meet when the plan trains them together: every
        # pairing must be trainable (e.g. smp needs batches of two).
        for i, (name, spec) in enumerate(resolved):
            for j, config in enumerate(configs):
                models.check_training_batch(models.get(name), spec, config.batch_size,
                                            f"trainings[{j}].batch_size", f"models[{i}]")
        num_classes = len(class_names) or request.num_classes
        if request.attacks and num_classes < 1:
            raise InvalidArgument("num_classes", "required (> 0) to check attacks when source is unset")
        for i, attack in enumerate(request.attacks):
            attack_specs.resolve(attack, num_classes, f"attacks[{i}]")
        return PlanChecked(class_names, resolved, *tile)
