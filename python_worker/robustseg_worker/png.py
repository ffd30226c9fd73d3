"""A minimal PNG encoder (8-bit RGB, filter 0), zlib and struct only: the worker's figure panels
must encode where Pillow is not installed (the GPU image has none)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_rgb(pixels: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (row-major, top row first)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {pixels.dtype} {pixels.shape}")
    height, width, _ = pixels.shape
    if height < 1 or width < 1 or height >= 2**31 or width >= 2**31:
        raise ValueError(f"image size must be between 1 and 2^31 - 1, got {width}x{height}")
    # Each scanline is preceded by its filter type byte (0: none).
    raw = np.zeros((height, 1 + width * 3), dtype=np.uint8)
    raw[:, 1:] = pixels.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, colour type 2 (RGB)
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
            + _chunk(b"IEND", b""))
