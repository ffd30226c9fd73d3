"""The safetensors file format, implemented here because the GPU image has torch but not the
`safetensors` package (tests check interop with that package both ways).

Layout (https://github.com/huggingface/safetensors): 8-byte little-endian unsigned header
length N; N bytes of UTF-8 JSON mapping each tensor name to {"dtype", "shape", "data_offsets":
[begin, end]} (offsets relative to the byte buffer after the header) plus an optional
"__metadata__" of string to string; then the raw little-endian, row-major tensor bytes. Like the
reference writer we pad the header with spaces to a multiple of 8 bytes and lay tensors out by
descending element size, so every tensor is aligned to its element size.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# safetensors dtype name -> numpy dtype (little-endian). BF16 has no numpy dtype: it travels as
# raw 16-bit words and only the torch adapters turn it back into bfloat16.
_NUMPY_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
_DTYPE_NAMES: dict[tuple[str, int], str] = {
    (dt.kind, dt.itemsize): name for name, dt in _NUMPY_DTYPES.items() if name != "BF16"
}
# A header larger than this is a corrupt or hostile file, not a tensor index.
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """The file is not valid safetensors (truncated, bad header, offsets out of range)."""


def dtype_name(array: np.ndarray) -> str:
    try:
        return _DTYPE_NAMES[(array.dtype.kind, array.dtype.itemsize)]
    except KeyError:
        raise TypeError(f"dtype {array.dtype} cannot be stored in safetensors") from None


def save_file(
    tensors: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    *,
    dtype_overrides: Mapping[str, str] | None = None,
) -> None:
    """Write numpy arrays to `path` and fsync it. `dtype_overrides` lets the torch adapter label
    16-bit words as BF16."""
    overrides = dict(dtype_overrides or {})
    entries = []
    for name, array in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}")
        array = np.asarray(array)
        dtype = overrides.get(name) or dtype_name(array)
        # Little-endian, row-major; no copy when it already is (and 0-d stays 0-d).
        little = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        entries.append((name, dtype, little))
    # Largest elements first keeps every tensor aligned to its element size (header is 8-aligned).
    entries.sort(key=lambda e: (-e[2].dtype.itemsize, e[0]))

    header: dict[str, object] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, array in entries:
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-(8 + len(header_bytes)) % 8)

    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for _, _, array in entries:
            if array.nbytes:
                f.write(array.reshape(-1).view(np.uint8).data)
        f.flush()
        os.fsync(f.fileno())


def _read_header(f, file_size: int) -> tuple[dict, int]:
    raw = f.read(8)
    if len(raw) != 8:
        raise SafetensorsError("file is shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw)
    if n > _MAX_HEADER_BYTES or 8 + n > file_size:
        raise SafetensorsError(f"header length {n} does not fit the file ({file_size} bytes)")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    return header, 8 + n


def _validate(header: dict, buffer_size: int) -> dict[str, tuple[str, tuple[int, ...], int, int]]:
    specs = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"tensor {name!r}: malformed entry {info!r}") from None
        if dtype not in _NUMPY_DTYPES:
            raise SafetensorsError(f"tensor {name!r}: unsupported dtype {dtype!r}")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"tensor {name!r}: bad shape {list(shape)}")
        expected = int(np.prod(shape, dtype=np.int64)) * _NUMPY_DTYPES[dtype].itemsize
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise SafetensorsError(f"tensor {name!r}: bad data_offsets {[begin, end]}")
        if end - begin != expected:
            raise SafetensorsError(
                f"tensor {name!r}: {end - begin} bytes for shape {list(shape)} {dtype}"
            )
        specs[name] = (dtype, shape, begin, end)
    # Like the reference reader: tensors tile the buffer exactly (no holes, no overlap).
    position = 0
    for _, _, begin, end in sorted(specs.values(), key=lambda s: (s[2], s[3])):
        if begin != position:
            raise SafetensorsError("tensor data has holes or overlaps")
        position = end
    if position != buffer_size:
        raise SafetensorsError(
            f"tensor data covers {position} bytes but the file holds {buffer_size} (truncated?)"
        )
    return specs


def load_file(
    path: str | os.PathLike[str], *, mmap: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every tensor. Returns (tensors, dtype names) where BF16 tensors come back as uint16
    words. With mmap the arrays are read-only views of the file (no copy until used)."""
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        header, data_start = _read_header(f, file_size)
        specs = _validate(header, file_size - data_start)
        if not mmap:
            blob = f.read()
    if mmap and file_size > data_start:
        blob = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start)
    elif mmap:
        blob = np.zeros(0, dtype=np.uint8)
    else:
        blob = np.frombuffer(blob, dtype=np.uint8)
    tensors, dtypes = {}, {}
    for name, (dtype, shape, begin, end) in specs.items():
        tensors[name] = blob[begin:end].view(_NUMPY_DTYPES[dtype]).reshape(shape)
        dtypes[name] = dtype
    return tensors, dtypes


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    path = Path(path)
    with open(path, "rb") as f:
        header, _ = _read_header(f, path.stat().st_size)
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


# --- torch adapters (imported lazily so the format itself needs only numpy) ------------------


def save_torch(tensors, path, metadata: Mapping[str, str] | None = None) -> None:
    """Write a mapping of torch tensors (e.g. a state_dict) to safetensors."""
    import torch

    arrays, overrides = {}, {}
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype == torch.bfloat16:
            arrays[name] = t.view(torch.int16).numpy().view(np.uint16)
            overrides[name] = "BF16"
        else:
            arrays[name] = t.numpy()
    save_file(arrays, path, metadata, dtype_overrides=overrides)


def load_torch(path, device="cpu") -> dict:
    """Read a safetensors file into torch tensors on `device` (copies out of the memory map)."""
    import torch

    arrays, dtypes = load_file(path)
    out = {}
    for name, array in arrays.items():
        t = torch.from_numpy(np.array(array))  # own, writable copy
        if dtypes[name] == "BF16":
            t = t.view(torch.bfloat16)
        out[name] = t.to(device)
    return out
