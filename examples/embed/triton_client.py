"""Segment an image through the Open Inference Protocol with NVIDIA's Triton client, as any
KServe- or Triton-compatible service would: nothing robustseg-specific on this side.

    pip install "tritonclient[grpc]==2.41.0" pillow numpy
    python examples/embed/triton_client.py --url 127.0.0.1:50051 --model nuclei-prod \
        --image tile.png [--token T] [--ca ca.pem] [--out mask.npy]

Prints a JSON summary: the model's inputs and outputs, its class names and the share of the
image's pixels given to each class."""

import argparse
import json
import sys

import numpy as np
import tritonclient.grpc as triton
from PIL import Image


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="HOST:PORT of the robustseg worker")
    p.add_argument("--model", required=True, help="model id (m-...) or alias")
    p.add_argument("--image", required=True, help="an RGB image file")
    p.add_argument("--token", help="the worker's bearer token")
    p.add_argument("--ca", help="PEM CA of the worker's TLS certificate (turns TLS on)")
    p.add_argument("--out", help="write the label map (int64 H x W) here as .npy")
    args = p.parse_args()

    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    client = triton.InferenceServerClient(args.url, ssl=args.ca is not None, root_certificates=args.ca)
    if not client.is_server_ready(headers=headers) or not client.is_model_ready(args.model, headers=headers):
        print(f"model {args.model} is not ready", file=sys.stderr)
        return 1
    meta = client.get_model_metadata(args.model, headers=headers)

    pixels = np.asarray(Image.open(args.image).convert("RGB"), dtype=np.uint8)[None]  # UINT8 [1, H, W, 3]
    image = triton.InferInput("INPUT__0", list(pixels.shape), "UINT8")
    image.set_data_from_numpy(pixels)
    result = client.infer(args.model, [image], outputs=[triton.InferRequestedOutput("LABELS")], headers=headers)
    labels = result.as_numpy("LABELS")[0]
    class_names = json.loads(result.get_output("LABELS").parameters["class_names"].string_param)
    if args.out:
        np.save(args.out, labels)
    shares = np.bincount(labels.ravel(), minlength=len(class_names)) / labels.size
    print(json.dumps({
        "model": meta.name,
        "platform": meta.platform,
        "inputs": [[t.name, t.datatype, list(t.shape)] for t in meta.inputs],
        "outputs": [[t.name, t.datatype, list(t.shape)] for t in meta.outputs],
        "height": int(labels.shape[0]),
        "width": int(labels.shape[1]),
        "class_shares": {name: round(float(s), 6) for name, s in zip(class_names, shares)},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
