"""Which files a file-based data source may read (docs/ARCHITECTURE.md section 12): the worker reads only under
its workspace and the data roots it was given (`--data-root DIR`, repeatable). With no data
root, a worker that listens on loopback (or a unix socket) is a local tool and may read any
readable path; a worker reachable from outside with no data root reads no data files at all.

Paths are resolved (symlinks followed, `..` removed) before the check, and every file a source
finds below a checked folder is checked again, so a symlink cannot lead out of the roots."""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidArgument


class DataPaths:
    def __init__(self, roots: list[str | Path] | None = None, allow_any: bool = True) -> None:
        self.roots = tuple(Path(r).expanduser().resolve() for r in (roots or ()))
        # Roots, once given, always restrict.
        self.allow_any = allow_any and not self.roots

    @classmethod
    def unrestricted(cls) -> DataPaths:
        return cls(None, allow_any=True)

    def describe(self) -> str:
        if self.allow_any:
            return "any readable path"
        return ", ".join(str(r) for r in self.roots) or "none"

    def check(self, path: Path, field: str, shown: str | None = None) -> Path:
        """`path` resolved, or InvalidArgument(field) when it lies outside every data root."""
        try:
            real = Path(path).expanduser().resolve()
        except (RuntimeError, OSError) as e:  # Python < 3.13 raises RuntimeError for a symlink loop
            raise InvalidArgument(field, f"{shown if shown is not None else path}: cannot follow its symbolic "
                                         f"links ({e})") from None
        if self.allow_any:
            return real
        shown = shown if shown is not None else str(path)
        if not self.roots:
            raise InvalidArgument(field, f"{shown}: this worker reads no data files (it listens beyond "
                                         "loopback and was given no --data-root DIR)")
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise InvalidArgument(field, f"{shown} is outside the worker's data roots ({self.describe()})")
        return real

    def folder(self, value: object, field: str) -> Path:
        """A request's folder path: non-empty, allowed, an existing directory."""
        if not isinstance(value, str) or not value:
            raise InvalidArgument(field, "required: a folder path")
        real = self.check(Path(value), field, value)
        if not real.is_dir():
            raise InvalidArgument(field, f"{value}: " + ("not a folder" if real.exists() else "no such folder"))
        return real
