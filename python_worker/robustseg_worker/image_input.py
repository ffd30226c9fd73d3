"""Images a caller sends (Predict, Probe): bands of rows assembled into whole images, checked
field by field. Plain values in, float32 (3, H, W) arrays in [0, 1] out; no grpc.

A band is an `ImageBand` (convert_predict.py makes them from ImageChunk messages). Errors name
the field as `images[i].<field>`, i being the image's position in the stream (not the band's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import InvalidArgument

MAX_IMAGE_SIDE = 16384
# Default limit of one image for Predict: its float32 copy, the logits and the blend weights
# stay within a few GiB. The worker's --max-image-pixels overrides it.
MAX_IMAGE_PIXELS = 4096 * 4096
# Probe differentiates through the model for every attack step: far less fits.
MAX_PROBE_PIXELS = 1024 * 1024

_ITEMSIZE = {"float32": 4, "uint8": 1}


@dataclass
class ImageBand:
    """One band of rows of one image as sent: its tensor as dtype name, shape and raw bytes."""

    name: str
    height: int
    width: int
    row_offset: int
    dtype: str          # "float32", "uint8", or the name of another (refused) dtype
    shape: tuple[int, ...]
    data: bytes


@dataclass
class InputImage:
    index: int
    name: str
    pixels: np.ndarray  # float32 (3, H, W) in [0, 1]

    @property
    def height(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[2])


def _dims(field: str, height: int, width: int, max_pixels: int) -> None:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_IMAGE_SIDE:
            raise InvalidArgument(f"{field}.{name}", f"must be between 1 and {MAX_IMAGE_SIDE}, got {value!r}")
    if height * width > max_pixels:
        side = math.isqrt(max_pixels)
        raise InvalidArgument(f"{field}.height", f"a {width}x{height} image has {height * width} pixels, more than the "
                              f"limit of {max_pixels} (e.g. {side}x{side}); send a smaller image or a crop")


def band_pixels(band: ImageBand, field: str, width: int, rows_left: int) -> np.ndarray:
    """The band as float32 (3, rows, width) in [0, 1], checked."""
    if band.dtype not in _ITEMSIZE:
        raise InvalidArgument(f"{field}.pixels.dtype", "must be DTYPE_FLOAT32 (3, rows, width) in [0, 1] or "
                              f"DTYPE_UINT8 (rows, width, 3), got {band.dtype}")
    shape = tuple(int(s) for s in band.shape)
    channels_first = band.dtype == "float32"
    expected = "(3, rows, width)" if channels_first else "(rows, width, 3)"
    ok = len(shape) == 3 and (shape[0] == 3 and shape[2] == width if channels_first else shape[2] == 3 and shape[1] == width)
    if not ok:
        raise InvalidArgument(f"{field}.pixels.shape", f"must be {expected} = {expected.replace('width', str(width))} "
                              f"for {band.dtype}, got {shape}")
    rows = shape[1] if channels_first else shape[0]
    if not 1 <= rows <= rows_left:
        raise InvalidArgument(f"{field}.pixels.shape", f"a band of {rows} rows where 1 to {rows_left} rows of the "
                              "image remain")
    if len(band.data) != rows * width * 3 * _ITEMSIZE[band.dtype]:
        raise InvalidArgument(f"{field}.pixels.data", f"{len(band.data)} bytes for shape {shape} {band.dtype} "
                              f"({rows * width * 3 * _ITEMSIZE[band.dtype]} expected)")
    if channels_first:
        return check_unit_range(np.frombuffer(band.data, dtype="<f4").reshape(shape), f"{field}.pixels")
    return uint8_hwc_to_chw(np.frombuffer(band.data, dtype=np.uint8).reshape(shape))


def check_unit_range(pixels: np.ndarray, field: str) -> np.ndarray:
    """float pixels, refused (naming the field) when NaN, infinite or outside [0, 1]."""
    finite = np.isfinite(pixels)
    if not finite.all():
        bad = int(np.size(finite) - np.count_nonzero(finite))
        raise InvalidArgument(field, f"{bad} value(s) are NaN or infinite")
    if pixels.size:
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0.0 or high > 1.0:
            raise InvalidArgument(field, f"float32 pixels must be in [0, 1], got values in [{low:g}, {high:g}]")
    return pixels.astype(np.float32, copy=False)


def uint8_hwc_to_chw(pixels: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float32 in [0, 1]."""
    return np.ascontiguousarray(np.moveaxis(pixels, -1, -3), dtype=np.float32) / np.float32(255.0)


def assemble(bands: Iterable[ImageBand], max_pixels: int = MAX_IMAGE_PIXELS,
             check_stop: Callable[[], None] | None = None) -> Iterator[InputImage]:
    """Whole images from consecutive bands, each yielded as soon as its last row arrived."""
    index, current, name, filled = 0, None, "", 0
    for band in bands:
        if check_stop is not None:
            check_stop()
        field = f"images[{index}]"
        if current is None:
            _dims(field, band.height, band.width, max_pixels)
            if band.row_offset != 0:
                raise InvalidArgument(f"{field}.row_offset", f"the first band of an image starts at row 0, got {band.row_offset}")
            current = np.empty((3, band.height, band.width), dtype=np.float32)
            name, filled = band.name, 0
        elif (band.height, band.width) != current.shape[1:]:
            raise InvalidArgument(f"{field}.height", f"a band says {band.width}x{band.height}, the image's first band "
                                  f"{current.shape[2]}x{current.shape[1]}")
        elif band.row_offset != filled:
            raise InvalidArgument(f"{field}.row_offset", f"expected {filled} (bands come in order), got {band.row_offset}")
        pixels = band_pixels(band, field, current.shape[2], current.shape[1] - filled)
        current[:, filled:filled + pixels.shape[1]] = pixels
        filled += pixels.shape[1]
        if filled == current.shape[1]:
            yield InputImage(index, name, current)
            index, current = index + 1, None
    if current is not None:
        raise InvalidArgument(f"images[{index}]", f"the stream ended after {filled} of {current.shape[1]} rows")
