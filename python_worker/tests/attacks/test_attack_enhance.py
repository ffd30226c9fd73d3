"""Method two's parts (paper Formulas 3-5): directions, applying signs, scoring candidates."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustseg_worker.attacks import (
    AttackCancelled,
    all_sign_vectors,
    apply_signs,
    class_directions,
    clean_loss,
    full_area_target,
    score_candidates,
    select_exhaustive,
)

EPS = 0.02


def ref_gradient(model, x1, c):
    """∇ₓ J(θ, x, t_c) for one image, the plain way."""
    model.eval()
    xv = x1.clone().requires_grad_(True)
    F.cross_entropy(model(xv), full_area_target(x1, c)).backward()
    model.zero_grad(set_to_none=True)
    return xv.grad


def test_directions_match_per_class_gradient_signs(model, batch):
    x, _ = batch
    d = class_directions(model, x, 4, EPS, max_batch=5)  # chunks that cut across images
    assert d.shape == (3, 4, 3, 12, 12)
    for n in range(x.shape[0]):
        for c in range(4):
            g = ref_gradient(model, x[n : n + 1], c)[0]
            clear = g.abs() > 1e-7 * g.abs().max()  # away from numerically-zero gradients
            assert torch.equal(d[n, c][clear], EPS * torch.sign(g[clear])), (n, c)


class IgnoresBlue(nn.Module):
    """A model that never looks at channel 2: its gradient there is exactly zero."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        mask = torch.tensor([1.0, 1.0, 0.0], device=x.device).view(1, 3, 1, 1)
        return self.inner(x * mask)


def test_directions_have_exactly_eps_magnitude_where_gradient_is_nonzero(model, batch):
    x, _ = batch
    d = class_directions(IgnoresBlue(model), x, None, EPS)  # C read from the model
    assert d.shape[1] == 4
    assert (d[:, :, 2] == 0).all()  # zero gradient → zero direction
    mags = d[:, :, :2].abs()
    assert (mags == torch.tensor(EPS)).all()  # exactly ε (the float ε), everywhere else


def test_directions_batching_invariant(model, batch):
    x, _ = batch
    a = class_directions(model, x, 4, EPS, max_batch=1)
    b = class_directions(model, x, 4, EPS, max_batch=64)
    assert (a != b).float().mean() < 1e-3  # at most a sign flip where the gradient is ~0


def test_apply_signs_by_hand():
    x = torch.tensor([0.5, 0.99, 0.01, 0.3]).view(1, 1, 1, 4).expand(1, 3, 1, 4).contiguous()
    a0 = torch.full((3, 1, 4), 0.02)
    a1 = torch.tensor([0.02, 0.02, -0.02, 0.0]).view(1, 1, 4).expand(3, 1, 4)
    d = torch.stack([a0, a1]).unsqueeze(0)  # (1, 2, 3, 1, 4)

    out = apply_signs(x, d, torch.tensor([[1, 1]]))
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.54, 1.0, 0.01, 0.32]))  # clipped at 1
    out = apply_signs(x, d, torch.tensor([[-1, 1]]))
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.5, 0.99, 0.0, 0.28]))  # clipped at 0
    out = apply_signs(x, d, torch.tensor([[1, 1]]), project_eps=0.03)
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.53, 1.0, 0.01, 0.32]))  # capped at x + 0.03
    assert torch.equal(apply_signs(x, d, torch.tensor([[0, 0]])), x)


def test_apply_signs_many_equals_one_at_a_time(model, batch):
    x, _ = batch
    d = class_directions(model, x, 4, EPS)
    signs = all_sign_vectors(4)[::7].unsqueeze(0).expand(3, -1, -1)
    many = apply_signs(x, d, signs, project_eps=EPS)
    for k in range(signs.shape[1]):
        assert torch.allclose(many[:, k], apply_signs(x, d, signs[:, k], project_eps=EPS), atol=1e-7)
        assert (many[:, k] - x).abs().max() <= EPS + 1e-6


def test_apply_signs_rejects_bad_signs(model, batch):
    x, _ = batch
    d = torch.zeros(3, 4, 3, 12, 12)
    with pytest.raises(ValueError, match="signs"):
        apply_signs(x, d, torch.full((3, 4), 2))
    with pytest.raises(ValueError, match="signs"):
        apply_signs(x, d, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="directions"):
        apply_signs(x, d[:, :, :2], torch.zeros(3, 4))


def loop_reference(model, x, y, d, signs, project_eps=None):
    """One candidate, one image, one forward at a time."""
    model.eval()
    n, k, _ = signs.shape
    out = torch.empty(n, k)
    with torch.no_grad():
        for i in range(n):
            for j in range(k):
                xs = apply_signs(x[i : i + 1], d[i : i + 1], signs[i : i + 1, j], project_eps=project_eps)
                out[i, j] = F.cross_entropy(model(xs), y[i : i + 1])
    return out


@pytest.mark.parametrize("max_batch", [1, 7, 1000])
@pytest.mark.parametrize("project_eps", [None, EPS])
def test_score_candidates_equals_loop_reference(model, batch, max_batch, project_eps):
    x, y = batch
    d = class_directions(model, x, 4, EPS)
    g = torch.Generator().manual_seed(0)
    signs = torch.randint(-1, 2, (3, 10, 4), generator=g, dtype=torch.int8)
    signs[:, 0] = 0
    signs[1, 5] = 0  # a second clean candidate, mid-list
    scores = score_candidates(model, x, y, d, signs, max_batch=max_batch, project_eps=project_eps)
    assert scores.shape == (3, 10) and scores.dtype == torch.float32
    assert torch.allclose(scores, loop_reference(model, x, y, d, signs, project_eps), rtol=1e-5, atol=1e-6)
    clean = clean_loss(model, x, y)
    assert torch.equal(scores[:, 0], clean)  # s = 0 scores exactly the clean loss
    assert scores[1, 5] == clean[1]


def test_clean_loss_is_the_mean_pixel_ce(model, batch, ref_loss):
    x, y = batch
    assert torch.allclose(clean_loss(model, x, y), ref_loss(model, x, y), rtol=1e-6)


def test_score_progress_and_cancel(model, batch):
    x, y = batch
    d = class_directions(model, x, 4, EPS)
    signs = all_sign_vectors(4).unsqueeze(0).expand(3, -1, -1)  # 81 per image, one clean each
    seen = []
    score_candidates(model, x, y, d, signs, max_batch=100, on_progress=lambda a, b: seen.append((a, b)))
    assert seen == [(3, 243), (103, 243), (203, 243), (243, 243)]
    with pytest.raises(AttackCancelled):
        score_candidates(model, x, y, d, signs, max_batch=100, should_stop=lambda: True)


def test_class_directions_cancel(model, batch):
    x, _ = batch
    with pytest.raises(AttackCancelled):
        class_directions(model, x, 4, EPS, max_batch=2, should_stop=lambda: True)


def test_all_sign_vectors():
    v = all_sign_vectors(3)
    assert v.shape == (27, 3) and v.dtype == torch.int8
    assert len({tuple(r) for r in v.tolist()}) == 27
    assert (v[0] == 0).all()
    nnz = (v != 0).sum(1)
    assert (nnz[1:] >= nnz[:-1]).all()
    assert all_sign_vectors(6).shape == (729, 6)


def test_select_exhaustive_is_brute_force_optimum(model_factory, batch_factory):
    model = model_factory(classes=3)
    x, y = batch_factory(n=2, size=10, classes=3)
    d = class_directions(model, x, 3, 0.05)
    choice = select_exhaustive(model, x, y, d, max_batch=11)
    assert choice.candidates == 27
    for i in range(2):
        best = None
        for s in itertools.product((-1, 0, 1), repeat=3):
            xs = apply_signs(x[i : i + 1], d[i : i + 1], torch.tensor([s]))
            with torch.no_grad():
                model.eval()
                loss = F.cross_entropy(model(xs), y[i : i + 1]).item()
            if best is None or loss < best[0] - 1e-6:
                best = (loss, s)
        assert choice.loss[i].item() == pytest.approx(best[0], rel=1e-5)
        assert tuple(choice.signs[i].tolist()) == best[1]
    assert (choice.loss <= choice.clean_loss).all()  # never above the clean image
    assert (choice.loss < choice.clean_loss).all()  # and here it does enhance


class Constant(nn.Module):
    """Logits that ignore the input: every candidate ties."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([0.3, -0.1, 0.2]))

    def forward(self, x):
        return self.bias.view(1, 3, 1, 1).expand(x.shape[0], 3, x.shape[2], x.shape[3]) + 0 * x.sum()


def test_ties_go_to_fewer_nonzero_signs(batch_factory):
    x, y = batch_factory(n=2, size=6, classes=3)
    d = torch.full((2, 3, 3, 6, 6), 0.01)
    choice = select_exhaustive(Constant(), x, y, d)
    assert (choice.signs == 0).all()
    assert torch.equal(choice.loss, choice.clean_loss)


def test_default_batch_scales_with_image_size():
    from robustseg_worker.attacks import default_batch

    assert default_batch(torch.zeros(1, 3, 64, 64)) == 16
    assert default_batch(torch.zeros(1, 3, 256, 256)) == 1
    assert default_batch(torch.zeros(1, 3, 8, 8)) >= 512
    with pytest.raises(ValueError, match="max_batch"):
        score_candidates(
            nn.Identity(), torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long),
            torch.zeros(1, 3, 3, 2, 2), torch.zeros(1, 1, 3), max_batch=0,
        )


def test_autocast_scoring_keeps_the_clean_guarantee(model, batch):
    x, y = batch
    d = class_directions(model, x, 4, EPS)
    signs = all_sign_vectors(4)[:12].unsqueeze(0).expand(3, -1, -1)
    bf = score_candidates(model, x, y, d, signs, autocast_dtype=torch.bfloat16)
    assert bf.dtype == torch.float32
    assert torch.equal(bf[:, 0], clean_loss(model, x, y, autocast_dtype=torch.bfloat16))
    assert torch.allclose(bf, score_candidates(model, x, y, d, signs), rtol=0.05)
