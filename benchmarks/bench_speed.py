"""Each model against a bare PyTorch implementation of the same network, side by side.

    python benchmarks/bench_speed.py [--models nextvlad,tsm] [--precision fp32,bf16]
        [--padding none,youtube8m] [--rounds 5] [--warmup 1] [--min-seconds 2] [--threads 1]
        [--clock wall|cpu]
        [--batch-size N] [--frames T] [--resolution PX] [--set [MODEL:]key=value ...]
        [--contiguous] [--no-shift] [--adam] [--json FILE]

Ours: the registered model built from its packaged config, with the engine's default speed
settings (``train.channels_last: auto``), trained with the engine's own ``train_step``
(forward, loss, backward, the configured fused optimizer) and run for inference in eval mode
under ``inference_mode``. Bare: the same network in plain PyTorch (``bare_models.py``: no videozoo
code: torchvision's ResNet layout, the papers' formulas), with our parameter names and count,
so ``load_state_dict`` of our weights works (tests/test_bench_speed.py checks that both give
the same outputs), trained by a plain loop with the same optimizer class and settings and
put in the same memory format. The bare feature models ignore the mask (they cost what a
model that does not handle padding costs); the bare video models for TSN and TSM are one
ResNet-50 classifying every frame (the images/s a bare ResNet-50 gets on the same frames:
TSM's shift is the only difference), StNet and Non-local have bare equivalents with their
extra blocks (a ResNet-50 alone would do less work).

Cases: ``--precision`` fp32 and bf16 (autocast; default: bf16 only where it is native, CUDA
or a CPU with AVX512-BF16 / AMX: emulated bfloat16 is many times slower than fp32); feature
models with ``--padding`` none (every video ``--frames`` long) and youtube8m (lengths drawn
like YouTube-8M's: videos of 120-500 s at one frame per second, cut at 300 frames, scaled to
``--frames``). ``--contiguous`` adds ours without channels_last (what the default gains); ``--no-shift`` adds
our TSM with its shifts removed (what the shift costs inside a whole training step).

Each round times ours and bare back to back (alternating which goes first) after
``--warmup`` rounds; a round's ratio is bare seconds / our seconds, so > 1 means ours is
faster. The table shows samples/s (medians), the median ratio and its range over rounds, and
best/best: the bare model's fastest round over ours (other jobs only ever add time, so the
fastest rounds are the least disturbed).
On a shared machine run with ``--threads 1``: an OpenMP team waiting for a descheduled
thread made 2-thread steps up to 10x slower here.

Modules: this one is the command line; ``speed_cases.py`` builds and times one case,
``bare_models.py`` holds the bare twins, ``harness.py`` the rounds (shared with other benchmarks).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import torch
from harness import CLOCKS
from speed_cases import DEFAULT_BATCH, bench_adam_step, bench_case, is_video_model, model_config

from videozoo import registry
from videozoo.engine.precision import native_bf16, resolve_amp
from videozoo.fileio import atomic_write_text


def environment(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(device.type, device.index)[0],
        "amp_auto": resolve_amp("auto", device)[1],
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def add_case_options(parser: argparse.ArgumentParser) -> None:
    """What is timed: models, precisions, paddings, input sizes."""
    parser.add_argument(
        "--models",
        default=",".join(registry.list_models()),
        help="comma-separated model names (default: all)",
    )
    parser.add_argument(
        "--precision", default=None, help="fp32,bf16 (default: fp32, plus bf16 where it is native)"
    )
    parser.add_argument(
        "--padding", default="none,youtube8m", help="feature models: none,youtube8m (default: both)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"default: {DEFAULT_BATCH} for feature models, 1 clip for video models",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="input T (default: 300 for feature models, the model's default "
        "clip for video models, 8 for TSN)",
    )
    parser.add_argument("--resolution", type=int, default=None, help="video models: H = W")


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """How it is timed: rounds, warm-up, threads, clock, device."""
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (at least 1)")
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="repeat shorter steps within a round until it lasts this long",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or the process's CPU time (with --threads 1 on a shared "
        "machine: time other processes take the core from us is not counted)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def add_extra_options(parser: argparse.ArgumentParser) -> None:
    """Config overrides, and what else to time besides ours against bare."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every model (model.depth=18) or for one (nextvlad:model.cluster_size=32)",
    )
    parser.add_argument(
        "--contiguous", action="store_true", help="video models: also time ours without channels_last"
    )
    parser.add_argument(
        "--no-shift",
        action="store_true",
        help="tsm: also time ours with the shifts removed (what the shift costs)",
    )
    parser.add_argument(
        "--adam",
        action="store_true",
        help="also time Adam for-loop / foreach / fused on NeXtVLAD's parameters",
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_case_options(parser)
    add_timing_options(parser)
    add_extra_options(parser)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in registry.list_models()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {registry.list_models()}")
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be >= 1 and --warmup >= 0")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment(device)
    print("  ".join(f"{k}={v}" for k, v in env.items() if v is not None))
    precisions = (args.precision or ("fp32,bf16" if env["native_bf16"] else "fp32")).split(",")
    print(
        f"rounds={args.rounds} warmup={args.warmup} precisions={precisions}; ratio = bare "
        "seconds / our seconds per round (> 1: ours faster), median (min-max)"
    )
    results = {"environment": env, "settings": vars(args), "models": {}}
    for name in args.models.split(","):
        cfg = model_config(name, args.set)
        paddings = ["none"] if is_video_model(cfg) else args.padding.split(",")
        results["models"][name] = {
            f"{precision}/{padding}": bench_case(name, cfg, args, device, precision, padding)
            for precision in precisions
            for padding in paddings
        }
    if args.adam:
        results["adam_step"] = bench_adam_step(
            registry.build_model(model_config("nextvlad", args.set)), args.warmup, args.rounds, device
        )
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
