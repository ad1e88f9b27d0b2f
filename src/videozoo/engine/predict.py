"""Prediction: top-k classes per input, written as JSON lines, CSV or a Kaggle submission.

Rows: ``{"id", "class_ids", "class_names", "scores"}`` per input (videos: the path as given;
YouTube-8M: the record's video id). An input that could not be used (not a video, not
decodable, a damaged record, non-finite scores) gets ``{"id", "error"}`` instead: it is
listed, never silently dropped. Files are written atomically (a temporary file renamed), so
a full disk never leaves a half-written or emptied predictions file.

Every format keeps ids and class names verbatim (a Kaggle submission must match the
YouTube-8M ids, many of which start with ``-``). ``csv_escape`` (``--csv-escape``) prefixes
``'`` to CSV text cells starting with ``= + - @`` for a CSV meant for a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import torch

from videozoo.data import build_source
from videozoo.engine.distributed import DistContext
from videozoo.engine.evaluate import iterate_scores
from videozoo.engine.tasks import Batch, make_task
from videozoo.errors import ConfigError, DataError
from videozoo.fileio import atomic_write_text, csv_text_cell

log = logging.getLogger("videozoo")

FORMATS = ("jsonl", "csv", "kaggle")
NON_FINITE_SCORES = "the model gave non-finite (NaN/Inf) scores: its weights or this input hold NaN/Inf"


def top_classes(scores: torch.Tensor, class_names: list[str], k: int) -> dict[str, Any]:
    """``{"class_ids", "class_names", "scores"}`` of the ``k`` best classes of ``scores [C]``."""
    top_scores, top_ids = torch.topk(scores, min(k, scores.shape[-1]))
    ids = top_ids.tolist()
    return {
        "class_ids": ids,
        "class_names": [class_names[c] if c < len(class_names) else str(c) for c in ids],
        "scores": [round(float(s), 6) for s in top_scores],
    }


def predict_rows(
    model: torch.nn.Module,
    cfg: dict[str, Any],
    inputs: list[str],
    class_names: list[str],
    ctx: DistContext,
    *,
    topk: int | None = None,
    batch_size: int = 16,
    amp: bool = False,
    amp_dtype: str = "bfloat16",
    decode_pool: Executor | None = None,
) -> list[dict[str, Any]]:
    """One row per input (see the module docstring); ``topk`` None: the task's default;
    ``decode_pool``: an executor that decodes videos (see ``data.build_source``).
    Video files given to a feature model are turned into features first
    (``videozoo.extract.on_the_fly``)."""
    video_failures: list[tuple[str, str, str]] = []  # (path, id, reason)
    if cfg["data"]["format"] == "youtube8m":
        # imported here: it decodes videos (av), which feature inputs alone never need
        from videozoo.extract.on_the_fly import shards_for_videos

        inputs, video_failures = shards_for_videos(inputs)
        if not inputs:
            return [{"id": path, "error": reason} for path, _, reason in video_failures]
    try:
        source = build_source(
            cfg, "predict", training=False, batch_size=batch_size, inputs=inputs, decode_pool=decode_pool
        )
    except DataError as err:  # nothing usable: say why the videos could not be used either
        if not video_failures:
            raise
        why = "; ".join(
            f"{path}: a video file whose features could not be made ({reason})"
            for path, _, reason in video_failures
        )
        raise DataError(f"{err}; {why}") from None
    task = make_task(cfg, class_names or source.class_names)
    k_wanted = task.default_top_k if topk is None else topk
    if k_wanted < 1:
        raise ConfigError(f"--topk must be at least 1, got {k_wanted}")
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str, str]] = []  # (file, id, reason)
    for batch, scores in iterate_scores(
        model, source, task, ctx, amp=amp, amp_dtype=amp_dtype, desc="predict", skipped=skipped
    ):
        rows += _batch_rows(batch, scores, class_names, k_wanted)
    for file, vid, reason in video_failures + skipped:
        rows.append({"id": vid or file, "error": reason})
    return rows


def _batch_rows(batch: Batch, scores: torch.Tensor, class_names: list[str], k: int) -> list[dict[str, Any]]:
    """One row per video of ``batch``: its top ``k`` classes, or why it has none."""
    rows: list[dict[str, Any]] = []
    finite = torch.isfinite(scores).all(dim=1)
    valid = batch.get("valid", torch.ones(len(batch["ids"]), dtype=torch.bool))
    reasons = batch.get("reasons") or [""] * len(batch["ids"])
    for i, vid in enumerate(batch["ids"]):
        if not bool(valid[i]):
            rows.append({"id": vid, "error": reasons[i] or "could not be decoded"})
        elif not bool(finite[i]):
            rows.append({"id": vid, "error": NON_FINITE_SCORES})
        else:
            rows.append({"id": vid, **top_classes(scores[i], class_names, k)})
    return rows


def infer_format(output: str | None, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
        return fmt
    if output and output.endswith(".csv"):
        return "csv"
    return "jsonl"


def check_csv_escape(fmt: str, csv_escape: bool) -> None:
    """The spreadsheet escape changes ids: only a CSV meant for a spreadsheet takes it."""
    if csv_escape and fmt != "csv":
        raise ConfigError(
            f"--csv-escape is for --format csv (a file for a spreadsheet); {fmt} output keeps ids verbatim"
        )


def format_predictions(rows: list[dict[str, Any]], fmt: str, csv_escape: bool = False) -> str:
    """The text of a predictions file (see ``write_predictions``)."""
    check_csv_escape(fmt, csv_escape)
    cell = csv_text_cell if csv_escape else _verbatim
    text = io.StringIO()
    if fmt == "jsonl":
        for row in rows:
            text.write(json.dumps(row, allow_nan=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(text)
        writer.writerow(["id", "rank", "class_id", "class_name", "score", "error"])
        for row in rows:
            vid = cell(row["id"])
            if "error" in row:
                writer.writerow([vid, "", "", "", "", cell(row["error"])])
                continue
            for rank, (c, n, s) in enumerate(zip(row["class_ids"], row["class_names"], row["scores"]), 1):
                writer.writerow([vid, rank, c, cell(n), f"{s:.6f}", ""])
    elif fmt == "kaggle":
        # YouTube-8M challenge format: VideoId,LabelConfidencePairs ("label score ..."); the
        # format has no place for failures (they are counted on the console).
        writer = csv.writer(text)
        writer.writerow(["VideoId", "LabelConfidencePairs"])
        for row in rows:
            if "error" not in row:
                pairs = " ".join(f"{c} {s:.6f}" for c, s in zip(row["class_ids"], row["scores"]))
                writer.writerow([row["id"], pairs])
    else:
        raise ConfigError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    return text.getvalue()


def _verbatim(value: Any) -> Any:
    return value


def write_predictions(
    rows: list[dict[str, Any]], path: str | Path, fmt: str, csv_escape: bool = False
) -> Path:
    """Write ``rows`` as ``fmt`` to ``path`` atomically (``csv_escape``: see the module doc)."""
    return atomic_write_text(path, format_predictions(rows, fmt, csv_escape))


def format_timeline(rows: list[dict[str, Any]], fmt: str) -> str:
    """Timeline rows (``videozoo.timeline.timeline_rows``) as JSON lines or CSV (one line per
    window and rank; damaged stretches and failed inputs with their error). Cells are kept
    verbatim: these files are for programs."""
    if fmt == "jsonl":
        return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows)
    if fmt != "csv":
        raise ConfigError(f"a timeline is written as jsonl or csv, not {fmt}")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "start", "end", "rank", "class_id", "class_name", "score", "error"])
    for row in rows:
        span = [row.get("start", ""), row.get("end", "")]
        if "error" in row:
            writer.writerow([row["id"], *span, "", "", "", "", row["error"]])
            continue
        for rank, (c, n, s) in enumerate(zip(row["class_ids"], row["class_names"], row["scores"]), 1):
            writer.writerow([row["id"], *span, rank, c, n, f"{s:.6f}", ""])
    return text.getvalue()


def write_timeline(rows: list[dict[str, Any]], path: str | Path, fmt: str) -> Path:
    """Write the window rows to ``path`` and the merged segments (one line each, per input)
    to ``<path stem>.segments.txt``, atomically; returns the segments path."""
    from videozoo.timeline import segment_line, segments  # here: timeline decodes (av)

    atomic_write_text(path, format_timeline(rows, fmt))
    lines = []
    for vid in dict.fromkeys(row["id"] for row in rows):
        mine = [row for row in rows if row["id"] == vid and "start" in row]
        lines += [f"# {vid}"] + [segment_line(seg) for seg in segments(mine)]
        lines += [f"failed: {row['error']}" for row in rows if row["id"] == vid and "start" not in row]
    segments_path = Path(path).with_suffix(".segments.txt")
    atomic_write_text(segments_path, "\n".join(lines) + "\n")
    return segments_path
