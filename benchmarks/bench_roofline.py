"""How close to the machine's limit: achieved GFLOP/s of a model over the measured matmul peak.

For each model (TSM-R50 on one 8-frame 224x224 clip, NeXtVLAD on a batch of YouTube-8M-sized
inputs) the run measures, in turns so load on a shared machine hits every case alike:

* the matmul peak of this run: a 2048^3 float32 matmul, GFLOP/s (the best of each turn);
* inference: the forward pass of the model as ``eval``/``predict`` run it (the fast path:
  BatchNorm folded, channels_last, on CPU ReLU/add fused into the convs), eager, and
  compiled as ``--compile`` builds it;
* training: forward + backward + SGD step of the training model, eager and compiled
  (``--no-compile-training``: eager only; compiling the training graphs takes the most time).

FLOPs come from PyTorch's ``FlopCounterMode`` on the forward (2 x multiply-adds); a training
step is counted as 3x the forward (backward = 2x forward), the usual convention. Printed per
case: seconds (median over turns), achieved GFLOP/s, and that over the matmul peak.

    python benchmarks/bench_roofline.py [--models tsm,nextvlad] [--turns 3] [--no-compile]
        [--no-compile-training]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
INPUTS = {"tsm": dict(batch_size=1), "nextvlad": dict(batch_size=8)}


def matmul_gflops(size: int = 2048, repeats: int = 3) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def forward_flops(model, batch) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(batch)
    return counter.get_total_flops()


def make_cases(name: str, compile: bool, compile_training: bool = True) -> tuple[dict, int, dict]:
    """{case: callable} for one model, its forward FLOPs and input."""
    from videozoo.engine.inference import prepare_inference
    from videozoo.registry import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=400 if name == "tsm" else 3862)
    batch = model.default_input(**INPUTS[name])
    flops = forward_flops(model.eval(), batch)
    cpu = torch.device("cpu")
    infer = prepare_inference(copy.deepcopy(model).eval(), cpu).model
    train = copy.deepcopy(model).train()
    if any(p.dim() == 4 for p in train.parameters()):
        train = train.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(train.parameters(), lr=1e-4)

    def infer_step(runner):
        with torch.inference_mode():
            runner(batch)

    def train_step(runner):
        optimizer.zero_grad(set_to_none=True)
        runner(batch).float().logsumexp(-1).mean().backward()
        optimizer.step()

    cases = {"inference eager": lambda: infer_step(infer), "training eager": lambda: train_step(train)}
    if compile:  # the compiled fast path as eval/predict --compile build it (no eager fusion)
        infer_c = prepare_inference(copy.deepcopy(model).eval(), cpu, compile=True).model
        cases["inference compiled"] = lambda: infer_step(infer_c)
    if compile and compile_training:
        train_c = torch.compile(train, dynamic=False)
        cases["training compiled"] = lambda: train_step(train_c)
    return cases, flops, batch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tsm,nextvlad")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--no-compile-training", action="store_true", help="compile inference only (minutes less)"
    )
    parser.add_argument("--json", type=Path, default=HERE / "results" / "roofline.json")
    args = parser.parse_args(argv)
    result = {"threads": torch.get_num_threads(), "models": {}}
    for name in args.models.split(","):
        cases, flops, _ = make_cases(name, not args.no_compile, not args.no_compile_training)
        for label, step in cases.items():  # warm-up; compiles here
            t0 = time.perf_counter()
            step()
            print(f"{name} {label}: first call {time.perf_counter() - t0:.1f} s", flush=True)
        times = {label: [] for label in cases}
        peaks = []
        for _ in range(args.turns):
            peaks.append(matmul_gflops())
            for label, step in cases.items():
                t0 = time.perf_counter()
                step()
                times[label].append(time.perf_counter() - t0)
        peak = float(np.median(peaks))
        rows = {}
        for label, seconds in times.items():
            work = flops * (3 if label.startswith("training") else 1)
            median = float(np.median(seconds))
            rows[label] = {
                "seconds": median,
                "gflops": work / median / 1e9,
                "fraction_of_peak": work / median / 1e9 / peak,
                "seconds_all": seconds,
            }
            print(
                f"{name:>9} {label:<19} {median:7.3f} s  {work / median / 1e9:7.1f} GFLOP/s "
                f" {rows[label]['fraction_of_peak']:.2f} of the matmul peak",
                flush=True,
            )
        print(
            f"{name:>9} matmul 2048^3 fp32 peak {peak:.1f} GFLOP/s (turns: "
            f"{', '.join(f'{p:.0f}' for p in peaks)}); forward {flops / 1e9:.2f} GFLOP"
        )
        result["models"][name] = {
            "forward_gflop": flops / 1e9,
            "matmul_peak_gflops": peak,
            "matmul_turns": peaks,
            "cases": rows,
            "input": INPUTS[name],
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw results: {args.json}")


if __name__ == "__main__":
    main()
