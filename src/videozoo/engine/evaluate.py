"""Evaluation: scores for every video of a split, official metrics, gathered over ranks.

Each rank scores its own part of the split (the DataSource guarantees no record is read twice
or dropped); the metric accumulators' states are gathered and merged, so the result equals a
single-process run exactly.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Literal, overload

import torch

from videozoo.data import DataSource
from videozoo.engine.distributed import DistContext, all_gather_objects, all_reduce_sum
from videozoo.engine.precision import autocast_context
from videozoo.engine.progress import progress_bar
from videozoo.engine.tasks import Batch, Scorer, Task, to_device
from videozoo.fileio import atomic_write_text

log = logging.getLogger("videozoo")


def iterate_scores(
    model: torch.nn.Module,
    source: DataSource,
    task: Scorer,
    ctx: DistContext,
    *,
    amp: bool = False,
    amp_dtype: str = "bfloat16",
    desc: str = "eval",
    skipped: list[tuple[str, str, str]] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[tuple[Batch, torch.Tensor], None, bool]:
    """Yield (batch, scores [B, C] float32 on CPU) for every non-empty batch of `source`.

    ``should_stop()``: polled between batches (all ranks agree); when it says so the
    iteration ends early and ``StopIteration.value`` is True.
    """
    model.eval()
    total = source.num_batches(0)
    with torch.inference_mode():
        for batch in progress_bar(source.batches(0), total=total, desc=desc, main_process=ctx.is_main):
            if should_stop is not None:
                (stop,) = all_reduce_sum([1.0 if should_stop() else 0.0], ctx)
                if stop:
                    return True
            if skipped is not None:
                skipped.extend(batch.get("skipped", ()))
            if len(batch["ids"]) == 0:
                continue
            device_batch = to_device(batch, ctx.device)
            with autocast_context(ctx.device, amp, amp_dtype):
                scores = task.scores(model, device_batch)
            yield batch, scores.float().cpu()
    return False


@overload
def evaluate(
    model: torch.nn.Module,
    source: DataSource,
    task: Task,
    ctx: DistContext,
    *,
    amp: bool = ...,
    amp_dtype: str = ...,
    desc: str = ...,
    return_metrics_object: Literal[False] = ...,
    should_stop: Callable[[], bool] | None = ...,
) -> dict[str, Any] | None: ...


@overload
def evaluate(
    model: torch.nn.Module,
    source: DataSource,
    task: Task,
    ctx: DistContext,
    *,
    amp: bool = ...,
    amp_dtype: str = ...,
    desc: str = ...,
    return_metrics_object: Literal[True],
    should_stop: None = ...,
) -> tuple[dict[str, Any], Any]: ...  # not interruptible: always metrics


def evaluate(
    model: torch.nn.Module,
    source: DataSource,
    task: Task,
    ctx: DistContext,
    *,
    amp: bool = False,
    amp_dtype: str = "bfloat16",
    desc: str = "eval",
    return_metrics_object: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any] | None | tuple[dict[str, Any] | None, Any]:
    """Metrics dict over the whole split (identical on every rank); None when
    ``should_stop()`` interrupted it. ``return_metrics_object``: (metrics, the merged metric
    accumulator) instead (without ``should_stop``)."""
    metrics = task.make_metrics()
    skipped: list[tuple[str, str, str]] = []
    scored = iterate_scores(
        model,
        source,
        task,
        ctx,
        amp=amp,
        amp_dtype=amp_dtype,
        desc=desc,
        skipped=skipped,
        should_stop=should_stop,
    )
    while True:
        try:
            batch, scores = next(scored)
        except StopIteration as end:
            if end.value:
                return (None, None) if return_metrics_object else None
            break
        task.update_metrics(metrics, scores, batch)
    if ctx.enabled:
        states = all_gather_objects(metrics.state(), ctx)
        metrics = type(metrics).merge(states)
    result: dict[str, Any] = metrics.compute()
    (n_skipped,) = all_reduce_sum([float(len(skipped))], ctx)
    if n_skipped:
        result["skipped_records"] = int(n_skipped)
        if ctx.is_main:
            log.warning("%s: %d bad records skipped (see warnings above)", desc, int(n_skipped))
    return (result, metrics) if return_metrics_object else result


def _finite_json(value: Any) -> Any:
    """Metrics as JSON can hold them: NaN / Inf become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> Path:
    """The metrics dict as valid JSON (no NaN), written atomically."""
    return atomic_write_text(
        path, json.dumps(_finite_json(metrics), indent=2, default=str, allow_nan=False) + "\n"
    )
