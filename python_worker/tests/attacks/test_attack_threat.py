"""The L∞ threat model object and method one's budget."""

import pytest
import torch

from robustseg_worker.attacks import Budget, LinfBall


def test_project_lands_in_ball_and_pixel_range():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand((2, 3, 6, 6), generator=g)
    x0[0, 0, 0, 0], x0[0, 0, 0, 1] = 0.0, 1.0
    far = x0 + torch.randn(x0.shape, generator=g)  # mostly way outside
    ball = LinfBall(0.05)
    p = ball.project(far, x0)
    assert (p - x0).abs().max() <= 0.05 + 1e-7
    assert p.min() >= 0.0 and p.max() <= 1.0
    assert ball.contains(p, x0)
    assert not ball.contains(far, x0)
    # Per coordinate it is the nearest point of [x0 − ε, x0 + ε] ∩ [0, 1].
    expected = torch.maximum(torch.minimum(far, x0 + 0.05), x0 - 0.05).clamp(0, 1)
    assert torch.allclose(p, expected, atol=0, rtol=0)


def test_project_leaves_inside_points_bit_for_bit():
    x0 = torch.rand(1, 3, 5, 5)
    ball = LinfBall(0.03)
    inside = (x0 + 0.03 * torch.sign(torch.randn_like(x0))).clamp(0, 1)
    assert torch.equal(ball.project(inside, x0), inside)
    assert torch.equal(ball.project(x0, x0), x0)


def test_step_is_a_sign_step():
    x = torch.full((1, 1, 1, 3), 0.5)
    grad = torch.tensor([-3.0, 0.0, 1e-9]).view(1, 1, 1, 3)
    out = LinfBall(0.1).step(x, grad, 0.02)
    assert torch.allclose(out.flatten(), torch.tensor([0.48, 0.5, 0.52]))
    # Descent is the step along the negated gradient.
    assert torch.allclose(LinfBall(0.1).step(x, -grad, 0.02).flatten(), torch.tensor([0.52, 0.5, 0.48]))


def test_random_start_is_seeded_and_in_ball():
    x0 = torch.rand(2, 3, 8, 8)
    ball = LinfBall(0.1)
    a = ball.random_start(x0, torch.Generator().manual_seed(7))
    b = ball.random_start(x0, torch.Generator().manual_seed(7))
    c = ball.random_start(x0, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert ball.contains(a, x0)
    assert (a - x0).abs().max() > 0.05  # it actually moved


@pytest.mark.parametrize("eps", [-0.1, float("nan"), float("inf")])
def test_ball_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        LinfBall(eps)


def test_budget_centres_and_bounds():
    x, start = torch.zeros(1), torch.ones(1)
    assert Budget.parse("per-layer") is Budget.PER_LAYER
    assert Budget.parse("TOTAL") is Budget.TOTAL
    assert Budget.parse("per_layer") is Budget.PER_LAYER
    assert Budget.PER_LAYER.centre(x, start) is start
    assert Budget.TOTAL.centre(x, start) is x
    assert Budget.PER_LAYER.bound(0.01, 6) == pytest.approx(0.06)
    assert Budget.TOTAL.bound(0.01, 6) == 0.01
    with pytest.raises(ValueError, match="budget"):
        Budget.parse("everything")
