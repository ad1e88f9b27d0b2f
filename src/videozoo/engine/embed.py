"""Clip embeddings: per-video features from the layer just before a model's classifier.

The embedding of a clip is ``model.forward_head(model.forward_features(inputs),
pre_logits=True)`` (the head contract, ``models/base.py``): the pooled vector the classifier
sees (a window head: the mean over its windows). Evaluation views (clips x crops) are
averaged: one vector of ``model.num_features`` numbers per video (2048 for ResNet-50 models).

Outputs (written atomically):

* ``format="npy"``: ``DIR/<n>.npy`` per video plus ``DIR/index.csv`` (``file, id, error``;
  failed inputs are rows with an error and no file);
* ``format="npz"``: ``DIR/embeddings.npz`` with ``ids`` [N] and ``embeddings`` [N, D], plus
  ``index.csv``.

``index.csv`` is also the record of what a run wrote: an occupied ``DIR`` is refused
(``claim_output``) unless ``overwrite``, and then the earlier run's files that the new one
does not write again are removed, nothing else.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videozoo.data import build_source
from videozoo.engine.distributed import DistContext
from videozoo.engine.evaluate import iterate_scores
from videozoo.engine.tasks import Task, make_task
from videozoo.errors import ConfigError
from videozoo.fileio import atomic_write_bytes, refuse_to_overwrite, write_csv
from videozoo.models.base import VideozooModel
from videozoo.runlock import is_lock_file

log = logging.getLogger("videozoo")

FORMATS = ("npy", "npz")
INDEX = "index.csv"
_WRITTEN = re.compile(r"^(\d+\.npy|embeddings\.npz)$")  # the names a run writes, no paths


class PreLogitsTask:
    """A task whose ``scores`` are the clip embeddings ``[B*V, D]`` (views not yet averaged), so
    that ``iterate_scores`` runs the embedding pass as it runs evaluation."""

    def __init__(self, task: Task):
        self.task = task

    def scores(self, model: VideozooModel, batch: dict[str, Any]) -> torch.Tensor:
        return model.forward_head(model.forward_features(self.task.model_inputs(batch)), pre_logits=True)


def embed_rows(
    model: torch.nn.Module,
    cfg: dict[str, Any],
    inputs: list[str],
    ctx: DistContext,
    *,
    batch_size: int = 8,
    amp: bool = False,
    amp_dtype: str = "bfloat16",
    decode_pool: Executor | None = None,
) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """([(id, embedding float32 [D])], [(id, reason)]) for every input."""
    source = build_source(
        cfg, "predict", training=False, batch_size=batch_size, inputs=inputs, decode_pool=decode_pool
    )
    if not isinstance(model, VideozooModel):
        raise ConfigError(f"{type(model).__name__} has no forward_head(pre_logits=True) to embed from")
    task = PreLogitsTask(make_task(cfg, source.class_names))
    done: list[tuple[str, np.ndarray]] = []
    failed: list[tuple[str, str]] = []  # (id, reason)
    skipped: list[tuple[str, str, str]] = []  # (file, id, reason)
    for batch, features in iterate_scores(
        model, source, task, ctx, amp=amp, amp_dtype=amp_dtype, desc="embed", skipped=skipped
    ):
        views = features.shape[0] // len(batch["ids"])
        features = features.view(len(batch["ids"]), views, -1).mean(1)
        valid = batch.get("valid", torch.ones(len(batch["ids"]), dtype=torch.bool))
        reasons = batch.get("reasons") or [""] * len(batch["ids"])
        for i, vid in enumerate(batch["ids"]):
            if not bool(valid[i]):
                failed.append((vid, reasons[i] or "could not be decoded"))
            elif not bool(torch.isfinite(features[i]).all()):
                failed.append((vid, "non-finite features (NaN/Inf weights or input)"))
            else:
                done.append((vid, features[i].numpy().astype(np.float32)))
    failed += [(vid or file, reason) for file, vid, reason in skipped]
    return done, failed


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def claim_output(out_dir: str | Path, overwrite: bool) -> None:
    """Refuse an output folder holding anything unless ``overwrite`` (before any work)."""
    refuse_to_overwrite(out_dir, ["*"], "files", overwrite, ignore=is_lock_file)


def _written_before(out_dir: Path) -> set[str]:
    """The files the previous run into ``out_dir`` wrote (its ``index.csv`` lists them)."""
    try:
        with (out_dir / INDEX).open(newline="", encoding="utf-8", errors="replace") as fh:
            return {row[0] for row in csv.reader(fh) if row and _WRITTEN.match(row[0])}
    except OSError:
        return set()


def write_embeddings(
    done: list[tuple[str, np.ndarray]], failed: list[tuple[str, str]], out_dir: str | Path, fmt: str = "npy"
) -> Path:
    """Write embeddings as ``fmt`` (see the module docstring); returns the index CSV path."""
    if fmt not in FORMATS:
        raise ConfigError(f"embedding format {fmt!r}: use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = _written_before(out_dir)
    rows = []
    if fmt == "npy":
        width = len(str(max(len(done) - 1, 0)))
        for n, (vid, vector) in enumerate(done):
            name = f"{n:0{width}d}.npy"
            atomic_write_bytes(out_dir / name, _npy_bytes(vector))
            rows.append([name, vid, ""])
    else:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            ids=np.array([vid for vid, _ in done]),
            embeddings=np.stack([v for _, v in done]) if done else np.zeros((0, 0)),
        )
        atomic_write_bytes(out_dir / "embeddings.npz", buffer.getvalue())
        rows = [["embeddings.npz", vid, ""] for vid, _ in done]
    rows += [["", vid, reason] for vid, reason in failed]
    index = write_csv(out_dir / INDEX, ["file", "id", "error"], rows)
    for stale in before - {row[0] for row in rows}:
        (out_dir / stale).unlink(missing_ok=True)
    if before:
        log.info(
            "%s: replaced the previous embeddings (%d stale file(s) removed)",
            out_dir,
            len(before - {row[0] for row in rows}),
        )
    return index
