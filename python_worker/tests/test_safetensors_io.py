import json
import struct

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from robustseg_worker import safetensors_io as st


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f64": rng.standard_normal(5),
        "f16": rng.standard_normal((3, 3)).astype(np.float16),
        "i64": rng.integers(-(2**40), 2**40, size=(7,)),
        "i32": rng.integers(-5, 5, size=(2, 2)).astype(np.int32),
        "u8": rng.integers(0, 256, size=(4, 4)).astype(np.uint8),
        "i8": np.array([-128, 0, 127], dtype=np.int8),
        "bool": np.array([True, False, True]),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def test_round_trip_keeps_dtype_shape_and_bytes(tmp_path):
    arrays = _arrays()
    st.save_file(arrays, tmp_path / "a.safetensors", metadata={"k": "v"})
    loaded, dtypes = st.load_file(tmp_path / "a.safetensors")
    assert set(loaded) == set(arrays)
    for name, a in arrays.items():
        assert loaded[name].dtype == a.dtype and loaded[name].shape == a.shape, name
        np.testing.assert_array_equal(loaded[name], a)
    assert dtypes["f32"] == "F32" and dtypes["bool"] == "BOOL"
    assert st.read_metadata(tmp_path / "a.safetensors") == {"k": "v"}


def test_layout_follows_the_spec(tmp_path):
    path = tmp_path / "a.safetensors"
    st.save_file({"x": np.arange(3, dtype=np.int64), "y": np.ones(2, dtype=np.uint8)}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0  # header padded so the data is 8-byte aligned
    header = json.loads(raw[8:8 + n])
    assert header["x"] == {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]}
    assert header["y"] == {"dtype": "U8", "shape": [2], "data_offsets": [24, 26]}
    assert raw[8 + n:8 + n + 24] == np.arange(3, dtype="<i8").tobytes()
    assert len(raw) == 8 + n + 26


def test_files_we_write_load_in_the_reference_implementation(tmp_path):
    arrays = {k: v for k, v in _arrays().items()}
    st.save_file(arrays, tmp_path / "ours.safetensors", metadata={"who": "robustseg"})
    theirs = safetensors.numpy.load_file(tmp_path / "ours.safetensors")
    for name, a in arrays.items():
        np.testing.assert_array_equal(theirs[name], a)
        assert theirs[name].dtype == a.dtype


def test_files_the_reference_writes_load_here(tmp_path):
    arrays = _arrays()
    safetensors.numpy.save_file(arrays, tmp_path / "theirs.safetensors", metadata={"m": "1"})
    loaded, _ = st.load_file(tmp_path / "theirs.safetensors", mmap=False)
    for name, a in arrays.items():
        np.testing.assert_array_equal(loaded[name], a)
    assert st.read_metadata(tmp_path / "theirs.safetensors") == {"m": "1"}


def test_torch_state_dict_interop_including_bfloat16(tmp_path):
    state = {"w": torch.randn(4, 3), "b16": torch.randn(5).to(torch.bfloat16),
             "steps": torch.tensor(7, dtype=torch.int64)}
    st.save_torch(state, tmp_path / "ours.safetensors")
    theirs = safetensors.torch.load_file(tmp_path / "ours.safetensors")
    mine = st.load_torch(tmp_path / "ours.safetensors")
    for name, t in state.items():
        assert theirs[name].dtype == t.dtype and torch.equal(theirs[name], t)
        assert mine[name].dtype == t.dtype and torch.equal(mine[name], t)
    safetensors.torch.save_file(state, tmp_path / "theirs.safetensors")
    back = st.load_torch(tmp_path / "theirs.safetensors")
    assert all(torch.equal(back[k], v) and back[k].dtype == v.dtype for k, v in state.items())


@pytest.mark.parametrize("damage", ["truncate", "header_length", "bad_json", "offsets"])
def test_corrupt_files_are_rejected(tmp_path, damage):
    path = tmp_path / "a.safetensors"
    st.save_file({"x": np.arange(8, dtype=np.float32)}, path)
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    if damage == "truncate":
        raw = raw[:-4]
    elif damage == "header_length":
        raw[:8] = struct.pack("<Q", len(raw) * 2)
    elif damage == "bad_json":
        raw[8] = ord("[")
    else:
        raw[8:8 + n] = raw[8:8 + n].replace(b"[0,32]", b"[0,28]")
    path.write_bytes(bytes(raw))
    with pytest.raises(st.SafetensorsError):
        st.load_file(path)
