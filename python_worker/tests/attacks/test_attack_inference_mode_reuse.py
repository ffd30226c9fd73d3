"""A model first used (or loaded) inside torch.inference_mode and then attacked with gradients:
the cached gradient model and the engine's model and dataset caches must hold ordinary tensors,
or the attack fails with "Inference tensors cannot be saved for backward" (RenderPanels did,
intermittently, when method two's scoring had prepared the model first)."""

from __future__ import annotations

import torch

from robustseg_worker import attacks
from robustseg_worker.attacks import runtime as rt
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.events import DatasetsCreated

from .conftest import make_batch, make_model

SMALL = {"tile_size": 16, "num_train": 4, "num_validation": 2, "num_test": 2, "seed": 3}


def test_gradient_model_prepared_in_inference_mode_still_serves_an_attack():
    model = make_model(seed=7)  # BatchNorm: folding makes a prepared copy
    x, y = make_batch(n=2, seed=7)
    folding = rt.Runtime(fold_batchnorm=True, channels_last=False)
    attacks.clean_loss(model, x, y, runtime=folding)  # prepares the copy inside inference mode
    x_adv = attacks.pgd(model, x, y, attacks.AttackSpec(eps=0.03, steps=2), runtime=folding)
    assert x_adv.shape == x.shape
    assert float((x_adv - x).abs().max()) <= 0.03 + 1e-6


def test_engine_caches_loaded_in_inference_mode_hold_ordinary_tensors(tmp_path):
    engine = Engine(tmp_path / "ws")
    created = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
    assert isinstance(created, DatasetsCreated)
    train, validation, test = created.datasets
    request = TrainRequest("unet", {"depth": 2, "base_width": 4}, [train.id], validation.id,
                           {"epochs": 1, "batch_size": 2, "learning_rate": 0.01, "seed": 1, "augment": False})
    model_id = list(engine.train(request))[-1].model.id
    with torch.inference_mode():  # as a Predict call would first load them
        model, _ = engine.cached_model(model_id)
        images, labels = engine.cached_dataset(test.id)
    assert not any(p.is_inference() for p in model.parameters())
    assert not images.is_inference() and not labels.is_inference()
    x_adv = attacks.pgd(model, images[:1], labels[:1], attacks.AttackSpec(eps=0.03, steps=2))
    assert float((x_adv - images[:1]).abs().max()) <= 0.03 + 1e-6
