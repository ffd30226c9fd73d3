"""Data sources (docs/ARCHITECTURE.md section 6). Importing the package registers the built-in sources."""

from . import folder, kandinsky, pannuke, synthetic_histology  # noqa: F401  (register themselves)
from .paths import DataPaths
from .registry import (SPLITS, DataSource, SplitPlan, by_request_field, get, names, plan_class_names,
                       plan_tile_shape, register)
from .tiles import TileSet

__all__ = ["SPLITS", "DataPaths", "DataSource", "SplitPlan", "TileSet", "by_request_field", "get", "names",
           "plan_class_names", "plan_tile_shape", "register"]
