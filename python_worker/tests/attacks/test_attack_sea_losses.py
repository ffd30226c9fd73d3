"""SEA's losses against hand-computed cases (values worked out on paper, not by the code under
test), and the properties their definitions imply."""

import math

import pytest
import torch

from robustseg_worker.attacks import SEA_LOSSES, balanced_ce, jensen_shannon, masked_ce, masked_spherical


def _image(pixels):
    """logits (1, C, 1, P) from a list of P per-pixel logit vectors."""
    return torch.tensor(pixels, dtype=torch.float32).T.reshape(1, len(pixels[0]), 1, len(pixels))


def test_balanced_ce_weighs_each_pixel_by_one_minus_its_class_share():
    # 4 pixels, 3 classes, all logits 0: CE = log 3 everywhere. Truth 0, 0, 0, 1: class 0 holds
    # 3/4 of the image (weight 1/4), class 1 holds 1/4 (weight 3/4).
    logits = _image([[0.0, 0.0, 0.0]] * 4)
    y = torch.tensor([[[0, 0, 0, 1]]])
    expected = (3 * 0.25 + 0.75) / 4 * math.log(3)  # = 0.375 log 3
    assert balanced_ce(logits, y).item() == pytest.approx(expected, rel=1e-6)
    # an image of one class has weight 0 everywhere
    assert balanced_ce(logits, torch.zeros_like(y)).item() == 0.0


def test_jensen_shannon_on_hand_computed_distributions():
    # Two classes, logits (0, 0): p = (1/2, 1/2), truth 0, m = (3/4, 1/4).
    # KL(p||m) = 1/2 ln(2/3) + 1/2 ln 2 = 0.1438410362; KL(e_0||m) = ln(4/3) = 0.2876820725;
    # JS = (0.1438410362 + 0.2876820725) / 2 = 0.2157615543.
    assert jensen_shannon(_image([[0.0, 0.0]]), torch.tensor([[[0]]])).item() == pytest.approx(0.2157615543, rel=1e-6)
    # A confident right pixel has JS 0, a confident wrong one ln 2 (the bound).
    right_and_wrong = _image([[30.0, 0.0], [0.0, 30.0]])
    per_pixel = jensen_shannon(right_and_wrong, torch.tensor([[[0, 0]]])).item() * 2
    assert per_pixel == pytest.approx(math.log(2), rel=1e-6)


def test_jensen_shannon_equals_the_sum_over_classes_definition():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, 4) * 3
    y = torch.randint(0, 5, (2, 3, 4))
    p = torch.softmax(logits.double(), 1)
    q = torch.nn.functional.one_hot(y, 5).permute(0, 3, 1, 2).double()
    m = (p + q) / 2
    kl = lambda a, b: torch.where(a > 0, a * (a.log() - b.log()), torch.zeros_like(a)).sum(1)
    reference = ((kl(p, m) + kl(q, m)) / 2).flatten(1).mean(1)
    assert torch.allclose(jensen_shannon(logits, y).double(), reference, atol=1e-6)


def test_masked_ce_counts_only_pixels_still_correct():
    # pixel 1: logits (2, 0), truth 0, correct, CE = ln(1 + e^-2) = 0.1269280110;
    # pixel 2: logits (2, 0), truth 1, wrong: masked out. Mean over both pixels.
    logits = _image([[2.0, 0.0], [2.0, 0.0]]).requires_grad_(True)
    y = torch.tensor([[[0, 1]]])
    value = masked_ce(logits, y)
    assert value.item() == pytest.approx(0.1269280110 / 2, rel=1e-6)
    (grad,) = torch.autograd.grad(value, logits)
    assert torch.count_nonzero(grad[..., 1]) == 0  # the mask is detached: no gradient from the wrong pixel
    assert torch.count_nonzero(grad[..., 0]) == 2


def test_masked_spherical_is_minus_the_normalised_true_logit_of_correct_pixels():
    # pixel 1: logits (3, 4), truth 1, correct: -4/5; pixel 2: logits (4, 3), truth 1, wrong: 0.
    logits = _image([[3.0, 4.0], [4.0, 3.0]])
    assert masked_spherical(logits, torch.tensor([[[1, 1]]])).item() == pytest.approx(-0.4, rel=1e-6)
    # scale-invariant: only the direction of the logits counts
    assert masked_spherical(logits * 7, torch.tensor([[[1, 1]]])).item() == pytest.approx(-0.4, rel=1e-6)


@pytest.mark.parametrize("name", list(SEA_LOSSES))
def test_losses_are_per_image_and_refuse_targeted(name):
    loss = SEA_LOSSES[name]
    torch.manual_seed(1)
    logits, y = torch.randn(3, 4, 5, 5), torch.randint(0, 4, (3, 5, 5))
    values = loss(logits, y)
    assert values.shape == (3,) and torch.isfinite(values).all()
    # an image's value does not depend on the rest of the batch
    assert loss(logits[1:2], y[1:2]).item() == pytest.approx(values[1].item(), rel=1e-6)
    with pytest.raises(ValueError, match="untargeted"):
        loss(logits, y, targeted=True)
