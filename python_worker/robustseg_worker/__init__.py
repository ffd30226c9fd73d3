"""robustseg worker: the PyTorch compute plane behind the gRPC contract.

Embedding: `serve(...)` runs the worker inside a Python program and `start_server(...)` starts
it in the background (robustseg_worker.embedding); `robustseg_worker.attacks` is the attack
library as plain PyTorch functions. Both load lazily, so importing the attacks does not pull in
grpc or the server."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    # What a type checker sees for the lazy names below: their real signatures, not Any.
    from .embedding import serve, start_server

__all__ = ["__version__", "serve", "start_server"]


def __getattr__(name: str):
    if name in ("serve", "start_server"):
        from . import embedding

        return getattr(embedding, name)
    raise AttributeError(f"module 'robustseg_worker' has no attribute {name!r}")
