import math

import pytest
import torch
from torch import nn

from robustseg_worker.evaluation import confusion_matrix, evaluate
from robustseg_worker.events import EvaluationResult, Progress


class FixedPrediction(nn.Module):
    """Predicts a known class map: logits 0 everywhere except `confidence` at the class given
    for each pixel. Has one parameter so it has a device."""

    def __init__(self, predicted: torch.Tensor, num_classes: int, confidence: float = 2.0) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.predicted, self.num_classes, self.confidence = predicted, num_classes, confidence
        self.batches = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        start = sum(self.batches[:-1])
        onehot = nn.functional.one_hot(self.predicted[start:start + x.shape[0]], self.num_classes)
        return onehot.permute(0, 3, 1, 2).float() * self.confidence + self.anchor


def _run(gen):
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return events, stop.value


def test_confusion_matrix_by_hand():
    truth = torch.tensor([[0, 0, 1], [2, 2, 1]])
    pred = torch.tensor([[0, 1, 1], [2, 0, 0]])
    # rows truth, columns prediction
    expected = [[1, 1, 0],
                [1, 1, 0],
                [1, 0, 1]]
    assert confusion_matrix(pred, truth, 3).tolist() == expected


def test_evaluate_with_a_stub_model_matches_hand_computation():
    truth = torch.tensor([[[0, 0], [1, 2]], [[2, 2], [0, 1]], [[1, 1], [1, 1]]])
    predicted = torch.tensor([[[0, 1], [1, 2]], [[2, 0], [0, 0]], [[1, 1], [1, 2]]])
    model = FixedPrediction(predicted, 3)
    events, result = _run(evaluate(model, torch.zeros(3, 3, 2, 2), truth, 3, batch_size=2))
    assert isinstance(result, EvaluationResult)
    assert result.confusion == [[2, 1, 0],
                                [1, 4, 1],
                                [1, 0, 2]]
    assert result.num_pixels == 12 and result.num_images == 3
    # CE per pixel: right -> -log(e^2/(e^2+2)), wrong -> -log(1/(e^2+2))
    right, wrong = -math.log(math.e**2 / (math.e**2 + 2)), -math.log(1 / (math.e**2 + 2))
    assert result.mean_loss == pytest.approx((8 * right + 4 * wrong) / 12, rel=1e-6)
    assert model.batches == [2, 1]  # batched
    assert [(e.done, e.total) for e in events if isinstance(e, Progress)] == [(2, 3), (3, 3)]


def test_batch_size_does_not_change_the_result():
    torch.manual_seed(0)
    truth = torch.randint(0, 4, (5, 6, 6))
    predicted = torch.randint(0, 4, (5, 6, 6))
    _, a = _run(evaluate(FixedPrediction(predicted, 4), torch.zeros(5, 3, 6, 6), truth, 4, batch_size=1))
    _, b = _run(evaluate(FixedPrediction(predicted, 4), torch.zeros(5, 3, 6, 6), truth, 4, batch_size=5))
    assert a.confusion == b.confusion and a.mean_loss == pytest.approx(b.mean_loss)
    assert sum(map(sum, a.confusion)) == 5 * 36


def test_evaluation_runs_in_eval_mode_and_restores_the_mode():
    class ModeSpy(FixedPrediction):
        def forward(self, x):
            assert not self.training and torch.is_inference_mode_enabled()
            return super().forward(x)

    model = ModeSpy(torch.zeros(2, 2, 2, dtype=torch.int64), 2).train()
    _run(evaluate(model, torch.zeros(2, 3, 2, 2), torch.zeros(2, 2, 2, dtype=torch.int64), 2, 1))
    assert model.training
