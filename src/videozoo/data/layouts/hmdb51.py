"""The ``hmdb51`` layout: HMDB51 as published (``hmdb51_org.rar``, one ``.rar`` per class, and
``test_train_splits.rar``).

``<class>_test_split<N>.txt`` (``<video>.avi <0|1|2>``: 1 train, 2 test, 0 unused) in DIR,
DIR/testTrainMulti_7030_splits/, DIR/test_train_splits/(...) or DIR/annotations/;
N = ``data.split_id``. Videos ``<class>/<video>.avi`` under DIR/videos/, DIR/hmdb51_org/,
DIR/hmdb51/ or DIR. There is no validation list: the ``validate`` and ``test`` splits are both
the test lines. Class ids: the sorted class names of the split files.
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
from videozoo.errors import DataNotFoundError

HMDB51_SPLIT = r"(.+)_test_split(\d+)\.txt"


def hmdb51_folder(root: Path) -> Path | None:
    candidates = (
        root,
        root / "testTrainMulti_7030_splits",
        root / "test_train_splits",
        root / "test_train_splits" / "testTrainMulti_7030_splits",
        root / "annotations",
    )
    return first_folder(
        candidates, lambda folder: any(re.fullmatch(HMDB51_SPLIT, path.name) for path in folder.iterdir())
    )


def read_hmdb51(cfg: dict[str, Any], split: str | None) -> Annotated:
    root, folder = located(
        cfg,
        hmdb51_folder,
        "no HMDB51 split files (<class>_test_split1.txt) in {root} or {root}/testTrainMulti_7030_splits",
    )
    split_id = int(cfg.get("split_id") or 1)
    by_split: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = re.fullmatch(HMDB51_SPLIT, path.name)
        if match:
            by_split.setdefault(int(match.group(2)), {})[match.group(1)] = path
    files = by_split.get(split_id)
    if not files:
        raise DataNotFoundError(
            f"no HMDB51 split {split_id} files (<class>_test_split{split_id}.txt) "
            f"in {folder}: data.split_id must be one of {sorted(by_split)}"
        )
    class_names = sorted(files)
    if split is None:
        return Annotated(class_names, [])
    check_split(split)
    wanted = "1" if split == "train" else "2"  # no validation list: validate = test
    videos = []
    for name, path in files.items():
        for line_no, line in text_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise malformed(path, line_no, line, "'<video>.avi <0|1|2>' (1 train, 2 test, 0 unused)")
            if parts[1] == wanted:
                videos.append((f"{name}/{parts[0]}", name))
    entries, video_root = match_relative(
        cfg, [root / "videos", root / "hmdb51_org", root / "hmdb51", root], videos
    )
    return Annotated(class_names, entries, folder, video_root)


LAYOUT = Layout(
    hmdb51_folder,
    read_hmdb51,
    "hmdb51: <class>_test_split<N>.txt in DIR, testTrainMulti_7030_splits/ or annotations/",
)
