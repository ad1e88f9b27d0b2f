"""The ``flat`` layout: one folder per class and no split folders (``my_videos/<class>/*.mp4``).

DIR/<class>/ with the videos inside (any depth). The validate split is held out of each class
(``data.val_fraction``, ``data.split_seed``; rules in data/holdout.py); training writes it to
the run folder as ``split.json`` and sets ``data.split_file``, which then decides both splits
(eval, resume). No test split. Class ids: the sorted class folder names (those of the split
file when there is one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videozoo.data.holdout import check_val_fraction, read_split_file, stratified_split
from videozoo.data.layouts.common import SPLIT_NAMES, Annotated, Entry, Layout, check_split, data_root
from videozoo.data.layouts.folders import class_folders, split_folder
from videozoo.data.video import find_video_files
from videozoo.errors import DataNotFoundError


def flat_found(root: Path) -> bool:
    return not any(split_folder(root, split) for split in SPLIT_NAMES) and bool(class_folders(root))


def _flat_videos(root: Path) -> dict[str, list[tuple[str, str]]]:
    """Class name -> [(id = path relative to DIR, path)] of every video in a class folder."""
    return {
        sub.name: [(path.relative_to(root).as_posix(), str(path)) for path in find_video_files(sub)]
        for sub in class_folders(root)
    }


def flat_split(cfg: dict) -> tuple[list[str], dict[str, list[str]]]:
    """(class names, {"train": ids, "validate": ids}) of a ``flat`` data set: the split file's
    when ``data.split_file`` is set, else drawn now (data/holdout.py)."""
    if cfg.get("split_file"):
        record = read_split_file(cfg["split_file"])
        return record["classes"], {"train": record["train"], "validate": record["validate"]}
    videos = _flat_videos(data_root(cfg))
    ids = {name: [video_id for video_id, _ in found] for name, found in videos.items()}
    return sorted(videos), stratified_split(
        ids, check_val_fraction(cfg.get("val_fraction", 0.1)), int(cfg.get("split_seed") or 0)
    )


def read_flat(cfg: dict[str, Any], split: str | None) -> Annotated:
    root = data_root(cfg)
    if split is None:
        return Annotated(flat_split(cfg)[0], [])
    check_split(split)
    if split == "test":
        raise DataNotFoundError(
            f"{root} has one folder per class and no test split; evaluate "
            "the validate split, or predict on videos given by path"
        )
    class_names, chosen = flat_split(cfg)
    if not chosen[split]:
        raise DataNotFoundError(
            f"no '{split}' videos in {root} (data.val_fraction="
            f"{cfg.get('val_fraction')}, classes with two or more videos "
            "give one each)"
        )
    paths = {video_id: path for found in _flat_videos(root).values() for video_id, path in found}
    entries: list[Entry] = [
        (video_id, paths.get(video_id), video_id.split("/", 1)[0]) for video_id in chosen[split]
    ]
    return Annotated(class_names, entries, Path(cfg.get("split_file") or root), root)


LAYOUT = Layout(flat_found, read_flat, "flat: <class>/ folders holding videos")
