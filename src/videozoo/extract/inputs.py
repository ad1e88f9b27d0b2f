"""What ``videozoo extract`` works on: the video files, their ids and their labels.

* ``find_videos(inputs) -> [Path]``: files, folders (every video inside, by extension, via
  ``videozoo.data.video.find_video_files``) and globs, sorted per input, without duplicates.
* ``unique_ids(paths) -> [str]``: the record id of each video: its file stem, with ``_2``,
  ``_3``, ... appended to stems seen before.
* ``read_labels_csv(path) -> {stem: [class index, ...]}``: lines ``video,3;17``.
"""

from __future__ import annotations

import csv
import glob
import logging
from pathlib import Path

from videozoo.data.video import find_video_files
from videozoo.errors import DataError, DataNotFoundError

log = logging.getLogger("videozoo.extract")


def find_videos(inputs: list[str]) -> list[Path]:
    """Video files named by `inputs` (files, folders searched recursively by extension, globs),
    sorted per input and without duplicates. A name matching nothing raises
    DataNotFoundError; so does finding no video at all."""
    found: list[Path] = []
    for item in inputs:
        matches = [Path(p) for p in sorted(glob.glob(item))] or [Path(item)]
        for path in matches:
            if path.is_dir():
                found += sorted(find_video_files(path))
            elif path.is_file():
                found.append(path)  # named explicitly: tried whatever its extension
            else:
                raise DataNotFoundError(f"{item}: no such video file, folder or glob")
    if not found:
        raise DataNotFoundError(f"no video files in {', '.join(inputs)}")
    return list(dict.fromkeys(found))


def unique_ids(paths: list[Path]) -> list[str]:
    """One record id per video: the file stem; a repeated stem gets ``_2``, ``_3``, ... (logged)."""
    ids: list[str] = []
    seen: dict[str, int] = {}  # stem -> times seen
    for path in paths:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        ids.append(path.stem if count == 0 else f"{path.stem}_{count + 1}")
        if count:
            log.warning("%s: another input is also named '%s'; its id is '%s'", path, path.stem, ids[-1])
    return ids


def read_labels_csv(path: str) -> dict[str, list[int]]:
    """Labels from a CSV of lines ``video,labels`` (``labels`` = class indices joined by ";",
    as Google's extractor reads them); ``video`` is a file stem or a path (its stem is used).
    A header line whose second column is not numeric is skipped."""
    labels: dict[str, list[int]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise DataNotFoundError(f"--labels {path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"--labels {path}: not a readable text CSV ({err})") from None
    for line_number, row in enumerate(rows, start=1):
        if not row or not row[0].strip():
            continue
        cells = [c for c in (row[1] if len(row) > 1 else "").split(";") if c.strip()]
        try:
            indices = [int(c) for c in cells]
        except ValueError:
            if line_number == 1:
                continue  # a header
            raise DataError(
                f"{path}, line {line_number}: labels must be integers joined "
                f"by ';' (e.g. 'clip.mp4,3;17'), got {row[1]!r}"
            ) from None
        if any(index < 0 for index in indices):
            raise DataError(
                f"{path}, line {line_number}: negative class index in {row[1]!r}; "
                "labels are class indices 0, 1, ..."
            )
        labels[Path(row[0].strip()).stem] = indices
    return labels
