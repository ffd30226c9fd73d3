"""How the attacks run (attacks/runtime.py): BatchNorm folding, the cached gradient model, bf16
autocast within the documented tolerance, batch sizing from free memory, first-order estimates.

The tolerance (python_worker/README.md, "Attack performance"): bf16 autocast may change targeted PGD's success by
at most 5 percentage points, and BatchNorm folding may flip the sign of a few near-zero gradient
entries (at most 1% of an attack's pixel values differ from the unfolded model's)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustseg_worker import attacks
from robustseg_worker.attacks import runtime as rt
from robustseg_worker.models.unet import UNet

from .conftest import make_batch


def _trained_unet(classes: int = 4, size: int = 16, steps: int = 40) -> UNet:
    """A small U-Net (BatchNorm after every conv, in nn.Sequential blocks) briefly trained on the
    red-band labels of make_batch, so that it predicts a mix of classes."""
    torch.manual_seed(0)
    net = UNet(classes, depth=2, base_width=8)
    x, y = make_batch(n=8, size=size, classes=classes, seed=5)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def unet() -> UNet:
    return _trained_unet()


def _reference_pgd(model: nn.Module, x: torch.Tensor, target: torch.Tensor, eps: float, alpha: float, steps: int):
    """Textbook targeted PGD (as torchattacks writes it), on the model as given."""
    model.eval()
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(adv), target)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() - alpha * grad.sign()
        adv = torch.clamp(x + torch.clamp(adv - x, -eps, eps), 0, 1)
    return adv


def test_fold_batchnorm_keeps_the_function(unet):
    x, _ = make_batch(n=4, size=16)
    folded = rt.gradient_model(unet, x.device, rt.Runtime(precision="fp32"))
    assert folded is not unet
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in unet.modules())  # the caller's model untouched
    with torch.no_grad():
        torch.testing.assert_close(folded(x), unet(x), rtol=1e-4, atol=1e-4)


def test_fold_requires_eval_mode():
    with pytest.raises(ValueError, match="eval mode"):
        rt.fold_batchnorm(UNet(3, depth=1, base_width=4).train())


def test_gradient_model_is_cached_and_rebuilt_when_weights_change(unet):
    model = _trained_unet(steps=1)
    model.train()
    flags = [(m, m.training) for m in model.modules()]
    requires = [p.requires_grad for p in model.parameters()]
    a = rt.gradient_model(model, torch.device("cpu"))
    assert rt.gradient_model(model, torch.device("cpu")) is a
    assert not any(p.requires_grad for p in a.parameters())
    assert all(m.training == f for m, f in flags) and [p.requires_grad for p in model.parameters()] == requires
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # an in-place update, like an optimiser step
    b = rt.gradient_model(model, torch.device("cpu"))
    assert b is not a
    x, _ = make_batch(n=2, size=16)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(b(x), model(x), rtol=1e-4, atol=1e-4)


def test_without_folding_pgd_equals_the_textbook_loop_bit_for_bit(model, batch):
    # TinySegNet's BatchNorm sits outside an nn.Sequential, so nothing is folded: the lean loop
    # (one-reduction loss, in-place step and projection) must equal the textbook one exactly.
    x, _ = batch
    target = attacks.full_area_target(x, 0)
    spec = attacks.AttackSpec(eps=0.03, steps=5, targeted=True)
    ours = attacks.pgd(model, x, target, spec)
    ref = _reference_pgd(model, x, target, spec.eps, spec.step_size, spec.steps)
    assert torch.equal(ours, ref)


def test_folding_changes_few_pixels(unet):
    x, _ = make_batch(n=4, size=16, seed=7)
    target = attacks.full_area_target(x, 0)
    spec = attacks.AttackSpec(eps=0.03, steps=5, targeted=True)
    folded = attacks.pgd(unet, x, target, spec, runtime=rt.Runtime(precision="fp32", fold_batchnorm=True))
    plain = attacks.pgd(unet, x, target, spec, runtime=rt.Runtime(precision="fp32", fold_batchnorm=False))
    assert torch.equal(plain, _reference_pgd(unet, x, target, spec.eps, spec.step_size, spec.steps))
    differ = ((folded - plain).abs() > 1e-7).float().mean().item()
    assert differ <= 0.01


def _success(model: nn.Module, x_adv: torch.Tensor, target_class: int) -> float:
    with torch.no_grad():
        return (model(x_adv).argmax(1) == target_class).float().mean().item()


def test_bf16_autocast_changes_targeted_success_within_tolerance(unet):
    x, _ = make_batch(n=8, size=16, seed=11)
    target = attacks.full_area_target(x, 0)
    spec = attacks.AttackSpec(eps=0.1, steps=10, targeted=True)
    fp32 = attacks.pgd(unet, x, target, spec, runtime=rt.Runtime(precision="fp32"))
    bf16 = attacks.pgd(unet, x, target, spec, runtime=rt.Runtime(precision="bf16"))
    unet.eval()
    clean, s32, s16 = _success(unet, x, 0), _success(unet, fp32, 0), _success(unet, bf16, 0)
    assert s32 > clean + 0.1  # the attack works at all, so the comparison means something
    assert abs(s16 - s32) <= 0.05
    assert attacks.LinfBall(spec.eps).contains(bf16, x)


def test_runtime_validation_and_default():
    with pytest.raises(ValueError, match="precision"):
        rt.Runtime(precision="fp16")
    assert rt.Runtime().autocast_dtype(torch.device("cpu")) is None
    assert rt.Runtime().autocast_dtype(torch.device("cuda")) is torch.bfloat16
    assert rt.Runtime(precision="fp32").autocast_dtype(torch.device("cuda")) is None
    assert rt.Runtime().uses_channels_last(torch.device("cuda")) and not rt.Runtime().uses_channels_last(torch.device("cpu"))
    previous = rt.set_default_runtime(rt.Runtime(precision="bf16"))
    try:
        assert rt.default_runtime().precision == "bf16"
    finally:
        rt.set_default_runtime(previous)


@pytest.mark.parametrize(
    ("free", "per_image", "expected"),
    [(10_000, 100, 60), (10_000, 20_000, 1), (0, 100, 1), (10**12, 1, 1024)],
)
def test_batch_from_memory(free, per_image, expected):
    assert rt.batch_from_memory(free, per_image, headroom=0.6, cap=1024) == expected


def test_logit_additive_estimates(unet):
    x, y = make_batch(n=2, size=16, seed=3)
    d = attacks.class_directions(unet, x, 4, 0.03)
    cands = attacks.all_sign_vectors(4)
    signs = cands.unsqueeze(0).expand(2, -1, -1)
    est = attacks.logit_additive_scores(unet, x, y, d, signs)
    exact = attacks.score_candidates(unet, x, y, d, signs)
    assert est.forward_passes == 2 * (2 * 4 + 1)
    basis = (cands != 0).sum(1) <= 1
    assert torch.equal(est.exact, basis.unsqueeze(0).expand(2, -1))
    assert torch.equal(est.scores[:, 0], attacks.clean_loss(unet, x, y))  # the zero row: the clean loss, bit for bit
    torch.testing.assert_close(est.scores[:, basis], exact[:, basis], rtol=1e-5, atol=1e-6)
    # A row with two changes, by hand: CE of f(x) + [f(x_a) − f(x)] + [f(x_b) − f(x)].
    row = next(i for i, v in enumerate(cands.tolist()) if v == [1, 0, -1, 0])
    net = unet.eval()
    with torch.no_grad():
        z0 = net(x[:1])
        za = net((x[:1] + d[0, 0]).clamp(0, 1))
        zb = net((x[:1] - d[0, 2]).clamp(0, 1))
        by_hand = nn.functional.cross_entropy(z0 + (za - z0) + (zb - z0), y[:1])
    torch.testing.assert_close(est.scores[0, row], by_hand, rtol=1e-4, atol=1e-5)
    # The estimates carry the candidates' information: far closer to the exact losses than the
    # clean loss is, and they rank the optimum near the top.
    err = (est.scores - exact).abs().mean()
    assert err < 0.5 * (exact - exact[:, :1]).abs().mean()
    for i in range(2):
        assert int((est.scores[i] < est.scores[i, exact[i].argmin()]).sum()) < 10


def test_logit_additive_around_a_centre(unet):
    x, y = make_batch(n=1, size=16, seed=4)
    d = attacks.class_directions(unet, x, 4, 0.03)
    centre = torch.tensor([[1, 0, -1, 1]], dtype=torch.int8)
    rows = torch.tensor([[[1, 0, -1, 1], [1, 1, -1, 1], [0, 0, -1, 1], [-1, 1, 1, 1]]], dtype=torch.int8)
    est = attacks.logit_additive_scores(unet, x, y, d, rows, centre.unsqueeze(1).expand(1, 4, 4))
    exact = attacks.score_candidates(unet, x, y, d, rows)
    assert est.forward_passes == 2 * 4 + 1 and est.exact[0].tolist() == [True, True, True, False]
    torch.testing.assert_close(est.scores[0, :3], exact[0, :3], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="centres"):
        attacks.logit_additive_scores(unet, x, y, d, rows, centre)
