"""APGD (Croce & Hein 2020): the ε-ball and [0, 1], the best-loss iterate never below the start,
the published checkpoint schedule and step-size rule, the first and momentum steps written out by
hand, SEA's options, hygiene and cancellation."""

import math

import pytest
import torch
from torch import nn

from robustseg_worker.attacks import (
    APGD_LOSSES,
    AttackCancelled,
    ApgdSpec,
    LinfBall,
    apgd,
    apgd_checkpoints,
    apgd_random_start,
    radius_stages,
)
from robustseg_worker.attacks.apgd import _oscillation

EPS = 0.03


@pytest.mark.parametrize("loss", list(APGD_LOSSES))
@pytest.mark.parametrize("iterate, progressive", [("best-loss", False), ("lowest-accuracy", True)])
def test_every_returned_point_is_in_the_ball_and_the_pixel_range(model, batch, loss, iterate, progressive):
    x, y = batch
    start = apgd_random_start(x, EPS, generator=torch.Generator().manual_seed(3))
    r = apgd(model, x, y, ApgdSpec(eps=EPS, steps=12, loss=loss, iterate=iterate, progressive_radius=progressive),
             x_init=start)
    for point in (r.x, r.x_best_loss, r.x_lowest_score):
        assert (point - x).abs().max() <= EPS + 1e-6
        assert point.min() >= 0.0 and point.max() <= 1.0
    assert r.x.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("loss", list(APGD_LOSSES))
def test_the_best_iterate_is_never_worse_than_the_start(model, batch, loss):
    x, y = batch
    start = apgd_random_start(x, EPS, generator=torch.Generator().manual_seed(4))
    r = apgd(model, x, y, ApgdSpec(eps=EPS, steps=15, loss=loss), x_init=start)
    assert (r.loss_best >= r.loss_start).all()
    # recomputed independently of the attack's own bookkeeping
    model.eval()
    with torch.no_grad():
        at = lambda z: APGD_LOSSES[loss](model(z), y, step=15, steps=15, targeted=False)
        if loss != "segpgd":  # SegPGD's weights depend on the step, so its values are not comparable
            assert (at(r.x_best_loss) >= at(start) - 1e-6).all()
        assert torch.allclose(at(r.x_best_loss), r.loss_best, atol=1e-5) or loss == "segpgd"


def test_checkpoints_follow_the_published_schedule():
    # p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06): 0.22, 0.41, 0.57, 0.70,
    # 0.80, 0.87, 0.93, 0.99 of N = 100 iterations.
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    p, previous, expected = 0.22, 0.0, []
    while p <= 1.0 + 1e-9:
        expected.append(round(p * 1000))
        p, previous = p + max(p - previous - 0.03, 0.06), p
    assert apgd_checkpoints(1000) == expected
    assert apgd_checkpoints(1) == [1] and apgd_checkpoints(4) == [1, 2, 3, 4]


class Constant(nn.Module):
    """Logits that do not depend on the input: zero gradient, constant loss."""

    def __init__(self, classes=4):
        super().__init__()
        self.bias = nn.Parameter(torch.arange(classes, dtype=torch.float32))

    def forward(self, x):
        return self.bias.view(1, -1, 1, 1).expand(x.shape[0], -1, x.shape[2], x.shape[3])


def test_the_step_size_halves_at_every_checkpoint_when_the_loss_never_rises(batch):
    x, y = batch
    r = apgd(Constant(), x, y, ApgdSpec(eps=EPS, steps=100))
    assert r.checks == apgd_checkpoints(100)
    assert torch.allclose(r.step_size, torch.full((x.shape[0],), 2 * EPS / 2 ** len(r.checks)))
    assert torch.equal(r.x, x)


def test_condition_one_counts_increases_as_the_reference_does():
    # four steps after the start; the window of k = 4 compares each with the one before, and the
    # oldest with slot -1 (not yet written: 0), as the reference code does.
    losses = torch.zeros(6, 3)
    losses[:4, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])  # 4 increases (1 > 0 included): > 3, keep
    losses[:4, 1] = torch.tensor([1.0, 2.0, 1.5, 3.0])  # 3 increases <= 0.75 * 4: halve
    losses[:4, 2] = torch.tensor([-1.0, -0.5, 0.0, 1.0])  # -1 > 0 is false: 3 increases: halve
    assert _oscillation(losses, 3, 4, 0.75).tolist() == [False, True, True]


def test_first_step_and_momentum_step_by_hand(model, batch):
    x, y = batch
    model.eval()
    ce = APGD_LOSSES["ce"]

    def grad_at(z):
        z = z.clone().requires_grad_(True)
        return torch.autograd.grad(ce(model(z), y).sum(), z)[0]

    ball, eta = LinfBall(EPS), 2 * EPS
    x1 = ball.project(x + eta * torch.sign(grad_at(x)), x)  # momentum 1 on the first step
    z = ball.project(x1 + eta * torch.sign(grad_at(x1)), x)
    x2 = ball.project(x1 + 0.75 * (z - x1) + 0.25 * (x1 - x), x)
    latest = lambda logits: torch.zeros(logits.shape[0])  # every iterate ties: the latest is kept
    one = apgd(model, x, y, ApgdSpec(eps=EPS, steps=1, iterate="lowest-accuracy"), score=latest)
    assert torch.allclose(one.x, x1, atol=1e-7)
    # steps=2: a checkpoint after each step, but the loss rose (from slot -1 = 0), so no halving
    two = apgd(model, x, y, ApgdSpec(eps=EPS, steps=2, iterate="lowest-accuracy"), score=latest)
    assert torch.allclose(two.x, x2, atol=1e-7)


def test_lowest_accuracy_iterate_is_at_most_the_start_accuracy(model, batch):
    x, y = batch
    model.eval()
    r = apgd(model, x, y, ApgdSpec(eps=EPS, steps=10, loss="masked-ce", iterate="lowest-accuracy"))
    with torch.no_grad():
        acc = lambda z: (model(z).argmax(1) == y).flatten(1).float().mean(1)
        assert (acc(r.x) <= acc(x) + 1e-7).all()
        assert torch.allclose(acc(r.x), r.score_lowest)


def test_random_start_has_linf_exactly_eps_per_image():
    x = torch.full((3, 3, 8, 8), 0.5)
    start = apgd_random_start(x, 0.02, generator=torch.Generator().manual_seed(0))
    assert torch.allclose((start - x).abs().flatten(1).amax(1), torch.full((3,), 0.02))


def test_progressive_radius_stages_follow_sea():
    assert radius_stages(0.01, 10, True) == [(0.02, 3), (0.015, 3), (0.01, 4)]
    assert radius_stages(0.01, 100, True) == [(0.02, 30), (0.015, 30), (0.01, 40)]
    assert radius_stages(0.01, 7, False) == [(0.01, 7)]


def test_a_targeted_attack_needs_a_targetable_loss():
    with pytest.raises(ValueError, match="untargeted"):
        ApgdSpec(eps=EPS, loss="masked-ce", targeted=True)
    with pytest.raises(ValueError, match="iterate"):
        ApgdSpec(eps=EPS, iterate="latest")
    with pytest.raises(ValueError, match="loss"):
        ApgdSpec(eps=EPS, loss="hinge")


def test_targeted_apgd_moves_towards_the_target(model, batch):
    x, _ = batch
    target = torch.zeros(x.shape[0], x.shape[2], x.shape[3], dtype=torch.long)
    r = apgd(model, x, target, ApgdSpec(eps=0.1, steps=10, targeted=True))
    model.eval()
    with torch.no_grad():
        share = lambda z: (model(z).argmax(1) == 0).float().mean()
        assert share(r.x) > share(x)


def test_hygiene_and_cancellation(model, batch):
    x, y = batch
    x_copy = x.clone()
    model.train()
    model.drop.eval()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    apgd(model, x, y, ApgdSpec(eps=EPS, steps=4, loss="js", progressive_radius=True))
    assert torch.equal(x, x_copy)
    assert model.training and model.bn.training and not model.drop.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, params[k]) for k, v in model.state_dict().items())
    steps = []
    with pytest.raises(AttackCancelled):
        apgd(model, x, y, ApgdSpec(eps=EPS, steps=10), on_step=lambda d, t: steps.append((d, t)),
             should_stop=lambda: len(steps) >= 3)
    assert steps == [(1, 10), (2, 10), (3, 10)]
    assert math.isclose(float((x - x_copy).abs().max()), 0.0)
