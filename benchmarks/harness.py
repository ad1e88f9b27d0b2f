"""Timing shared by the benchmarks: one call timed (CUDA work waited for), and rounds of
several contenders timed side by side after untimed warm-up rounds.

    seconds = timed_rounds({"ours": step, "bare": bare_step}, warmup=1, rounds=5)
    # {"ours": [s, s, s, s, s], "bare": [...]}: seconds per call, one per timed round
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

# --clock choices: wall time, or this process's CPU time (time other processes take the
# core from us is not counted)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn: Callable[[], object], device: torch.device | None = None, clock=time.perf_counter) -> float:
    """Seconds one call of `fn` takes by `clock`; on a CUDA `device`, queued work is waited
    for before and after, so that the call's own kernels are what is timed."""
    cuda = device is not None and device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    start = clock()
    fn()
    if cuda:
        torch.cuda.synchronize(device)
    return clock() - start


def timed_rounds(
    contenders: dict[str, Callable[[], object]],
    *,
    warmup: int,
    rounds: int,
    device: torch.device | None = None,
    clock=time.perf_counter,
    alternate: bool = False,
    min_seconds: float = 0.0,
) -> dict[str, list[float]]:
    """Seconds per call of each contender, one value per timed round, after `warmup` untimed
    rounds; each round calls every contender in turn.

    `alternate`: the order is reversed every other round, so that drifting machine load hits
    all alike. `min_seconds`: a round repeats a short call until it lasts about that long (the
    value is then the mean per call); the last warm-up round sets how many calls.
    """
    seconds: dict[str, list[float]] = {label: [] for label in contenders}
    order, repeats = list(contenders.items()), 1
    for round_index in range(warmup + rounds):
        for label, fn in order if not alternate or round_index % 2 == 0 else order[::-1]:
            elapsed = sum(timed(fn, device, clock) for _ in range(repeats)) / repeats
            if round_index >= warmup:
                seconds[label].append(elapsed)
            elif round_index == warmup - 1:
                repeats = max(repeats, math.ceil(min_seconds / max(elapsed, 1e-9)))
    return seconds
