"""The training loop: model-agnostic, resumable, single- or multi-process.

``train(cfg, output_dir=...)`` sets a run up (``_start_run``), then for each epoch calls
``train_one_epoch`` and ``validate_and_checkpoint``. One optimizer step = ``grad_accum``
micro-batches on every rank; per step the ranks agree, in two tiny all-reduces, on (a)
whether every rank still has data (the epoch ends for all when one runs out) and (b) the
global sample count, non-finite losses and stop requests. Dropout and other model randomness
are re-seeded from (seed, rank, step) at each step, so a resumed run replays exactly what an
uninterrupted one would have done.

Never losing work: a new run refuses a folder holding another run's checkpoints (unless
``overwrite``); stale temporaries of killed saves are removed; a non-finite loss skips the
step and restores the BatchNorm statistics it polluted; non-finite weights are never saved;
SIGTERM / SIGINT (also during validation) write a checkpoint and return ``interrupted``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from videozoo.config import classes_from_data, dump_config
from videozoo.data import DataSource, build_source, freeze_split
from videozoo.engine.distributed import DistContext, all_reduce_sum, barrier, init_distributed
from videozoo.engine.evaluate import evaluate
from videozoo.engine.optim import build_optimizer, lr_factor, set_learning_rate
from videozoo.engine.precision import (
    autocast_context,
    channels_last_format,
    convert_sync_batchnorm,
    resolve_amp,
    resolve_channels_last,
)
from videozoo.engine.progress import progress_bar
from videozoo.engine.runlog import RunLog, truncate_logs
from videozoo.engine.tasks import Batch, Task, make_task, to_device
from videozoo.errors import (
    CheckpointError,
    ClassCountError,
    ConfigError,
    OutputExistsError,
    TrainingStopped,
    VideozooError,
)
from videozoo.fileio import atomic_write_text, remove_stale_temporaries
from videozoo.registry import build_model
from videozoo.runlock import hold_output
from videozoo.serialization.checkpoint import copy_checkpoint, save_checkpoint
from videozoo.serialization.format import training_checkpoint
from videozoo.serialization.loading import load_weights
from videozoo.serialization.plain import non_finite_tensors
from videozoo.serialization.rng import restore_rng_state
from videozoo.serialization.runs import (
    ResumePoint,
    checkpoint_path,
    list_checkpoints,
    prune_checkpoints,
    resolve_resume,
)

log = logging.getLogger("videozoo")

__all__ = ["train", "train_step", "train_one_epoch", "validate_and_checkpoint", "TrainState", "unwrap"]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DistributedDataParallel


def _step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 7_919 + step * 104_729) % (2**63 - 1)


# ----------------------------------------------------------------------------- one step
def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task: Task,
    micro_batches: list[Batch],
    ctx: DistContext,
    *,
    amp: bool = False,
    amp_dtype: str = "bfloat16",
    scaler: torch.amp.GradScaler | None = None,
    clip_grad_norm: float = 0.0,
    stop_requested: bool = False,
) -> dict[str, Any]:
    """Forward/backward over this rank's micro-batches and one optimizer step.

    Returns {"loss", "samples" (global), "finite", "stop", "grad_norm" (None unless
    clipping)}; the step is skipped (gradients dropped) on every rank when any rank saw a
    non-finite loss.
    """
    model.train()
    n_local = sum(task.batch_size(b) for b in micro_batches)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = _accumulate_gradients(model, task, micro_batches, ctx, n_local, amp, amp_dtype, scaler)
    finite_local = math.isfinite(loss_sum)
    samples, bad, stop = all_reduce_sum(
        [n_local, 0.0 if finite_local else 1.0, 1.0 if stop_requested else 0.0], ctx
    )
    finite = bad == 0
    grad_norm = None
    if finite:
        grad_norm = _optimizer_step(model, optimizer, scaler, clip_grad_norm)
    else:
        optimizer.zero_grad(set_to_none=True)
    return {
        "loss": loss_sum / max(n_local, 1),
        "samples": int(samples),
        "finite": finite,
        "stop": stop > 0,
        "grad_norm": grad_norm,
    }


def _accumulate_gradients(
    model: torch.nn.Module,
    task: Task,
    micro_batches: list[Batch],
    ctx: DistContext,
    n_local: int,
    amp: bool,
    amp_dtype: str,
    scaler: torch.amp.GradScaler | None,
) -> float:
    """Forward and backward over the micro-batches (gradients of the mean loss over this
    rank's ``n_local`` samples; DDP synchronises on the last only); the summed loss."""
    loss_sum = 0.0
    for k, batch in enumerate(micro_batches):
        batch = to_device(batch, ctx.device, non_blocking=True)
        sync = k == len(micro_batches) - 1 or not hasattr(model, "no_sync")
        # DDP's no_sync: gradients are all-reduced on the last micro-batch only
        with contextlib.nullcontext() if sync else model.no_sync():  # type: ignore[operator]
            with autocast_context(ctx.device, amp, amp_dtype):
                logits = model(task.model_inputs(batch))
            loss = task.loss(logits, batch)
            weighted = loss * (task.batch_size(batch) / n_local)
            (scaler.scale(weighted) if scaler else weighted).backward()  # type: ignore[no-untyped-call]
        loss_sum += float(loss.detach()) * task.batch_size(batch)
    return loss_sum


def _optimizer_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    clip_grad_norm: float,
) -> float | None:
    """Unscale, clip (returns the norm when clipping), step."""
    grad_norm = None
    if scaler:
        scaler.unscale_(optimizer)
    if clip_grad_norm > 0:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm))
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return grad_norm


def _grouped(
    batches: Iterable[Batch], size: int, skipped: list[tuple[str, str, str]]
) -> Iterator[list[Batch]]:
    """Group non-empty batches into lists of `size` micro-batches; collect skip records."""
    group: list[Batch] = []
    for batch in batches:
        skipped.extend(batch.get("skipped", ()))
        if len(batch["ids"]) == 0:
            continue
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _float_buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the floating buffers (BatchNorm statistics) a forward pass may update."""
    return {n: b.detach().clone() for n, b in model.named_buffers() if b.is_floating_point()}


@torch.no_grad()
def _restore_buffers(model: torch.nn.Module, saved: dict[str, torch.Tensor]) -> None:
    for name, buffer in model.named_buffers():
        if name in saved:
            buffer.copy_(saved[name])


# ----------------------------------------------------------------------------- the run
@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint as ``progress``."""

    epoch: int = 0  # the epoch in progress (0-based)
    step_in_epoch: int = 0  # optimizer steps done in it
    global_step: int = 0
    samples: int = 0  # global samples seen
    best: float | None = None  # best value of the monitored metric
    best_metrics: dict[str, Any] | None = None


class _StopFlag:
    """SIGTERM / SIGINT ask the loop to checkpoint and stop at the next step boundary."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C really stops
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class _Run:
    """Everything one training run holds (built by ``_start_run``)."""

    cfg: dict[str, Any]
    ctx: DistContext
    output_dir: Path
    seed: int
    model: torch.nn.Module  # unwrapped: what checkpoints save
    train_model: torch.nn.Module  # maybe DDP / compiled
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    amp: bool  # train.amp resolved for this device (true/false/auto)
    task: Task
    train_src: DataSource
    valid_src: DataSource | None
    runlog: RunLog
    state: TrainState = field(default_factory=TrainState)
    last_checkpoint: Path | None = None
    bad_steps: int = 0

    @property
    def tcfg(self) -> dict[str, Any]:
        tcfg: dict[str, Any] = self.cfg["train"]
        return tcfg

    @property
    def best_path(self) -> Path:
        return self.output_dir / "best.pt"


def _prepare_output_dir(
    output_dir: Path, ctx: DistContext, held: contextlib.ExitStack, *, resuming: bool, overwrite: bool
) -> None:
    """Lock the folder for this run (rank 0, released when ``held`` closes); clean stale
    temporaries; refuse (or, with overwrite, clear) another run's files."""
    problem: VideozooError | None = None
    if ctx.is_main:
        try:
            held.enter_context(hold_output(output_dir, "train"))
        except VideozooError as err:  # busy, or not writable
            problem = err
    if ctx.is_main and problem is None:
        freed = remove_stale_temporaries(output_dir)
        if freed:
            log.info(
                "removed %.1f MB of temporary files left by an interrupted save in %s",
                freed / 1e6,
                output_dir,
            )
        others = sorted(p.name for p in list_checkpoints(output_dir))
        if (output_dir / "best.pt").exists():
            others.append("best.pt")
        if others and not resuming:
            if overwrite:
                for name in others + ["train_log.csv", "valid_log.csv"]:
                    (output_dir / name).unlink(missing_ok=True)
                log.warning(
                    "--overwrite: removed the previous run's %d checkpoint(s) and logs in %s",
                    len(others),
                    output_dir,
                )
            else:
                problem = OutputExistsError(
                    f"{output_dir} already holds a training run ({', '.join(others[-3:])}); "
                    "continue it with --resume auto, choose another --output, or pass "
                    "--overwrite to replace it"
                )
    (refused,) = all_reduce_sum([1.0 if problem else 0.0], ctx)
    if refused:
        raise problem or OutputExistsError(f"{output_dir} cannot be used for this run (see rank 0's message)")


def _validation_source(cfg: dict[str, Any], ctx: DistContext, seed: int) -> DataSource | None:
    per_rank = max(1, cfg["eval"]["batch_size"] // ctx.world_size)
    try:
        return build_source(
            cfg,
            "validate",
            training=False,
            batch_size=per_rank,
            seed=seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
        )
    except FileNotFoundError as err:
        if ctx.is_main:
            log.warning("no validation data (%s); training without validation", err)
        return None


def _start_run(
    cfg: dict[str, Any],
    output_dir: Path,
    ctx: DistContext,
    resume: ResumePoint | None,
    weights: str | dict[str, Any] | None,
    seed: int,
) -> _Run:
    """Sources, task, model, optimizer and (when resuming) the saved state: a run to train."""
    tcfg = cfg["train"]
    per_rank = _per_rank_batch_size(tcfg, ctx)
    torch.manual_seed(seed)
    train_src = _training_source(cfg, output_dir, ctx, resume, seed, per_rank)
    classes_from_data(cfg, train_src.class_names, "the training data")
    valid_src = _validation_source(cfg, ctx, seed) if tcfg["valid_interval"] > 0 else None
    task = make_task(cfg, train_src.class_names)
    model = _build_model(cfg, ctx, weights if resume is None else None)
    optimizer = build_optimizer(model, tcfg["optimizer"])
    amp, amp_reason = resolve_amp(tcfg["amp"], ctx.device, tcfg["amp_dtype"])
    if ctx.is_main:
        log.info("mixed precision: %s", amp_reason)
    scaler = None
    if amp and tcfg["amp_dtype"] == "float16" and ctx.device.type == "cuda":
        scaler = torch.amp.GradScaler("cuda")
    state = TrainState()
    if resume is not None:
        state = _restore_training_state(cfg, model, optimizer, scaler, resume, output_dir, ctx)
    model, train_model = _wrap_for_training(model, ctx, tcfg)
    if ctx.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output_dir / "config.yaml", dump_config(cfg))
    runlog = RunLog(output_dir, enabled=ctx.is_main, tensorboard=tcfg["tensorboard"])
    return _Run(
        cfg,
        ctx,
        output_dir,
        seed,
        model,
        train_model,
        optimizer,
        scaler,
        amp,
        task,
        train_src,
        valid_src,
        runlog,
        state,
        last_checkpoint=resume.path if resume else None,
    )


def _per_rank_batch_size(tcfg: dict[str, Any], ctx: DistContext) -> int:
    """Samples per micro-batch on each rank: train.batch_size / (ranks x grad_accum)."""
    per_rank: int = tcfg["batch_size"] // (ctx.world_size * tcfg["grad_accum"])
    if per_rank < 1:
        raise ConfigError(
            f"train.batch_size={tcfg['batch_size']} is smaller than processes x "
            f"train.grad_accum = {ctx.world_size * tcfg['grad_accum']}; raise the batch size"
        )
    return per_rank


def _training_source(
    cfg: dict[str, Any],
    output_dir: Path,
    ctx: DistContext,
    resume: ResumePoint | None,
    seed: int,
    per_rank: int,
) -> DataSource:
    """The training split (its validation split frozen in the run folder first, where the data
    has none); refused when it cannot fill one step or disagrees with a resumed checkpoint."""
    tcfg = cfg["train"]
    if freeze_split(cfg, output_dir, reuse=resume is not None, write=ctx.is_main):
        barrier(ctx)  # the other ranks read the split file the main process wrote
    try:
        train_src = build_source(
            cfg,
            "train",
            training=True,
            batch_size=per_rank,
            seed=seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
        )
    except ClassCountError as err:  # the count may be the resumed checkpoint's, not the user's
        if resume is not None:
            _same_classes_as_checkpoint(cfg, resume, err.found)
        raise
    (no_step,) = all_reduce_sum([1.0 if train_src.num_batches(0) == 0 else 0.0], ctx)
    if no_step:  # every rank stops (one rank's data may be what is too small)
        raise ConfigError(
            f"train.batch_size={tcfg['batch_size']} ({per_rank} per process x "
            f"grad_accum {tcfg['grad_accum']}) is larger than the "
            f"{train_src.num_samples(0)} training record(s) of this process, and "
            "partial batches are dropped: no step could be taken; lower "
            "train.batch_size"
        )
    if resume is not None:
        _same_classes_as_checkpoint(cfg, resume, len(train_src.class_names))
    return train_src


def _build_model(
    cfg: dict[str, Any], ctx: DistContext, weights: str | dict[str, Any] | None
) -> torch.nn.Module:
    """The model on the run's device (fine-tuning ``weights`` loaded; channels_last when set)."""
    model = build_model(cfg)
    if weights:
        load_weights(model, weights, cfg["model"]["name"])
    model.to(ctx.device)
    if resolve_channels_last(cfg["train"]["channels_last"], model):
        # Module.to takes memory_format (documented), its stubs do not say so
        model.to(memory_format=channels_last_format(model))  # type: ignore[call-overload]
    return model


def _restore_training_state(
    cfg: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    resume: ResumePoint,
    output_dir: Path,
    ctx: DistContext,
) -> TrainState:
    """Weights, optimizer, scaler, progress and RNG states of ``resume``; the settings given
    now win over the saved optimizer's (reported)."""
    saved = resume.state
    _load_resumed_weights(model, saved["model"], resume.path)
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(saved["optimizer"])
    for group, setting in zip(optimizer.param_groups, settings):
        group.update(setting)  # the config given now wins (reported below)
    if ctx.is_main:
        _report_changed_settings(saved.get("config") or {}, cfg, resume.path)
    if scaler and saved.get("scaler"):
        scaler.load_state_dict(saved["scaler"])
    state = TrainState(**saved["progress"])
    try:
        restore_rng_state(saved["rng"])
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError) as err:
        raise CheckpointError(
            f"{resume.path}: its random-number state ('rng') is damaged "
            f"({type(err).__name__}); resume from another checkpoint, or "
            "start a new run with --weights"
        ) from None
    if ctx.is_main:
        log.info("resumed from %s at epoch %d, step %d", resume.path, state.epoch + 1, state.step_in_epoch)
        dropped = truncate_logs(output_dir, state.global_step)
        if dropped:
            log.info("dropped %d log row(s) written after that checkpoint", dropped)
    return state


def _wrap_for_training(
    model: torch.nn.Module, ctx: DistContext, tcfg: dict[str, Any]
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(the model checkpoints save: SyncBatchNorm across ranks when set, what the steps run:
    DDP across ranks, torch.compile when set)."""
    if ctx.enabled and tcfg["sync_bn"]:
        model = convert_sync_batchnorm(model)
    train_model = model
    if ctx.enabled:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if tcfg["compile"]:
        train_model = torch.compile(train_model)  # type: ignore[assignment]
    return model, train_model


def _same_classes_as_checkpoint(cfg: dict[str, Any], resume: ResumePoint, found: int) -> None:
    """A resumed run keeps its checkpoint's class count: say so when the data disagrees."""
    saved = (resume.state.get("config") or {}).get("model", {}).get("num_classes")
    if saved is not None and saved == cfg["model"].get("num_classes") and saved != found:
        raise ConfigError(
            f"the checkpoint {resume.path} was trained for {saved} classes but the "
            f"training data has {found}; resume on the data it was trained on, or "
            f"start a new run with --weights {resume.path} (the classifier is "
            "re-initialised for the new classes)"
        )


def _load_resumed_weights(model: torch.nn.Module, state_dict: dict[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
        raise CheckpointError(
            f"{path}: its weights do not fit the model built for this run ("
            f"{lines[1] if len(lines) > 1 else lines[0]}); resume without --set/--config "
            "changes to the architecture, or start a new run with --weights"
        ) from None


_RESUME_FREE = {"train.epochs", "data.root"}  # changed on resume as a matter of course


def _flat(section: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _report_changed_settings(saved_cfg: dict[str, Any], cfg: dict[str, Any], path: Path) -> None:
    """Log the settings that differ from the checkpoint's config: the values given now win."""
    old, new = _flat(saved_cfg), _flat(cfg)
    changed = [
        f"{key} {old[key]!r:.40} -> {new[key]!r:.40}"
        for key in sorted(new)
        if key in old and old[key] != new[key] and key not in _RESUME_FREE
    ]
    if changed:
        log.warning(
            "resuming from %s with %d setting(s) changed since it was written: %s; the "
            "values given now are used from here on (the run no longer replays the "
            "original exactly)",
            path,
            len(changed),
            "; ".join(changed[:8]),
        )


def _save(run: _Run, reason: str) -> Path:
    """Write a checkpoint of the run (rank 0); never one holding NaN/Inf weights."""
    path = checkpoint_path(run.output_dir, run.state.global_step)
    if run.ctx.is_main:
        state_dict = unwrap(run.model).state_dict()
        bad = non_finite_tensors(state_dict)
        if bad:
            raise TrainingStopped(
                f"the weights became NaN/Inf by step {run.state.global_step} ({bad[0]}"
                f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); nothing was saved. "
                f"Last good checkpoint: {run.last_checkpoint or 'none yet'}. Try a lower "
                "learning rate or train.clip_grad_norm"
            )
        save_checkpoint(
            training_checkpoint(
                run.cfg,
                state_dict,
                run.optimizer,
                run.scaler,
                asdict(run.state),
                list(run.train_src.class_names),
                reason,
            ),
            path,
        )
        prune_checkpoints(run.output_dir, run.tcfg["keep_checkpoints"], protect=path)
        run.last_checkpoint = path
    barrier(run.ctx)
    return path


@dataclass
class _LogWindow:
    """The finite steps since the last train-log row (their samples, summed loss, start time)."""

    started: float = field(default_factory=time.time)
    samples: int = 0
    loss: float = 0.0
    steps: int = 0

    def add(self, out: dict[str, Any]) -> None:
        self.samples += out["samples"]
        self.loss += out["loss"]
        self.steps += 1


@dataclass
class _EpochCount:
    """Where one epoch's records went on this rank: used by steps, skipped as damaged."""

    first_step: int  # the step in the epoch it started from (after a resume: not 0)
    used: int  # records of the steps taken (those before a resume included)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def train_one_epoch(run: _Run, epoch: int, stop: _StopFlag) -> str | None:
    """Train ``epoch`` from ``run.state.step_in_epoch`` on; returns the name of the signal
    that stopped it early, else None (the epoch ran out of data)."""
    tcfg, ctx, state = run.tcfg, run.ctx, run.state
    accum = tcfg["grad_accum"]
    total = run.train_src.num_batches(epoch)
    steps_per_epoch = max(1, (total or 1) // accum)
    bar = progress_bar(
        total=(total // accum if total else None),
        initial=state.step_in_epoch,
        desc=f"epoch {epoch + 1}/{tcfg['epochs']}",
        main_process=ctx.is_main,
    )
    count = _EpochCount(state.step_in_epoch, state.step_in_epoch * accum * _per_rank_batch_size(tcfg, ctx))
    start = state.step_in_epoch * accum
    groups = _grouped(run.train_src.batches(epoch, start_batch=start), accum, count.skipped)
    window = _LogWindow()
    stopped_by = None
    while True:
        group = next(groups, None)
        (have,) = all_reduce_sum([1.0 if group else 0.0], ctx)
        if group is None or have < ctx.world_size:
            break  # one rank ran out: the epoch ends for all (the source reports what is left)
        count.used += sum(run.task.batch_size(b) for b in group)
        out, lr = _take_step(run, epoch, group, steps_per_epoch, stop)
        bar.update(1)
        if out["finite"]:
            window.add(out)
            bar.set_postfix(loss=f"{out['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
        if state.global_step % tcfg["log_interval"] == 0 and window.steps:
            _log_window(run, epoch, lr, window)
            window = _LogWindow()
        if out["stop"]:
            stopped_by = stop.signal_name or "a signal on another rank"
            break
        if tcfg["save_every_steps"] and state.global_step % tcfg["save_every_steps"] == 0:
            _save(run, "interval")
    bar.close()
    _account_for_epoch(run, epoch, count, stopped_by)
    return stopped_by


def _take_step(
    run: _Run, epoch: int, group: list[Batch], steps_per_epoch: int, stop: _StopFlag
) -> tuple[dict[str, Any], float]:
    """One optimizer step on ``group`` (re-seeded, at the scheduled learning rate); a
    non-finite loss restores the BatchNorm statistics it polluted and counts towards
    ``train.max_bad_steps``. Returns (``train_step``'s result, the learning rate)."""
    tcfg, ctx, state = run.tcfg, run.ctx, run.state
    torch.manual_seed(_step_seed(run.seed, ctx.rank, state.global_step))
    factor = lr_factor(
        tcfg["schedule"], epoch, state.step_in_epoch / steps_per_epoch, state.samples, tcfg["epochs"]
    )
    lr = set_learning_rate(run.optimizer, factor)
    statistics = _float_buffers(run.model)
    out = train_step(
        run.train_model,
        run.optimizer,
        run.task,
        group,
        ctx,
        amp=run.amp,
        amp_dtype=tcfg["amp_dtype"],
        scaler=run.scaler,
        clip_grad_norm=tcfg["clip_grad_norm"],
        stop_requested=stop.requested,
    )
    state.global_step += 1
    state.step_in_epoch += 1
    state.samples += out["samples"]
    if out["finite"]:
        run.bad_steps = 0
    else:
        _restore_buffers(run.model, statistics)  # the bad forward pass updated them
        _count_bad_step(run)
    return out, lr


def _count_bad_step(run: _Run) -> None:
    """Warn about a skipped step; stop after ``train.max_bad_steps`` in a row."""
    run.bad_steps += 1
    if run.ctx.is_main:
        log.warning(
            "step %d: non-finite loss, step skipped (%d in a row)", run.state.global_step, run.bad_steps
        )
    if run.bad_steps >= run.tcfg["max_bad_steps"]:
        raise TrainingStopped(
            f"{run.bad_steps} consecutive non-finite losses; stopping. Last good "
            f"checkpoint: {run.last_checkpoint or 'none written yet'}. Try a lower "
            "learning rate, train.clip_grad_norm, or check the data."
        )


def _log_window(run: _Run, epoch: int, lr: float, window: _LogWindow) -> None:
    """One train-log row: mean loss and throughput of the steps in ``window``."""
    state = run.state
    run.runlog.train_row(
        {
            "epoch": epoch + 1,
            "step": state.global_step,
            "samples": state.samples,
            "loss": window.loss / window.steps,
            "lr": lr,
            "samples_per_s": window.samples / max(time.time() - window.started, 1e-9),
        }
    )


def _account_for_epoch(run: _Run, epoch: int, count: _EpochCount, stopped_by: str | None) -> None:
    """End of an epoch: refuse one that took no step; report skipped and unread records."""
    tcfg, ctx, state = run.tcfg, run.ctx, run.state
    accum, per_rank = tcfg["grad_accum"], _per_rank_batch_size(tcfg, ctx)
    planned = run.train_src.num_samples(epoch)
    if count.first_step == 0 and state.step_in_epoch == 0 and stopped_by is None:
        raise ConfigError(
            f"epoch {epoch + 1} took no step: train.batch_size="
            f"{tcfg['batch_size']} ({per_rank} per process x grad_accum {accum}) "
            f"is larger than the {planned} training record(s) of this process, and "
            "partial batches are dropped; lower train.batch_size (nothing was saved)"
        )
    n_skipped, n_used, n_planned = all_reduce_sum(
        [float(len(count.skipped)), float(count.used), float(planned or 0)], ctx
    )
    if ctx.is_main and n_skipped:
        log.warning(
            "epoch %d: %d bad records skipped (details in the warnings above)", epoch + 1, int(n_skipped)
        )
    unread = int(n_planned - n_used - n_skipped)
    if ctx.is_main and planned is not None and stopped_by is None and unread > 0:
        level = logging.WARNING if unread > ctx.world_size * per_rank * accum else logging.INFO
        log.log(
            level,
            "epoch %d: %d of %d records were not used (each process drops its last "
            "partial batch, and the epoch ends for all when the first process runs out)",
            epoch + 1,
            unread,
            int(n_planned),
        )


def validate_and_checkpoint(run: _Run, epoch: int, stop: _StopFlag) -> str | None:
    """End of ``epoch``: validate when due, checkpoint, keep best.pt. Returns the signal name
    if a stop request arrived during validation (the checkpoint is written all the same)."""
    state = run.state
    state.epoch, state.step_in_epoch = epoch + 1, 0
    metrics = None
    due = run.valid_src is not None and (epoch + 1) % run.tcfg["valid_interval"] == 0
    if run.valid_src is not None and due:
        metrics = evaluate(
            unwrap(run.train_model),
            run.valid_src,
            run.task,
            run.ctx,
            amp=run.amp,
            amp_dtype=run.tcfg["amp_dtype"],
            desc="validate",
            should_stop=lambda: stop.requested,
        )
    if due and metrics is None:  # interrupted: keep the trained epoch, skip its validation
        _save(run, "signal")
        return stop.signal_name or "a signal on another rank"
    improved = False
    if metrics is not None:
        run.runlog.valid_row(epoch + 1, state.global_step, metrics)
        value = metrics.get(run.tcfg["monitor"] or run.task.default_monitor)
        if (
            isinstance(value, (int, float))
            and math.isfinite(value)
            and (state.best is None or value > state.best)
        ):
            state.best, state.best_metrics, improved = value, metrics, True
    path = _save(run, "epoch")
    if improved and run.ctx.is_main:
        copy_checkpoint(path, run.best_path)
    return None


def train(
    cfg: dict[str, Any],
    *,
    output_dir: str | Path,
    resume: str | ResumePoint | None = None,
    weights: str | dict[str, Any] | None = None,
    device: str = "auto",
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train ``cfg["model"]`` on ``cfg["data"]``; returns a summary with checkpoint paths.

    ``resume``: a checkpoint path, "auto" (the newest good one in ``output_dir``) or a
    ``ResumePoint`` already read. A summary with ``"interrupted"`` means a signal stopped the
    run after writing a checkpoint.
    """
    ctx = init_distributed(device)
    output_dir = Path(output_dir)
    if isinstance(resume, (str, Path)):
        asked = str(resume)
        resume = resolve_resume(resume, output_dir, cfg["model"]["name"])
        if resume is None and asked == "auto" and ctx.is_main:
            log.info("--resume auto: no checkpoint in %s yet, starting fresh", output_dir)
    with contextlib.ExitStack() as held:
        _prepare_output_dir(output_dir, ctx, held, resuming=resume is not None, overwrite=overwrite)
        return _run_epochs(_start_run(cfg, output_dir, ctx, resume, weights, seed))


def _run_epochs(run: _Run) -> dict[str, Any]:
    """Train the remaining epochs of ``run``; the summary ``train`` returns."""
    ctx, output_dir = run.ctx, run.output_dir
    try:
        with _StopFlag() as stop:
            for epoch in range(run.state.epoch, run.tcfg["epochs"]):
                run.state.epoch = epoch
                stopped_by = train_one_epoch(run, epoch, stop)
                if stopped_by is None:
                    stopped_by = validate_and_checkpoint(run, epoch, stop)
                else:
                    _save(run, "signal")
                if stopped_by:
                    if ctx.is_main:
                        log.warning(
                            "stopped by %s: checkpoint saved to %s; continue with "
                            "--resume auto (or --resume %s)",
                            stopped_by,
                            run.last_checkpoint,
                            run.last_checkpoint,
                        )
                    return {
                        "interrupted": stopped_by,
                        "last": str(run.last_checkpoint),
                        "output_dir": str(output_dir),
                    }
    finally:
        run.runlog.close()
    state = run.state
    return {
        "output_dir": str(output_dir),
        "last": str(run.last_checkpoint) if run.last_checkpoint else None,
        "best": str(run.best_path) if run.best_path.exists() else None,
        "best_metrics": state.best_metrics,
        "epochs": run.tcfg["epochs"],
        "steps": state.global_step,
        "samples": state.samples,
    }
