"""The per-image worst case over an attack ensemble: selection by foreground accuracy on a case
worked out by hand, the library function on a model whose predictions the test controls, and the
engine with real attacks (each member equals a plain evaluation under it; the worst case is at
most every member)."""

import numpy as np
import pytest
import torch
from torch import nn

from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.events import DatasetsCreated, EvaluationResult, Progress
from robustseg_worker.worst_case import (
    WorstCaseResult,
    choose_members,
    evaluate_worst_case,
    image_scores,
    per_image_confusion,
)


def test_per_image_confusion_and_scores_by_hand():
    truth = torch.tensor([[[0, 1], [1, 2]], [[0, 0], [0, 0]]])
    pred = torch.tensor([[[0, 1], [0, 0]], [[1, 0], [0, 0]]])
    conf = per_image_confusion(pred, truth, 3)
    assert conf[0].tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 0]]
    assert conf[1].tolist() == [[3, 1, 0], [0, 0, 0], [0, 0, 0]]
    fg, pixel = image_scores(conf)
    # image 0: 3 foreground pixels, 1 right -> 1/3; image 1 has no foreground: pixel accuracy 3/4
    assert fg.tolist() == pytest.approx([1 / 3, 3 / 4]) and pixel.tolist() == pytest.approx([2 / 4, 3 / 4])


def test_choice_is_lowest_score_then_lowest_pixel_accuracy_then_first_member():
    scores = np.array([[0.5, 0.2, 0.3], [0.4, 0.2, 0.3], [0.6, 0.2, 0.3]])
    pixel = np.array([[0.9, 0.5, 0.7], [0.9, 0.4, 0.7], [0.9, 0.4, 0.7]])
    assert choose_members(scores, pixel).tolist() == [1, 1, 0]


class ChannelArgmax(nn.Module):
    """Logits = the image's three channels: the prediction is the brightest channel."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.scale


def _paint(x, y, cls_per_pixel):
    out = torch.zeros_like(x)
    out.scatter_(1, cls_per_pixel.unsqueeze(1), 1.0)
    return out


def test_worst_case_takes_each_images_weakest_member():
    # 2 images 1x4, classes 0..2. Truth: image 0 = [1, 1, 2, 0], image 1 = [2, 2, 0, 0].
    y = torch.tensor([[[1, 1, 2, 0]], [[2, 2, 0, 0]]])
    x = torch.zeros(2, 3, 1, 4)
    # member A: image 0 all right; image 1 one foreground pixel wrong (fg acc 1/2)
    a = torch.tensor([[[1, 1, 2, 0]], [[2, 0, 0, 0]]])
    # member B: image 0 two foreground pixels wrong (fg acc 1/3); image 1 all right
    b = torch.tensor([[[0, 0, 2, 0]], [[2, 2, 0, 0]]])
    members = [lambda xx, yy, i: _paint(xx, yy, a[i:i + len(xx)]), lambda xx, yy, i: _paint(xx, yy, b[i:i + len(xx)])]
    gen = evaluate_worst_case(ChannelArgmax(), x, y, 3, batch_size=1, members=members)
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        result: WorstCaseResult = stop.value
    assert [(e.done, e.total) for e in events] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.chosen_member == [1, 0]
    np.testing.assert_allclose(result.image_scores, [[1.0, 0.5], [1 / 3, 1.0]])
    worst = np.array(result.worst_case.confusion)
    # image 0 under B + image 1 under A
    expected = np.zeros((3, 3), dtype=int)
    for t, p in zip([1, 1, 2, 0, 2, 2, 0, 0], [0, 0, 2, 0, 2, 0, 0, 0]):
        expected[t, p] += 1
    assert (worst == expected).all()
    assert result.worst_case.num_pixels == 8 and result.worst_case.num_images == 2
    assert np.array(result.members[0].confusion).trace() == 7 and np.array(result.members[1].confusion).trace() == 6


SMALL = {"tile_size": 16, "num_train": 16, "num_validation": 6, "num_test": 10, "seed": 11}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("worst") / "ws")
    created = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
    assert isinstance(created, DatasetsCreated)
    train, validation, test = created.datasets
    req = TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                       {"epochs": 3, "batch_size": 4, "learning_rate": 0.01, "seed": 1, "augment": False})
    return engine, test, list(engine.train(req))[-1].model.id


def _apgd(loss, eps=0.03, steps=3, **extra):
    return {"kind": "apgd", "epsilon": eps, "steps": steps, "loss": loss, "target": None, **extra}


def _fg_correct(confusion):
    c = np.array(confusion)
    return int(np.trace(c) - c[0, 0])


def test_engine_members_equal_plain_evaluations_and_worst_case_is_lowest(setup):
    engine, test, model_id = setup
    members = [
        {"kind": "gradient", "method": "pgd", "epsilon": 0.03, "steps": 3, "step_size": 0.0, "random_start": True,
         "seed": 2, "target": {"kind": "full_area_class", "full_area_class": 0}},
        _apgd("masked_cross_entropy", iterate="lowest_accuracy", progressive_radius=True),
        _apgd("jensen_shannon", random_start=True, seed=4),
    ]
    events = list(engine.evaluate_worst_case(model_id, test.id, members, batch_size=4))
    result = events[-1]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == test.num_images * 3
    for member, alone in zip(members, result.members):
        plain = list(engine.evaluate(model_id, test.id, batch_size=4, attack=member))[-1]
        assert isinstance(plain, EvaluationResult)
        assert plain.confusion == alone.confusion
        assert plain.mean_loss == pytest.approx(alone.mean_loss, rel=1e-6)  # float32 sums in another order
    worst = _fg_correct(result.worst_case.confusion)
    assert all(worst <= _fg_correct(m.confusion) for m in result.members)
    assert len(result.chosen_member) == test.num_images and set(result.chosen_member) <= {0, 1, 2}
    assert result.image_scores.shape == (3, test.num_images)


def test_engine_errors_name_the_field(setup):
    engine, test, model_id = setup
    with pytest.raises(InvalidArgument, match="^members: at least one"):
        list(engine.evaluate_worst_case(model_id, test.id, []))
    with pytest.raises(InvalidArgument, match=r"^members\[1\]\.apgd\.loss"):
        list(engine.evaluate_worst_case(model_id, test.id, [_apgd("cross_entropy"), _apgd("hinge")]))
    with pytest.raises(InvalidArgument, match=r"^members\[0\]\.apgd\.target"):
        list(engine.evaluate_worst_case(model_id, test.id, [
            _apgd("masked_spherical", target={"kind": "full_area_class", "full_area_class": 0})]))
