"""The training loop: model-agnostic, resumable, single- or multi-process.

One optimizer step = `grad_accum` micro-batches on every rank. Per step the ranks agree, in
two tiny all-reduces, on (a) whether every rank still has data (training stops the epoch as a
whole when one runs out) and (b) the global sample count, non-finite losses and stop requests.
Dropout and other model randomness are re-seeded from (seed, rank, step) at each step, so a
resumed run replays exactly what an uninterrupted one would have done.
"""
from __future__ import annotations

import contextlib
import csv
import logging
import math
import signal
import time
from pathlib import Path

import torch

from videozoo.config import dump_config
from videozoo.registry import build_model
from videozoo.data import build_source
from videozoo.engine import checkpoint as ckpt_io
from videozoo.engine.distributed import DistContext, all_reduce_sum, barrier, init_distributed
from videozoo.engine.evaluate import evaluate
from videozoo.engine.optim import build_optimizer, lr_factor, set_learning_rate
from videozoo.engine.precision import (autocast_context, channels_last_format,
                                       convert_sync_batchnorm)
from videozoo.engine.progress import progress_bar
from videozoo.engine.tasks import make_task, to_device

log = logging.getLogger("videozoo")


class TrainingStopped(RuntimeError):
    """Too many consecutive non-finite losses."""


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DistributedDataParallel


def _step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 7_919 + step * 104_729) % (2**63 - 1)


def _grouped(batches, size: int, skipped: list):
    """Group non-empty batches into lists of `size` micro-batches; collect skip records."""
    group = []
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


def train_step(model, optimizer, task, micro_batches: list[dict], ctx: DistContext, *,
               amp: bool = False, amp_dtype: str = "bfloat16", scaler=None,
               clip_grad_norm: float = 0.0, stop_requested: bool = False) -> dict:
    """Forward/backward over this rank's micro-batches and one optimizer step.

    Returns {"loss", "samples" (global), "finite", "stop"}; the step is skipped (gradients
    dropped) on every rank when any rank saw a non-finite loss.
    """
    model.train()
    n_local = sum(task.batch_size(b) for b in micro_batches)
    loss_sum = 0.0
    optimizer.zero_grad(set_to_none=True)
    for k, batch in enumerate(micro_batches):
        batch = to_device(batch, ctx.device, non_blocking=True)
        sync = k == len(micro_batches) - 1 or not hasattr(model, "no_sync")
        with (contextlib.nullcontext() if sync else model.no_sync()):
            with autocast_context(ctx.device, amp, amp_dtype):
                logits = model(task.model_inputs(batch))
            loss = task.loss(logits, batch)
            weighted = loss * (task.batch_size(batch) / n_local)
            (scaler.scale(weighted) if scaler else weighted).backward()
        loss_sum += float(loss.detach()) * task.batch_size(batch)
    finite_local = math.isfinite(loss_sum)
    samples, bad, stop = all_reduce_sum([n_local, 0.0 if finite_local else 1.0,
                                         1.0 if stop_requested else 0.0], ctx)
    finite = bad == 0
    if finite:
        if scaler:
            scaler.unscale_(optimizer)
        if clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
    else:
        optimizer.zero_grad(set_to_none=True)
    return {"loss": loss_sum / max(n_local, 1), "samples": int(samples), "finite": finite,
            "stop": stop > 0}


class _StopFlag:
    """SIGTERM / SIGINT ask the loop to checkpoint and exit at the next step boundary."""

    def __init__(self):
        self.signal_name = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, _frame):
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C really stops
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _CsvLog:
    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled, self.fields = path, enabled, None

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        new = not self.path.exists()
        if self.fields is None:
            self.fields = list(row) if new else next(csv.reader(self.path.open()))
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def _tensorboard(output_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("train.tensorboard is on but the tensorboard package is not installed "
                    "(pip install tensorboard); writing CSV logs only")
        return None
    return SummaryWriter(str(output_dir / "tensorboard"))


def _validation_source(cfg, ctx, seed):
    per_rank = max(1, cfg["eval"]["batch_size"] // ctx.world_size)
    try:
        return build_source(cfg, "validate", training=False, batch_size=per_rank, seed=seed,
                            rank=ctx.rank, world_size=ctx.world_size)
    except FileNotFoundError as err:
        if ctx.is_main:
            log.warning("no validation data (%s); training without validation", err)
        return None


def train(cfg: dict, *, output_dir: str | Path, resume: str | None = None,
          weights: str | None = None, device: str = "auto", seed: int = 0) -> dict:
    """Train `cfg["model"]` on `cfg["data"]`; returns a summary with checkpoint paths."""
    ctx = init_distributed(device)
    output_dir = Path(output_dir)
    tcfg = cfg["train"]
    accum = max(1, tcfg["grad_accum"])
    per_rank = tcfg["batch_size"] // (ctx.world_size * accum)
    if per_rank < 1:
        raise ValueError(f"train.batch_size={tcfg['batch_size']} is smaller than processes x "
                         f"grad_accum = {ctx.world_size * accum}")
    if isinstance(resume, ckpt_io.ResumePoint):
        resume_point = resume
    else:
        resume_point = (ckpt_io.resolve_resume(resume, output_dir, cfg["model"]["name"])
                        if resume else None)
    resume_path = resume_point.path if resume_point else None
    if resume == "auto" and resume_path is None and ctx.is_main:
        log.info("--resume auto: no checkpoint in %s yet, starting fresh", output_dir)

    torch.manual_seed(seed)
    train_src = build_source(cfg, "train", training=True, batch_size=per_rank, seed=seed,
                             rank=ctx.rank, world_size=ctx.world_size)
    valid_src = _validation_source(cfg, ctx, seed) if tcfg["valid_interval"] > 0 else None
    num_classes = cfg["model"]["num_classes"]
    task = make_task(train_src, num_classes, cfg["eval"])
    monitor = tcfg["monitor"] or task.default_monitor

    model = build_model(cfg)
    if weights and not resume_path:
        ckpt_io.load_weights(model, weights, cfg["model"]["name"])
    model.to(ctx.device)
    if tcfg["channels_last"]:
        model.to(memory_format=channels_last_format(model))
    optimizer = build_optimizer(model, tcfg["optimizer"])
    scaler = None
    if tcfg["amp"] and tcfg["amp_dtype"] == "float16" and ctx.device.type == "cuda":
        scaler = torch.amp.GradScaler("cuda")

    progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "samples": 0,
                "best": None, "best_metrics": None}
    if resume_path:
        state = resume_point.state
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        progress.update(state["progress"])
        ckpt_io.restore_rng_state(state["rng"])
        if ctx.is_main:
            log.info("resumed from %s at epoch %d, step %d", resume_path,
                     progress["epoch"] + 1, progress["step_in_epoch"])

    if ctx.enabled and tcfg["sync_bn"]:
        model = convert_sync_batchnorm(model)
    train_model = model
    if ctx.enabled:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if tcfg["compile"]:
        train_model = torch.compile(train_model)

    if ctx.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(dump_config(cfg))
    train_csv = _CsvLog(output_dir / "train_log.csv", ctx.is_main)
    valid_csv = _CsvLog(output_dir / "valid_log.csv", ctx.is_main)
    board = _tensorboard(output_dir, tcfg["tensorboard"] and ctx.is_main)
    last_ckpt = resume_path
    best_path = output_dir / "best.pt"

    def save(reason: str) -> Path:
        nonlocal last_ckpt
        if ctx.is_main:
            state = {"format": ckpt_io.FORMAT, "model_name": cfg["model"]["name"],
                     "model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict() if scaler else None,
                     "progress": dict(progress), "rng": ckpt_io.capture_rng_state(),
                     "config": cfg, "class_names": list(train_src.class_names),
                     "reason": reason}
            path = ckpt_io.save_checkpoint(state, ckpt_io.checkpoint_path(
                output_dir, progress["global_step"]))
            ckpt_io.prune_checkpoints(output_dir, tcfg["keep_checkpoints"])
            last_ckpt = path
        barrier(ctx)
        return ckpt_io.checkpoint_path(output_dir, progress["global_step"])

    bad_steps, stopped_by = 0, None
    with _StopFlag() as stop_flag:
        for epoch in range(progress["epoch"], tcfg["epochs"]):
            start_step = progress["step_in_epoch"] if epoch == progress["epoch"] else 0
            progress.update(epoch=epoch, step_in_epoch=start_step)
            skipped: list = []
            batches = train_src.batches(epoch, start_batch=start_step * accum)
            total = train_src.num_batches(epoch)
            bar = progress_bar(total=(total // accum if total else None), initial=start_step,
                               desc=f"epoch {epoch + 1}/{tcfg['epochs']}",
                               main_process=ctx.is_main)
            groups = _grouped(batches, accum, skipped)
            window_t, window_samples, window_loss, window_steps = time.time(), 0, 0.0, 0
            while True:
                group = next(groups, None)
                (have,) = all_reduce_sum([1.0 if group else 0.0], ctx)
                if have < ctx.world_size:
                    break  # one rank ran out: the epoch ends for all (uneven shards)
                torch.manual_seed(_step_seed(seed, ctx.rank, progress["global_step"]))
                factor = lr_factor(tcfg["schedule"], epoch,
                                   progress["step_in_epoch"] / max(1, (total or 1) // accum),
                                   progress["samples"], tcfg["epochs"])
                lr = set_learning_rate(optimizer, factor)
                out = train_step(train_model, optimizer, task, group, ctx, amp=tcfg["amp"],
                                 amp_dtype=tcfg["amp_dtype"], scaler=scaler,
                                 clip_grad_norm=tcfg["clip_grad_norm"],
                                 stop_requested=stop_flag.signal_name is not None)
                progress["global_step"] += 1
                progress["step_in_epoch"] += 1
                progress["samples"] += out["samples"]
                bar.update(1)
                if not out["finite"]:
                    bad_steps += 1
                    if ctx.is_main:
                        log.warning("step %d: non-finite loss, step skipped (%d in a row)",
                                    progress["global_step"], bad_steps)
                    if bad_steps >= tcfg["max_bad_steps"]:
                        raise TrainingStopped(
                            f"{bad_steps} consecutive non-finite losses; stopping. Last good "
                            f"checkpoint: {last_ckpt or 'none written yet'}. Try a lower "
                            "learning rate, train.clip_grad_norm, or check the data.")
                    continue
                bad_steps = 0
                window_samples += out["samples"]
                window_loss += out["loss"]
                window_steps += 1
                bar.set_postfix(loss=f"{out['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
                if progress["global_step"] % tcfg["log_interval"] == 0:
                    rate = window_samples / max(time.time() - window_t, 1e-9)
                    row = {"epoch": epoch + 1, "step": progress["global_step"],
                           "samples": progress["samples"], "loss": window_loss / window_steps,
                           "lr": lr, "samples_per_s": rate}
                    if ctx.is_main:
                        log.info("epoch %d step %d  loss %.4f  lr %.3g  %.1f samples/s",
                                 epoch + 1, progress["global_step"], row["loss"], lr, rate)
                        if board:
                            for key in ("loss", "lr", "samples_per_s"):
                                board.add_scalar(f"train/{key}", row[key], row["step"])
                    train_csv.write(row)
                    window_t, window_samples, window_loss, window_steps = time.time(), 0, 0.0, 0
                if out["stop"]:
                    stopped_by = stop_flag.signal_name or "a signal on another rank"
                    break
                if tcfg["save_every_steps"] and progress["global_step"] % tcfg["save_every_steps"] == 0:
                    save("interval")
            bar.close()
            (n_skipped,) = all_reduce_sum([float(len(skipped))], ctx)
            if stopped_by:
                path = save("signal")
                if ctx.is_main:
                    log.warning("stopped by %s: checkpoint saved to %s; continue with "
                                "--resume auto (or --resume %s)", stopped_by, path, path)
                return {"interrupted": stopped_by, "last": str(path), "output_dir": str(output_dir)}
            if ctx.is_main and n_skipped:
                log.warning("epoch %d: %d bad records skipped (details in the warnings above)",
                            epoch + 1, int(n_skipped))
            progress.update(epoch=epoch + 1, step_in_epoch=0)
            metrics = None
            if valid_src is not None and (epoch + 1) % tcfg["valid_interval"] == 0:
                metrics = evaluate(unwrap(train_model), valid_src, task, ctx, amp=tcfg["amp"],
                                   amp_dtype=tcfg["amp_dtype"], desc="validate")
                if ctx.is_main:
                    log.info("epoch %d validation: %s", epoch + 1, format_metrics(metrics))
                    valid_csv.write({"epoch": epoch + 1, "step": progress["global_step"],
                                     **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}})
                    if board:
                        for key, value in metrics.items():
                            if isinstance(value, (int, float)):
                                board.add_scalar(f"valid/{key}", value, progress["global_step"])
                value = metrics.get(monitor)
                if value is not None and (progress["best"] is None or value > progress["best"]):
                    progress["best"], progress["best_metrics"] = value, metrics
                    path = save("epoch")
                    if ctx.is_main:
                        ckpt_io.copy_checkpoint(path, best_path)
                    continue
            save("epoch")
    if board:
        board.close()
    result = {"output_dir": str(output_dir), "last": str(last_ckpt) if last_ckpt else None,
              "best": str(best_path) if best_path.exists() else None,
              "best_metrics": progress["best_metrics"], "epochs": tcfg["epochs"],
              "steps": progress["global_step"], "samples": progress["samples"]}
    return result


def format_metrics(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in metrics.items() if isinstance(v, (int, float)))
