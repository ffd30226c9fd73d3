"""Model backends (DESIGN section 6). Importing the package registers the built-in U-Net."""

from . import unet_backend  # noqa: F401  (registers "unet")
from .registry import build_model, by_request_field, get, names, register
from .unet import UNet

__all__ = ["UNet", "build_model", "by_request_field", "get", "names", "register"]
