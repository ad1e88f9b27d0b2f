"""One case of ``bench_speed.py``: a model of ours and its bare twin (``bare_models``) on the
same fixed batch, each trained and run for inference round by round (``harness``).

Ours trains with the engine's ``train_step`` and infers in eval mode under
``inference_mode``; bare trains with a plain loop, the same optimizer class, settings and
parameter groups, in the same memory format. A case's result: input shape, parameter counts,
and per phase ("train", "infer") and contender the samples/s and its ratio to bare.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bare_models import BARE_MODELS, bare_name, bare_state_dict
from harness import CLOCKS, timed_rounds
from torch import nn

from videozoo.config import build_config
from videozoo.engine.distributed import DistContext
from videozoo.engine.optim import build_optimizer
from videozoo.engine.precision import autocast_context, channels_last_format, resolve_channels_last
from videozoo.engine.tasks import make_task, to_device
from videozoo.engine.train import train_step
from videozoo.models.temporal import TemporalShift
from videozoo.registry import build_model

DEFAULT_BATCH = {"nextvlad": 32, "attention_lstm": 8, "attention_cluster": 32}
DEFAULT_VIDEO_FRAMES = {"tsn": 8}  # TSN's default clip is 3 frames; 8 like TSM and Non-local


def is_video_model(cfg: dict) -> bool:
    """Whether the model reads video clips (else YouTube-8M features with a mask)."""
    return cfg["data"]["format"] != "youtube8m"


# ----------------------------------------------------------------------------- inputs
def youtube8m_lengths(batch_size: int, frames: int, generator: torch.Generator) -> torch.Tensor:
    """Video lengths like YouTube-8M's: 120-500 s at 1 frame/s, cut at 300 (scaled to T)."""
    seconds = 120 + 380 * torch.rand(batch_size, generator=generator)
    return (seconds * frames / 300).long().clamp(1, frames)


def make_batch(
    model,
    data_format: str,
    num_classes: int,
    batch_size: int,
    frames: int | None,
    resolution: int | None,
    padding: str,
    seed: int = 0,
) -> dict:
    """Random inputs of ``model.default_input`` shape, wrapped as the data source would."""
    gen = torch.Generator().manual_seed(seed)
    ids = [f"video{i}" for i in range(batch_size)]
    if data_format == "youtube8m":
        shape = model.default_input(1, num_frames=frames)
        frames = shape["rgb"].shape[1]
        batch = {
            k: torch.randn(batch_size, frames, shape[k].shape[-1], generator=gen) for k in ("rgb", "audio")
        }
        lengths = (
            youtube8m_lengths(batch_size, frames, gen)
            if padding == "youtube8m"
            else torch.full((batch_size,), frames)
        )
        batch["mask"] = torch.arange(frames) < lengths.unsqueeze(1)
        for key in ("rgb", "audio"):  # padded frames are zeros, as the reader writes them
            batch[key] *= batch["mask"].unsqueeze(-1)
        labels = torch.zeros(batch_size, num_classes)
        classes = torch.randint(num_classes, (batch_size,), generator=gen)
        labels[torch.arange(batch_size), classes] = 1
        return {**batch, "labels": labels, "ids": ids}
    video = model.default_input(batch_size, num_frames=frames)["video"]
    if resolution:
        video = torch.randn(*video.shape[:3], resolution, resolution, generator=gen)
    return {
        "video": video.unsqueeze(1),
        "label": torch.randint(num_classes, (batch_size,)),
        "valid": torch.ones(batch_size, dtype=torch.bool),
        "ids": ids,
    }


# ----------------------------------------------------------------------------- contenders
def loss_of(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """The tasks' losses, written plainly: BCE summed over classes (multi-label), or CE."""
    if "labels" in batch:
        return (
            F.binary_cross_entropy_with_logits(logits.float(), batch["labels"], reduction="sum")
            / logits.shape[0]
        )
    return F.cross_entropy(logits.float(), batch["label"])


@dataclass
class Contender:
    """A model's one training step and one inference pass on a fixed batch (and its optimizer)."""

    label: str
    train: Callable[[], None]
    infer: Callable[[], None]
    optimizer: torch.optim.Optimizer | None = None


def ours_contender(label, model, cfg, batch, device, amp: bool) -> Contender:
    task = make_task(cfg, [str(i) for i in range(cfg["model"]["num_classes"])])
    optimizer = build_optimizer(model, cfg["train"]["optimizer"])
    ctx, inputs = DistContext(device=device), task.model_inputs(batch)

    def train():
        train_step(model, optimizer, task, [batch], ctx, amp=amp, amp_dtype="bfloat16")

    def infer():
        model.eval()
        with torch.inference_mode(), autocast_context(device, amp, "bfloat16"):
            model(inputs)

    return Contender(label, train, infer, optimizer)


def same_optimizer(optimizer_like, ours, bare, name: str) -> torch.optim.Optimizer:
    """``optimizer_like``'s class, settings and parameter groups (fused where ours is, weight
    decay where ours has it), on the bare model's parameters of the same names."""
    names = {id(p): n for n, p in ours.named_parameters()}
    params = dict(bare.named_parameters())
    groups = [
        {**group, "params": [params[bare_name(name, names[id(p)])] for p in group["params"]]}
        for group in optimizer_like.param_groups
    ]
    return type(optimizer_like)(groups, **optimizer_like.defaults)


def bare_contender(model, optimizer, inputs, batch, device, amp: bool) -> Contender:
    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            logits = model(inputs)
        loss_of(logits, batch).backward()
        optimizer.step()

    def infer():
        model.eval()
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=amp):
            model(inputs)

    return Contender("bare", train, infer, optimizer)


def summarise(seconds: dict[str, list[float]], batch_size: int) -> dict:
    """samples/s (median) per contender, and its per-round ratio to bare (median, min, max)."""
    rows = {}
    for label, values in seconds.items():
        row = {"samples_per_s": batch_size / statistics.median(values)}
        if label != "bare":
            ratios = [b / o for b, o in zip(seconds["bare"], values)]
            # best: fastest round against fastest round, the estimate least moved by other
            # jobs on a shared machine (interference only ever adds time)
            row.update(
                x_bare=statistics.median(ratios),
                x_bare_min=min(ratios),
                x_bare_max=max(ratios),
                x_bare_best=min(seconds["bare"]) / min(values),
            )
        rows[label] = row
    return rows


# ----------------------------------------------------------------------------- one case
def model_config(name: str, sets: list[str]) -> dict:
    """The model's packaged config with the ``--set`` items for every model (``key=value``)
    or for this one (``name:key=value``); num_classes 3862 / 400 unless set."""
    overrides = [
        item.partition(":")[2] if ":" in item.split("=")[0] else item
        for item in sets
        if ":" not in item.split("=")[0] or item.split(":")[0] == name
    ]
    cfg = build_config(name, overrides=overrides)
    if cfg["model"]["num_classes"] is None:
        cfg["model"]["num_classes"] = 3862 if cfg["data"]["format"] == "youtube8m" else 400
    return cfg


def build_pair(name: str, cfg: dict, device, frames_per_clip: int | None):
    """(our model with the default memory format, bare model holding our weights)."""
    torch.manual_seed(0)
    ours = build_model(cfg).to(device)
    kwargs = dict(cfg["model"])
    if name == "stnet":
        kwargs["segments"] = frames_per_clip // cfg["model"]["seglen"]
    bare = BARE_MODELS[name](**kwargs).to(device)
    bare.load_state_dict(bare_state_dict(name, ours.state_dict()))
    if resolve_channels_last(cfg["train"]["channels_last"], ours):
        memory_format = channels_last_format(ours)
        ours.to(memory_format=memory_format)
        bare.to(memory_format=memory_format)
    return ours, bare


def without_shift(model: nn.Module) -> nn.Module:
    """A copy of our TSM with every temporal shift replaced by the identity: TSN's network."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(getattr(module, "block_input", None), TemporalShift):
            module.block_input = nn.Identity()
    return model


def case_size(name: str, cfg: dict, args) -> tuple[int, int]:
    """(batch size, frames per input) of a case: as asked, else the defaults above, else the
    model's own default clip (video) or 300 frames (features)."""
    batch_size = args.batch_size or DEFAULT_BATCH.get(name, 1)
    if not is_video_model(cfg):
        return batch_size, args.frames or 300
    frames = args.frames or DEFAULT_VIDEO_FRAMES.get(name)
    if frames is None:
        torch.manual_seed(0)
        frames = build_model(cfg).default_input(1)["video"].shape[1]
    return batch_size, frames


def case_contenders(name, cfg, args, ours, bare, batch, device, amp: bool) -> list[Contender]:
    """Ours and bare, plus ours without channels_last (``--contiguous``) and TSM without its
    shifts (``--no-shift``) when asked."""
    inputs = make_task(cfg, ["0"]).model_inputs(batch)
    contenders = [ours_contender("ours", ours, cfg, batch, device, amp)]
    optimizer = same_optimizer(contenders[0].optimizer, ours, bare, name)
    contenders.append(bare_contender(bare, optimizer, inputs, batch, device, amp))
    if args.contiguous and is_video_model(cfg):
        contiguous = copy.deepcopy(ours).to(memory_format=torch.contiguous_format)
        contenders.append(ours_contender("ours contiguous", contiguous, cfg, batch, device, amp))
    if args.no_shift and name == "tsm":
        contenders.append(ours_contender("ours no shift", without_shift(ours), cfg, batch, device, amp))
    return contenders


def bench_case(name: str, cfg: dict, args, device, precision: str, padding: str) -> dict:
    """Time one (model, precision, padding) case; prints its lines and returns its result."""
    video = is_video_model(cfg)
    batch_size, frames = case_size(name, cfg, args)
    ours, bare = build_pair(name, cfg, device, frames)
    batch = make_batch(
        ours, cfg["data"]["format"], cfg["model"]["num_classes"], batch_size, frames, args.resolution, padding
    )
    batch = to_device(batch, device)  # once, so that steps time compute, not the copy
    contenders = case_contenders(name, cfg, args, ours, bare, batch, device, precision == "bf16")
    params = {
        label: sum(p.numel() for p in model.parameters()) for label, model in (("ours", ours), ("bare", bare))
    }
    shape = list((batch["video"] if video else batch["rgb"]).shape)
    real = None if video else round(float(batch["mask"].float().mean()), 3)
    print(
        f"\n{name} {precision}"
        + ("" if video else f" padding={padding} (real frames {real})")
        + f": input {shape}, params ours {params['ours'] / 1e6:.2f}M / bare "
        f"{params['bare'] / 1e6:.2f}M, optimizer {type(contenders[0].optimizer).__name__}",
        flush=True,
    )
    result = {"input_shape": shape, "params": params, "real_frame_fraction": real}
    for phase in ("train", "infer"):
        seconds = timed_rounds(
            {c.label: getattr(c, phase) for c in contenders},
            warmup=max(args.warmup, 1),  # the last warm-up round sets --min-seconds' repeats
            rounds=args.rounds,
            device=device,
            clock=CLOCKS[args.clock],
            alternate=True,
            min_seconds=args.min_seconds,
        )
        result[phase] = summarise(seconds, batch_size)
        print_phase(phase, result[phase])
    return result


def print_phase(phase: str, rows: dict) -> None:
    for label, row in rows.items():
        ratio = (
            ""
            if label == "bare"
            else (
                f"  x bare {row['x_bare']:.3f} ({row['x_bare_min']:.3f}-{row['x_bare_max']:.3f})"
                f", best/best {row['x_bare_best']:.3f}"
            )
        )
        print(f"  {phase:<6}{label:<17}{row['samples_per_s']:>10.3f} samples/s{ratio}", flush=True)


def bench_adam_step(model, warmup: int, steps: int, device) -> dict:
    """Milliseconds per Adam step on the model's parameters: for-loop vs foreach vs fused."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    variants = {"for_loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}
    optimizers = {name: torch.optim.Adam(params, lr=1e-4, **kw) for name, kw in variants.items()}
    times = timed_rounds(
        {name: optimizer.step for name, optimizer in optimizers.items()},
        warmup=warmup,
        rounds=steps,
        device=device,
    )
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    print(
        f"\nAdam step on {sum(p.numel() for p in params) / 1e6:.1f}M params: "
        + ", ".join(f"{name} {value:.1f} ms" for name, value in ms.items())
        + f"  (foreach / fused = {ms['foreach'] / ms['fused']:.1f}x)",
        flush=True,
    )
    return {
        **{f"{name}_ms": value for name, value in ms.items()},
        "foreach_over_fused": ms["foreach"] / ms["fused"],
    }
