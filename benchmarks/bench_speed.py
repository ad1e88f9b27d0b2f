"""Training and inference samples/s of every model: eager fp32 vs each speed option.

    python benchmarks/bench_speed.py [--models nextvlad,tsm] [--scale default|small]
        [--batch-size N] [--frames N] [--resolution PX] [--steps 3] [--warmup 1]
        [--bf16 auto|on|off] [--compile] [--threads N] [--set model.depth=18 ...] [--json FILE]

Each model is built from its packaged config (``build_config``: the reference
hyperparameters) and fed random batches of its ``default_input`` shape, wrapped the way the
data sources deliver them (YouTube-8M: ``rgb/audio/mask/labels/ids``; Kinetics: ``video``
``[B, 1, T, 3, H, W]``, ``label``, ``ids``). Training = the engine's own ``train_step``
(forward, loss, backward, the configured optimizer's step); inference = ``model.eval()``
forward under ``torch.inference_mode``.

Options: ``eager`` fp32; ``amp_bf16`` (bfloat16 autocast; by default only where bfloat16 is
native: emulated bf16 was 5-25x slower than fp32 on an AVX2 CPU, see ``--bf16``); on CUDA ``amp_fp16`` (with a
GradScaler, as training does); for conv models ``channels_last`` and ``channels_last+bf16``;
with ``--compile`` ``compile`` (fp32; a failure is printed and the run goes on). Options are
interleaved step by step in one process, so the shared machine's noise hits them alike; the
median step time after ``--warmup`` rounds is reported, with the ratio to eager.

``--frames`` is the input's T for the feature models and the model's ``seg_num`` for the
video models (StNet: segments of ``seglen`` frames); ``--scale small`` is a quick look:
ResNet-18 at 112 px, feature models at T=100 with narrower layers.

When NeXtVLAD is benchmarked, the Adam step on its parameters is also timed with
``foreach=True``, ``fused=True`` and the plain for-loop (performance.md: fused is 5-8x faster
than foreach on the 89M parameters).

On a shared machine, run with ``--threads 1`` when another process keeps a core busy: an
OpenMP team that waits for a descheduled thread made 2-thread steps up to 10x slower here.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import torch

from videozoo import registry
from videozoo.config import build_config
from videozoo.engine.distributed import DistContext
from videozoo.engine.optim import build_optimizer
from videozoo.engine.precision import autocast_context, channels_last_format
from videozoo.engine.tasks import make_task, to_device
from videozoo.engine.train import train_step
from videozoo.registry import build_model

DEFAULT_BATCH = {"youtube8m": 8, "kinetics": 1}
SMALL_SCALE = {
    "overrides": {
        "nextvlad": ["model.cluster_size=32", "model.hidden_size=512"],
        "attention_lstm": ["model.embedding_size=128", "model.lstm_size=256",
                           "model.fusion_relu_size=1024", "model.fusion_tanh_size=512"],
        "attention_cluster": ["model.fc_size=256", "model.fc2_size=1024"],
        "kinetics": ["model.depth=18"],
    },
    "frames": {"youtube8m": 100},
    "resolution": 112,
}


@dataclass(frozen=True)
class SpeedOption:
    name: str
    amp_dtype: str | None = None  # "bfloat16" | "float16" | None (fp32)
    channels_last: bool = False
    compiled: bool = False


def speed_options(model: torch.nn.Module, device: torch.device, bf16: bool,
                  compile_too: bool) -> list[SpeedOption]:
    options = [SpeedOption("eager")]
    if bf16:
        options.append(SpeedOption("amp_bf16", "bfloat16"))
    if device.type == "cuda":
        options.append(SpeedOption("amp_fp16", "float16"))
    if any(p.dim() >= 4 for p in model.parameters()):  # conv weights: memory format matters
        options.append(SpeedOption("channels_last", channels_last=True))
        if bf16:
            options.append(SpeedOption("channels_last+bf16", "bfloat16", channels_last=True))
    if compile_too:
        options.append(SpeedOption("compile", compiled=True))
    return options


def bf16_enabled(choice: str, env: dict) -> bool:
    """`--bf16 auto`: only where bfloat16 is native (CUDA, or a CPU with AVX512-BF16 / AMX)."""
    if choice != "auto":
        return choice == "on"
    return env["device"].startswith("cuda") or env["mkldnn_bf16_native"]


def random_like_shape(tensor: torch.Tensor, shape: tuple) -> torch.Tensor:
    return torch.ones(shape, dtype=torch.bool) if tensor.dtype == torch.bool else torch.randn(shape)


def synthetic_batch(model, data_format: str, num_classes: int, batch_size: int,
                    frames: int | None, resolution: int | None) -> dict:
    """The model's default input, resized, wrapped as the data source of `data_format` would."""
    inputs = model.default_input(batch_size, **({"num_frames": frames} if frames else {}))
    for key, tensor in inputs.items():
        shape = list(tensor.shape)
        if resolution and data_format == "kinetics":
            shape[-2:] = [resolution, resolution]
        if shape != list(tensor.shape):
            inputs[key] = random_like_shape(tensor, tuple(shape))
    ids = [f"video{i}" for i in range(batch_size)]
    if data_format == "youtube8m":
        labels = torch.zeros(batch_size, num_classes)
        labels[torch.arange(batch_size), torch.randint(num_classes, (batch_size,))] = 1.0
        return {**inputs, "labels": labels, "ids": ids}
    return {"video": inputs["video"].unsqueeze(1), "label": torch.randint(num_classes, (batch_size,)),
            "valid": torch.ones(batch_size, dtype=torch.bool), "ids": ids}


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


class OptionRunner:
    """One option's model view, optimizer and (fp16) scaler; runs one train or inference step.

    Options share weights where they can (fp32 / bf16 / compile use the same module and
    optimizer); channels_last gets its own converted copy, as training would hold.
    """

    def __init__(self, option: SpeedOption, model, optimizer, batch: dict, task, device):
        self.option, self.model, self.optimizer = option, model, optimizer
        self.batch, self.task, self.device = batch, task, device
        self.inputs = task.model_inputs(batch)
        self.ctx = DistContext(device=device)
        self.scaler = torch.amp.GradScaler("cuda") if option.amp_dtype == "float16" else None

    def train(self) -> None:
        train_step(self.model, self.optimizer, self.task, [self.batch], self.ctx,
                   amp=self.option.amp_dtype is not None,
                   amp_dtype=self.option.amp_dtype or "bfloat16", scaler=self.scaler)

    def infer(self) -> None:
        self.model.eval()
        with torch.inference_mode(), autocast_context(self.device, self.option.amp_dtype is not None,
                                                      self.option.amp_dtype or "bfloat16"):
            self.model(self.inputs)


def build_runners(base, cfg: dict, options, batch: dict, task, device) -> list[OptionRunner]:
    base_optimizer = build_optimizer(base, cfg["train"]["optimizer"])
    converted = None
    runners = []
    for option in options:
        model, optimizer = base, base_optimizer
        if option.channels_last:
            if converted is None:
                twin = copy.deepcopy(base).to(memory_format=channels_last_format(base))
                converted = (twin, build_optimizer(twin, cfg["train"]["optimizer"]))
            model, optimizer = converted
        if option.compiled:
            model = torch.compile(model)
        runners.append(OptionRunner(option, model, optimizer, batch, task, device))
    return runners


def interleaved_medians(runners: list[OptionRunner], phase: str, warmup: int, steps: int,
                        device, errors: dict) -> dict[str, float]:
    """Median seconds per step of `phase` ("train" / "infer") for each runner, round-robin."""
    times: dict[str, list[float]] = {r.option.name: [] for r in runners}
    for round_index in range(warmup + steps):
        for runner in list(runners):
            try:
                seconds = timed(getattr(runner, phase), device)
            except Exception as err:  # only compile may fail: report it and go on
                if not runner.option.compiled:
                    raise
                errors[runner.option.name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
                print(f"  {runner.option.name} failed ({phase}): {errors[runner.option.name]}",
                      flush=True)
                runners.remove(runner)
                times.pop(runner.option.name)
                continue
            if round_index >= warmup:
                times[runner.option.name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def model_settings(name: str, args) -> tuple[dict, int, int | None, int | None]:
    """(config, batch size, input frames for feature models, resolution for video models)."""
    data_format = build_config(name)["data"]["format"]
    small = args.scale == "small"
    overrides = list(SMALL_SCALE["overrides"].get(name, SMALL_SCALE["overrides"].get(data_format, [])))
    overrides = (overrides if small else []) + list(args.set)
    frames = args.frames or (SMALL_SCALE["frames"].get(data_format) if small else None)
    if args.frames and data_format == "kinetics":
        overrides.append(f"data.seg_num={args.frames}")
    resolution = args.resolution or (SMALL_SCALE["resolution"] if small else None)
    cfg = build_config(name, overrides=overrides)
    return cfg, args.batch_size or DEFAULT_BATCH[data_format], frames, resolution


def bench_model(name: str, args, device: torch.device, bf16: bool) -> dict:
    cfg, batch_size, frames, resolution = model_settings(name, args)
    data_format, num_classes = cfg["data"]["format"], cfg["model"]["num_classes"]
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    batch = synthetic_batch(model, data_format, num_classes, batch_size, frames, resolution)
    batch = to_device(batch, device)  # once, so that steps time compute, not the copy
    task = make_task(cfg, [str(i) for i in range(num_classes)])
    runners = build_runners(model, cfg, speed_options(model, device, bf16, args.compile), batch, task,
                            device)
    shape = {k: list(v.shape) for k, v in batch.items() if k in ("rgb", "video")}
    params = sum(p.numel() for p in model.parameters())
    print(f"\n{name}: {params / 1e6:.1f}M params, batch {shape}, optimizer "
          f"{type(runners[0].optimizer).__name__}", flush=True)
    errors: dict[str, str] = {}
    train_s = interleaved_medians(runners, "train", args.warmup, args.steps, device, errors)
    infer_s = interleaved_medians(runners, "infer", args.warmup, args.steps, device, errors)
    rows = {}
    for option in (r.option.name for r in runners):
        if option in train_s and option in infer_s:
            rows[option] = {"train_samples_per_s": batch_size / train_s[option],
                            "infer_samples_per_s": batch_size / infer_s[option]}
    for row in rows.values():
        for phase in ("train", "infer"):
            row[f"{phase}_vs_eager"] = (row[f"{phase}_samples_per_s"]
                                        / rows["eager"][f"{phase}_samples_per_s"])
    print_table(rows)
    result = {"params": params, "batch_size": batch_size, "input_shape": shape,
              "optimizer": type(runners[0].optimizer).__name__, "options": rows, "errors": errors}
    if name == "nextvlad":
        result["adam_step"] = bench_adam_step(model, args.warmup, max(args.steps, 3), device)
    return result


def print_table(rows: dict) -> None:
    print(f"  {'option':<20}{'train samples/s':>17}{'x eager':>9}{'infer samples/s':>17}{'x eager':>9}")
    for option, row in rows.items():
        print(f"  {option:<20}{row['train_samples_per_s']:>17.2f}{row['train_vs_eager']:>9.2f}"
              f"{row['infer_samples_per_s']:>17.2f}{row['infer_vs_eager']:>9.2f}", flush=True)


def bench_adam_step(model, warmup: int, steps: int, device) -> dict:
    """Milliseconds per Adam step on the model's parameters: for-loop vs foreach vs fused."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    variants = {"for_loop": dict(foreach=False), "foreach": dict(foreach=True),
                "fused": dict(fused=True)}
    optimizers = {name: torch.optim.Adam(params, lr=1e-4, **kw) for name, kw in variants.items()}
    times = {name: [] for name in optimizers}
    for round_index in range(warmup + steps):
        for name, optimizer in optimizers.items():
            seconds = timed(optimizer.step, device)
            if round_index >= warmup:
                times[name].append(seconds)
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    for p in params:
        p.grad = None
    print(f"  Adam step on {sum(p.numel() for p in params) / 1e6:.1f}M params: "
          + ", ".join(f"{name} {value:.1f} ms" for name, value in ms.items())
          + f"  (foreach / fused = {ms['foreach'] / ms['fused']:.1f}x)", flush=True)
    return {**{f"{name}_ms": value for name, value in ms.items()},
            "foreach_over_fused": ms["foreach"] / ms["fused"]}


def environment(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "cpu": cpu,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn_bf16_native": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(registry.list_models()),
                        help="comma-separated model names (default: all)")
    parser.add_argument("--scale", choices=("default", "small"), default="default")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: 8 for feature models, 1 for video models")
    parser.add_argument("--frames", type=int, default=None,
                        help="feature models: input T; video models: seg_num")
    parser.add_argument("--resolution", type=int, default=None, help="video models: H = W")
    parser.add_argument("--steps", type=int, default=3, help="timed rounds per option")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per option")
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                        help="time bf16 autocast options (auto: where bfloat16 is native)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every model, e.g. model.depth=18")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in registry.list_models()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {registry.list_models()}")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment(device)
    print("  ".join(f"{k}={v}" for k, v in env.items() if v is not None))
    bf16 = bf16_enabled(args.bf16, env)
    if device.type == "cpu" and not env["mkldnn_bf16_native"]:
        print("note: no native bfloat16 on this CPU: bf16 autocast is emulated and much slower "
              + ("(timed anyway: --bf16 on)" if bf16 else "(bf16 options skipped; --bf16 on to time them)"))
    print(f"scale={args.scale} steps={args.steps} warmup={args.warmup} (median step time)")
    results = {"environment": env, "settings": vars(args), "models": {}}
    for name in args.models.split(","):
        results["models"][name] = bench_model(name, args, device, bf16)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
