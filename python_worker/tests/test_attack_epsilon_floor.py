"""No silent no-op attacks: an ε, or a gradient step, too small for float32 to move a pixel near 1
is refused with INVALID_ARGUMENT naming the field, wherever the worker takes an ε (attack specs,
adversarial training, method two's ScoreCandidates and BuildEnhancedDataset)."""

import numpy as np
import pytest
import torch

from robustseg_worker import attack_specs
from robustseg_worker.attack_specs import MIN_EPSILON, MIN_STEP
from robustseg_worker.engine import Engine
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.training.adversarial import AdversarialTraining

TINY = [1e-9, 1e-30, 5e-324, 2.0**-26]


def _gradient(method="pgd", **fields):
    return {"kind": "gradient", "method": method, "steps": 10, **fields}


def test_the_floor_is_where_float32_stops_moving_pixels_near_one():
    pixels = torch.linspace(0.5, 1.0, 10_001, dtype=torch.float32)[:-1]
    assert torch.equal(pixels + 2.0**-26, pixels)  # an ε of that size attacks nothing
    assert bool(((pixels + MIN_STEP) != pixels).all())  # one step of MIN_STEP moves every pixel
    assert MIN_EPSILON > 16 * MIN_STEP


@pytest.mark.parametrize("epsilon", TINY)
@pytest.mark.parametrize(("params", "field"), [
    (_gradient(), "attack.gradient.epsilon"),
    (_gradient("fgsm"), "attack.gradient.epsilon"),
    ({"kind": "layered_pgd", "steps": 5}, "attack.layered_pgd.epsilon"),
    ({"kind": "apgd", "steps": 5}, "attack.apgd.epsilon"),
])
def test_an_epsilon_below_the_floor_is_refused_by_field(params, field, epsilon):
    with pytest.raises(InvalidArgument) as raised:
        attack_specs.resolve({**params, "epsilon": epsilon}, 3)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: must be >= 1e-06 (float32 holds pixels near 1 only 6e-08 apart")
    assert str(raised.value).endswith(f"got {epsilon!r}")


def test_the_floor_itself_and_zero_are_told_apart():
    assert attack_specs.resolve(_gradient(epsilon=MIN_EPSILON), 3).canonical["epsilon"] == MIN_EPSILON
    with pytest.raises(InvalidArgument, match=r"must be > 0 and <= 1 \(a fraction of the pixel range\), got 0"):
        attack_specs.resolve(_gradient(epsilon=0), 3)


@pytest.mark.parametrize("kind", ["gradient", "layered_pgd"])
def test_a_default_step_below_float32_spacing_names_steps(kind):
    params = _gradient(epsilon=1e-6, steps=100) if kind == "gradient" else {"kind": kind, "epsilon": 1e-6, "steps": 100}
    with pytest.raises(InvalidArgument) as raised:
        attack_specs.resolve(params, 3)
    assert raised.value.field == f"attack.{kind}.steps"
    assert "must be <= 41 with epsilon 1e-06" in str(raised.value) and str(raised.value).endswith("got 100")
    assert attack_specs.resolve({**params, "steps": 41}, 3).canonical["steps"] == 41
    assert attack_specs.resolve({**params, "step_size": 1e-6}, 3).canonical["steps"] == 100


def test_a_step_size_below_float32_spacing_is_refused():
    with pytest.raises(InvalidArgument) as raised:
        attack_specs.resolve(_gradient(epsilon=0.01, step_size=1e-9), 3)
    assert raised.value.field == "attack.gradient.step_size" and str(raised.value).endswith("got 1e-09")


def test_adversarial_training_refuses_a_tiny_epsilon_and_step():
    field = "config.adversarial"
    with pytest.raises(InvalidArgument) as raised:
        AdversarialTraining.from_params({"method": "pgd", "epsilon": 1e-9, "steps": 3}, field)
    assert raised.value.field == f"{field}.epsilon"
    with pytest.raises(InvalidArgument) as raised:
        AdversarialTraining.from_params({"method": "pgd", "epsilon": 1e-5, "steps": 3, "step_size": 1e-12}, field)
    assert raised.value.field == f"{field}.step_size"


def test_method_two_refuses_a_tiny_epsilon_before_reading_anything(tmp_path):
    engine = Engine(tmp_path / "ws")
    with pytest.raises(InvalidArgument) as raised:
        engine.score_candidates("m-0000000000000000", "ds-0000000000000000", 1e-9, True, np.zeros(1, np.int64),
                                np.zeros((1, 3), np.int8))
    assert raised.value.field == "epsilon" and "must be >= 1e-06" in str(raised.value)
    with pytest.raises(InvalidArgument) as raised:
        list(engine.build_enhanced_dataset("m-0000000000000000", "ds-0000000000000000", 1e-30, True,
                                           np.zeros((1, 3), np.int8)))
    assert raised.value.field == "epsilon" and "must be >= 1e-06" in str(raised.value)


def test_attacking_a_dataset_with_a_tiny_epsilon_makes_nothing(tmp_path, engine_with_tiny_model):
    engine, model_id, train_id = engine_with_tiny_model
    datasets_before = sorted(p.name for p in (tmp_path / "ws" / "datasets").iterdir())
    with pytest.raises(InvalidArgument) as raised:
        list(engine.attack_dataset(model_id, train_id, _gradient(epsilon=1e-9)))
    assert raised.value.field == "attack.gradient.epsilon"
    assert sorted(p.name for p in (tmp_path / "ws" / "datasets").iterdir()) == datasets_before
    attacked = list(engine.attack_dataset(model_id, train_id, _gradient(epsilon=MIN_EPSILON)))[-1]
    assert attacked.dataset.id not in datasets_before
    assert attacked.max_linf > 0  # at the floor the attack does move pixels


def test_the_attack_library_refuses_the_same_epsilons_and_steps():
    from robustseg_worker import attacks

    for tiny in TINY:
        with pytest.raises(ValueError, match=r"^eps: must be 0 or a finite number >= 1e-06, got "):
            attacks.AttackSpec(eps=tiny)
        with pytest.raises(ValueError, match=r"^eps: must be 0 or a finite number >= 1e-06, got "):
            attacks.ApgdSpec(eps=tiny)
        with pytest.raises(ValueError, match=r"eps: must be 0 or a finite number >= 1e-06"):
            attacks.LayeredSpec(eps=tiny)
    with pytest.raises(ValueError, match=r"^alpha: must be a finite number >= 5.96e-08"):
        attacks.AttackSpec(eps=0.01, alpha=1e-9)
    assert attacks.AttackSpec(eps=0).eps == 0  # no attack stays allowed
    assert attacks.AttackSpec(eps=MIN_EPSILON, alpha=MIN_STEP).step_size == MIN_STEP
