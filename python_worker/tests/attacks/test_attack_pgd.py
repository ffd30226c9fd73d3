"""FGSM and PGD: threat model, direction of the loss, FGSM = one PGD step, seeding, callbacks."""

import pytest
import torch

from robustseg_worker.attacks import (
    AttackCancelled,
    AttackSpec,
    LinfBall,
    fgsm,
    full_area_target,
    paper_attack,
    paper_attack_spec,
    pgd,
)

LOSS_NAMES = ["ce", "segpgd", "cospgd"]


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_ball_and_range(model, batch, loss, targeted, random_start):
    x, y = batch
    tgt = full_area_target(x, 2) if targeted else y
    spec = AttackSpec(eps=0.03, steps=4, alpha=0.02, targeted=targeted, loss=loss, random_start=random_start, seed=3)
    x_adv = pgd(model, x, tgt, spec)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert (x_adv - x).abs().max() <= 0.03 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert not torch.equal(x_adv, x)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_stays_in_ball_and_range(model, batch, loss, targeted):
    x, y = batch
    tgt = full_area_target(x, 1) if targeted else y
    x_adv = fgsm(model, x, tgt, AttackSpec(eps=0.02, targeted=targeted, loss=loss))
    assert (x_adv - x).abs().max() <= 0.02 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    # FGSM moves a pixel by exactly ε or (zero gradient) not at all, unless clipped; with plain
    # CE every gradient here is non-zero. (SegPGD at step 1 of 1 has λ = 0: pixels it weights 0
    # can have no gradient.)
    moved = (x_adv - x).abs()[(x > 0.02) & (x < 0.98)]
    assert ((moved - 0.02).abs() < 1e-6).logical_or(moved == 0).all()
    if loss == "ce":
        assert ((moved - 0.02).abs() < 1e-6).all()


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_equals_one_pgd_step(model, batch, loss, targeted):
    x, y = batch
    tgt = full_area_target(x, 3) if targeted else y
    spec = AttackSpec(eps=0.05, steps=1, alpha=0.05, random_start=False, targeted=targeted, loss=loss)
    assert torch.equal(fgsm(model, x, tgt, spec), pgd(model, x, tgt, spec))


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_targeted_pgd_lowers_loss_towards_target(model, batch, ref_loss, loss):
    x, _ = batch
    for cls in (0, 2):
        t = full_area_target(x, cls)
        x_adv = pgd(model, x, t, AttackSpec(eps=0.03, steps=10, targeted=True, loss=loss))
        before, after = ref_loss(model, x, t), ref_loss(model, x_adv, t)
        assert (after < before).all(), (cls, before, after)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_untargeted_pgd_raises_loss(model, batch, ref_loss, loss):
    x, y = batch
    x_adv = pgd(model, x, y, AttackSpec(eps=0.03, steps=10, loss=loss))
    assert (ref_loss(model, x_adv, y) > ref_loss(model, x, y)).all()


def test_pgd_beats_fgsm_at_same_eps(model, batch, ref_loss):
    x, y = batch
    spec = AttackSpec(eps=0.03, steps=20)
    assert ref_loss(model, pgd(model, x, y, spec), y).mean() >= ref_loss(model, fgsm(model, x, y, spec), y).mean()


def test_random_start_is_seeded(model, batch):
    x, y = batch
    spec = AttackSpec(eps=0.03, steps=3, random_start=True, seed=11)
    a, b = pgd(model, x, y, spec), pgd(model, x, y, spec)
    assert torch.equal(a, b)
    assert not torch.equal(a, pgd(model, x, y, spec.with_(seed=12)))
    assert not torch.equal(a, pgd(model, x, y, spec.with_(random_start=False)))
    # Without a seed it draws from torch's global generator.
    torch.manual_seed(5)
    c = pgd(model, x, y, spec.with_(seed=None))
    torch.manual_seed(5)
    assert torch.equal(c, pgd(model, x, y, spec.with_(seed=None)))


def test_batch_composition_does_not_change_an_image(model, batch):
    """Per-image losses are summed, so each image's gradient is its own."""
    x, y = batch
    spec = AttackSpec(eps=0.03, steps=5)
    whole = pgd(model, x, y, spec)
    alone = torch.cat([pgd(model, x[i : i + 1], y[i : i + 1], spec) for i in range(x.shape[0])])
    assert torch.allclose(whole, alone, atol=1e-6)


def test_default_alpha():
    assert AttackSpec(eps=0.01, steps=100).step_size == pytest.approx(0.00025)
    assert AttackSpec(eps=0.01, steps=100, alpha=0.001).step_size == 0.001


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"eps": -0.01}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": 0.01, "steps": 0}, "steps"),
        ({"eps": 0.01, "alpha": 0.0}, "alpha"),
        ({"eps": 0.01, "loss": "nope"}, "loss"),
        ({"eps": 0.01, "seed": 1.5}, "seed"),
    ],
)
def test_spec_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        AttackSpec(**kwargs)


def test_bad_shapes_are_rejected(model, batch):
    x, y = batch
    spec = AttackSpec(eps=0.01, steps=1)
    with pytest.raises(ValueError, match="target"):
        pgd(model, x, y[:, :-1], spec)
    with pytest.raises(ValueError, match="target"):
        pgd(model, x, y.float(), spec)
    with pytest.raises(ValueError, match="x"):
        pgd(model, x[0], y, spec)


def test_progress_and_cancellation(model, batch):
    x, y = batch
    seen = []
    pgd(model, x, y, AttackSpec(eps=0.01, steps=4), on_step=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]

    seen.clear()
    polls = []

    def stop():
        polls.append(1)
        return len(polls) >= 3  # stop before the third step

    x_before = x.clone()
    with pytest.raises(AttackCancelled) as info:
        pgd(model, x, y, AttackSpec(eps=0.01, steps=10), on_step=lambda d, t: seen.append((d, t)), should_stop=stop)
    assert (info.value.done, info.value.total) == (2, 10)
    assert seen == [(1, 10), (2, 10)]
    assert torch.equal(x, x_before)

    with pytest.raises(AttackCancelled):
        fgsm(model, x, y, AttackSpec(eps=0.01), should_stop=lambda: True)


def test_works_inside_no_grad_and_inference_mode(model, batch):
    x, y = batch
    spec = AttackSpec(eps=0.02, steps=2)
    ref = pgd(model, x, y, spec)
    with torch.no_grad():
        assert torch.equal(pgd(model, x, y, spec), ref)
    with torch.inference_mode():
        xi, yi = x.clone(), y.clone()
        assert torch.equal(pgd(model, xi, yi, spec), ref)


def test_full_area_target():
    x = torch.rand(2, 3, 5, 7)
    t = full_area_target(x, 3)
    assert t.shape == (2, 5, 7) and t.dtype == torch.long and (t == 3).all()
    assert torch.equal(full_area_target(t, 1), torch.ones(2, 5, 7, dtype=torch.long))
    assert full_area_target((4, 6, 6), 0).shape == (4, 6, 6)
    names = ["background", "neoplastic", "inflammatory"]
    assert (full_area_target(x, "Inflammatory", class_names=names) == 2).all()
    with pytest.raises(ValueError, match="class_index"):
        full_area_target(x, "dead", class_names=names)
    with pytest.raises(ValueError, match="class_index"):
        full_area_target(x, "background")
    with pytest.raises(ValueError, match="class_index"):
        full_area_target(x, 3, class_names=names)


def test_paper_attack(model, batch, ref_loss):
    spec = paper_attack_spec()
    assert (spec.eps, spec.steps, spec.targeted, spec.loss) == (0.01, 100, True, "ce")
    assert spec.step_size == pytest.approx(0.00025)
    x, _ = batch
    x_adv = paper_attack(model, x, steps=8)
    assert LinfBall(0.01).contains(x_adv, x)
    bg = full_area_target(x, 0)
    assert (ref_loss(model, x_adv, bg) < ref_loss(model, x, bg)).all()
    # It is exactly targeted PGD towards full-area background.
    assert torch.equal(x_adv, pgd(model, x, bg, paper_attack_spec(steps=8)))


def test_spec_accepts_numpy_scalars():
    np = pytest.importorskip("numpy")
    spec = AttackSpec(eps=np.float32(0.01), steps=np.int64(5), seed=np.int32(3))
    assert type(spec.eps) is float and type(spec.steps) is int and type(spec.seed) is int
    assert spec.steps == 5 and spec.seed == 3
