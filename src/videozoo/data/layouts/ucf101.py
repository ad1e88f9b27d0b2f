"""The ``ucf101`` layout: UCF101 as published (``UCF101.rar`` and the split zip side by side).

``classInd.txt`` (``1 ApplyEyeMakeup``, 1-based) with ``trainlist0N.txt``
(``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``) and ``testlist0N.txt`` (no label: the
folder is the class) in DIR, DIR/ucfTrainTestlist/ or DIR/annotations/; N = ``data.split_id``.
Videos under DIR/UCF-101/, DIR/UCF101/, DIR/videos/ or DIR (matched without regard to case or
extension: re-encoded copies and fixed file names still match). There is no validation list:
the ``validate`` and ``test`` splits are both the test list. Class ids: classInd.txt's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from videozoo.data.layouts.common import (
    Annotated,
    Layout,
    check_split,
    first_folder,
    located,
    malformed,
    match_relative,
    text_lines,
)
from videozoo.errors import DataError, DataNotFoundError


def ucf101_folder(root: Path) -> Path | None:
    return first_folder(
        (root, root / "ucfTrainTestlist", root / "annotations"),
        lambda folder: (folder / "classInd.txt").is_file(),
    )


def _numbered_files(folder: Path, pattern: str) -> list[int]:
    """The split ids N of the files in `folder` matching `pattern` (a regex with one group)."""
    ids = [re.fullmatch(pattern, path.name) for path in folder.iterdir()]
    return sorted(int(match.group(1)) for match in ids if match)


def _read_class_index(class_file: Path) -> list[str]:
    """Class names of ``classInd.txt`` in id order (its 1-based indices, 0-based here)."""
    names: dict[int, str] = {}
    for line_no, line in text_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) in names:
            raise malformed(class_file, line_no, line, "'<index> <ClassName>' with each index once")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DataError(f"{class_file}: class indices must run 1..{len(names)} without gaps")
    return [names[i] for i in range(1, len(names) + 1)]


def _read_split_list(
    path: Path, kind: str, class_names: list[str], class_file: Path
) -> list[tuple[str, str]]:
    """(``Class/video.avi``, class name) per line of a train (``kind``) or test list."""
    known = set(class_names)
    videos = []
    for line_no, line in text_lines(path):
        parts = line.split()
        relative, folder_name = parts[0], parts[0].split("/")[0]
        if kind == "train" and (
            len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(class_names)
        ):
            raise malformed(path, line_no, line, f"'Class/v_Class_gXX_cYY.avi <1..{len(class_names)}>'")
        if kind == "test" and (len(parts) > 2 or "/" not in relative or folder_name not in known):
            raise malformed(
                path, line_no, line, f"'Class/v_Class_gXX_cYY.avi' with a class of {class_file.name}"
            )
        videos.append((relative, class_names[int(parts[1]) - 1] if kind == "train" else folder_name))
    return videos


def read_ucf101(cfg: dict[str, Any], split: str | None) -> Annotated:
    root, folder = located(
        cfg, ucf101_folder, "no UCF101 classInd.txt in {root}, {root}/ucfTrainTestlist or {root}/annotations"
    )
    class_file = folder / "classInd.txt"
    class_names = _read_class_index(class_file)
    if split is None:
        return Annotated(class_names, [])
    check_split(split)
    split_id = int(cfg.get("split_id") or 1)
    kind = "train" if split == "train" else "test"  # no validation list: validate = test
    path = folder / f"{kind}list{split_id:02d}.txt"
    if not path.is_file():
        have = _numbered_files(folder, kind + r"list(\d+)\.txt")
        raise DataNotFoundError(
            f"{path} does not exist: data.split_id={split_id}; this UCF101 copy has {kind} "
            f"splits {have or 'none'}"
        )
    videos = _read_split_list(path, kind, class_names, class_file)
    entries, video_root = match_relative(
        cfg, [root / "UCF-101", root / "UCF101", root / "videos", root], videos
    )
    return Annotated(class_names, entries, path, video_root)


LAYOUT = Layout(ucf101_folder, read_ucf101, "ucf101: classInd.txt in DIR, ucfTrainTestlist/ or annotations/")
