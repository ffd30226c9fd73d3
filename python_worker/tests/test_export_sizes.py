"""Exported models take every image size the worker serves: ONNX (in onnxruntime) and TorchScript
equal the PyTorch model from 1 x 1 up, across the switch between reflect and replicate padding,
and a stored export of an older format version is written again rather than reused."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from robustseg_worker import export
from robustseg_worker.events import ExportResult, Progress
from robustseg_worker.models import FramedNetwork, UNet

# Below the stride (replicate padding), at and around it, one side long and one short, and larger.
SIZES = [(1, 1), (1, 40), (3, 2), (4, 4), (5, 5), (7, 9), (17, 16), (40, 45)]


def _models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    # min_side above the stride: a 1 x 1 image is padded to 16 x 16 by replication.
    convs = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, stride=8, padding=1),
                          nn.Upsample(scale_factor=8))
    return {"unet": UNet(3, depth=2, base_width=4).eval(),
            "min-side-16": FramedNetwork(convs, 3, None, None, pad_multiple=8, min_side=16).eval()}


MODELS = _models()
META = {"robustseg.backend": "test"}


def _want(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_export_equals_the_model_at_every_size(name, tmp_path):
    model = MODELS[name]
    path = tmp_path / "model.onnx"
    exported = export.export(model, "onnx", path, export.DEFAULT_OPSET, dict(META), torch.rand(2, 3, 32, 32))
    assert exported.dynamic_axes == ["batch", "height", "width"] and exported.metadata["robustseg.input_size"] == "any"
    assert not model.training  # the exporter's mode switching leaves the model as it was
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    for h, w in SIZES:
        x = torch.rand(2, 3, h, w, generator=generator)
        got = session.run([export.OUTPUT_NAME], {export.INPUT_NAME: x.numpy()})[0]
        want = _want(model, x)
        assert got.shape == want.shape == (2, want.shape[1], h, w)
        assert float(np.abs(got - want).max()) <= 1e-5, (h, w)


@pytest.mark.parametrize("name", list(MODELS))
def test_torchscript_export_equals_the_model_at_every_size(name, tmp_path):
    model = MODELS[name]
    path = tmp_path / "model.torchscript.pt"
    exported = export.export(model, "torchscript", path, 0, dict(META), torch.rand(2, 3, 32, 32))
    assert exported.dynamic_axes == ["batch", "height", "width"] and exported.metadata["robustseg.input_size"] == "any"
    loaded = torch.jit.load(str(path))
    generator = torch.Generator().manual_seed(2)
    for h, w in SIZES:
        x = torch.rand(1, 3, h, w, generator=generator)
        with torch.no_grad():
            got = loaded(x).numpy()
        np.testing.assert_allclose(got, _want(model, x), atol=1e-5, rtol=0, err_msg=f"{h}x{w}")


def test_a_fixed_size_graph_states_its_one_size(tmp_path):
    model = UNet(2, depth=1, base_width=4).eval()
    model.dynamic_spatial_export = False  # as SwinUNETR's: the window partition fixes H and W
    exported = export.export(model, "onnx", tmp_path / "fixed.onnx", export.DEFAULT_OPSET, dict(META),
                             torch.rand(2, 3, 24, 20))
    assert exported.dynamic_axes == ["batch"] and exported.metadata["robustseg.input_size"] == "24x20"


def test_an_export_of_an_older_format_version_is_written_again(engine_with_tiny_model):
    engine, model_id, _ = engine_with_tiny_model
    first = list(engine.export_model(model_id, "onnx", 0))[-1]
    assert isinstance(first, ExportResult)
    assert first.metadata["robustseg.format"] == f"robustseg-onnx-{export.FORMAT_VERSION}"
    sidecar = Path(first.workspace_path + ".json")
    details = json.loads(sidecar.read_text())
    details["metadata"]["robustseg.format"] = "robustseg-onnx-1"
    sidecar.write_text(json.dumps(details))
    again = list(engine.export_model(model_id, "onnx", 0))
    assert [e.message for e in again if isinstance(e, Progress)][0] == f"writing {first.file_name}"
    session = ort.InferenceSession(again[-1].workspace_path, providers=["CPUExecutionProvider"])
    logits = session.run([export.OUTPUT_NAME], {export.INPUT_NAME: np.random.rand(1, 3, 1, 1).astype(np.float32)})[0]
    assert logits.shape[-2:] == (1, 1)
    reused = list(engine.export_model(model_id, "onnx", 0))
    assert [e.message for e in reused if isinstance(e, Progress)][0] == f"reused {first.file_name}"
