"""What TSM's temporal shift costs in training, at each ResNet-50 stage, side by side.

    python benchmarks/bench_shift.py [--rounds 60] [--threads 1] [--segments 8] [--json FILE]

Forward + backward of ``TemporalShift`` on one clip's activations at the input of each stage's
blocks (channels_last, as the engine trains), three ways per round in turn: the training path
(an autograd Function: one copy each way), the traced path (slices + ``torch.cat``, what ONNX
export records; TSM trained through it before), and a plain ``clone()`` (one copy, backward
free: the floor). The last line adds the stages up for one ResNet-50 (3, 4, 6, 3 blocks): the
milliseconds per clip a TSM training step spends shifting. Times are this process's CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial

import torch
from harness import timed_rounds

from videozoo.fileio import atomic_write_text
from videozoo.models.temporal import TemporalShift, _shift_by_cat

# (channels at the block input, spatial size at 224 px, blocks) for each ResNet-50 stage
STAGES = ((256, 56, 3), (512, 28, 4), (1024, 14, 6), (2048, 7, 3))


def forward_backward(fn, x, grad) -> None:
    torch.autograd.grad(fn(x), x, grad)


class TracedPathShift(TemporalShift):
    """The same shift through the slices + cat path that tracing uses."""

    def _shift(self, x, channel_dim):
        frames = self.unfold_time(x)
        return _shift_by_cat(frames, self.fold, channel_dim, self.direction == "previous_first").flatten(0, 1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--segments", type=int, default=8, help="frames per clip (T)")
    parser.add_argument("--shift-div", type=int, default=8)
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), CPU "
        f"{torch.backends.cpu.get_cpu_capability()}; milliseconds forward + backward, "
        "median (min) over rounds"
    )
    totals = {"function": 0.0, "slices+cat": 0.0, "clone": 0.0}
    results = {}
    for channels, size, blocks in STAGES:
        contenders = {
            "function": TemporalShift(channels, args.segments, args.shift_div, "previous_first"),
            "slices+cat": TracedPathShift(channels, args.segments, args.shift_div, "previous_first"),
            "clone": torch.clone,
        }
        shape = (args.segments, channels, size, size)
        x = torch.randn(shape).to(memory_format=torch.channels_last).requires_grad_()
        grad = torch.randn(shape).to(memory_format=torch.channels_last)
        seconds = timed_rounds(
            {name: partial(forward_backward, fn, x, grad) for name, fn in contenders.items()},
            warmup=args.warmup,
            rounds=args.rounds,
            clock=time.process_time,
        )
        ms = {name: [1000 * s for s in values] for name, values in seconds.items()}
        row = {name: statistics.median(values) for name, values in ms.items()}
        results[f"{channels}x{size}x{size}"] = row
        for name, value in row.items():
            totals[name] += blocks * value
        print(
            f"  [{args.segments}, {channels}, {size}, {size}] x {blocks} blocks: "
            + "  ".join(f"{name} {row[name]:.2f} ({min(ms[name]):.2f})" for name in row)
        )
    print(
        "  per clip, all 16 blocks: " + "  ".join(f"{name} {value:.1f} ms" for name, value in totals.items())
    )
    results = {
        "stages": results,
        "totals_ms": totals,
        "rounds": args.rounds,
        "threads": args.threads,
        "segments": args.segments,
    }
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
