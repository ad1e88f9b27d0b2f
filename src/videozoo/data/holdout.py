"""A validation split for a data set published without one: seeded, stratified, and written to
the run folder once so that evaluation and resuming use the same videos.

``stratified_split({class: [video id, ...]}, val_fraction, seed)`` -> ``{"train": [...],
"validate": [...]}``: per class, ``round(n * val_fraction)`` videos validate, at least one when
the class has two or more and ``val_fraction > 0``, never all of them. Each class is shuffled by
its own generator (seeded by ``seed`` and the class name), so adding a class or a video to
another class leaves a class's split as it was.

A split file (``split.json``) is JSON: ``{"format": "videozoo-split/1", "classes": [names],
"train": [ids], "validate": [ids], "val_fraction": f, "split_seed": s}``; ids are paths
relative to the data folder, in ``/`` form.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from videozoo.errors import ConfigError, DataError, DataNotFoundError
from videozoo.fileio import atomic_write_text

SPLIT_FORMAT = "videozoo-split/1"
SPLITS = ("train", "validate")


def check_val_fraction(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(
            f"data.val_fraction is the share of each class's videos held out for "
            f"validation, in [0, 1); got {value!r}"
        )
    return float(value)


def stratified_split(
    videos_by_class: dict[str, list[str]], val_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Train and validate ids, stratified by class (rules in the module docstring)."""
    split: dict[str, list[str]] = {"train": [], "validate": []}
    for name in sorted(videos_by_class):
        ids = sorted(videos_by_class[name])
        held_out = round(len(ids) * val_fraction)
        if val_fraction > 0 and len(ids) >= 2:
            held_out = min(max(held_out, 1), len(ids) - 1)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        order = rng.permutation(len(ids))
        split["validate"] += sorted(ids[i] for i in order[:held_out])
        split["train"] += sorted(ids[i] for i in order[held_out:])
    return split


def write_split_file(
    path: Path, classes: list[str], split: dict[str, list[str]], val_fraction: float, seed: int
) -> Path:
    record = {
        "format": SPLIT_FORMAT,
        "val_fraction": val_fraction,
        "split_seed": seed,
        "classes": list(classes),
        **{name: split[name] for name in SPLITS},
    }
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def read_split_file(path: str | Path) -> dict:
    """The split file at `path`, checked: a one-line DataError names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            f"split file {path} (data.split_file) does not exist; it is "
            "written to the run folder by training. Set data.split_file to "
            "its new place, or to null to draw the split again"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a videozoo split file ({err})") from None
    if not isinstance(record, dict) or record.get("format") != SPLIT_FORMAT:
        raise DataError(f'{path}: not a videozoo split file (no "format": "{SPLIT_FORMAT}")')
    for key in ("classes", *SPLITS):
        value = record.get(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise DataError(f'{path}: "{key}" must be a list of strings')
    return record
