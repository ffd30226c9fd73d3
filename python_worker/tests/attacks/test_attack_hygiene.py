"""Every attack entry point: inputs untouched, model mode restored, no parameter grads, eval-mode
forward (BatchNorm statistics unchanged), output in the ε-ball (per its budget) and in [0, 1]."""

import pytest
import torch

from robustseg_worker.attacks import (
    AttackSpec,
    LayeredSpec,
    all_sign_vectors,
    apply_signs,
    class_directions,
    clean_loss,
    fgsm,
    full_area_target,
    layered_pgd,
    paper_attack,
    pgd,
    score_candidates,
)

EPS = 0.02


def _dirs(m, x, y):
    return class_directions(m, x, 4, EPS)


ATTACKS = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, AttackSpec(eps=EPS)),
    "pgd": lambda m, x, y: pgd(m, x, y, AttackSpec(eps=EPS, steps=3, random_start=True, seed=0)),
    "pgd-targeted-segpgd": lambda m, x, y: pgd(
        m, x, full_area_target(x, 0), AttackSpec(eps=EPS, steps=3, targeted=True, loss="segpgd")
    ),
    "pgd-cospgd": lambda m, x, y: pgd(m, x, y, AttackSpec(eps=EPS, steps=3, loss="cospgd")),
    "paper": lambda m, x, y: paper_attack(m, x, steps=3, eps=EPS),
    "layered-total": lambda m, x, y: layered_pgd(m, x, LayeredSpec(eps=EPS, steps=2, budget="total")),
    "layered-per-layer": lambda m, x, y: layered_pgd(m, x, LayeredSpec(eps=EPS, steps=2)),
    "directions": lambda m, x, y: apply_signs(x, _dirs(m, x, y), torch.ones(x.shape[0], 4), project_eps=EPS),
    "score": lambda m, x, y: score_candidates(
        m, x, y, _dirs(m, x, y), all_sign_vectors(4)[:20].unsqueeze(0).expand(x.shape[0], -1, -1)
    ),
    "clean_loss": lambda m, x, y: clean_loss(m, x, y),
}
BOUND = {"layered-per-layer": 4 * EPS}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_hygiene(model, batch, name):
    x, y = batch
    x_copy, y_copy = x.clone(), y.clone()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model.drop.eval()  # a mixed set-up: each submodule's own flag must come back
    out = ATTACKS[name](model, x, y)

    assert torch.equal(x, x_copy) and torch.equal(y, y_copy), "inputs modified"
    assert model.training and model.conv1.training and model.bn.training and not model.drop.training
    assert all(p.grad is None for p in model.parameters()), "gradient left on a parameter"
    for k, v in model.state_dict().items():  # eval-mode forward: BN running stats untouched
        assert torch.equal(v, params[k]), f"{k} changed"
    if out.shape == x.shape:
        assert out.data_ptr() != x.data_ptr()
        assert (out - x).abs().max() <= BOUND.get(name, EPS) + 1e-6
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_model_left_in_eval_stays_in_eval(model, batch):
    x, y = batch
    model.eval()
    pgd(model, x, y, AttackSpec(eps=EPS, steps=2))
    assert not any(m.training for m in model.modules())


def test_attack_uses_eval_mode(model, batch):
    """The same attack from a model in train mode and in eval mode is identical (dropout and
    batch statistics off during the attack)."""
    x, y = batch
    spec = AttackSpec(eps=EPS, steps=3)
    model.train()
    a = pgd(model, x, y, spec)
    model.eval()
    assert torch.equal(a, pgd(model, x, y, spec))
