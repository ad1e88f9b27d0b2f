"""What both feature modes of ``videozoo extract`` share: the run's settings, the records
written into shards (with each video's labels and the run's provenance), ``manifest.csv`` (one
row per video: id, path, split, shard, frames, has_audio, status, error), the check for shards
of an earlier run, and the end of a run (stale shards removed, the manifest written, a run that
read nothing refused, the summary's common keys)."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from videozoo.data.tfrecord import ShardedTFRecordWriter
from videozoo.data.youtube8m_records import encode_frame_example
from videozoo.errors import ConfigError, NothingUsableError, OutputExistsError
from videozoo.fileio import write_csv

log = logging.getLogger("videozoo.extract")

MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ["id", "path", "split", "shard", "frames", "has_audio", "status", "error"]


@dataclass(frozen=True)
class ExtractSettings:
    """The options of ``run_extract`` that both feature modes take. `labels`: {file stem:
    class indices}, or None for unlabelled records."""

    batch_size: int = 32
    max_seconds: int = 300
    device: str = "cpu"
    shard_size: int = 1000
    split_prefix: str | None = None
    labels: dict[str, list[int]] | None = None
    overwrite: bool = False
    progress: bool = True
    pca_dims: int | None = None

    def __post_init__(self) -> None:
        for option, value in (
            ("max-seconds", self.max_seconds),
            ("shard-size", self.shard_size),
            ("batch-size", self.batch_size),
        ):
            if value < 1:
                raise ConfigError(f"--{option} {value}: must be at least 1")

    @property
    def prefix(self) -> str:
        """The shards' split prefix: as given, else ``train`` with labels, ``test`` without."""
        return self.split_prefix or ("train" if self.labels is not None else "test")


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


def manifest_rows(ids: list[str], videos: list[Path], prefix: str) -> list[dict[str, Any]]:
    """One pending manifest row per video (filled in by ``RecordWriter.write`` or ``skip``)."""
    return [
        {
            "id": vid,
            "path": str(path),
            "split": prefix,
            "shard": "",
            "frames": 0,
            "has_audio": "",
            "status": "pending",
            "error": "",
        }
        for vid, path in zip(ids, videos)
    ]


def skip(row: dict[str, Any], err: BaseException) -> None:
    """Mark a video that could not be read as skipped, with the first line of the reason, and
    log it (one bad file never stops the run)."""
    reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
    row.update(status="skipped", error=str(reason).splitlines()[0][:300])
    log.warning("%s: skipped: %s", row["path"], row["error"])


class RecordWriter:
    """Encodes one record per video (its labels, ``has_audio`` and the run's `provenance` in
    the context) into `shards` and fills in the video's manifest row. ``unlabelled`` counts the
    videos a labels mapping did not name (written with no labels)."""

    def __init__(
        self,
        shards: ShardedTFRecordWriter,
        labels: dict[str, list[int]] | None,
        provenance: dict[str, str],
    ):
        self.shards, self.labels, self.provenance = shards, labels, provenance
        self.unlabelled = 0

    def write(self, row: dict[str, Any], rgb: np.ndarray, audio: np.ndarray, has_audio: bool) -> None:
        """rgb uint8 ``[T, 1024]``, audio uint8 ``[T, 128]``."""
        video_labels = None if self.labels is None else self.labels.get(row["id"])
        if self.labels is not None and video_labels is None:
            self.unlabelled += 1
            video_labels = []
        record = encode_frame_example(
            row["id"],
            video_labels,
            rgb,
            audio,
            extra_context={"has_audio": int(has_audio), **self.provenance},
        )
        row.update(shard=self.shards.write(record), frames=len(rgb), has_audio=int(has_audio), status="ok")


def finish_outputs(
    out: Path, prefix: str, rows: list[dict[str, Any]], old_shards: list[Path], shards: list[str]
) -> tuple[Path, list[dict[str, Any]]]:
    """(manifest path, rows written) once the shards are closed: old shards this run did not
    rewrite are removed (``--overwrite`` after a longer run), the manifest is written, and a run
    that wrote no record fails with the first reason."""
    for stale in set(map(str, old_shards)) - set(shards):
        Path(stale).unlink()
    manifest = out / MANIFEST_FILE
    write_manifest(manifest, prefix, rows)
    written = [row for row in rows if row["status"] == "ok"]
    if not written:
        first = next((row for row in rows if row["error"]), rows[0])
        raise NothingUsableError(
            f"no video could be read ({len(rows)} tried); first error: "
            f"{first['path']}: {first['error']}. See {manifest}"
        )
    skipped = len(rows) - len(written)
    if skipped:
        log.warning("%d of %d videos skipped (reasons in %s)", skipped, len(rows), manifest)
    return manifest, written


def summary(
    out: Path,
    prefix: str,
    rows: list[dict[str, Any]],
    written: list[dict[str, Any]],
    records: RecordWriter,
    manifest: Path,
) -> dict[str, Any]:
    """The summary keys both feature modes return (counts, shard and manifest paths)."""
    if records.unlabelled:
        log.warning("%d videos are not in the labels mapping: written with no labels", records.unlabelled)
    return {
        "output": str(out),
        "split_prefix": prefix,
        "videos": len(rows),
        "written": len(written),
        "skipped": len(rows) - len(written),
        "without_audio": sum(1 for row in written if row["has_audio"] == 0),
        "unlabelled": records.unlabelled,
        "frames": sum(row["frames"] for row in written),
        "shards": records.shards.paths,
        "manifest": str(manifest),
    }


def write_manifest(path: Path, prefix: str, rows: list[dict[str, Any]]) -> None:
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
