"""The GPU image has torch, grpcio and protobuf only: without smp, MONAI and onnx the worker
still starts, reports those backends unavailable, and trains and exports the built-in U-Net."""

import json
import os
import site
import subprocess
import sys
import textwrap

from worker_harness import PYTHON_WORKER_DIR

OPTIONAL = ("segmentation_models_pytorch", "monai", "timm", "torchvision", "huggingface_hub", "einops", "onnx",
            "onnxruntime")

# Runs in a fresh interpreter (python -S) whose only packages are links to this environment's,
# less the optional ones and their metadata: to it they are simply not installed.
SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    from robustseg_worker.engine import Engine, TrainRequest
    from robustseg_worker.errors import FailedPrecondition

    engine = Engine(tempfile.mkdtemp())
    details = {d.name: [d.available, d.unavailable_reason] for d in engine.info().backend_details}
    train, validation, _ = list(engine.create_dataset(
        "synthetic_histology", {"tile_size": 16, "num_train": 4, "num_validation": 2, "num_test": 2}))[-1].datasets
    model = list(engine.train(TrainRequest("unet", {"depth": 1, "base_width": 2}, [train.id], validation.id,
                                           {"epochs": 1, "batch_size": 2, "learning_rate": 0.01})))[-1].model
    exported = list(engine.export_model(model.id, "safetensors"))[-1]
    refusals = []
    for call in (lambda: list(engine.train(TrainRequest("smp", {}, [train.id], validation.id,
                                                        {"epochs": 1, "batch_size": 2, "learning_rate": 0.01}))),
                 lambda: list(engine.export_model(model.id, "onnx"))):
        try:
            call()
        except FailedPrecondition as e:
            refusals.append(str(e))
    print(json.dumps({"details": details, "exported": exported.size_bytes, "refusals": refusals,
                      "loaded": sorted(m for m in ("segmentation_models_pytorch", "monai") if m in sys.modules)}))
""")


def _without_optional_packages(folder):
    folder.mkdir()
    for packages in site.getsitepackages():
        for entry in os.listdir(packages):
            stem = entry.split("-")[0].split(".")[0].lower()
            if stem not in OPTIONAL and not (folder / entry).exists():
                os.symlink(os.path.join(packages, entry), folder / entry)
    return folder


def test_worker_without_optional_packages(tmp_path):
    packages = _without_optional_packages(tmp_path / "site")
    out = subprocess.run([sys.executable, "-S", "-c", SCRIPT], cwd=PYTHON_WORKER_DIR, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": f"{PYTHON_WORKER_DIR}:{packages}", "PATH": "/usr/bin:/bin",
                                           "OMP_WAIT_POLICY": "PASSIVE"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["details"]["unet"] == [True, ""]
    for name, package in (("smp", "segmentation-models-pytorch==0.6.0"), ("monai", "monai==1.6.1")):
        available, reason = result["details"][name]
        assert not available and f"pip install {package}" in reason
    assert result["exported"] > 0 and result["loaded"] == []
    assert result["refusals"][0].startswith("model.smp: this worker cannot build it: segmentation_models_pytorch")
    assert result["refusals"][1].startswith("format: this worker cannot build it: onnx is not installed")
