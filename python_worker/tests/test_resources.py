"""Memory estimates before work starts: an oversized model or batch is refused at once
with RESOURCE_EXHAUSTED naming the field, the estimate and the limit, before any data is loaded."""

import re

import pytest
import torch

from robustseg_worker import models, resources
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import ResourceExhausted

SMALL = {"tile_size": 64, "num_train": 8, "num_validation": 4, "num_test": 4, "seed": 2}
GIB = 2**30


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("resources") / "ws")
    train, validation, test = list(engine.create_dataset("synthetic_histology", SMALL))[-1].datasets
    return engine.store.root, train, validation, test


def _engine(root, limit_gib):
    return Engine(root, memory_limit_bytes=int(limit_gib * GIB))


def _train(train, validation, depth, width, batch=8):
    return TrainRequest("unet", {"depth": depth, "base_width": width}, [train.id], validation.id,
                        {"epochs": 1, "batch_size": batch, "learning_rate": 0.01})


@pytest.mark.parametrize("spec,tile", [({"depth": 3, "base_width": 16, "upsampling": "bilinear"}, 128),
                                       ({"depth": 4, "base_width": 8, "upsampling": "transposed_conv"}, 100),
                                       ({"depth": 2, "base_width": 4, "upsampling": "bilinear"}, 17)])
def test_the_unet_count_covers_every_layer_output_a_trace_sees(spec, tile):
    with torch.device("meta"):
        module = models.get("unet").build(spec, 6, 3, None, None).to("meta")
    traced = resources._traced_activations(resources._with_shape_only_norms(module), 3, tile, tile)
    counted = resources.model_profile("unet", spec, 6, 3, tile, tile).activations
    # The count adds what functional ops allocate (pooling, concatenation, padding, softmax).
    assert traced <= counted <= 1.4 * traced


def test_an_oversized_model_is_refused_before_anything_is_loaded(datasets, monkeypatch):
    root, train, validation, _ = datasets
    engine = _engine(root, 8)
    monkeypatch.setattr(engine, "load_dataset", lambda *_: pytest.fail("loaded data for a refused request"))
    with pytest.raises(ResourceExhausted) as raised:
        list(engine.train(_train(train, validation, depth=6, width=128)))
    message = str(raised.value)
    assert raised.value.field == "model.unet" and message.startswith("model.unet: training on 64x64 tiles needs about ")
    estimate, limit = (float(x) for x in re.findall(r"([\d.]+) GiB", message)[:1] + re.findall(
        r"over the limit of ([\d.]+) GiB", message))
    assert estimate > 30 and limit == pytest.approx(8, abs=0.01)
    assert "--max-memory-gb 8" in message and "smaller model" in message and "\n" not in message
    assert list((root / "models").iterdir()) == [] or all(not p.name.startswith("tmp") for p in (root / "models").iterdir())


def test_a_batch_too_large_names_the_batch_size_and_what_fits(datasets):
    root, train, validation, _ = datasets
    profile = resources.model_profile("unet", {"depth": 3, "base_width": 32, "upsampling": "bilinear"}, 6, 3, 64, 64)
    per_tile = profile.activations * 4
    limit = (profile.parameters * 4 * 5 + 40 * per_tile) / GIB  # room for the model and about 40 tiles
    engine = _engine(root, limit)
    request = _train(train, validation, depth=3, width=32, batch=4096)
    request.train_dataset_ids = [train.id] * 100  # 800 tiles: batches of 800
    with pytest.raises(ResourceExhausted, match=r"^config\.batch_size: .*800 tiles per batch.*at most (3\d|4\d) tiles "
                                                r"per batch fit$"):
        list(engine.train(request))


def test_evaluation_under_attack_names_its_batch_size(datasets):
    root, train, validation, test = datasets
    small = Engine(root)
    model = list(small.train(_train(train, validation, depth=2, width=4)))[-1].model
    engine = _engine(root, 0.0005)  # half a MiB: the model fits, 4 tiles do not
    attack = {"kind": "gradient", "method": "pgd", "epsilon": 0.01, "steps": 2}
    with pytest.raises(ResourceExhausted, match=r"^(batch_size|dataset_id|model_id): evaluation under attack needs about"):
        list(engine.evaluate(model.id, test.id, batch_size=4, attack=attack))
    # The same limit on an ordinary worker would have let it run: the default is the free memory.
    assert list(small.evaluate(model.id, test.id, batch_size=4, attack=attack))[-1].num_images == 4


def test_the_limit_says_where_it_comes_from(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda device: 10 * GIB)
    free = resources.limit_for(torch.device("cpu"), None)
    assert free.bytes == 8 * GIB and free.explanation == "80% of the 10.00 GiB available on cpu"
    configured = resources.limit_for(torch.device("cpu"), 2 * GIB)
    assert configured.bytes == 2 * GIB and configured.explanation == "the worker's --max-memory-gb 2"


def test_an_oversized_split_is_refused_before_any_tile_is_rendered(workspace, monkeypatch):
    """Before the fix, a refused 65 GiB request took 62 s of silence (a first tile was rendered)."""
    from robustseg_worker import data

    source = data.get("synthetic-histology")
    monkeypatch.setattr(type(source), "render", lambda *a, **k: pytest.fail("rendered before refusing"))
    engine = _engine(workspace, 1)
    with pytest.raises(ResourceExhausted, match=r"^source\.synthetic_histology: the train split of 1000 tiles of "
                                                r"4096x4096 needs about 328\.12 GiB \(its data 328\.12 GiB\), over the limit of 1\.00 GiB \(the worker.s --max-memory-gb 1\); the data alone does not fit: use fewer or smaller tiles$"):
        list(engine.create_dataset("synthetic_histology", {"tile_size": 4096, "num_train": 1000}))
