import math

import pytest
import torch

from robustseg_worker.data.synthetic_histology import SyntheticHistology
from robustseg_worker.errors import Cancelled, FailedPrecondition, InvalidArgument
from robustseg_worker.evaluation import evaluate
from robustseg_worker.events import EpochSummary, TrainStep
from robustseg_worker.models.unet import UNet
from robustseg_worker.training import TrainingConfig, batch_bounds, build_seeded, train
from robustseg_worker.training.augment import flip_rotate


def _tiles(split, n, size=16, seed=0):
    source = SyntheticHistology()
    plan = {p.split: p for p in source.plan({"tile_size": size, f"num_{split}": n, "seed": seed}, "s")}[split]
    tiles = source.render(plan, 0, n)
    return torch.from_numpy(tiles.images), torch.from_numpy(tiles.labels)


@pytest.fixture(scope="module")
def small_problem():
    return (*_tiles("train", 24), *_tiles("validation", 8))


def _run(problem, config, depth=2, width=8):
    model = build_seeded(lambda: UNet(6, depth=depth, base_width=width), config.seed)
    events = []
    gen = train(model, *problem, num_classes=6, config=config)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return model, events, stop.value


def _config(**overrides):
    values = {"epochs": 2, "batch_size": 8, "learning_rate": 0.01, "seed": 1, "augment": True}
    return TrainingConfig.from_params({**values, **overrides})


def test_same_seed_gives_identical_weights_and_history(small_problem):
    m1, e1, o1 = _run(small_problem, _config())
    m2, e2, o2 = _run(small_problem, _config())
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert [s.loss for s in e1 if isinstance(s, TrainStep)] == [s.loss for s in e2 if isinstance(s, TrainStep)]
    assert o1.history == o2.history
    m3, _, o3 = _run(small_problem, _config(seed=2))
    assert not torch.equal(m1.stem[0].weight, m3.stem[0].weight)
    assert o1.history != o3.history


def test_events_per_step_and_epoch(small_problem):
    _, events, outcome = _run(small_problem, _config(epochs=2, batch_size=10))
    steps = [e for e in events if isinstance(e, TrainStep)]
    epochs = [e for e in events if isinstance(e, EpochSummary)]
    # 24 tiles in batches of 10: 10, 10, 4
    assert [(s.epoch, s.step, s.steps_per_epoch) for s in steps] == [(e, i, 3) for e in (1, 2) for i in (1, 2, 3)]
    assert [e.epoch for e in epochs] == [1, 2] and outcome.history == epochs
    for e in epochs:
        matrix = torch.tensor(e.validation_confusion)
        assert matrix.shape == (6, 6) and int(matrix.sum()) == 8 * 16 * 16  # whole validation set
        assert math.isfinite(e.train_loss) and math.isfinite(e.validation_loss)


def test_loss_decreases_on_a_tiny_problem(small_problem):
    _, events, outcome = _run(small_problem, _config(epochs=6, batch_size=8, learning_rate=0.01))
    losses = [e.loss for e in events if isinstance(e, TrainStep)]
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3
    assert outcome.history[-1].validation_loss < outcome.history[0].validation_loss


def test_keeps_the_weights_of_the_best_validation_loss(small_problem):
    """Validation labels that say "dead" everywhere: the more the model learns the real
    data, the worse it does there, so the best epoch is an early one; the returned model must
    be that epoch's model, not the last one."""
    train_x, train_y, val_x, val_y = small_problem
    rigged = (train_x, train_y, val_x, torch.full_like(val_y, 4))
    model, _, outcome = _run(rigged, _config(epochs=4, learning_rate=0.02))
    losses = [e.validation_loss for e in outcome.history]
    assert outcome.best_epoch == 1 + losses.index(min(losses)) and outcome.best_epoch < 4
    assert [e.best for e in outcome.history][0] is True
    result = _drain(evaluate(model, val_x, torch.full_like(val_y, 4), 6, 4))
    assert result.mean_loss == pytest.approx(outcome.best_validation_loss, rel=1e-6)
    assert result.mean_loss != pytest.approx(losses[-1], rel=1e-6)


def _drain(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_cancellation_stops_at_the_next_step(small_problem):
    model = build_seeded(lambda: UNet(6, depth=2, base_width=4), 0)
    calls = []

    def check_stop():
        calls.append(1)
        if len(calls) > 2:
            raise Cancelled("stop")

    gen = train(model, *small_problem, num_classes=6, config=_config(epochs=50, batch_size=4), check_stop=check_stop)
    steps = []
    with pytest.raises(Cancelled):
        steps.extend(e for e in gen if isinstance(e, TrainStep))
    assert len(calls) == 3 and len(steps) == 2


def test_divergence_is_a_clear_error(small_problem):
    train_x, train_y, val_x, val_y = small_problem
    model = build_seeded(lambda: UNet(6, depth=2, base_width=4), 0)
    poisoned = train_x.clone()
    poisoned[0, 0, 0, 0] = float("nan")
    with pytest.raises(FailedPrecondition, match="training diverged: loss is nan at epoch 1 step 1"):
        list(train(model, poisoned, train_y, val_x, val_y, 6, _config(batch_size=24, augment=False)))


def test_augmentation_moves_image_and_label_together():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 6, (64, 9, 9))
    images = torch.stack([labels.float(), -labels.float(), labels.float() * 2], dim=1)
    out_x, out_y = flip_rotate(images, labels, g)
    assert torch.equal(out_x[:, 0], out_y.float()) and torch.equal(out_x[:, 1], -out_y.float())
    assert not torch.equal(out_y, labels)  # something moved
    # all eight symmetries of the square occur for a tile with no symmetry of its own
    tile = torch.arange(9).view(1, 3, 3).expand(400, 3, 3)
    _, moved = flip_rotate(tile.unsqueeze(1).float(), tile, torch.Generator().manual_seed(1))
    assert len({tuple(m.flatten().tolist()) for m in moved}) == 8
    assert torch.rot90(tile[0], 1).flatten().tolist() in [list(t) for t in {tuple(m.flatten().tolist()) for m in moved}]


def test_non_square_tiles_are_only_flipped():
    tile = torch.arange(6).view(1, 2, 3).expand(100, 2, 3)
    _, moved = flip_rotate(tile.unsqueeze(1).float(), tile, torch.Generator().manual_seed(2))
    assert moved.shape == tile.shape
    assert len({tuple(m.flatten().tolist()) for m in moved}) == 4


def test_batch_bounds_never_leave_a_single_sample_batch():
    assert batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(9, 4) == [(0, 4), (4, 9)]
    assert batch_bounds(3, 16) == [(0, 3)]
    assert batch_bounds(1, 4) == [(0, 1)]


@pytest.mark.parametrize("params, message", [
    ({"epochs": -1}, "config.epochs: must be > 0, got -1"),
    ({"epochs": 0}, "config.epochs: must be > 0, got 0"),
    ({"batch_size": 0}, "config.batch_size: must be > 0, got 0"),
    ({"learning_rate": 0.0}, "config.learning_rate: must be a finite number > 0, got 0.0"),
    ({"learning_rate": float("nan")}, "config.learning_rate: must be a finite number > 0, got nan"),
    ({"seed": -5}, "config.seed: must be an integer in [0, 2^64), got -5"),
])
def test_config_validation_names_the_field(params, message):
    values = {"epochs": 1, "batch_size": 2, "learning_rate": 1e-3, "seed": 0, "augment": False}
    with pytest.raises(InvalidArgument) as e:
        TrainingConfig.from_params({**values, **params})
    assert str(e.value) == message


def test_seeded_build_is_untouched_by_builds_in_other_threads():
    """Stages run at once on one worker: a model loaded (built, then given its weights) in one
    thread must not draw from torch's global generator between another thread's seed and its
    initial weights."""
    import threading

    from robustseg_worker import models

    spec = models.get("unet").resolve_spec({"depth": 2, "baseWidth": 4}, "model.unet")

    def seeded():
        return build_seeded(lambda: models.build_model("unet", spec, 6), 3).state_dict()

    reference = seeded()
    stop = threading.Event()

    def load_models():
        while not stop.is_set():
            models.build_model("unet", spec, 6)

    others = [threading.Thread(target=load_models) for _ in range(2)]
    for t in others:
        t.start()
    try:
        for _ in range(30):
            state = seeded()
            assert all(torch.equal(state[k], reference[k]) for k in reference)
    finally:
        stop.set()
        for t in others:
            t.join()
