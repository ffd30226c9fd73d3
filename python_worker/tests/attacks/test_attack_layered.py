"""Method one, layered PGD (paper Formula 2): one targeted layer per class, in order, per budget."""

import pytest
import torch

from robustseg_worker.attacks import (
    LOSSES,
    AttackCancelled,
    AttackSpec,
    LayeredSpec,
    full_area_target,
    layered_pgd,
    pgd,
)

EPS = 0.02


class SpyLoss:
    """Plain CE that records, per call, the class of its (full-area) target and the flags."""

    def __init__(self):
        self.calls = []

    def __call__(self, logits, target, *, step, steps, targeted):
        classes = target.unique().tolist()
        assert len(classes) == 1, "method one's targets are full-area maps"
        self.calls.append((classes[0], step, steps, targeted))
        return LOSSES["ce"](logits, target, step=step, steps=steps, targeted=targeted)


@pytest.mark.parametrize("budget", ["per-layer", "total"])
def test_one_layer_per_class_in_default_order(model, batch, budget):
    x, _ = batch
    spy = SpyLoss()
    layered_pgd(model, x, LayeredSpec(eps=EPS, steps=2, budget=budget, loss=spy))
    # Default: all classes ascending (4 from the model's output), 2 targeted steps each.
    assert spy.calls == [(c, t, 2, True) for c in range(4) for t in (1, 2)]


@pytest.mark.parametrize("budget", ["per-layer", "total"])
def test_configured_order(model, batch, budget):
    x, _ = batch
    spy = SpyLoss()
    xa, layers = layered_pgd(
        model, x, LayeredSpec(eps=EPS, steps=1, classes=[3, 0, 2], budget=budget, loss=spy), return_layers=True
    )
    assert [c for c, *_ in spy.calls] == [3, 0, 2]
    assert len(layers) == 3 and torch.equal(layers[-1], xa)


def test_per_layer_budget(model, batch):
    x, _ = batch
    spec = LayeredSpec(eps=EPS, steps=3, alpha=EPS)  # big steps: every layer uses its ε
    xa, layers = layered_pgd(model, x, spec, return_layers=True)
    starts = [x] + layers[:-1]
    for start, out in zip(starts, layers):
        # each layer within ε of its own start ...
        assert (out - start).abs().max() <= EPS + 1e-6
        assert out.min() >= 0 and out.max() <= 1
    total = (xa - x).abs().max().item()
    # ... so the whole may exceed ε (it does here) but never C·ε.
    assert total <= spec.bound(4) + 1e-6
    assert total > EPS + 1e-4


def test_total_budget(model, batch):
    x, _ = batch
    spec = LayeredSpec(eps=EPS, steps=3, alpha=EPS, budget="total")
    xa, layers = layered_pgd(model, x, spec, return_layers=True)
    for out in layers:
        assert (out - x).abs().max() <= EPS + 1e-6
        assert out.min() >= 0 and out.max() <= 1
    assert spec.bound(4) == EPS


def test_each_layer_pulls_towards_its_class(model, batch, ref_loss):
    """Layer c is a targeted PGD towards t_c: it lowers J(·, t_c) from the layer's start."""
    x, _ = batch
    xa, layers = layered_pgd(model, x, LayeredSpec(eps=EPS, steps=5), return_layers=True)
    for c, (start, out) in enumerate(zip([x] + layers[:-1], layers)):
        t = full_area_target(x, c)
        assert (ref_loss(model, out, t) < ref_loss(model, start, t)).all(), c


@pytest.mark.parametrize("budget", ["per-layer", "total"])
def test_single_layer_is_targeted_pgd(model, batch, budget):
    x, _ = batch
    spec = LayeredSpec(eps=EPS, steps=4, classes=[2], budget=budget, random_start=True, seed=9)
    ref = pgd(model, x, full_area_target(x, 2), AttackSpec(eps=EPS, steps=4, targeted=True, random_start=True, seed=9))
    assert torch.equal(layered_pgd(model, x, spec), ref)


def test_layers_chain(model, batch):
    """Layer 2 of (1, 3) starts at layer 1's output: it equals PGD from there (per-layer budget)."""
    x, _ = batch
    xa, layers = layered_pgd(model, x, LayeredSpec(eps=EPS, steps=3, classes=[1, 3]), return_layers=True)
    first = pgd(model, x, full_area_target(x, 1), AttackSpec(eps=EPS, steps=3, targeted=True))
    assert torch.equal(layers[0], first)
    assert torch.equal(xa, pgd(model, first, full_area_target(x, 3), AttackSpec(eps=EPS, steps=3, targeted=True)))


def test_seeded_random_start_is_deterministic(model, batch):
    x, _ = batch
    spec = LayeredSpec(eps=EPS, steps=2, random_start=True, seed=4)
    assert torch.equal(layered_pgd(model, x, spec), layered_pgd(model, x, spec))


def test_progress_over_all_layers_and_cancel(model, batch):
    x, _ = batch
    seen = []
    layered_pgd(model, x, LayeredSpec(eps=EPS, steps=2, classes=[0, 1, 2]), on_step=lambda d, t: seen.append((d, t)))
    assert seen == [(d, 6) for d in range(1, 7)]
    polls = []
    with pytest.raises(AttackCancelled) as info:
        layered_pgd(
            model, x, LayeredSpec(eps=EPS, steps=2, classes=[0, 1, 2]), should_stop=lambda: polls.append(1) or len(polls) > 3
        )
    assert (info.value.done, info.value.total) == (3, 6)


def test_spec_validation(model, batch):
    x, _ = batch
    with pytest.raises(ValueError, match="budget"):
        LayeredSpec(eps=EPS, budget="some")
    with pytest.raises(ValueError, match="classes"):
        LayeredSpec(eps=EPS, classes=[])
    with pytest.raises(ValueError, match="steps"):
        LayeredSpec(eps=EPS, steps=0)
    with pytest.raises(ValueError, match="classes"):
        layered_pgd(model, x, LayeredSpec(eps=EPS, classes=[0, 7]), num_classes=4)


def test_classes_accept_any_int_sequence():
    np = pytest.importorskip("numpy")
    assert LayeredSpec(eps=EPS, classes=np.array([2, 0])).classes == (2, 0)
    assert LayeredSpec(eps=EPS, classes=(c for c in [1, 3])).classes == (1, 3)
    with pytest.raises(ValueError, match="classes"):
        LayeredSpec(eps=EPS, classes=[0.5])
    with pytest.raises(ValueError, match="classes"):
        LayeredSpec(eps=EPS, classes=[-1])
