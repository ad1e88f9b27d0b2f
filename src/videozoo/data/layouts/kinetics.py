"""The ``kinetics`` layout: Kinetics CSVs or MMAction2 list files, and the Kinetics-400 class list.

For split ``train`` / ``validate`` / ``test`` (aliases: ``val``, ``validation``) the annotation
is ``data.<split>_annotation`` when set, else the first that exists of

    DIR/<name>.csv, DIR/<name>_list.txt, DIR/<name>.txt, DIR/kinetics400_<name>_list_videos.txt
    (and the same names under DIR/annotations/), for <name> in the split's aliases.

* Official CSV (``label,youtube_id,time_start,time_end,split``; ``label`` may be absent in
  test): the clip ``<youtube_id>_<time_start:06d>_<time_end:06d>.<mp4|webm|mkv|avi|...>`` (or
  plain ``<youtube_id>.<ext>``) is looked up anywhere under the split's video folder: the first
  of DIR/<name>/ or DIR/videos_<name>/ that exists (flat or one sub-folder per class), else DIR
  (``data.video_dir`` replaces that search).
* List file (MMAction2): ``relative/path.mp4 label_index`` per line (label optional). Paths are
  relative to the first of (the list file's folder, the split's video folder) that holds the
  first listed file.

Class ids: for CSVs, the Kinetics-400 list if every label (of the train CSV, else of the
validate / test one) is a Kinetics-400 class (ids match Kinetics-400 checkpoints even for a
partial download), otherwise the sorted set of labels; for list files the Kinetics-400 list
if every index is < 400, else "0".."max".
"""

from __future__ import annotations

import csv
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, overload

from videozoo.data.layouts.common import (
    SPLIT_NAMES,
    Annotated,
    Entry,
    Layout,
    check_split,
    data_root,
    index_videos,
    text_lines,
)
from videozoo.errors import DataError, DataNotFoundError

ANNOTATION_PATTERNS = ("{}.csv", "{}_list.txt", "{}.txt", "kinetics400_{}_list_videos.txt")


@cache
def kinetics400_classes() -> tuple[str, ...]:
    """The shipped Kinetics-400 class names, sorted (index = class id)."""
    text = resources.files("videozoo").joinpath("assets/kinetics400_classes.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@overload
def find_annotation(data_cfg: dict[str, Any], split: str, required: Literal[True] = True) -> Path: ...
@overload
def find_annotation(data_cfg: dict[str, Any], split: str, required: bool) -> Path | None: ...
def find_annotation(data_cfg: dict[str, Any], split: str, required: bool = True) -> Path | None:
    """The annotation file of `split`: explicit `data.<split>_annotation` or by convention."""
    check_split(split)
    explicit = data_cfg.get(f"{split}_annotation")
    if explicit:
        path = Path(explicit)
        if not path.is_absolute() and data_cfg.get("root") and not path.exists():
            path = Path(data_cfg["root"]) / path
        if not path.is_file():
            raise DataNotFoundError(f"data.{split}_annotation: {explicit} does not exist")
        return path
    if not data_cfg.get("root") and not required:
        return None
    root = data_root(data_cfg)
    tried = []
    for folder in (root, root / "annotations"):
        for name in SPLIT_NAMES[split]:
            for pattern in ANNOTATION_PATTERNS:
                candidate = folder / pattern.format(name)
                if candidate.is_file():
                    return candidate
                tried.append(candidate.relative_to(root).as_posix())
    if required:
        raise DataNotFoundError(
            f"no '{split}' annotation in {root}: looked for {', '.join(tried[:8])} "
            f"(and under annotations/); or set data.{split}_annotation"
        )
    return None


def video_folder(data_cfg: dict, split: str, annotation: Path) -> Path:
    """Where the videos of `split` live (see the module docstring)."""
    if data_cfg.get("video_dir"):
        return Path(data_cfg["video_dir"])
    root = Path(data_cfg["root"]) if data_cfg.get("root") else annotation.parent
    for name in SPLIT_NAMES[split]:
        for folder in (root / name, root / f"videos_{name}"):
            if folder.is_dir():
                return folder
    return root


def read_csv_rows(path: Path) -> list[dict]:
    """Rows of an official Kinetics CSV as dicts with youtube_id, time_start, time_end, label."""
    with open(path, newline="", encoding="utf-8") as f:
        try:
            reader = csv.DictReader(f)
            missing = {"youtube_id", "time_start", "time_end"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(
                    f"{path}: not a Kinetics CSV (missing column(s) "
                    f"{', '.join(sorted(missing))}; expected label,youtube_id,"
                    "time_start,time_end,split)"
                )
            return list(reader)
        except (UnicodeDecodeError, csv.Error) as err:
            raise DataError(
                f"{path}: not a readable UTF-8 CSV ({type(err).__name__} at byte "
                f"{getattr(err, 'start', '?')})"
            ) from None


def read_list_lines(path: Path) -> list[tuple[str, int]]:
    """(relative path, label or -1) per non-empty line of an MMAction2-style list file."""
    entries = []
    for _, line in text_lines(path):
        if line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            entries.append((parts[0], int(parts[1])))
        else:
            entries.append((line, -1))
    if not entries:
        raise DataError(f"list file {path} has no entries; expected 'relative/path.mp4 label' lines")
    return entries


def clip_stem(row: dict) -> str:
    return f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"


def _kinetics_classes(annotation: Path) -> list[str]:
    stat = annotation.stat()
    return list(_kinetics_classes_of(str(annotation), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=8)  # the train and validate sources both ask; a 250k-row CSV takes a second
def _kinetics_classes_of(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    annotation = Path(path)
    if annotation.suffix == ".csv":
        labels = {row["label"] for row in read_csv_rows(annotation) if row.get("label")}
        return kinetics400_classes() if labels <= set(kinetics400_classes()) else tuple(sorted(labels))
    top = max(label for _, label in read_list_lines(annotation))
    return kinetics400_classes() if top < 400 else tuple(str(i) for i in range(top + 1))


def _csv_entries(annotation: Path, folder: Path) -> list[Entry]:
    """Entries of an official CSV: its clips looked up under `folder`."""
    videos = index_videos(folder)
    entries: list[Entry] = []
    for line_no, row in enumerate(read_csv_rows(annotation), 2):
        try:
            stem = clip_stem(row)
        except (TypeError, ValueError):
            raise DataError(
                f"{annotation}:{line_no}: time_start/time_end {row['time_start']!r}, "
                f"{row['time_end']!r} are not numbers"
            ) from None
        entries.append((stem, videos.get(stem) or videos.get(row["youtube_id"]), row.get("label") or None))
    return entries


def _list_entries(annotation: Path, folder: Path) -> tuple[list[Entry], Path]:
    """Entries of an MMAction2 list file, and the folder its paths are relative to."""
    lines = read_list_lines(annotation)
    base = next((b for b in (annotation.parent, folder) if (b / lines[0][0]).is_file()), annotation.parent)
    entries: list[Entry] = []
    for relative, label in lines:
        path = base / relative
        entries.append((relative, str(path) if path.is_file() else None, None if label < 0 else label))
    return entries, base


def read_kinetics(cfg: dict[str, Any], split: str | None) -> Annotated:
    annotation = next(
        filter(None, (find_annotation(cfg, name, required=False) for name in ("train", "validate", "test"))),
        None,
    )
    class_names = _kinetics_classes(annotation) if annotation else list(kinetics400_classes())
    if split is None:
        return Annotated(class_names, [])
    annotation = find_annotation(cfg, split)
    folder = video_folder(cfg, split, annotation)
    if annotation.suffix == ".csv":
        return Annotated(class_names, _csv_entries(annotation, folder), annotation, folder)
    entries, base = _list_entries(annotation, folder)
    return Annotated(class_names, entries, annotation, base)


def kinetics_found(root: Path) -> bool:
    return any(find_annotation({"root": str(root)}, split, required=False) for split in SPLIT_NAMES)


LAYOUT = Layout(
    kinetics_found,
    read_kinetics,
    "kinetics: train.csv, train_list.txt, train.txt or kinetics400_train_list_videos.txt "
    "(or val/validate/test ones) in DIR or annotations/",
)
