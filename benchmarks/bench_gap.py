"""Time GAP@20 over N videos x C classes: our streaming accumulator vs a Google-style calculator.

    python benchmarks/bench_gap.py [--videos 100000] [--reference-videos 10000] [--threads 1]

Synthetic scores (3 labels per video, labels scored higher) are generated batch by batch from
a fixed seed; generation is not timed. ``YouTube8MMetrics`` (torch.topk per batch, one global
sort) runs on all N videos. The reference follows Google's eval_util /
average_precision_calculator: numpy argpartition per video, every (score, label) pair pushed
onto a Python heap, then a Python sort and loop. It runs on the first ``--reference-videos``
only and its time is extrapolated linearly to N (said so in the output). Both are also
extrapolated to the 1.1M-video validation set. The two GAPs are compared on the subset.
"""

from __future__ import annotations

import argparse
import heapq
import json
import time

import numpy as np
import torch

from videozoo.fileio import atomic_write_text
from videozoo.metrics.youtube8m import YouTube8MMetrics

VALIDATION_VIDEOS = 1_100_000


def synthetic_batches(num_videos: int, num_classes: int, batch_size: int, seed: int):
    """Non-labels score U[0, 0.5), 3 labels per video (repeats allowed) U[0.3, 1): GAP ~0.7."""
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, num_videos, batch_size):
        size = min(batch_size, num_videos - start)
        scores = 0.5 * torch.rand(size, num_classes, generator=gen)
        label_index = torch.randint(0, num_classes, (size, 3), generator=gen)
        labels = torch.zeros(size, num_classes).scatter_(1, label_index, 1.0)
        scores.scatter_(1, label_index, 0.3 + 0.7 * torch.rand(size, 3, generator=gen))
        yield scores, labels


class HeapGAPCalculator:
    """Google-style GAP: top-k per video with argpartition, all pairs on a heap, sort at peek.

    Google shuffles before sorting, so equal scores fall in random order; here equal scores
    put non-labels first (our documented rule) so the two results can be compared exactly.
    """

    def __init__(self, top_k: int = 20):
        self.top_k = top_k
        self.heap: list[tuple[float, float]] = []
        self.num_positives = 0

    def accumulate(self, scores: np.ndarray, labels: np.ndarray) -> None:
        for video_scores, video_labels in zip(scores, labels):
            top = np.argpartition(video_scores, -self.top_k)[-self.top_k :]
            for index in top:
                heapq.heappush(self.heap, (float(video_scores[index]), float(video_labels[index])))
        self.num_positives += int(labels.sum())

    def peek(self) -> float:
        if not self.heap or self.num_positives == 0:
            return 0.0
        ranked = sorted(self.heap, key=lambda pair: (-pair[0], pair[1]))
        found, total = 0, 0.0
        for rank, (_, label) in enumerate(ranked, start=1):
            if label > 0:
                found += 1
                total += found / rank
        return total / self.num_positives


def timed_gap_ours(batches, num_classes: int) -> tuple[float, float]:
    metrics, elapsed = YouTube8MMetrics(num_classes, top_k=20), 0.0
    for scores, labels in batches:
        start = time.perf_counter()
        metrics.update(scores, labels)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    gap = metrics.compute()["gap"]
    return gap, elapsed + time.perf_counter() - start


def timed_gap_reference(batches) -> tuple[float, float]:
    calculator, elapsed = HeapGAPCalculator(top_k=20), 0.0
    for scores, labels in batches:
        scores, labels = scores.numpy(), labels.numpy()
        start = time.perf_counter()
        calculator.accumulate(scores, labels)
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    gap = calculator.peek()
    return gap, elapsed + time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--reference-videos", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=3862)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    subset = min(args.reference_videos, args.videos)

    def batches(num_videos):
        return synthetic_batches(num_videos, args.classes, args.batch_size, args.seed)

    ref_gap, ref_seconds = timed_gap_reference(batches(subset))
    subset_gap, _ = timed_gap_ours(batches(subset), args.classes)
    gap, seconds = timed_gap_ours(batches(args.videos), args.classes)
    ref_at_n = ref_seconds * args.videos / subset

    print(
        f"GAP@20, {args.videos:,} videos x {args.classes} classes, batches of "
        f"{args.batch_size}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"  ours (YouTube8MMetrics):   {seconds:8.2f} s  GAP {gap:.10f} "
        f"({seconds / args.videos * 1e6:.0f} us/video)"
    )
    print(
        f"  heap reference:            {ref_at_n:8.2f} s  (measured {ref_seconds:.2f} s on "
        f"{subset:,} videos, extrapolated linearly)"
    )
    print(f"  speed-up:                  {ref_at_n / seconds:8.1f} x")
    print(
        f"  at 1.1M videos (linear):   ours {seconds * VALIDATION_VIDEOS / args.videos:.0f} s, "
        f"reference {ref_seconds * VALIDATION_VIDEOS / subset:.0f} s"
    )
    difference = abs(subset_gap - ref_gap)
    print(
        f"  agreement on {subset:,} videos: ours {subset_gap:.12f} vs reference "
        f"{ref_gap:.12f} (|diff| {difference:.1e})"
    )
    if difference > 1e-9:
        raise SystemExit("GAP mismatch between the accumulator and the reference")
    results = {
        "videos": args.videos,
        "classes": args.classes,
        "threads": torch.get_num_threads(),
        "ours_s": seconds,
        "reference_s": ref_at_n,
        "reference_measured_s": ref_seconds,
        "reference_videos": subset,
        "gap": gap,
    }
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
