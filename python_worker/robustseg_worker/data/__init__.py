"""Data sources (DESIGN section 5). Importing the package registers the built-in sources."""

from . import synthetic_histology  # noqa: F401  (registers "synthetic-histology")
from .registry import SPLITS, DataSource, SplitPlan, by_request_field, get, names, register
from .tiles import TileSet

__all__ = ["SPLITS", "DataSource", "SplitPlan", "TileSet", "by_request_field", "get", "names", "register"]
