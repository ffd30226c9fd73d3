"""Every backend through the whole worker: a training step, attacks (PGD and method one), method
two's scoring and building, figure panels, the artifact store round trip, and export to ONNX
(run in onnxruntime), TorchScript and safetensors. Tiny widths and 32 px tiles keep it quick."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from robustseg_worker import artifacts, attacks, models, safetensors_io, training
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.events import DatasetBuilt, ExportChunk, ExportResult, ModelTrained
from robustseg_worker.store import ArtifactStore

TILE = 32
# One entry per backend variant: (oneof member, spec fields).
BACKENDS = {
    "unet": ("unet", {"depth": 2, "base_width": 4}),
    "smp-Unet-resnet18": ("smp", {"architecture": "Unet", "encoder": "resnet18", "encoder_depth": 3}),
    "smp-Linknet-resnet18": ("smp", {"architecture": "Linknet", "encoder": "resnet18", "encoder_depth": 3}),
    "monai-BasicUNet": ("monai", {"architecture": "BasicUNet", "channels": [4, 4, 8, 8, 16, 4]}),
    "monai-UNet": ("monai", {"architecture": "UNet", "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1}),
    "monai-AttentionUnet": ("monai", {"architecture": "AttentionUnet", "channels": [4, 8, 16], "strides": [2, 2]}),
    "monai-SwinUNETR": ("monai", {"architecture": "SwinUNETR", "feature_size": 12}),
}


@pytest.fixture(scope="module")
def engine_and_data(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("backends") / "ws")
    created = list(engine.create_dataset("synthetic_histology", {"tile_size": TILE, "num_train": 8,
                                                                 "num_validation": 4, "num_test": 3, "seed": 3}))
    return engine, created[-1].datasets


@pytest.fixture(scope="module", params=list(BACKENDS))
def trained(request, engine_and_data):
    engine, (train, validation, test) = engine_and_data
    member, spec = BACKENDS[request.param]
    events = list(engine.train(TrainRequest(member, spec, [train.id], validation.id,
                                            {"epochs": 1, "batch_size": 4, "learning_rate": 0.001, "seed": 1})))
    result = events[-1]
    assert isinstance(result, ModelTrained) and not result.reused
    return engine, result.model, test


def test_trains_a_step_with_finite_losses(trained):
    _, info, _ = trained
    assert len(info.history) == 1 and np.isfinite(info.history[0].train_loss)
    assert np.isfinite(info.best_validation_loss) and info.num_parameters > 0


def test_attacks_stay_in_their_balls_and_change_the_images(trained):
    engine, info, test = trained
    x = torch.from_numpy(np.array(engine.load_dataset(test.id).images))
    for attack, bound in [
        ({"kind": "gradient", "method": "pgd", "epsilon": 0.03, "steps": 1, "step_size": 0.0, "random_start": True,
          "seed": 4, "target": None}, 0.03),
        ({"kind": "layered_pgd", "epsilon": 0.02, "steps": 1, "step_size": 0.0, "class_order": [0, 2],
          "budget": "per_layer", "random_start": False, "seed": 0}, 0.04),
    ]:
        built = list(engine.attack_dataset(info.id, test.id, attack, batch_size=3))[-1]
        assert isinstance(built, DatasetBuilt) and 0 < built.max_linf <= bound + 1e-6
        xa = torch.from_numpy(np.array(engine.load_dataset(built.dataset.id).images))
        assert xa.min() >= 0 and xa.max() <= 1 and not torch.equal(xa, x)


def test_method_two_scores_and_builds(trained):
    engine, info, test = trained
    c = info.num_classes
    candidates = np.zeros((3, c), dtype=np.int8)
    candidates[1, 0], candidates[2, :] = 1, -1
    losses = engine.score_candidates(info.id, test.id, 0.03, True, np.array([0, 0, 1]), candidates).losses
    model, _ = engine.cached_model(info.id)
    images, labels = engine.cached_dataset(test.id)
    clean = attacks.clean_loss(model, images[:1], labels[:1])
    assert losses.shape == (3,) and np.isfinite(losses).all()
    assert losses[0] == pytest.approx(float(clean[0]), rel=1e-5)  # the all-zero row is the clean loss
    signs = np.ones((test.num_images, c), dtype=np.int8)
    built = list(engine.build_enhanced_dataset(info.id, test.id, 0.02, True, signs))[-1]
    assert isinstance(built, DatasetBuilt) and 0 < built.max_linf <= 0.02 + 1e-6


def test_figure_panels_under_attack(trained):
    engine, info, test = trained
    attack = {"kind": "gradient", "method": "fgsm", "epsilon": 0.02, "steps": 0, "step_size": 0.0,
              "random_start": False, "seed": 0, "target": {"kind": "full_area_class", "full_area_class": 0}}
    rendered = engine.render_panels(info.id, test.id, [1], attack=attack)
    kinds = [p.kind for p in rendered.panel_sets[0].panels]
    assert kinds[:3] == ["image", "truth", "clean_prediction"] and "prediction" in kinds
    assert rendered.panel_sets[0].linf == pytest.approx(0.02, abs=1e-6)


def test_store_round_trip_gives_identical_logits(trained):
    engine, info, test = trained
    x = torch.from_numpy(np.array(engine.load_dataset(test.id).images))
    first, _ = artifacts.load_model(engine.store, info.id, torch.device("cpu"))
    # A fresh store (as after a restart) rebuilds the module from meta.json alone.
    again, _ = artifacts.load_model(ArtifactStore(engine.store.root), info.id, torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(first(x), again(x))
        assert first(x).shape == (x.shape[0], info.num_classes, TILE, TILE)


def test_save_then_load_keeps_trained_batchnorm_state(engine_and_data, tmp_path):
    """A model straight out of a training step (running statistics moved) survives write/load."""
    engine, _ = engine_and_data
    member, spec = BACKENDS["smp-Unet-resnet18"]
    backend = models.by_request_field(member)
    resolved = backend.resolve_spec(spec, "model.smp")
    model = training.build_seeded(lambda: backend.build(resolved, 3, 3, [0.5] * 3, [0.25] * 3), 0)
    optimizer = torch.optim.Adam(model.parameters(), 0.01)
    model.train()
    x, y = torch.rand(4, 3, TILE, TILE), torch.randint(0, 3, (4, TILE, TILE))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    model.eval()
    store = ArtifactStore(tmp_path / "ws")
    info = artifacts.model_info({"id": "m-0000000000000001", "backend": backend.name, "spec": resolved,
                                 "num_classes": 3, "class_names": ["a", "b", "c"], "num_parameters": 1,
                                 "best_epoch": 1, "best_validation_loss": 0.0, "history": [], "provenance": {}})
    rebuild = {"in_channels": 3, "input_mean": [0.5] * 3, "input_std": [0.25] * 3, "tile_height": TILE,
               "tile_width": TILE}
    store.write("model", info.id, lambda d: artifacts.write_model(d, model, info, rebuild))
    loaded, _ = artifacts.load_model(store, info.id, torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


# --- export --------------------------------------------------------------------------------------


def _export(engine, model_id, fmt):
    events = list(engine.export_model(model_id, fmt, 0))
    result = events[-1]
    assert isinstance(result, ExportResult)
    data = b"".join(e.data for e in events if isinstance(e, ExportChunk))
    assert len(data) == result.size_bytes
    with open(result.workspace_path, "rb") as f:
        assert f.read() == data
    return result


def test_onnx_export_runs_in_onnxruntime_like_pytorch(trained):
    engine, info, _ = trained
    result = _export(engine, info.id, "onnx")
    assert result.opset == 18 and result.file_name == f"{info.id}.opset18.onnx"
    assert json.loads(result.metadata["robustseg.class_names"]) == info.class_names
    assert result.metadata["robustseg.backend"] == info.backend and result.metadata["robustseg.opset"] == "18"
    session = ort.InferenceSession(result.workspace_path, providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert props["robustseg.spec"] == json.dumps(info.spec, sort_keys=True)
    model, _ = artifacts.load_model(engine.store, info.id, torch.device("cpu"))
    sizes = [(1, TILE, TILE), (3, TILE, TILE)]
    if result.dynamic_axes == ["batch", "height", "width"]:
        sizes.append((2, TILE + 8, TILE + 13))  # another tile size through the same graph
    else:
        assert info.spec.get("architecture") == "SwinUNETR" and result.dynamic_axes == ["batch"]
    generator = torch.Generator().manual_seed(0)
    for n, h, w in sizes:
        x = torch.rand(n, 3, h, w, generator=generator)
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run([result.output_name], {result.input_name: x.numpy()})[0]
        assert got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-4, float(np.abs(want).max())


def test_torchscript_and_safetensors_exports_load_without_robustseg(trained):
    engine, info, _ = trained
    model, _ = artifacts.load_model(engine.store, info.id, torch.device("cpu"))
    scripted = torch.jit.load(_export(engine, info.id, "torchscript").workspace_path)
    x = torch.rand(3, 3, TILE, TILE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), atol=1e-5, rtol=0)
    result = _export(engine, info.id, "safetensors")
    tensors = safetensors_io.load_torch(result.workspace_path)
    state = model.state_dict()
    assert tensors.keys() == state.keys() and all(torch.equal(tensors[k], state[k]) for k in state)
    assert safetensors_io.read_metadata(result.workspace_path)["robustseg.model_id"] == info.id
