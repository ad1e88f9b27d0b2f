"""``videozoo check``: find the bad files and records of a dataset before training on it.

Every file under the given folders (or given directly) is checked in parallel worker
processes:

* videos (mp4, webm, mkv, avi, ...): opened, indexed, and a few frames decoded (first,
  middle, last) through the same reader training uses;
* TFRecord shards: every record's framing and both CRCs (``tfrecord.scan_records``), then
  every record parsed as a frame-level YouTube-8M example (id, rgb/audio frames, labels,
  checked against ``vocabulary.csv`` when the folder has one); also reported: a shard with
  no records, an id that is not UTF-8, rgb and audio lists of different lengths, and a video
  id found twice (in one shard or across shards: predict would write two rows for it);
* a FIFO, device or socket named like a video or a shard is reported, never opened (opening
  a FIFO would wait for a writer forever).

The report keeps ids and paths verbatim (no spreadsheet escaping: it is for finding them).

The result is a CSV with one row per problem (``path, kind, record, video_id, reason``),
written atomically, and a summary; ``run_check`` returns the summary as a dict.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from videozoo.data.tfrecord import Damage, scan_records
from videozoo.data.video import VIDEO_EXTENSIONS, VideoReader, VideoReadError
from videozoo.data.youtube8m_records import RecordError, parse_frame_example, record_notes
from videozoo.data.youtube8m_vocabulary import read_vocabulary
from videozoo.engine.progress import progress_bar
from videozoo.errors import DataNotFoundError
from videozoo.fileio import is_special_file, write_csv

log = logging.getLogger("videozoo")

SHARD_EXTENSIONS = (".tfrecord", ".tfrecords")
COLUMNS = ["path", "kind", "record", "video_id", "reason"]
# one row of the report, as COLUMNS: record is the record index in a shard, "" elsewhere
Problem = tuple[str, str, "int | str", str, str]


def find_files(inputs: list[str]) -> list[tuple[str, str]]:
    """(path, "video" | "shard" | "other" | "special") for every checkable file in ``inputs``
    (files or folders); "special": a FIFO / device / socket with a video or shard name."""
    found = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise DataNotFoundError(f"{item}: no such file or folder")
        candidates = [path]
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() or is_special_file(p))
        for file in candidates:
            suffix = file.suffix.lower()
            checkable = suffix in VIDEO_EXTENSIONS or suffix in SHARD_EXTENSIONS
            if is_special_file(file) and (checkable or not path.is_dir()):
                found.append((str(file), "special"))
            elif suffix in VIDEO_EXTENSIONS:
                found.append((str(file), "video"))
            elif suffix in SHARD_EXTENSIONS:
                found.append((str(file), "shard"))
            elif not path.is_dir():  # given by name: say why it is not checked
                found.append((str(file), "other"))
    return found


def check_video(path: str, frames: int = 3) -> list[Problem]:
    """Problems of one video file (an empty list when it decodes)."""
    try:
        with VideoReader(path) as reader:
            last = reader.num_frames - 1
            wanted = sorted({0, last // 2, last})[: max(1, frames)]
            reader.read(wanted, size=64)
    except VideoReadError as err:
        return [(path, "video", "", "", err.reason)]
    return []


def check_shard(
    path: str, num_classes: int | None = None
) -> tuple[int, list[Problem], list[tuple[str, int]]]:
    """(sound records, problems, (video id, record index) of each parsed record) of one
    TFRecord shard."""
    problems: list[Problem] = []
    records, ids = 0, []
    try:
        for index, item in enumerate(scan_records(path, verify=True)):
            if isinstance(item, Damage):
                problems.append(
                    (
                        path,
                        "shard",
                        f"byte {item.offset}",
                        "",
                        f"{item.reason}; {item.skipped_bytes} bytes unreadable",
                    )
                )
                continue
            records += 1
            try:
                example = parse_frame_example(item)
            except RecordError as err:
                problems.append((path, "shard", index, err.video_id, err.reason))
                continue
            ids.append((example.video_id, index))
            problems += [(path, "shard", index, example.video_id, note) for note in record_notes(item)]
            if (
                num_classes is not None
                and example.labels is not None
                and example.labels.size
                and (example.labels.min() < 0 or example.labels.max() >= num_classes)
            ):
                problems.append(
                    (
                        path,
                        "shard",
                        index,
                        example.video_id,
                        f"label {int(example.labels.max())} outside the vocabulary ({num_classes} classes)",
                    )
                )
    except OSError as err:
        problems.append((path, "shard", "", "", f"cannot be read: {err}"))
        return records, problems, ids
    if records == 0 and not problems:
        problems.append((path, "shard", "", "", "holds no records (an empty shard)"))
    return records, problems, ids


def _check_one(
    job: tuple[str, str, int | None, int],
) -> tuple[str, int, list[Problem], list[tuple[str, int]]]:
    path, kind, num_classes, frames = job
    if kind == "video":
        return kind, 0, check_video(path, frames), []
    if kind == "shard":
        return kind, *check_shard(path, num_classes)
    if kind == "special":
        return (
            "other",
            0,
            [(path, "other", "", "", "not a regular file (a FIFO, device or socket): not opened")],
            [],
        )
    return kind, 0, [(path, "other", "", "", "neither a video nor a TFRecord shard")], []


def _duplicates(
    path: str, ids: list[tuple[str, int]], first_seen: dict[str, tuple[str, int]]
) -> list[Problem]:
    """Problems for the ids of ``path`` already seen (``first_seen``: id -> (path, index))."""
    problems: list[Problem] = []
    for video_id, index in ids:
        first = first_seen.setdefault(video_id, (path, index))
        if first != (path, index):
            problems.append(
                (
                    path,
                    "shard",
                    index,
                    video_id,
                    f"duplicate video id (also record "
                    f"{first[1]} of {first[0]}): predict would write two rows for it",
                )
            )
    return problems


def _vocabulary_size(inputs: list[str]) -> int | None:
    for item in inputs:
        vocab = Path(item) / "vocabulary.csv"
        if vocab.is_file():
            return len(read_vocabulary(str(vocab), None))
    return None


def run_check(inputs: list[str], output: str | Path, *, workers: int | None = None, frames: int = 3) -> dict:
    """Check ``inputs``; write the problems CSV to ``output``; return a summary dict."""
    files = find_files(inputs)
    if not files:
        raise DataNotFoundError(f"no videos or TFRecord shards under {', '.join(inputs)}")
    num_classes = _vocabulary_size(inputs)
    jobs = [(path, kind, num_classes, frames) for path, kind in files]
    workers = max(1, workers or min(len(jobs), os.cpu_count() or 1))
    problems: list[Problem] = []
    first_seen: dict[str, tuple[str, int]] = {}
    counts, records = {"video": 0, "shard": 0, "other": 0}, 0
    bar = progress_bar(total=len(jobs), desc="check")
    results: Iterator[tuple[str, int, list[Problem], list[tuple[str, int]]]]
    if workers == 1:
        results = map(_check_one, jobs)
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_check_one, jobs, chunksize=4)
    try:
        for (path, _, _, _), (kind, n_records, found, ids) in zip(jobs, results):
            counts[kind] += 1
            records += n_records
            problems += found + _duplicates(path, ids, first_seen)
            bar.update(1)
    finally:
        bar.close()
        if workers > 1:
            pool.shutdown()
    report = write_csv(output, COLUMNS, problems)
    bad_files = len({p[0] for p in problems})
    return {
        "videos": counts["video"],
        "shards": counts["shard"],
        "records": records,
        "problems": len(problems),
        "bad_files": bad_files,
        "report": str(report),
    }
