"""The inference fast path's candidates side by side: forward seconds of one video's input.

For one model (TSN / TSM ResNet-50 8x1 or I3D-NL ResNet-50 dot product 32x2, random weights
with spread BatchNorm statistics), 1 clip x 1 crop of 224, every candidate runs the same input
in turns (so load on a shared machine hits each alike):

* ``plain``: the model as loaded (unfolded, contiguous) -- the reference scores;
* ``folded``: BatchNorm folded into the convs, contiguous;
* ``folded+cl``: folded and channels_last;
* ``fused``: folded, channels_last, ReLU and residual add fused into the convs: what
  ``prepare_inference`` runs on a CPU in float32 (the default);
* ``frozen``: ``torch.jit.trace`` + ``torch.jit.freeze`` of folded+cl;
* ``frozen+ofi``: the same plus ``torch.jit.optimize_for_inference`` (MKL-DNN layout);
* ``frozen+llga``: frozen with TorchScript's oneDNN Graph fuser on;
* ``--compile``: ``compiled`` (``torch.compile`` of folded+cl, static shapes) and
  ``compiled+freezing`` (inductor's ``freezing``: weights prepacked, constants folded).

Printed per candidate: median wall and CPU seconds of this process over turns (on a shared
machine the CPU time is the steadier measure: ``--threads 1`` makes it the work done), each
as a speed-up over ``plain``, and the largest relative difference of its softmax scores from
``plain``'s (the fast path must stay below 1e-4).

    python benchmarks/bench_fastpath.py --model tsm [--threads 1] [--turns 3] [--compile]
        [--only fused,frozen+llga]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
BUILD = {
    "tsn": dict(name="tsn", frames=8),
    "tsm": dict(name="tsm", frames=8),
    "nonlocal": dict(name="nonlocal", frames=32),
}


def spread_batchnorms(model: torch.nn.Module, seed: int = 0) -> None:
    """BatchNorm statistics far from 0 / 1 so that a wrong fold would show in the scores."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


class FrozenVideoGraphs(torch.nn.Module):  # a candidate, not in the package
    """Batch dict in, logits out, through a traced and frozen TorchScript graph of ``model``
    per input shape (traced on first sight of a shape; forward reads ``batch["video"]``)."""

    def __init__(self, model: torch.nn.Module, optimize: bool = False, llga: bool = False):
        super().__init__()
        self.model = model
        self.optimize = optimize
        self.llga = llga
        self.graphs: dict[tuple, torch.jit.ScriptModule] = {}

    def graph_for(self, video: torch.Tensor) -> torch.jit.ScriptModule:
        key = (tuple(video.shape), video.dtype, video.device)
        if key not in self.graphs:
            torch.jit.enable_onednn_fusion(self.llga)
            with torch.no_grad():
                traced = torch.jit.trace(_VideoInput(self.model), video, check_trace=False)
                graph = torch.jit.freeze(traced.eval())
                if self.optimize:
                    graph = torch.jit.optimize_for_inference(graph)
            self.graphs[key] = graph
        return self.graphs[key]

    def forward(self, batch: dict) -> torch.Tensor:
        return self.graph_for(batch["video"])(batch["video"])


class _VideoInput(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.model({"video": video})


def freeze_for_inference(
    model: torch.nn.Module, optimize: bool = False, llga: bool = False
) -> torch.nn.Module:
    return FrozenVideoGraphs(model, optimize, llga)


def candidates(model_name: str, batch: int, compile: bool) -> tuple[dict, dict]:
    """{name: callable(batch dict) -> logits} and the input batch."""
    from videozoo.engine.inference import prepare_inference
    from videozoo.registry import create_model

    torch.manual_seed(0)
    model = create_model(BUILD[model_name]["name"], num_classes=400).eval()
    spread_batchnorms(model)
    inputs = model.default_input(batch, num_frames=BUILD[model_name]["frames"], image_size=224)
    cpu = torch.device("cpu")
    fast = prepare_inference(copy.deepcopy(model), cpu, fuse=False).model
    folded = prepare_inference(copy.deepcopy(model), cpu, fuse=False, channels_last=False).model
    fused = prepare_inference(copy.deepcopy(model), cpu).model
    runs = {"plain": model, "folded": folded, "folded+cl": fast, "fused": fused}
    runs["frozen"] = freeze_for_inference(copy.deepcopy(fast), optimize=False)
    runs["frozen+ofi"] = freeze_for_inference(copy.deepcopy(fast), optimize=True)
    runs["frozen+llga"] = freeze_for_inference(copy.deepcopy(fast), llga=True)
    if compile:
        import torch._inductor.config as inductor_config

        runs["compiled"] = torch.compile(copy.deepcopy(fast), dynamic=False)
        frozen_weights = torch.compile(copy.deepcopy(fast), dynamic=False)

        def compiled_freezing(batch):  # inductor's freezing: weights prepacked, constants folded
            with inductor_config.patch(freezing=True):
                return frozen_weights(batch)

        runs["compiled+freezing"] = compiled_freezing
    return runs, inputs


def timed(run, inputs) -> tuple[float, float, torch.Tensor]:
    """(wall seconds, CPU seconds of this process, logits) of one forward."""
    with torch.inference_mode():
        t0, c0 = time.perf_counter(), time.process_time()
        logits = run(inputs)
        return time.perf_counter() - t0, time.process_time() - c0, logits


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(BUILD), default="tsm")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--only", help="comma-separated candidate names (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs, inputs = candidates(args.model, args.batch, args.compile)
    if args.only:
        keep = {"plain", *args.only.split(",")}
        runs = {k: v for k, v in runs.items() if k in keep}
    reference = None
    errors = {}
    for name, run in runs.items():  # warm-up: traces specialise, compiles happen here
        first, _, logits = timed(run, inputs)
        timed(run, inputs)
        scores = torch.softmax(logits.float(), -1)
        if reference is None:
            reference = scores
        errors[name] = float((scores - reference).abs().max() / reference.abs().max())
        print(f"{name}: first call {first:.2f} s", flush=True)
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.turns):
        for name, run in runs.items():
            seconds, cpu_seconds, _ = timed(run, inputs)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    base, base_cpu = float(np.median(wall["plain"])), float(np.median(cpu["plain"]))
    result = {"model": args.model, "batch": args.batch, "threads": args.threads, "cases": {}}
    print(f"\n{args.model}, batch {args.batch}, {args.threads} threads, {args.turns} turns")
    for name in runs:
        median, median_cpu = float(np.median(wall[name])), float(np.median(cpu[name]))
        result["cases"][name] = {
            "wall_s": wall[name],
            "cpu_s": cpu[name],
            "speedup_wall": base / median,
            "speedup_cpu": base_cpu / median_cpu,
            "rel_err": errors[name],
        }
        print(
            f"{name:>11}: wall {median:7.3f} s x{base / median:5.2f}, CPU {median_cpu:7.3f} s "
            f"x{base_cpu / median_cpu:5.2f} of plain; scores rel. diff {errors[name]:.1e}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
