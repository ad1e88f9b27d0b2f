"""Prediction: top-k classes per input video, written as JSON lines, CSV or a Kaggle submission.

Rows: ``{"id", "class_ids", "class_names", "scores"}``; a video that could not be read gets
``{"id", "error"}`` instead (it is listed, never silently dropped).
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import torch

from videozoo.data import build_source
from videozoo.engine.distributed import DistContext
from videozoo.engine.evaluate import iterate_scores
from videozoo.engine.tasks import make_task

log = logging.getLogger("videozoo")

FORMATS = ("jsonl", "csv", "kaggle")


def predict_rows(model, cfg: dict, inputs: list[str], class_names: list[str], ctx: DistContext,
                 *, topk: int = 20, batch_size: int = 16, amp: bool = False) -> list[dict]:
    source = build_source(cfg, "predict", training=False, batch_size=batch_size, inputs=inputs)
    task = make_task(source, cfg["model"]["num_classes"], cfg["eval"])
    rows, skipped = [], []
    for batch, scores in iterate_scores(model, source, task, ctx, amp=amp, desc="predict",
                                        skipped=skipped):
        k = min(topk, scores.shape[1])
        top_scores, top_ids = torch.topk(scores, k, dim=1)
        valid = batch.get("valid", torch.ones(len(batch["ids"]), dtype=torch.bool))
        for i, vid in enumerate(batch["ids"]):
            if not bool(valid[i]):
                rows.append({"id": vid, "error": "could not be decoded (see the warning log)"})
                continue
            ids = top_ids[i].tolist()
            rows.append({"id": vid, "class_ids": ids,
                         "class_names": [class_names[c] if c < len(class_names) else str(c)
                                         for c in ids],
                         "scores": [round(float(s), 6) for s in top_scores[i]]})
    for file, vid, reason in skipped:
        rows.append({"id": vid or file, "error": reason})
    return rows


def infer_format(output: str | None, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
        return fmt
    if output and output.endswith(".csv"):
        return "csv"
    return "jsonl"


def write_predictions(rows: list[dict], path: str | Path, fmt: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        if fmt == "jsonl":
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        elif fmt == "csv":
            writer = csv.writer(fh)
            writer.writerow(["id", "rank", "class_id", "class_name", "score", "error"])
            for row in rows:
                if "error" in row:
                    writer.writerow([row["id"], "", "", "", "", row["error"]])
                    continue
                for rank, (c, n, s) in enumerate(zip(row["class_ids"], row["class_names"],
                                                     row["scores"]), 1):
                    writer.writerow([row["id"], rank, c, n, f"{s:.6f}", ""])
        elif fmt == "kaggle":
            # YouTube-8M challenge format: VideoId,LabelConfidencePairs ("label score ...").
            writer = csv.writer(fh)
            writer.writerow(["VideoId", "LabelConfidencePairs"])
            for row in rows:
                if "error" in row:
                    continue
                pairs = " ".join(f"{c} {s:.6f}" for c, s in zip(row["class_ids"], row["scores"]))
                writer.writerow([row["id"], pairs])
        else:
            raise ValueError(f"unknown format '{fmt}'")
    return path
