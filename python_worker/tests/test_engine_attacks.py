"""The engine's attack work: attacked datasets, evaluation under attack, method two's scoring and
building (engine level, no grpc)."""

import numpy as np
import pytest
import torch

from robustseg_worker import attack_specs, attacks
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import Cancelled, InvalidArgument, NotFound
from robustseg_worker.events import DatasetBuilt, DatasetsCreated, EvaluationResult, Progress

SMALL = {"tile_size": 16, "num_train": 16, "num_validation": 6, "num_test": 10, "seed": 11}


def _last(events):
    return list(events)[-1]


def pgd(eps=0.03, steps=3, target=None, method="pgd", **extra):
    return {"kind": "gradient", "method": method, "epsilon": eps, "steps": steps, "step_size": 0.0,
            "random_start": False, "seed": 0,
            "target": None if target is None else {"kind": "full_area_class", "full_area_class": target}, **extra}


def layered(eps=0.02, steps=2, budget="per_layer", order=(), **extra):
    return {"kind": "layered_pgd", "epsilon": eps, "steps": steps, "step_size": 0.0, "class_order": list(order),
            "budget": budget, "random_start": False, "seed": 0, **extra}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("attacks") / "ws")
    created = _last(engine.create_dataset("synthetic_histology", SMALL))
    assert isinstance(created, DatasetsCreated)
    train, validation, test = created.datasets
    model_ids = []
    for seed in (1, 2):
        req = TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                           {"epochs": 3, "batch_size": 4, "learning_rate": 0.01, "seed": seed, "augment": False})
        model_ids.append(_last(engine.train(req)).model.id)
    return engine, test, model_ids


def _tensors(engine, dataset_id):
    tiles = engine.load_dataset(dataset_id)
    return torch.from_numpy(np.array(tiles.images)), torch.from_numpy(tiles.labels)


# --- AttackDataset -------------------------------------------------------------------------------


def test_attack_dataset_stays_in_the_ball_keeps_labels_and_is_reused(setup, monkeypatch):
    engine, test, (m1, _) = setup
    spec = pgd(eps=0.03, steps=3, target=0, random_start=True, seed=5)
    events = list(engine.attack_dataset(m1, test.id, spec, batch_size=4))
    result = events[-1]
    assert isinstance(result, DatasetBuilt) and not result.reused
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == test.num_images * 3  # image-steps
    info = result.dataset
    assert info.source == "attack" and info.id != test.id and info.class_names == test.class_names
    assert info.provenance["parents"] == {"model_id": m1, "dataset_id": test.id}
    assert info.provenance["recipe"]["attack"]["method"] == "pgd"
    x, y = _tensors(engine, test.id)
    xa, ya = _tensors(engine, info.id)
    assert torch.equal(y, ya) and info.class_pixel_counts == test.class_pixel_counts
    linf = (xa - x).abs().flatten(1).amax(1)
    assert float(linf.max()) <= 0.03 + 1e-6 and xa.min() >= 0 and xa.max() <= 1
    assert result.max_linf == pytest.approx(float(linf.max())) and result.mean_linf == pytest.approx(float(linf.mean()))
    assert result.max_linf > 0.02
    # again: same id, nothing recomputed
    monkeypatch.setattr(attack_specs.ResolvedAttack, "run", lambda *a, **k: pytest.fail("recomputed"))
    again = _last(engine.attack_dataset(m1, test.id, spec, batch_size=7))
    assert again.reused and again.dataset.id == info.id and again.max_linf == result.max_linf


def test_random_start_depends_on_seed_not_on_batch_size(setup):
    engine, test, (m1, _) = setup
    model, _ = engine.cached_model(m1)
    x, y = _tensors(engine, test.id)
    spec = attack_specs.resolve(pgd(steps=2, random_start=True, seed=9), 6)
    whole = spec.run(model, x, y, 0)
    parts = torch.cat([spec.run(model, x[i:i + 3], y[i:i + 3], i) for i in range(0, len(x), 3)])
    torch.testing.assert_close(whole, parts, atol=1e-6, rtol=0)
    other = attack_specs.resolve(pgd(steps=2, random_start=True, seed=10), 6).run(model, x, y, 0)
    assert not torch.equal(whole, other)


def test_fgsm_and_layered_match_the_library(setup):
    engine, test, (m1, _) = setup
    model, _ = engine.cached_model(m1)
    x, y = _tensors(engine, test.id)
    got = attack_specs.resolve(pgd(method="fgsm", eps=0.02, steps=0, target=2), 6).run(model, x, y, 0)
    want = attacks.fgsm(model, x, attacks.full_area_target(x, 2), attacks.AttackSpec(eps=0.02, targeted=True))
    assert torch.equal(got, want)
    got = attack_specs.resolve(layered(order=[3, 1], budget="total"), 6).run(model, x, y, 0)
    want = attacks.layered_pgd(model, x, attacks.LayeredSpec(eps=0.02, steps=2, classes=[3, 1], budget="total"))
    assert torch.equal(got, want)


def test_the_rpc_path_is_the_library_path_with_per_image_starts(setup):
    """attack_specs only translates: the same x_adv as the library called with the threat
    model's per-image generators, whatever batch the images come in."""
    engine, test, (m1, _) = setup
    model, _ = engine.cached_model(m1)
    x, y = _tensors(engine, test.id)
    got = attack_specs.resolve(pgd(eps=0.03, steps=2, method="segpgd", random_start=True, seed=9), 6).run(
        model, x[4:], y[4:], 4)
    want = attacks.pgd(model, x[4:], y[4:], attacks.AttackSpec(eps=0.03, steps=2, random_start=True, loss="segpgd"),
                       generators=attacks.image_generators(9, range(4, len(x))))
    assert torch.equal(got, want)
    alone = attacks.pgd(model, x[6:7], y[6:7], attacks.AttackSpec(eps=0.03, steps=2, random_start=True, loss="segpgd"),
                        generators=attacks.image_generators(9, [6]))
    torch.testing.assert_close(alone, want[2:3], atol=1e-6, rtol=0)
    spec = layered(order=[2, 0], random_start=True, seed=3)
    got = attack_specs.resolve(spec, 6).run(model, x[:5], y[:5], 0)
    want = attacks.layered_pgd(model, x[:5], attacks.LayeredSpec(eps=0.02, steps=2, classes=[2, 0], random_start=True),
                               generators=attacks.image_generators(3, range(5)))
    assert torch.equal(got, want)


@pytest.mark.parametrize("budget,bound", [("per_layer", 6 * 0.02), ("total", 0.02)])
def test_layered_budgets(setup, budget, bound):
    engine, test, (m1, _) = setup
    result = _last(engine.attack_dataset(m1, test.id, layered(eps=0.02, steps=2, budget=budget)))
    assert result.max_linf <= bound + 1e-6
    if budget == "per_layer":
        assert result.max_linf > 0.02 + 1e-6  # layers add up beyond one ball
    xa, _ = _tensors(engine, result.dataset.id)
    assert xa.min() >= 0 and xa.max() <= 1


def test_attack_dataset_cancels(setup):
    engine, test, (m1, _) = setup
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        if calls["n"] > 5:
            raise Cancelled("cancelled by the client")

    with pytest.raises(Cancelled):
        list(engine.attack_dataset(m1, test.id, pgd(steps=50, seed=1), batch_size=2, check_stop=stop))
    assert calls["n"] == 6
    spec = attack_specs.resolve(pgd(steps=50, seed=1), 6)
    recipe = {"source": "attack", "model_id": m1, "dataset_id": test.id, "attack": spec.canonical}
    from robustseg_worker.store import artifact_id
    assert not engine.store.exists("dataset", artifact_id("dataset", recipe))


@pytest.mark.parametrize("spec,field,message", [
    ({}, "attack", "must set one of"),
    (pgd(method=None), "attack.gradient.method", "got unspecified"),
    (pgd(eps=0), "attack.gradient.epsilon", "must be > 0 and <= 1, got 0"),
    (pgd(eps=1.5), "attack.gradient.epsilon", "got 1.5"),
    (pgd(steps=0), "attack.gradient.steps", "must be > 0"),
    (pgd(step_size=-1.0), "attack.gradient.step_size", "must be >= 0"),
    (pgd(target=9), "attack.gradient.target.full_area_class", "must be in [0, 6), got 9"),
    (layered(steps=-1), "attack.layered_pgd.steps", "must be > 0"),
    (layered(order=[0, 6]), "attack.layered_pgd.class_order[1]", "must be in [0, 6), got 6"),
    (layered(order=[2, 1, 2]), "attack.layered_pgd.class_order[2]", "class 2 is repeated"),
])
def test_invalid_specs_name_the_field(setup, spec, field, message):
    engine, test, (m1, _) = setup
    with pytest.raises(InvalidArgument) as e:
        list(engine.attack_dataset(m1, test.id, spec))
    assert e.value.field == field and message.replace(" and <= 1", "") in str(e.value).replace(" and <= 1 (a fraction of the pixel range)", "")
    with pytest.raises(InvalidArgument) as e:
        list(engine.evaluate(m1, test.id, attack=spec))
    assert e.value.field == field


def test_fgsm_ignores_steps_in_its_identity(setup):
    a = attack_specs.resolve(pgd(method="fgsm", steps=0), 6)
    b = attack_specs.resolve(pgd(method="fgsm", steps=7, random_start=True, seed=3), 6)
    assert a.canonical == b.canonical


def test_unknown_ids_are_not_found(setup):
    engine, test, (m1, _) = setup
    with pytest.raises(NotFound):
        list(engine.attack_dataset("m-0123456789abcdef", test.id, pgd()))
    with pytest.raises(NotFound):
        list(engine.attack_dataset(m1, "ds-0123456789abcdef", pgd()))
    with pytest.raises(NotFound):
        list(engine.evaluate(m1, test.id, attack=pgd(), attack_model_id="m-0123456789abcdef"))
    with pytest.raises(NotFound):
        engine.score_candidates(m1, "ds-0123456789abcdef", 0.01, False, np.zeros(1, np.int64), np.zeros((1, 6), np.int8))
    with pytest.raises(NotFound):
        list(engine.build_enhanced_dataset("m-0123456789abcdef", test.id, 0.01, False, np.zeros((10, 6), np.int8)))


# --- Evaluate under attack -----------------------------------------------------------------------


def _background_share(result: EvaluationResult) -> float:
    confusion = np.array(result.confusion)
    return confusion[:, 0].sum() / confusion.sum()


def test_evaluate_under_a_background_pgd_predicts_more_background(setup):
    engine, test, (m1, m2) = setup
    clean = _last(engine.evaluate(m1, test.id))
    spec = pgd(eps=0.05, steps=5, target=0)
    white = _last(engine.evaluate(m1, test.id, attack=spec))
    assert white.num_pixels == clean.num_pixels
    assert _background_share(white) > _background_share(clean) + 0.05
    transfer = _last(engine.evaluate(m1, test.id, attack=spec, attack_model_id=m2))
    assert transfer.confusion != white.confusion and transfer.mean_loss != white.mean_loss
    # Evaluating under attack equals evaluating on the attacked dataset (same per-image seeds).
    attacked = _last(engine.attack_dataset(m2, test.id, spec)).dataset
    on_attacked = _last(engine.evaluate(m1, attacked.id))
    assert on_attacked.confusion == transfer.confusion
    assert on_attacked.mean_loss == pytest.approx(transfer.mean_loss, rel=1e-5)
    with pytest.raises(InvalidArgument, match="attack_model_id"):
        list(engine.evaluate(m1, test.id, attack_model_id=m2))


# --- method two ----------------------------------------------------------------------------------


def test_score_candidates_matches_the_library_for_ragged_rows(setup):
    engine, test, (m1, _) = setup
    model, _ = engine.cached_model(m1)
    x, y = _tensors(engine, test.id)
    rng = np.random.default_rng(0)
    # image 4: 5 rows, image 1: 3 rows (one all-zero), image 7: 1 row; shuffled
    index = np.array([4] * 5 + [1] * 3 + [7])
    cands = rng.integers(-1, 2, size=(9, 6)).astype(np.int8)
    cands[6] = 0
    perm = rng.permutation(9)
    index, cands = index[perm], cands[perm]
    for project in (False, True):
        result = engine.score_candidates(m1, test.id, 0.03, project, index, cands)
        losses = result.losses
        assert losses.dtype == np.float64 and losses.shape == (9,) and result.exact is None
        assert result.forward_passes == 1 + 8  # image 1's clean pass, and one pass per other row
        directions = attacks.class_directions(model, x, 6, 0.03)
        for m in range(9):
            i = int(index[m])
            want = attacks.score_candidates(model, x[i:i + 1], y[i:i + 1], directions[i:i + 1],
                                            torch.from_numpy(cands[m:m + 1]).view(1, 1, 6),
                                            project_eps=0.03 if project else None)
            assert losses[m] == pytest.approx(float(want), rel=1e-5, abs=1e-6)
        zero = int(np.flatnonzero((cands == 0).all(1))[0])
        assert losses[zero] == float(attacks.clean_loss(model, x[1:2], y[1:2])[0])
    # directions were computed once per image and cached
    assert len(engine._direction_cache) >= 3


def test_score_candidates_validation(setup):
    engine, test, (m1, _) = setup
    ok_idx, ok = np.zeros(2, np.int64), np.zeros((2, 6), np.int8)
    cases = [
        (dict(epsilon=0.0), "epsilon", "must be > 0"),
        (dict(candidates=ok.astype(np.int64)), "candidates", "dtype must be int8, got int64"),
        (dict(candidates=np.zeros((2, 5), np.int8)), "candidates", "shape must be (M, 6)"),
        (dict(image_indices=np.zeros(3, np.int64)), "image_indices", "one entry per candidate row (2), got 3"),
        (dict(image_indices=np.array([0, 10])), "image_indices", "must be in [0, 10), got 10"),
        (dict(candidates=np.full((2, 6), 2, np.int8)), "candidates", "values must be -1, 0 or +1"),
    ]
    for change, field, message in cases:
        args = {"epsilon": 0.01, "image_indices": ok_idx, "candidates": ok, **change}
        with pytest.raises(InvalidArgument) as e:
            engine.score_candidates(m1, test.id, args["epsilon"], False, args["image_indices"], args["candidates"])
        assert e.value.field == field and message in str(e.value)
    empty = engine.score_candidates(m1, test.id, 0.01, False, np.zeros(0, np.int64), np.zeros((0, 6), np.int8))
    assert empty.losses.shape == (0,) and empty.forward_passes == 0
    with pytest.raises(InvalidArgument) as e:
        engine.score_candidates(m1, test.id, 0.01, False, ok_idx, ok, scoring="first_order")
    assert e.value.field == "scoring"
    with pytest.raises(InvalidArgument) as e:
        engine.score_candidates(m1, test.id, 0.01, False, ok_idx, ok, centres=ok)
    assert e.value.field == "centres" and "only with scoring LOGIT_ADDITIVE" in str(e.value)
    with pytest.raises(InvalidArgument) as e:
        engine.score_candidates(m1, test.id, 0.01, False, ok_idx, ok, scoring="logit_additive", centres=ok[:1])
    assert e.value.field == "centres" and "like candidates" in str(e.value)


def test_score_candidates_logit_additive(setup):
    engine, test, (m1, _) = setup
    model, _ = engine.cached_model(m1)
    x, y = _tensors(engine, test.id)
    rng = np.random.default_rng(1)
    # image 2 around s = 0 (its zero row and a single change are basis rows), image 5 around a centre
    index = np.array([2, 2, 2, 5, 5, 5])
    cands = rng.integers(-1, 2, size=(6, 6)).astype(np.int8)
    cands[0] = 0
    cands[1] = 0
    cands[1, 3] = -1
    centre = np.array([1, 0, -1, 0, 1, 0], np.int8)
    cands[3] = centre
    centres = np.zeros_like(cands)
    centres[3:] = centre
    result = engine.score_candidates(m1, test.id, 0.03, False, index, cands, scoring="logit_additive", centres=centres)
    assert result.forward_passes == 2 * 13
    assert result.exact.tolist()[:2] == [1, 1] and result.exact[3] == 1
    want = attacks.logit_additive_scores(model, x[5:6], y[5:6], attacks.class_directions(model, x[5:6], 6, 0.03),
                                         torch.from_numpy(cands[3:]).view(1, 3, 6),
                                         torch.from_numpy(centres[3:]).view(1, 3, 6))
    np.testing.assert_allclose(result.losses[3:], want.scores[0].double().numpy(), rtol=1e-5, atol=1e-6)
    assert result.losses[0] == float(attacks.clean_loss(model, x[2:3], y[2:3])[0])
    exact = engine.score_candidates(m1, test.id, 0.03, False, index[:2], cands[:2]).losses
    np.testing.assert_allclose(result.losses[:2], exact, rtol=1e-5, atol=1e-6)


def test_build_enhanced_dataset_equals_apply_signs_and_is_reused(setup):
    engine, test, (m1, _) = setup
    model, _ = engine.cached_model(m1)
    x, y = _tensors(engine, test.id)
    signs = np.random.default_rng(1).integers(-1, 2, size=(10, 6)).astype(np.int8)
    for project in (False, True):
        result = _last(engine.build_enhanced_dataset(m1, test.id, 0.02, project, signs, batch_size=3))
        assert not result.reused and result.dataset.source == "enhance"
        xa, ya = _tensors(engine, result.dataset.id)
        assert torch.equal(ya, y)
        directions = attacks.class_directions(model, x, 6, 0.02)
        for i in range(10):
            want = attacks.apply_signs(x[i:i + 1], directions[i:i + 1], torch.from_numpy(signs[i:i + 1]),
                                       project_eps=0.02 if project else None)
            torch.testing.assert_close(xa[i:i + 1], want, atol=1e-7, rtol=0)
        if project:
            assert result.max_linf <= 0.02 + 1e-6
        again = _last(engine.build_enhanced_dataset(m1, test.id, 0.02, project, signs))
        assert again.reused and again.dataset.id == result.dataset.id
    other = signs.copy()
    other[0, 0] = -other[0, 0] if other[0, 0] else 1
    assert _last(engine.build_enhanced_dataset(m1, test.id, 0.02, False, other)).dataset.id != result.dataset.id
    with pytest.raises(InvalidArgument, match=r"signs: shape must be \(10, 6\)"):
        list(engine.build_enhanced_dataset(m1, test.id, 0.02, False, signs[:9]))
    with pytest.raises(InvalidArgument, match="signs: values must be -1, 0 or \\+1"):
        list(engine.build_enhanced_dataset(m1, test.id, 0.02, False, signs * 3))


def test_capabilities(setup):
    engine, _, _ = setup
    caps = engine.info().capabilities
    for name in ("attack_dataset", "evaluate_under_attack", "score_candidates", "build_enhanced_dataset",
                 "fgsm", "pgd", "segpgd", "cospgd", "layered_pgd"):
        assert name in caps
