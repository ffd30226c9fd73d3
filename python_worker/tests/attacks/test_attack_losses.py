"""Loss definitions on hand-made logits: CE, SegPGD (Gu et al. 2022), CosPGD (Agnihotri et al.)."""

import math

import pytest
import torch

from robustseg_worker.attacks import LOSSES, cospgd_weights, get_loss, pixel_ce, segpgd_lambda, segpgd_weights

# One 2×2 image, 3 classes. Per pixel (row, col): logits and the model's argmax.
#   (0,0) [2, 0, 0] → 0     (0,1) [0, 3, 0] → 1
#   (1,0) [0, 0, 1] → 2     (1,1) [1, 0, 0] → 0
PIXEL_LOGITS = {
    (0, 0): [2.0, 0.0, 0.0],
    (0, 1): [0.0, 3.0, 0.0],
    (1, 0): [0.0, 0.0, 1.0],
    (1, 1): [1.0, 0.0, 0.0],
}
# Labels: (0,0)=0 and (0,1)=1 are classified correctly; (1,0)=0 and (1,1)=2 are wrong.
LABELS = [[0, 1], [0, 2]]


def hand_logits():
    z = torch.zeros(1, 3, 2, 2)
    for (i, j), v in PIXEL_LOGITS.items():
        z[0, :, i, j] = torch.tensor(v)
    return z


def hand_ce(v, cls):
    return math.log(sum(math.exp(a) for a in v)) - v[cls]


def test_pixel_ce_matches_hand_values():
    y = torch.tensor([LABELS])
    ce = pixel_ce(hand_logits(), y)
    for (i, j), v in PIXEL_LOGITS.items():
        assert ce[0, i, j].item() == pytest.approx(hand_ce(v, LABELS[i][j]), rel=1e-6)
    # The "ce" loss is the per-image mean over pixels.
    mean = sum(hand_ce(v, LABELS[i][j]) for (i, j), v in PIXEL_LOGITS.items()) / 4
    assert LOSSES["ce"](hand_logits(), y, step=1, steps=1, targeted=False).item() == pytest.approx(mean, rel=1e-6)


def test_segpgd_lambda_schedule():
    # λ(t) = (t − 1) / (2T): 0 at the first step, (T − 1)/(2T) at the last.
    assert segpgd_lambda(1, 4) == 0.0
    assert segpgd_lambda(3, 4) == 0.25
    assert segpgd_lambda(4, 4) == 0.375
    with pytest.raises(ValueError):
        segpgd_lambda(0, 4)
    with pytest.raises(ValueError):
        segpgd_lambda(5, 4)


@pytest.mark.parametrize(
    "step, targeted, expected",
    [
        # untargeted: correct pixels (top row) 1 − λ, wrong (bottom row) λ
        (1, False, [[1.0, 1.0], [0.0, 0.0]]),
        (3, False, [[0.75, 0.75], [0.25, 0.25]]),
        # targeted: swapped, pixels already at the target λ, the others 1 − λ
        (1, True, [[0.0, 0.0], [1.0, 1.0]]),
        (3, True, [[0.25, 0.25], [0.75, 0.75]]),
        (4, True, [[0.375, 0.375], [0.625, 0.625]]),
    ],
)
def test_segpgd_weights_by_hand(step, targeted, expected):
    y = torch.tensor([LABELS])
    w = segpgd_weights(hand_logits(), y, step=step, steps=4, targeted=targeted)
    assert torch.equal(w, torch.tensor([expected]))
    # The loss is the pixel mean of w · CE.
    loss = LOSSES["segpgd"](hand_logits(), y, step=step, steps=4, targeted=targeted)
    by_hand = sum(expected[i][j] * hand_ce(v, LABELS[i][j]) for (i, j), v in PIXEL_LOGITS.items()) / 4
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)


def cos_logits():
    # softmax by construction: [ln2, 0, 0] → [1/2, 1/4, 1/4]; [0, 0, 0] → [1/3]*3;
    # [ln3, 0, 0] → [3/5, 1/5, 1/5]; [0, ln3, 0] → [1/5, 3/5, 1/5].
    z = torch.zeros(1, 3, 2, 2)
    z[0, 0, 0, 0] = math.log(2)
    z[0, 0, 1, 0] = math.log(3)
    z[0, 1, 1, 1] = math.log(3)
    return z


def test_cospgd_weights_by_hand():
    y = torch.tensor([[[0, 1], [2, 1]]])
    # cos(p, onehot(k)) = p_k / ‖p‖₂
    expected = torch.tensor(
        [
            [
                [0.5 / math.sqrt(0.375), (1 / 3) / math.sqrt(1 / 3)],
                [(1 / 5) / (math.sqrt(11) / 5), (3 / 5) / (math.sqrt(11) / 5)],
            ]
        ]
    )
    w = cospgd_weights(cos_logits(), y, targeted=False)
    assert torch.allclose(w, expected, atol=1e-6)
    wt = cospgd_weights(cos_logits(), y, targeted=True)
    assert torch.allclose(wt, 1 - expected, atol=1e-6)


@pytest.mark.parametrize("name", ["segpgd", "cospgd"])
@pytest.mark.parametrize("targeted", [False, True])
def test_weights_are_detached(name, targeted):
    """The gradient w.r.t. the logits is w · ∂CE (softmax − onehot) / pixels: no term from w."""
    y = torch.tensor([[[0, 1], [2, 1]]])
    z = cos_logits().requires_grad_(True)
    loss = LOSSES[name](z, y, step=2, steps=3, targeted=targeted).sum()
    (g,) = torch.autograd.grad(loss, z)
    w = LOSSES[name].weights(z.detach(), y, step=2, steps=3, targeted=targeted)
    onehot = torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).float()
    expected = w.unsqueeze(1) * (torch.softmax(z.detach(), 1) - onehot) / 4
    assert torch.allclose(g, expected, atol=1e-6)


def test_get_loss_by_name_or_callable():
    assert get_loss("CE") is LOSSES["ce"]

    def custom(logits, target, *, step, steps, targeted):
        return logits.sum((1, 2, 3))

    assert get_loss(custom) is custom
    with pytest.raises(ValueError, match="loss"):
        get_loss("dice")
