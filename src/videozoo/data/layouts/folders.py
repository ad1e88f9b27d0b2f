"""The ``folders`` layout: your own videos, one folder per class inside split folders.

DIR/train/<class>/, DIR/val|validate|validation/<class>/, DIR/test/<class>/ with the videos
inside (any depth). A class is a sub-folder of ``train/`` holding at least one video; videos
directly in a split folder belong to no class and are left out (one warning with their count).
Class ids: the sorted class folder names of the train split (of the split asked when there is
no train folder).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from videozoo.data.layouts.common import (
    SPLIT_NAMES,
    Annotated,
    Entry,
    Layout,
    data_root,
    first_folder,
    has_video,
)
from videozoo.data.video import find_video_files, is_video_file
from videozoo.errors import DataNotFoundError

logger = logging.getLogger("videozoo.data")


def split_folder(root: Path, split: str) -> Path | None:
    return first_folder([root / name for name in SPLIT_NAMES[split]], lambda folder: True)


def class_folders(folder: Path) -> list[Path]:
    """Sub-folders of `folder` that hold videos (at any depth), sorted by name."""
    return [
        sub
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and not sub.name.startswith(".") and has_video(sub)
    ]


def folders_found(root: Path) -> bool:
    return any(
        folder and class_folders(folder) for folder in (split_folder(root, split) for split in SPLIT_NAMES)
    )


def _split_entries(folder: Path) -> list[Entry]:
    """(id = path relative to the split folder, path, class) of the videos in its class folders."""
    classes = class_folders(folder)
    if not classes:
        raise DataNotFoundError(
            f"{folder} has no class folder holding videos; expected {folder}/<class>/*.mp4"
        )
    entries: list[Entry] = [
        (path.relative_to(folder).as_posix(), str(path), sub.name)
        for sub in classes
        for path in find_video_files(sub)
    ]
    loose = [name for name in sorted(os.listdir(folder)) if is_video_file(name)]
    if loose:
        logger.warning(
            "%d video(s) directly in %s are in no class folder (left out), e.g. %s",
            len(loose),
            folder,
            ", ".join(loose[:3]),
        )
    return entries


def read_folders(cfg: dict[str, Any], split: str | None) -> Annotated:
    root = data_root(cfg)
    train = split_folder(root, "train")
    folder = split_folder(root, split) if split else None
    if split and folder is None:
        raise DataNotFoundError(
            f"no '{split}' split in {root}: looked for {', '.join(name + '/' for name in SPLIT_NAMES[split])}"
        )
    class_folder = train or folder or next(filter(None, (split_folder(root, s) for s in SPLIT_NAMES)), None)
    if class_folder is None:
        raise DataNotFoundError(f"no class folders in {root}: expected train/<class>/*.mp4")
    class_names = [sub.name for sub in class_folders(class_folder)]
    if folder is None:
        return Annotated(class_names, [])
    return Annotated(class_names, _split_entries(folder), folder, folder)


LAYOUT = Layout(
    folders_found, read_folders, "folders: train/<class>/ (or val/, validate/, test/) holding videos"
)
