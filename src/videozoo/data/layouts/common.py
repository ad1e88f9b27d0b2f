"""What every data set layout shares: the records a layout gives, the answer of a layout's
reader (``Annotated``), a layout's entry in the lookup table (``Layout``) and the small file
and folder readers the layouts use (data root, text lines, JSON, video indexes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from videozoo.data.video import VIDEO_EXTENSIONS, is_video_file
from videozoo.errors import ConfigError, DataError, DataNotFoundError

SPLIT_NAMES = {"train": ("train",), "validate": ("validate", "val", "validation"), "test": ("test",)}


@dataclass(frozen=True)
class VideoRecord:
    path: str
    label: int  # -1: unknown
    video_id: str


#: One annotated video as a layout reader found it: (video id, path on disk or None when it is
#: not there, class name | class id (list files) | None (unknown)). A plain tuple: Kinetics
#: has 250k of them, and a NamedTuple costs several times more to make.
Entry = tuple[str, "str | None", "str | int | None"]


@dataclass
class Annotated:
    """A layout reader's answer: the data set's class list and the entries of one split."""

    class_names: list[str]
    entries: list[Entry]
    source: Path | None = None  # annotation file or split folder (for messages)
    video_root: Path | None = None  # where the videos were looked for


class Layout(NamedTuple):
    """A layout in the lookup table (``videozoo.data.layouts.LAYOUTS``)."""

    found: Callable[[Path], object]  # truthy when DIR holds this layout
    read: Callable[[dict[str, Any], str | None], Annotated]
    looked_for: str  # for the "nothing matched" error


def data_root(cfg: dict) -> Path:
    root = cfg.get("root")
    if not root:
        raise DataNotFoundError("no data folder: pass --data DIR (or set data.root)")
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"data folder {root} does not exist; check --data")
    return root


def text_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty lines (CRLF and a BOM are fine)."""
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape").lstrip("\ufeff")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def malformed(path: Path, line_no: int, line: str, expected: str) -> DataError:
    return DataError(f"{path}:{line_no}: malformed line {line[:80]!r}; expected {expected}")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg}); re-download or repair the file"
        ) from None


_VIDEO_SUFFIXES = frozenset(VIDEO_EXTENSIONS)


def _video_files(folder: Path) -> list[tuple[str, str, str]]:
    """(folder relative to `folder`, file stem, path) of every video under `folder`, recursive
    and sorted. Plain strings: an SSv2 or Kinetics folder holds 200k+ files."""
    top = str(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        relative = dirpath[len(top) :].strip(os.sep).replace(os.sep, "/")
        prefix = os.path.join(dirpath, "")
        for name in sorted(filenames):
            dot = name.rfind(".")  # string ops: os.path.join/splitext per file cost 3x more
            if dot > 0 and name[dot:].lower() in _VIDEO_SUFFIXES:
                found.append((relative, name[:dot], prefix + name))
    return found


def index_videos(folder: Path) -> dict[str, str]:
    """Video file stem -> path for every video under `folder` (recursive, first one wins)."""
    found: dict[str, str] = {}
    for _, stem, path in _video_files(folder):
        found.setdefault(stem, path)
    return found


def index_relative(folder: Path) -> dict[str, str]:
    """Lower-cased ``relative/path`` without extension -> path, for every video under `folder`."""
    found: dict[str, str] = {}
    for relative, stem, path in _video_files(folder):
        found.setdefault(f"{relative}/{stem}".lstrip("/").lower(), path)
    return found


def has_video(folder: Path) -> bool:
    return any(is_video_file(name) for _, _, names in os.walk(folder) for name in names)


def video_index(
    cfg: dict, candidates: list[Path], keys: list[str], index: Callable[[Path], dict]
) -> tuple[Path, dict[str, str]]:
    """The first of `candidates` (or ``data.video_dir``) holding any of `keys`, with its index
    (`index(folder)`: key -> path); the first existing candidate when none holds one."""
    if cfg.get("video_dir"):
        candidates = [Path(cfg["video_dir"])]
    fallback = None
    wanted = set(keys)
    for folder in candidates:
        if not folder.is_dir():
            continue
        found = index(folder)
        if wanted & found.keys():
            return folder, found
        fallback = fallback or (folder, found)
    return fallback or (candidates[0], {})


def match_relative(
    cfg: dict, candidates: list[Path], videos: list[tuple[str, str]]
) -> tuple[list[Entry], Path]:
    """Entries for (``class/file.avi``, class) pairs, found under the first candidate folder
    holding any of them; matched without regard to case or extension."""
    keys = [os.path.splitext(relative)[0].lower() for relative, _ in videos]
    video_root, index = video_index(cfg, candidates, keys, index_relative)
    return [(rel, index.get(key), label) for (rel, label), key in zip(videos, keys)], video_root


def located(cfg: dict, find: Callable[[Path], object], missing: str):
    """(data folder, what ``find(data folder)`` located there); else DataNotFoundError with
    `missing` (``{root}`` filled in)."""
    root = data_root(cfg)
    found = find(root)
    if not found:
        raise DataNotFoundError(missing.format(root=root))
    return root, found


def first_folder(candidates, holds: Callable[[Path], object]) -> Path | None:
    return next((folder for folder in candidates if folder.is_dir() and holds(folder)), None)


def check_split(split: str) -> None:
    if split not in SPLIT_NAMES:
        raise ConfigError(f"unknown split '{split}'; use train, validate or test")


def read_class_file(path) -> list[str]:
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"class file {path} is empty; write one class name per line")
    return names
