"""A Python service with the robustseg worker inside it, after `pip install ./python_worker`:
starts the worker in-process (start_server), segments an image over gRPC with the Predict RPC,
and uses the attack library directly on the same model (robustseg_worker.attacks).

    python examples/embed/python_service.py --image tile.png [--model m-...] [--workspace DIR]

Without --model it first trains a tiny U-Net on synthetic histology (a few seconds), so the
example runs on a fresh install. Prints a JSON summary."""

import argparse
import json
import tempfile

import grpc
import numpy as np
import torch

from robustseg_worker import start_server
from robustseg_worker.attacks import AttackSpec, full_area_target, pgd
from robustseg_worker.embedding import load_model
from robustseg_worker.proto.robustseg.v1 import common_pb2, data_pb2, model_pb2, predict_pb2, worker_service_pb2_grpc

TOKEN = "example-token"


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 from a PNG (Pillow) or an .npy file."""
    if path.endswith(".npy"):
        return np.load(path).astype(np.uint8)
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def train_tiny_model(stub, metadata) -> str:
    source = data_pb2.DataSource(synthetic_histology=data_pb2.SyntheticHistologySource(
        tile_size=32, num_train=16, num_validation=8, num_test=4, seed=0))
    datasets = list(stub.CreateDataset(data_pb2.CreateDatasetRequest(source=source), metadata=metadata))[-1].result.datasets
    request = model_pb2.TrainRequest(
        model=model_pb2.ModelSpec(unet=model_pb2.UNetSpec(depth=2, base_width=8)),
        train_dataset_ids=[datasets[0].id], validation_dataset_id=datasets[1].id,
        config=model_pb2.TrainingConfig(epochs=2, batch_size=8, learning_rate=0.01, seed=0))
    return list(stub.Train(request, metadata=metadata))[-1].result.model.id


def predict(stub, metadata, model_id: str, name: str, pixels: np.ndarray):
    """The Predict stream: the options, then the image (one band here); whole label map back."""
    def requests():
        yield predict_pb2.PredictRequest(options=predict_pb2.PredictOptions(model_id=model_id))
        tensor = common_pb2.Tensor(shape=list(pixels.shape), dtype=common_pb2.DTYPE_UINT8, data=pixels.tobytes())
        yield predict_pb2.PredictRequest(image=predict_pb2.ImageChunk(
            name=name, height=pixels.shape[0], width=pixels.shape[1], pixels=tensor))

    header, labels = None, np.zeros(pixels.shape[:2], dtype=np.uint8)
    for event in stub.Predict(requests(), metadata=metadata):
        kind = event.WhichOneof("event")
        if kind == "header":
            header = event.header
        elif kind == "image":
            band = np.frombuffer(event.image.labels.data, dtype=np.uint8).reshape(event.image.labels.shape)
            labels[event.image.row_offset:event.image.row_offset + band.shape[0]] = band
    return header, labels


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", required=True)
    p.add_argument("--model", help="a model id in --workspace (default: train a tiny one)")
    p.add_argument("--workspace", help="artifact folder (default: a temporary one)")
    args = p.parse_args()
    workspace = args.workspace or tempfile.mkdtemp(prefix="robustseg-example-")

    server = start_server(workspace, "127.0.0.1:0", token=TOKEN, device="cpu")
    try:
        channel = grpc.insecure_channel(server.address)
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        metadata = [("authorization", f"Bearer {TOKEN}")]
        model_id = args.model or train_tiny_model(stub, metadata)
        pixels = read_rgb(args.image)
        header, labels = predict(stub, metadata, model_id, args.image, pixels)
        channel.close()

        # The attack library on the same model, as plain PyTorch: PGD towards background.
        model, info = load_model(workspace, model_id)
        x = torch.from_numpy(pixels.transpose(2, 0, 1).copy()).float().div(255).unsqueeze(0)
        spec = AttackSpec(eps=0.01, steps=5, targeted=True)
        x_adv = pgd(model, x, full_area_target(x, 0), spec)
        with torch.no_grad():
            clean, attacked = model(x).argmax(1)[0].numpy(), model(x_adv).argmax(1)[0].numpy()
        foreground = clean != 0
        counts = np.bincount(labels.ravel(), minlength=len(header.class_names))
        print(json.dumps({
            "model": model_id,
            "height": int(labels.shape[0]),
            "width": int(labels.shape[1]),
            "class_shares": {n: round(float(c) / labels.size, 6) for n, c in zip(header.class_names, counts)},
            "predict_matches_the_module": bool((clean == labels).all()),
            "pgd_linf": round(float((x_adv - x).abs().max()), 6),
            "foreground_to_background": (float((attacked[foreground] == 0).mean()) if foreground.any() else None),
        }, indent=2))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
