"""YouTube-8M's ``vocabulary.csv``: class names by index (columns ``VOCABULARY_COLUMNS``, of
which ``Index`` and ``Name`` are read). The class count follows the vocabulary unless
``model.num_classes`` says otherwise, and then the two must fit.
"""

from __future__ import annotations

import csv
import logging
import os

from videozoo.errors import ClassCountError, DataError, DataNotFoundError

log = logging.getLogger("videozoo.data")

VOCABULARY_COLUMNS = [
    "Index",
    "TrainVideoCount",
    "KnowledgeGraphId",
    "Name",
    "WikiUrl",
    "Vertical1",
    "Vertical2",
    "Vertical3",
    "WikiDescription",
]


def _vocabulary_rows(path: str) -> dict[int, str]:
    names: dict[int, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"Index", "Name"} <= set(reader.fieldnames or []):
            raise DataError(
                f"{path}: a vocabulary needs the columns Index and Name "
                f"(official: {','.join(VOCABULARY_COLUMNS)})"
            )
        for row in reader:
            try:
                index = int(row["Index"])
            except (TypeError, ValueError):
                raise DataError(
                    f"{path}, line {reader.line_num}: Index {row['Index']!r} is not a class number"
                ) from None
            if index < 0:
                raise DataError(f"{path}, line {reader.line_num}: negative Index {index}")
            names[index] = row["Name"] or ""
    return names


def read_vocabulary(path: str | None, num_classes: int | None) -> list[str]:
    """Class names by index from ``vocabulary.csv`` (columns Index and Name).

    ``num_classes`` None: as many classes as the vocabulary has (max Index + 1). A missing
    file gives names ``class_<i>`` with a warning naming it; a malformed row is an error
    naming the file and line.
    """
    names: dict[int, str] = {}
    if path and os.path.isfile(path):
        try:
            names = _vocabulary_rows(path)
        except (UnicodeDecodeError, csv.Error) as err:
            raise DataError(
                f"{path}: not a readable UTF-8 CSV ({type(err).__name__}); a "
                f"vocabulary has the columns {','.join(VOCABULARY_COLUMNS)}"
            ) from None
        if num_classes is not None and names and max(names) >= num_classes:
            raise ClassCountError(
                f"model.num_classes={num_classes} but {path} lists "
                f"{max(names) + 1} classes (indices up to {max(names)}); set "
                f"model.num_classes={max(names) + 1} or leave it unset (it "
                "follows the vocabulary)",
                found=max(names) + 1,
            )
    elif path:
        log.warning(
            "no vocabulary at %s: classes will be named class_<i>; put the dataset's "
            "vocabulary.csv there (or set data.vocabulary) for class names",
            path,
        )
    if num_classes is None:
        if not names:
            raise DataNotFoundError(
                f"the number of classes is unknown: no vocabulary at {path}; set model.num_classes"
            )
        num_classes = max(names) + 1
    return [names.get(i) or f"class_{i}" for i in range(num_classes)]
