"""``videozoo cache list|clear``: what the weights cache holds, and emptying it.

The cache (``$VIDEOZOO_HOME``, default ``~/.cache/videozoo``) holds ``files/`` (published
files under their published names, with ``.sha256`` records of unverified ones) and
``bundles/<tag>/`` (converted models). ``clear`` removes those two folders only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from videozoo.zoo.hub import files_dir, home

__all__ = ["list_cache", "clear_cache", "home"]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def list_cache() -> list[dict]:
    """One row per cached file or bundle: ``{"kind", "path", "size"}``."""
    rows = []
    if files_dir().is_dir():
        rows += [
            {"kind": "file", "path": str(p), "size": _size(p)}
            for p in sorted(files_dir().iterdir())
            if p.is_file() and not p.name.endswith((".lock", ".sha256"))
        ]
    bundles = home() / "bundles"
    if bundles.is_dir():
        rows += [
            {"kind": "bundle", "path": str(p), "size": _size(p)}
            for p in sorted(bundles.iterdir())
            if p.is_dir() and not p.name.startswith(".")
        ]
    return rows


def clear_cache() -> int:
    """Remove the downloaded files and the converted bundles; returns how many items."""
    count = len(list_cache())
    for folder in (files_dir(), home() / "bundles"):
        shutil.rmtree(folder, ignore_errors=True)
    return count
