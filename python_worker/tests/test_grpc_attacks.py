"""Attack RPCs end to end against a real worker process: AttackDataset, Evaluate under attack,
ScoreCandidates, BuildEnhancedDataset; results checked against the attack library run here on
the same workspace."""

import os
import time

import grpc
import numpy as np
import pytest
import torch

from worker_harness import WorkerProcess
from robustseg_worker import attacks
from robustseg_worker.engine import Engine
from robustseg_worker.proto.robustseg.v1 import (
    attack_pb2,
    common_pb2,
    data_pb2,
    model_pb2,
    worker_service_pb2_grpc,
)

A = attack_pb2
UNKNOWN_MODEL, UNKNOWN_DATASET = "m-0123456789abcdef", "ds-0123456789abcdef"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    process = WorkerProcess(tmp_path_factory.mktemp("grpc-attacks"), "--parent-pid", str(os.getpid()))
    channel = grpc.insecure_channel(process.address)
    stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
    source = data_pb2.SyntheticHistologySource(tile_size=16, num_train=16, num_validation=6, num_test=10, seed=11)
    created = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(
        source=data_pb2.DataSource(synthetic_histology=source)), timeout=120))[-1].result
    train, validation, test = created.datasets
    models = []
    for seed in (1, 2):
        request = model_pb2.TrainRequest(
            model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=4)),
            train_dataset_ids=[train.id], validation_dataset_id=validation.id,
            config=model_pb2.TrainingConfig(epochs=3, batch_size=4, learning_rate=0.01, seed=seed))
        models.append(list(stub.Train(request, timeout=300))[-1].result.model.id)
    yield process, stub, test, models, Engine(process.workspace)
    channel.close()
    process.close()


def _pgd(eps=0.03, steps=3, target=None, method=A.ATTACK_METHOD_PGD, **extra):
    t = A.AttackTarget(untargeted=A.Untargeted()) if target is None else A.AttackTarget(full_area_class=target)
    return A.AttackSpec(gradient=A.GradientAttack(method=method, epsilon=eps, steps=steps, target=t, **extra))


def _int8(array):
    return common_pb2.Tensor(shape=list(array.shape), dtype=common_pb2.DTYPE_INT8, data=array.astype(np.int8).tobytes())


def _tensors(engine, dataset_id):
    tiles = engine.load_dataset(dataset_id)
    return torch.from_numpy(np.array(tiles.images)), torch.from_numpy(tiles.labels)


def _code(call):
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def test_attack_dataset_streams_progress_and_reuses(env):
    _, stub, test, (m1, _), engine = env
    spec = A.AttackSpec(layered_pgd=A.LayeredPgdAttack(epsilon=0.02, steps=2, budget=A.LAYER_BUDGET_TOTAL,
                                                       random_start=True, seed=3))
    request = A.AttackDatasetRequest(model_id=m1, dataset_id=test.id, attack=spec, batch_size=4)
    events = list(stub.AttackDataset(request, timeout=120))
    assert [e.WhichOneof("event") for e in events[:-1]] == ["progress"] * (len(events) - 1)
    assert events[-2].progress.done == events[-2].progress.total == 10 * 6 * 2
    result = events[-1].result
    assert not result.reused and result.dataset.source == "attack" and result.dataset.num_images == 10
    x, y = _tensors(engine, test.id)
    xa, ya = _tensors(engine, result.dataset.id)
    assert torch.equal(y, ya) and float((xa - x).abs().max()) <= 0.02 + 1e-6 and 0 <= xa.min() and xa.max() <= 1
    assert 0 < result.mean_linf <= result.max_linf <= 0.02 + 1e-6
    started = time.monotonic()
    again = list(stub.AttackDataset(request, timeout=30))[-1].result
    assert again.reused and again.dataset.id == result.dataset.id and again.max_linf == result.max_linf
    assert time.monotonic() - started < 5


def test_attack_dataset_errors(env):
    _, stub, test, (m1, _), _ = env

    def attack(model=m1, dataset=test.id, spec=None):
        request = A.AttackDatasetRequest(model_id=model, dataset_id=dataset, attack=spec or _pgd())
        return lambda: list(stub.AttackDataset(request, timeout=10))

    assert _code(attack(model=UNKNOWN_MODEL)) == (grpc.StatusCode.NOT_FOUND, f"model {UNKNOWN_MODEL} not found")
    assert _code(attack(dataset=UNKNOWN_DATASET))[0] == grpc.StatusCode.NOT_FOUND
    cases = [
        (_pgd(eps=0), "attack.gradient.epsilon: must be > 0 and <= 1 (a fraction of the pixel range), got 0.0"),
        (_pgd(steps=0), "attack.gradient.steps: must be > 0 and <= 100000, got 0"),
        (_pgd(target=9), "attack.gradient.target.full_area_class: must be in [0, 6), got 9"),
        (_pgd(method=A.ATTACK_METHOD_UNSPECIFIED), "attack.gradient.method: must be one of FGSM, PGD, SEGPGD, "
                                                   "COSPGD, got unspecified"),
        (A.AttackSpec(layered_pgd=A.LayeredPgdAttack(epsilon=0.01, steps=1, class_order=[1, 1])),
         "attack.layered_pgd.class_order[1]: class 1 is repeated"),
        (A.AttackSpec(), "attack: must set one of: gradient, layered_pgd, apgd"),
    ]
    for spec, message in cases:
        request = A.AttackDatasetRequest(model_id=m1, dataset_id=test.id, attack=spec)
        assert _code(lambda: list(stub.AttackDataset(request, timeout=10))) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_cancelling_a_long_attack_stops_it(env):
    process, stub, test, (m1, _), _ = env
    before = sorted((process.workspace / "datasets").iterdir())
    request = A.AttackDatasetRequest(model_id=m1, dataset_id=test.id, attack=_pgd(steps=20_000), batch_size=1)
    call = stub.AttackDataset(request, timeout=60)
    assert next(call).progress.done == 0
    time.sleep(0.3)
    call.cancel()
    deadline = time.monotonic() + 20
    while "AttackDataset: cancelled by the client" not in process.stderr() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "AttackDataset: cancelled by the client" in process.stderr()
    assert sorted((process.workspace / "datasets").iterdir()) == before


def _confusion(result):
    return np.array(result.confusion.counts).reshape(6, 6)


def test_evaluate_under_attack_white_box_and_transfer(env):
    _, stub, test, (m1, m2), _ = env

    def evaluate(**fields):
        return list(stub.Evaluate(model_pb2.EvaluateRequest(model_id=m1, dataset_id=test.id, **fields), timeout=60))[-1].result

    clean = evaluate()
    spec = _pgd(eps=0.05, steps=5, target=0)
    white = evaluate(attack=spec)
    transfer = evaluate(attack=spec, attack_model_id=m2)
    share = lambda r: _confusion(r)[:, 0].sum() / _confusion(r).sum()  # noqa: E731
    assert share(white) > share(clean) + 0.05
    assert white.num_pixels == clean.num_pixels == 10 * 16 * 16
    assert not np.array_equal(_confusion(white), _confusion(transfer))
    code = _code(lambda: evaluate(attack=spec, attack_model_id=UNKNOWN_MODEL))
    assert code == (grpc.StatusCode.NOT_FOUND, f"model {UNKNOWN_MODEL} not found")


def test_score_candidates_over_grpc(env):
    _, stub, test, (m1, _), engine = env
    model, _ = engine.load_model(m1)
    x, y = _tensors(engine, test.id)
    rng = np.random.default_rng(4)
    index = rng.permutation(np.array([3] * 4 + [8] * 2 + [0] * 3))
    cands = rng.integers(-1, 2, size=(9, 6)).astype(np.int8)
    cands[0] = 0
    response = stub.ScoreCandidates(A.ScoreCandidatesRequest(
        model_id=m1, dataset_id=test.id, epsilon=0.03, image_indices=index.tolist(), candidates=_int8(cands)), timeout=30)
    assert response.losses.dtype == common_pb2.DTYPE_FLOAT64 and list(response.losses.shape) == [9]
    losses = np.frombuffer(response.losses.data, dtype="<f8")
    directions = attacks.class_directions(model, x, 6, 0.03)
    for m in range(9):
        i = int(index[m])
        want = attacks.score_candidates(model, x[i:i + 1], y[i:i + 1], directions[i:i + 1],
                                        torch.from_numpy(cands[m:m + 1]).view(1, 1, 6))
        assert losses[m] == pytest.approx(float(want), rel=1e-5, abs=1e-6)
    i0 = int(index[0])
    assert losses[0] == float(attacks.clean_loss(model, x[i0:i0 + 1], y[i0:i0 + 1])[0])
    assert response.forward_passes == 1 + 8 and not response.HasField("exact")
    estimated = stub.ScoreCandidates(A.ScoreCandidatesRequest(
        model_id=m1, dataset_id=test.id, epsilon=0.03, image_indices=index.tolist(), candidates=_int8(cands),
        scoring=A.CANDIDATE_SCORING_LOGIT_ADDITIVE), timeout=30)
    exact = np.frombuffer(estimated.exact.data, dtype="u1")
    assert list(estimated.exact.shape) == [9] and estimated.forward_passes == 3 * 13
    assert exact[0] == 1 and np.frombuffer(estimated.losses.data, dtype="<f8")[0] == losses[0]


def test_score_candidates_errors(env):
    _, stub, test, (m1, _), _ = env

    def score(model=m1, dataset=test.id, epsilon=0.01, index=(0,), cands=None):
        cands = _int8(np.zeros((1, 6))) if cands is None else cands
        request = A.ScoreCandidatesRequest(model_id=model, dataset_id=dataset, epsilon=epsilon,
                                           image_indices=list(index), candidates=cands)
        return lambda: stub.ScoreCandidates(request, timeout=10)

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert _code(score(model=UNKNOWN_MODEL))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(score(dataset=UNKNOWN_DATASET))[0] == grpc.StatusCode.NOT_FOUND
    assert _code(score(epsilon=0)) == (invalid, "epsilon: must be > 0 and <= 1 (a fraction of the pixel range), got 0.0")
    assert _code(score(cands=_int8(np.full((1, 6), 2)))) == (invalid, "candidates: values must be -1, 0 or +1")
    assert _code(score(index=(10,))) == (invalid, "image_indices: must be in [0, 10), got 10")
    assert _code(score(index=(0, 1))) == (invalid, "image_indices: must have one entry per candidate row (1), got 2")
    assert _code(score(cands=_int8(np.zeros((1, 5))))) == (invalid, "candidates: shape must be (M, 6) for a model "
                                                            "with 6 classes, got (1, 5)")
    wrong_dtype = common_pb2.Tensor(shape=[1, 6], dtype=common_pb2.DTYPE_FLOAT32, data=bytes(24))
    assert _code(score(cands=wrong_dtype)) == (invalid, "candidates: dtype must be int8, got float32")
    short = common_pb2.Tensor(shape=[1, 6], dtype=common_pb2.DTYPE_INT8, data=bytes(5))
    assert _code(score(cands=short)) == (invalid, "candidates.data: has 5 bytes, shape [1, 6] of int8 needs 6")


def test_build_enhanced_dataset_over_grpc(env):
    _, stub, test, (m1, _), engine = env
    model, _ = engine.load_model(m1)
    x, y = _tensors(engine, test.id)
    signs = np.random.default_rng(2).integers(-1, 2, size=(10, 6)).astype(np.int8)
    request = A.BuildEnhancedDatasetRequest(model_id=m1, dataset_id=test.id, epsilon=0.02, project=True,
                                            signs=_int8(signs), batch_size=4)
    events = list(stub.BuildEnhancedDataset(request, timeout=60))
    assert events[-2].progress.done == events[-2].progress.total == 10
    result = events[-1].result
    assert not result.reused and result.max_linf <= 0.02 + 1e-6
    xa, ya = _tensors(engine, result.dataset.id)
    want = attacks.apply_signs(x, attacks.class_directions(model, x, 6, 0.02), torch.from_numpy(signs), project_eps=0.02)
    torch.testing.assert_close(xa, want, atol=1e-7, rtol=0)
    assert torch.equal(ya, y)
    again = list(stub.BuildEnhancedDataset(request, timeout=30))[-1].result
    assert again.reused and again.dataset.id == result.dataset.id
    bad = A.BuildEnhancedDatasetRequest(model_id=m1, dataset_id=test.id, epsilon=0.02, signs=_int8(signs[:3]))
    assert _code(lambda: list(stub.BuildEnhancedDataset(bad, timeout=10))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "signs: shape must be (10, 6): one row per image of dataset " + test.id + ", one column per class, got (3, 6)")


# --- the worst case over an ensemble, adversarial training ---------------------------------------


def _apgd(loss, **extra):
    return A.AttackSpec(apgd=A.ApgdAttack(epsilon=0.03, steps=3, loss=loss, **extra))


def test_evaluate_worst_case_over_grpc(env):
    _, stub, test, (m1, m2), engine = env
    members = [_pgd(target=0), _apgd(A.ATTACK_LOSS_MASKED_SPHERICAL, iterate=A.APGD_ITERATE_LOWEST_ACCURACY),
               _apgd(A.ATTACK_LOSS_BALANCED_CROSS_ENTROPY, progressive_radius=True, random_start=True, seed=3)]
    request = model_pb2.EvaluateWorstCaseRequest(model_id=m1, dataset_id=test.id, members=members, batch_size=4)
    events = list(stub.EvaluateWorstCase(request, timeout=300))
    assert events[-1].WhichOneof("event") == "result" and events[-2].progress.done == events[-2].progress.total == 30
    result = events[-1].result
    local = list(engine.evaluate_worst_case(m1, test.id, [
        {"kind": "gradient", "method": "pgd", "epsilon": 0.03, "steps": 3, "step_size": 0.0, "random_start": False,
         "seed": 0, "target": {"kind": "full_area_class", "full_area_class": 0}},
        {"kind": "apgd", "epsilon": 0.03, "steps": 3, "loss": "masked_spherical", "iterate": "lowest_accuracy"},
        {"kind": "apgd", "epsilon": 0.03, "steps": 3, "loss": "balanced_cross_entropy", "progressive_radius": True,
         "random_start": True, "seed": 3},
    ], batch_size=4))[-1]
    assert np.array_equal(_confusion(result.worst_case), np.array(local.worst_case.confusion))
    for got, want in zip(result.members, local.members):
        assert np.array_equal(_confusion(got), np.array(want.confusion))
    assert list(result.chosen_member) == local.chosen_member
    scores = np.frombuffer(result.image_scores.data, dtype="<f8").reshape(tuple(result.image_scores.shape))
    assert scores.shape == (3, 10) and np.allclose(scores, local.image_scores)
    # transfer: the members computed against another model
    transfer = list(stub.EvaluateWorstCase(model_pb2.EvaluateWorstCaseRequest(
        model_id=m1, dataset_id=test.id, members=members[:1], attack_model_id=m2), timeout=300))[-1].result
    assert not np.array_equal(_confusion(transfer.worst_case), _confusion(result.members[0]))
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    empty = model_pb2.EvaluateWorstCaseRequest(model_id=m1, dataset_id=test.id)
    assert _code(lambda: list(stub.EvaluateWorstCase(empty, timeout=10))) == (invalid, "members: at least one attack is required")
    bad = model_pb2.EvaluateWorstCaseRequest(model_id=m1, dataset_id=test.id, members=[
        _apgd(A.ATTACK_LOSS_JENSEN_SHANNON, target=A.AttackTarget(full_area_class=0))])
    code, details = _code(lambda: list(stub.EvaluateWorstCase(bad, timeout=10)))
    assert code == invalid and details.startswith("members[0].apgd.target: a targeted APGD needs loss CROSS_ENTROPY")


def test_adversarial_training_over_grpc(env):
    _, stub, test, (m1, _), engine = env
    source = engine.get_model(m1).provenance["parents"]
    config = model_pb2.TrainingConfig(epochs=1, batch_size=4, learning_rate=0.01, seed=1, adversarial=model_pb2.AdversarialTraining(
        method=A.ATTACK_METHOD_SEGPGD, epsilon=0.03, steps=1, random_start=True, clean_fraction=0.5))
    request = model_pb2.TrainRequest(model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=4)),
                                     train_dataset_ids=source["train_dataset_ids"],
                                     validation_dataset_id=source["validation_dataset_id"], config=config)
    model = list(stub.Train(request, timeout=300))[-1].result.model
    assert model.id != m1
    assert engine.get_model(model.id).provenance["recipe"]["config"]["adversarial"] == {
        "method": "segpgd", "epsilon": 0.03, "steps": 1, "step_size": None, "random_start": True, "clean_fraction": 0.5}
    request.config.adversarial.method = A.ATTACK_METHOD_FGSM
    assert _code(lambda: list(stub.Train(request, timeout=10))) == (
        grpc.StatusCode.INVALID_ARGUMENT, "config.adversarial.method: must be PGD or SEGPGD, got 'fgsm'")
