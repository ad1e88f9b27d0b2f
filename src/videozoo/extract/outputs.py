"""What every ``videozoo extract`` run writes besides its records: the check for shards of
an earlier run, and ``manifest.csv`` (one row per video: id, path, split, shard, frames,
has_audio, status, error)."""

from __future__ import annotations

import csv
from pathlib import Path

from videozoo.errors import OutputExistsError
from videozoo.fileio import write_csv

MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ["id", "path", "split", "shard", "frames", "has_audio", "status", "error"]


def existing_shards(out: Path, prefix: str, overwrite: bool) -> list[Path]:
    """Shards `prefix`NNNN.tfrecord already in `out`; refused unless `overwrite`."""
    old_shards = sorted(out.glob(f"{prefix}[0-9][0-9][0-9][0-9].tfrecord"))
    if old_shards and not overwrite:
        raise OutputExistsError(
            f"{out} already holds {prefix}*.tfrecord shards "
            f"({old_shards[0].name}, ...); pass --overwrite to replace them "
            "or choose another --split-prefix"
        )
    return old_shards


def write_manifest(path: Path, prefix: str, rows: list[dict]) -> None:
    """Write ``manifest.csv`` (atomically, text cells escaped against spreadsheet formulas);
    rows of this run replace the rows of earlier runs with the same split prefix."""
    kept = []
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as f:
            kept = [row for row in csv.DictReader(f) if row.get("split") != prefix]
    write_csv(
        path,
        MANIFEST_COLUMNS,
        ([row.get(column, "") for column in MANIFEST_COLUMNS] for row in kept + rows),
        escape=True,
    )
