"""PGD-AT and SegPGD-AT: the per-batch transform (adversarial, in the ε-ball, the clean share
untouched, reproducible, the model's mode kept), the one training loop with it, its config
validation and its place in the model id; and the gradient-masking U-Net front."""

import pytest
import torch

from robustseg_worker.data.synthetic_histology import SyntheticHistology
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.events import TrainStep
from robustseg_worker.models.unet import UNet
from robustseg_worker.models.unet_backend import UNetBackend
from robustseg_worker.training import TrainingConfig, build_seeded, train
from robustseg_worker.training.adversarial import AdversarialTraining

AT = {"method": "pgd", "epsilon": 0.03, "steps": 2, "step_size": 0.0, "random_start": True, "clean_fraction": 0.0}
BASE = {"epochs": 2, "batch_size": 8, "learning_rate": 0.01, "seed": 1, "augment": True}


def _tiles(split, n, size=16):
    source = SyntheticHistology()
    plan = {p.split: p for p in source.plan({"tile_size": size, f"num_{split}": n, "seed": 0}, "s")}[split]
    tiles = source.render(plan, 0, n)
    return torch.from_numpy(tiles.images), torch.from_numpy(tiles.labels)


@pytest.fixture(scope="module")
def problem():
    return (*_tiles("train", 16), *_tiles("validation", 8))


def _model(seed=1):
    return build_seeded(lambda: UNet(6, depth=2, base_width=4), seed)


@pytest.mark.parametrize("method", ["pgd", "segpgd"])
def test_transform_attacks_the_batch_within_the_ball(problem, method):
    x, y = problem[0][:8], problem[1][:8]
    model = _model()
    model.train()
    transform = AdversarialTraining.from_params({**AT, "method": method}, "a").transform(training_seed=5)
    x_adv = transform(model, x, y, 1, 1)
    assert model.training and all(m.training for m in model.modules())  # attacked in eval mode, restored
    assert all(p.grad is None for p in model.parameters())
    assert (x_adv - x).abs().max() <= 0.03 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > 0.02
    model.eval()
    with torch.no_grad():
        ce = lambda z: torch.nn.functional.cross_entropy(model(z), y)
        assert ce(x_adv) > ce(x)  # untargeted: the loss of the truth goes up
    model.train()
    assert torch.equal(transform(model, x, y, 1, 1), x_adv)  # reproducible per (seed, epoch, step)
    assert not torch.equal(transform(model, x, y, 1, 2), x_adv)  # a fresh random start per step


def test_clean_fraction_keeps_the_first_images_clean(problem):
    x, y = problem[0][:8], problem[1][:8]
    transform = AdversarialTraining.from_params({**AT, "clean_fraction": 0.5}, "a").transform(0)
    out = transform(_model(), x, y, 1, 1)
    assert torch.equal(out[:4], x[:4]) and (out[4:] - x[4:]).abs().flatten(1).amax(1).min() > 0


def test_the_training_loop_trains_on_transformed_batches(problem):
    config = TrainingConfig.from_params({**BASE, "adversarial": AT})
    seen = []
    adversarial = config.adversarial.transform(config.seed)

    def spy(model, x, y, epoch, step):
        out = adversarial(model, x, y, epoch, step)
        seen.append((epoch, step, float((out - x).abs().max())))
        return out

    def run(transform):
        model = _model(config.seed)
        gen = train(model, *problem, num_classes=6, config=config, batch_transform=transform)
        events = []
        try:
            while True:
                events.append(next(gen))
        except StopIteration as stop:
            return model, events, stop.value

    at_model, at_events, _ = run(spy)
    assert [(e, s) for e, s, _ in seen] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(0.02 < linf <= 0.03 + 1e-6 for *_, linf in seen)
    again, again_events, _ = run(adversarial)
    assert all(torch.equal(a, b) for a, b in zip(at_model.state_dict().values(), again.state_dict().values()))
    clean, clean_events, _ = run(None)
    steps = lambda ev: [e.loss for e in ev if isinstance(e, TrainStep)]
    assert steps(at_events) == steps(again_events) and steps(at_events) != steps(clean_events)


@pytest.mark.parametrize("params, message", [
    ({"method": None}, "config.adversarial.method: must be PGD or SEGPGD, got unspecified"),
    ({"method": "fgsm"}, "config.adversarial.method: must be PGD or SEGPGD, got 'fgsm'"),
    ({"epsilon": 0.0}, "config.adversarial.epsilon: must be > 0 and <= 1 (a fraction of the pixel range), got 0.0"),
    ({"steps": 0}, "config.adversarial.steps: must be > 0 and <= 1000, got 0"),
    ({"step_size": -1.0}, "config.adversarial.step_size: must be >= 0 (0 = 2.5 * epsilon / steps), got -1.0"),
    ({"clean_fraction": 1.0}, "config.adversarial.clean_fraction: must be in [0, 1), got 1.0"),
])
def test_config_errors_name_the_field(params, message):
    with pytest.raises(InvalidArgument) as e:
        TrainingConfig.from_params({**BASE, "adversarial": {**AT, **params}}, "config")
    assert str(e.value) == message


def test_clean_training_keeps_its_canonical_form():
    assert "adversarial" not in TrainingConfig.from_params(BASE).as_dict()
    canonical = TrainingConfig.from_params({**BASE, "adversarial": AT}).as_dict()
    assert canonical["adversarial"] == {**AT, "step_size": None}


def test_engine_trains_an_adversarial_model_under_its_own_id(tmp_path):
    engine = Engine(tmp_path / "ws")
    created = list(engine.create_dataset("synthetic_histology", {"tile_size": 16, "num_train": 8, "num_validation": 4,
                                                                 "seed": 3}))[-1]
    train_ds, validation = created.datasets
    request = lambda config: TrainRequest("unet", {"depth": 2, "base_width": 4}, [train_ds.id], validation.id, config)
    config = {"epochs": 1, "batch_size": 4, "learning_rate": 0.01, "seed": 0, "augment": False}
    clean = list(engine.train(request(config)))[-1].model
    at = list(engine.train(request({**config, "adversarial": {**AT, "method": "segpgd"}})))[-1].model
    assert at.id != clean.id
    assert at.provenance["recipe"]["config"]["adversarial"]["method"] == "segpgd"
    assert list(engine.train(request({**config, "adversarial": {**AT, "method": "segpgd"}})))[-1].reused


def test_input_bits_front_rounds_pixels_and_masks_the_gradient():
    backend = UNetBackend()
    assert "input_bits" not in backend.resolve_spec({"depth": 2, "base_width": 4}, "model.unet")
    spec = backend.resolve_spec({"depth": 2, "base_width": 4, "input_bits": 2}, "model.unet")
    assert spec["input_bits"] == 2
    with pytest.raises(InvalidArgument, match="^model.unet.input_bits"):
        backend.resolve_spec({"input_bits": 9}, "model.unet")
    model = backend.build(spec, 3, 3, None, None).eval()
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    model(x).sum().backward()
    assert torch.count_nonzero(x.grad) == 0
    with torch.no_grad():  # inputs that round to the same levels give the same output
        assert torch.equal(model(torch.full((1, 3, 8, 8), 0.30)), model(torch.full((1, 3, 8, 8), 0.36)))
