"""The Open Inference Protocol checked with an independent client: NVIDIA's tritonclient[grpc]
from PyPI, run through examples/embed/triton_client.py in its own process (tritonclient's stubs
and the worker's declare the same `inference.*` messages, which one process cannot hold twice).
Over TLS with a token, as a service beyond loopback would call it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

from robustseg_worker.proto.robustseg.v1 import data_pb2, model_pb2, predict_pb2, worker_service_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "embed" / "triton_client.py"
REAL_TILE = REPO.parent / "shared" / "data" / "real" / "consep" / "images" / "test_10_001.png"
TOKEN = "tr1ton"


def _has(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _has("tritonclient.grpc"), reason="tritonclient[grpc] is not installed")


def test_triton_client_segments_a_real_tile_over_tls(start_worker, tmp_path):
    certs = tmp_path / "pki"
    subprocess.run(["bash", str(REPO / "test" / "fixtures" / "make-test-certs.sh"), str(certs)], check=True, timeout=120)
    worker = start_worker("--token", TOKEN, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))
    address = f"localhost:{worker.address.rsplit(':', 1)[1]}"
    metadata = [("authorization", f"Bearer {TOKEN}")]
    channel = grpc.secure_channel(address, grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes()))
    stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
    source = data_pb2.DataSource(synthetic_histology=data_pb2.SyntheticHistologySource(
        tile_size=16, num_train=8, num_validation=4, num_test=4, seed=4))
    datasets = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(source=source), timeout=120, metadata=metadata))[-1].result.datasets
    model = list(stub.Train(model_pb2.TrainRequest(
        model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=4)),
        train_dataset_ids=[datasets[0].id], validation_dataset_id=datasets[1].id,
        config=model_pb2.TrainingConfig(epochs=1, batch_size=4, learning_rate=0.01, seed=1)), timeout=300, metadata=metadata))[-1].result.model
    stub.SetModelAlias(predict_pb2.SetModelAliasRequest(alias="histology", model_id=model.id), timeout=10, metadata=metadata)
    channel.close()

    image = REAL_TILE if REAL_TILE.exists() else _write_png(tmp_path / "tile.png")
    out = tmp_path / "labels.npy"
    run = subprocess.run([sys.executable, str(EXAMPLE), "--url", address, "--model", "histology", "--image", str(image),
                          "--token", TOKEN, "--ca", str(certs / "ca.pem"), "--out", str(out)],
                         capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["inputs"] == [["INPUT__0", "FP32", [-1, 3, -1, -1]]]
    assert summary["outputs"] == [["LOGITS", "FP32", [-1, 6, -1, -1]], ["LABELS", "INT64", [-1, -1, -1]]]
    assert list(summary["class_shares"]) == list(model.class_names)
    assert sum(summary["class_shares"].values()) == pytest.approx(1.0, abs=1e-5)
    labels = np.load(out)
    assert labels.shape == (summary["height"], summary["width"]) and labels.dtype == np.int64

    # Without the token the same client is refused.
    refused = subprocess.run([sys.executable, str(EXAMPLE), "--url", address, "--model", "histology", "--image", str(image),
                              "--ca", str(certs / "ca.pem")], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "bearer token" in refused.stderr


def _write_png(path):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return path
