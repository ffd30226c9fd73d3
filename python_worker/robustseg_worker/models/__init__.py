"""Model backends. Importing the package registers the built-in U-Net and the optional smp and
MONAI backends (their packages are imported only when a request needs them)."""

from . import monai_backend, smp_backend, unet_backend  # noqa: F401  (register themselves)
from .framing import FramedNetwork, FramedSegmenter
from .registry import (BUILD_LOCK, BackendDetails, all_details, build_model, by_request_field, check_training_batch, get, names,
                       register, request_fields)
from .unet import UNet

__all__ = ["BUILD_LOCK", "BackendDetails", "FramedNetwork", "FramedSegmenter", "UNet", "all_details", "build_model",
           "by_request_field", "check_training_batch", "get", "names", "register", "request_fields"]
