"""Evaluation: scores for every video of a split, official metrics, gathered over ranks.

Each rank scores its own part of the split (the DataSource guarantees no record is read twice
or dropped); the metric accumulators' states are gathered and merged, so the result equals a
single-process run exactly.
"""
from __future__ import annotations

import logging

import torch

from videozoo.engine.distributed import DistContext, all_gather_objects, all_reduce_sum
from videozoo.engine.precision import autocast_context
from videozoo.engine.progress import progress_bar
from videozoo.engine.tasks import to_device

log = logging.getLogger("videozoo")


def iterate_scores(model, source, task, ctx: DistContext, *, amp: bool = False,
                   amp_dtype: str = "bfloat16", desc: str = "eval", skipped: list | None = None):
    """Yield (batch, scores [B, C] float32 on CPU) for every non-empty batch of `source`."""
    model.eval()
    total = source.num_batches(0)
    with torch.inference_mode():
        for batch in progress_bar(source.batches(0), total=total, desc=desc,
                                  main_process=ctx.is_main):
            if skipped is not None:
                skipped.extend(batch.get("skipped", ()))
            if len(batch["ids"]) == 0:
                continue
            device_batch = to_device(batch, ctx.device)
            with autocast_context(ctx.device, amp, amp_dtype):
                scores = task.scores(model, device_batch)
            yield batch, scores.float().cpu()


def evaluate(model, source, task, ctx: DistContext, *, amp: bool = False,
             amp_dtype: str = "bfloat16", desc: str = "eval", return_metrics_object: bool = False):
    """Metrics dict over the whole split (identical on every rank)."""
    metrics = task.make_metrics()
    skipped: list = []
    for batch, scores in iterate_scores(model, source, task, ctx, amp=amp, amp_dtype=amp_dtype,
                                        desc=desc, skipped=skipped):
        task.update_metrics(metrics, scores, batch)
    if ctx.enabled:
        states = all_gather_objects(metrics.state(), ctx)
        metrics = type(metrics).merge(states)
    result = metrics.compute()
    (n_skipped,) = all_reduce_sum([float(len(skipped))], ctx)
    if n_skipped:
        result["skipped_records"] = int(n_skipped)
        if ctx.is_main:
            log.warning("%s: %d bad records skipped (see warnings above)", desc, int(n_skipped))
    return (result, metrics) if return_metrics_object else result
