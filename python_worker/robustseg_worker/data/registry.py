"""Data sources behind one registry, so kandinsky, pannuke and folder slot in beside the
synthetic generator without touching the engine.

A source turns request parameters into one `SplitPlan` per non-empty split (validating them and
naming the offending field), then renders any index range of a split. Rendering by range lets
the engine report progress, honour cancellation between chunks, and lets a tile's content
depend only on (seed, split, index)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import InvalidArgument
from .paths import DataPaths
from .tiles import TileSet

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitPlan:
    split: str  # one of SPLITS
    num_images: int
    # Everything that determines the split's content; hashed into the dataset id.
    recipe: dict[str, Any] = field(default_factory=dict)
    # The split's class names when they depend on the request (folder, kandinsky labelings);
    # None = the source's fixed `class_names`.
    class_names: tuple[str, ...] | None = None
    # What the per-image tags of rendered tiles mean ("tissue", "concept"); "" = no tags.
    tag_name: str = ""
    # Source-private state for rendering (resolved files, field names for errors); not hashed.
    state: Any = field(default=None, compare=False, repr=False)
    # (height, width) of the rendered tiles when the plan knows it without rendering and the
    # recipe's tile_size does not say (e.g. PanNuke's fold headers); None = see plan_tile_shape.
    tile_shape: tuple[int, int] | None = None


class DataSource(Protocol):
    name: str  # e.g. "synthetic-histology"
    request_field: str  # the DataSource oneof member in the contract, e.g. "synthetic_histology"
    class_names: tuple[str, ...]

    def plan(self, params: dict[str, Any], field_prefix: str, paths: DataPaths | None = None) -> list[SplitPlan]:
        """`paths` decides which files a file-based source may read (the worker's data roots);
        None = any readable path (library use). The engine always passes its own."""
        ...

    def render(self, plan: SplitPlan, start: int, stop: int) -> TileSet: ...


_SOURCES: dict[str, DataSource] = {}


def register(source: DataSource) -> DataSource:
    _SOURCES[source.name] = source
    return source


def names() -> list[str]:
    return sorted(_SOURCES)


def by_request_field(request_field: str) -> DataSource:
    """The source for a oneof member of the request's DataSource."""
    for source in _SOURCES.values():
        if source.request_field == request_field:
            return source
    raise InvalidArgument("source", f"unsupported data source {request_field!r}; known: {', '.join(names())}")


def plan_class_names(source: DataSource, plan: SplitPlan) -> tuple[str, ...]:
    return plan.class_names if plan.class_names is not None else tuple(source.class_names)


def plan_tile_shape(plan: SplitPlan) -> tuple[int, int] | None:
    """The split's tile size, when known before rendering: the plan's own, else the recipe's
    tile_size (every source that resizes or generates tiles has one); None = only rendering tells
    (e.g. a folder of PNGs kept at their own size)."""
    if plan.tile_shape is not None:
        return plan.tile_shape
    size = plan.recipe.get("tile_size") or 0
    return (int(size), int(size)) if size else None


def get(name: str) -> DataSource:
    try:
        return _SOURCES[name]
    except KeyError:
        raise InvalidArgument("source", f"unknown data source {name!r}; known: {', '.join(names())}") from None
