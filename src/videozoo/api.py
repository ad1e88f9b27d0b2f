"""The Python API: what the command line does, callable from scripts and notebooks.

    import videozoo
    videozoo.list_models()                                   # ['nextvlad', ..., 'nonlocal']
    model = videozoo.create_model("tsm", num_classes=101)    # an nn.Module, random weights
    model = videozoo.load_model("runs/tsm/best.pt")          # eval mode, .class_names attached
    predictor = videozoo.Predictor("tsm_k400.pt")            # checkpoint or bundle folder
    predictor = videozoo.Predictor("tsm_r50_1x1x8_k400.mmaction2")  # or a published tag
    videozoo.list_pretrained("tsm")                          # the tags of one model
    predictor.predict(["clip.mp4", "more_videos/"], topk=5)  # one dict per input
    summary = videozoo.train("tsm", data="ucf101/", output="runs/ucf", epochs=3,
                             weights="tsm_k400.pt")
    metrics = videozoo.evaluate("runs/ucf/best.pt", data="ucf101/")

Config overrides are keyword arguments: ``section__key=value`` (double underscores for dots,
e.g. ``train__optimizer__lr=0.01``), the shortcuts ``epochs``, ``batch_size``, ``lr`` and
``num_classes``, or ``set=["train.epochs=3", ...]`` as on the command line.

The tools behind the other commands return what the command prints: ``model_info``,
``export_weights``, ``convert_weights``, ``embed_videos``, ``upgrade_checkpoint``, ``synth_dataset``,
``check_data``, ``extract_features``, ``plot_run``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

import videozoo.convert
import videozoo.engine.evaluate
import videozoo.engine.train
import videozoo.reports
from videozoo import check, registry, zoo
from videozoo.config import build_config, override_item
from videozoo.data import accepts_decode_pool, build_source
from videozoo.data.synth import synth_youtube8m
from videozoo.data.synth_kinetics import synth_kinetics
from videozoo.data.youtube8m import warn_if_not_youtube8m_features
from videozoo.engine.distributed import DistContext, init_distributed, resolve_device
from videozoo.engine.embed import claim_output, embed_rows, write_embeddings
from videozoo.engine.export import export_checkpoint
from videozoo.engine.inference import prepare_inference
from videozoo.engine.precision import autocast_context
from videozoo.engine.predict import predict_rows, top_classes
from videozoo.engine.tasks import make_task, to_device
from videozoo.errors import ConfigError
from videozoo.extract import read_labels_csv, run_extract
from videozoo.models.complexity import count_macs, count_parameters
from videozoo.runlock import hold_output
from videozoo.serialization.bundle_writer import write_bundle
from videozoo.serialization.checkpoint import upgrade_checkpoint as upgrade_checkpoint_file
from videozoo.serialization.graph_export import default_output_path
from videozoo.serialization.loading import load_checkpoint_model, read_fine_tune_weights
from videozoo.serialization.runs import resolve_resume
from videozoo.zoo import cache, model_of, render, resolve_weights
from videozoo.zoo.hub import fetch_file, pin_sha256
from videozoo.zoo.table import Weight

__all__ = [
    "list_models",
    "list_pretrained",
    "create_model",
    "load_model",
    "Predictor",
    "train",
    "evaluate",
    "model_info",
    "export_weights",
    "convert_weights",
    "embed_videos",
    "upgrade_checkpoint",
    "synth_dataset",
    "check_data",
    "extract_features",
    "plot_run",
    "published_weights",
    "download_weights",
    "cache_contents",
    "clear_cache",
]

log = logging.getLogger("videozoo")

#: windows per forward pass of a video timeline, on CPU / on an accelerator (at most the eval
#: batch size): with the open windows' frames, what a timeline holds whatever the video's
#: length. On CPU a bigger batch is not faster, only bigger (ResNet-50: ~100 MB a window).
TIMELINE_BATCH = {"cpu": 1, "accelerator": 4}

#: keyword shortcuts for the settings people change most
SHORTCUTS = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.optimizer.lr",
    "num_classes": "model.num_classes",
}


def config_overrides(set: Iterable[str] | dict[str, Any] | None = None, **overrides: Any) -> list[str]:
    """``set`` items (``"a.b=v"`` strings or a ``{"a.b": v}`` dict) plus keyword overrides
    (``a__b=v`` or a shortcut) as ``--set`` items."""
    if isinstance(set, dict):
        items = [override_item(key, value) for key, value in set.items()]
    else:
        items = list(set or [])
    for key, value in overrides.items():
        path = SHORTCUTS.get(key, key.replace("__", "."))
        if "." not in path:
            raise ConfigError(
                f"unknown keyword '{key}': name a config key as section__key "
                f"(e.g. train__epochs=3), use one of {', '.join(SHORTCUTS)}, or "
                "pass set=['train.epochs=3']"
            )
        items.append(override_item(path, value))
    return items


def list_models() -> list[str]:
    """The registered model names."""
    return registry.list_models()


def list_pretrained(model: str | None = None) -> list[str]:
    """Tags of the published weights videozoo loads (``videozoo models --pretrained``)."""
    return zoo.list_pretrained(model)


def create_model(name: str, pretrained: str | None = None, **overrides: Any) -> torch.nn.Module:
    """A model with random weights; ``overrides`` replace the builder's reference defaults
    (e.g. ``create_model("tsm", num_classes=101, depth=18)``). ``pretrained``: a published
    model tag (the model comes with those weights, in eval mode, as ``load_model``), or an
    ImageNet trunk tag / file (``model.pretrained``: the trunk only)."""
    implied = model_of(pretrained)
    if implied is None:
        return (
            registry.create_model(name, pretrained=pretrained, **overrides)
            if pretrained
            else registry.create_model(name, **overrides)
        )
    assert pretrained is not None  # model_of(None) is None
    if implied != name:
        raise ConfigError(f"pretrained='{pretrained}' holds '{implied}' weights, not '{name}'")
    return load_model(pretrained, set={f"model.{k}": v for k, v in overrides.items()})


def load_model(
    path: str | Path, device: str | torch.device = "cpu", set: Iterable[str] | dict[str, Any] | None = None
) -> torch.nn.Module:
    """A checkpoint file, a bundle folder or a published tag -> the model in eval mode, with
    attributes ``class_names`` (list), ``preprocessing`` (dict: input layout, sampling,
    mean/std ...) and ``videozoo_config`` (the full config) attached."""
    loaded = load_checkpoint_model(
        resolve_weights(path),
        device=resolve_device(str(device)) if isinstance(device, str) else device,
        overrides=config_overrides(set),
        purpose="videozoo.load_model",
    )
    data_module = registry.dataset_module(loaded.config["data"]["format"])
    model = loaded.model
    # nn.Module types its attributes as Tensor | Module; these are the documented plain extras
    model.class_names = loaded.class_names  # type: ignore[assignment]
    model.preprocessing = data_module.preprocessing(loaded.config["data"])
    model.videozoo_config = loaded.config  # type: ignore[assignment]
    return model


def default_precision(config: dict[str, Any]) -> str:
    """The inference precision when none is given: bf16 if the config forces autocast
    (``train.amp: true``), else fp32 (exact; ``auto`` picks bf16 only where it is faster)."""
    if config["train"]["amp"] is not True:
        return "fp32"
    return {"float16": "fp16"}.get(config["train"]["amp_dtype"], "bf16")


class Predictor:
    """Top-k classes for videos (video models) or TFRecord shards (feature models).

    ``Predictor(path)`` loads a checkpoint, bundle or published tag once and prepares the inference fast path
    (``engine/inference.py``: BatchNorm folded, channels_last, ``precision`` fp32 / bf16 /
    fp16 / auto, ``compile``); ``predict(inputs, topk)`` takes a file, a folder, a list of
    them, a decoded video (uint8 RGB ``[F, H, W, 3]``, numpy or torch) or, for feature models,
    ``{"rgb": [T, 1024], "audio": [T, 128]}``, and returns one dict per input:
    ``{"id", "class_ids", "class_names", "scores"}``, or ``{"id", "error"}`` for an input that
    could not be used. A decoded input of the wrong shape or width, with no frames, or
    (features) holding NaN/Inf raises ``DataError`` naming what is wrong.

    Video files are decoded in this process: one video directly, several by ``workers``
    decoding threads (default ``train.num_workers``, at least 1) that the Predictor keeps
    across calls, decoding the next videos while the model runs. ``close()`` (or ``with
    Predictor(...) as p``) stops them; they also stop with the Predictor.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        batch_size: int | None = None,
        model: str | None = None,
        config: str | Path | None = None,
        set: Iterable[str] | dict[str, Any] | None = None,
        *,
        precision: str | None = None,
        compile: bool = False,
        workers: int | None = None,
        **overrides: Any,
    ):
        self.ctx = DistContext(device=resolve_device(device))
        loaded = load_checkpoint_model(
            resolve_weights(path),
            model,
            overrides=config_overrides(set, **overrides),
            config_file=str(config) if config else None,
            device=self.ctx.device,
            purpose="prediction",
        )
        self.config, self.class_names = loaded.config, loaded.class_names
        self.plan = prepare_inference(
            loaded.model,
            self.ctx.device,
            compile=compile,
            precision=precision or default_precision(self.config),
        )
        self.model = loaded.model  # prepared, never compiled: embed calls its forward_features / forward_head
        self.runner = self.plan.model  # what scores inputs (compiled when asked)
        self.task = make_task(self.config, self.class_names)
        self.batch_size = batch_size or self.config["eval"]["batch_size"]
        self.workers = max(1, workers or self.config["train"]["num_workers"])
        self._pool: ThreadPoolExecutor | None = None

    def decode_pool(self) -> ThreadPoolExecutor | None:
        """The decoding threads (started on first use, kept across calls); None for data
        formats that do not decode videos."""
        if self._pool is None and accepts_decode_pool(self.config):
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="videozoo-decode")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def predict(self, inputs: Any, topk: int | None = None) -> list[dict[str, Any]]:
        if topk is not None and topk < 1:
            raise ConfigError(f"--topk must be at least 1, got {topk}")
        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        if isinstance(inputs, (np.ndarray, torch.Tensor, dict)):
            return [self._predict_decoded(inputs, topk, "decoded")]
        inputs = list(inputs)
        if inputs and not isinstance(inputs[0], (str, Path)):
            return [self._predict_decoded(item, topk, f"decoded_{i}") for i, item in enumerate(inputs)]
        return predict_rows(
            self.runner,
            self.config,
            [str(p) for p in inputs],
            self.class_names,
            self.ctx,
            topk=topk,
            batch_size=self.batch_size,
            amp=self.plan.amp,
            amp_dtype=self.plan.amp_dtype or "bfloat16",
            decode_pool=self.decode_pool(),
        )

    def predict_timeline(
        self,
        input: Any,
        window: float | None = None,
        stride: float | None = None,
        topk: int | None = None,
        smooth: int = 1,
        **options: Any,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Top-k per window of a long video (see ``videozoo.timeline``).

        ``input``: a video file, URL, live stream, ``"-"`` or capture device (video models);
        a TFRecord shard or ``{"rgb", "audio"}`` features (feature models: windows of
        ``window`` seconds of per-second features). ``window`` / ``stride`` in seconds (default:
        the model's clip, half of it). Returns ``{"id", "windows": [rows], "segments":
        [merged windows], "duration", "interrupted"}``; a shard gives a list of those, one
        per record. ``options``: ``batch_size``, ``reconnect``, ``on_window``,
        ``show_progress`` (``video_timeline``).
        """
        from videozoo import timeline as tl  # here: timeline decodes videos (av)

        k = topk or self.task.default_top_k
        if self.config["data"]["format"] != "video":
            if isinstance(input, dict):
                return self._timeline_summary(self._decoded_timeline(input, window, stride), k, smooth)
            return [
                self._timeline_summary(r, k, smooth) for r in self._feature_timelines(input, window, stride)
            ]
        per_call = TIMELINE_BATCH["cpu" if self.ctx.device.type == "cpu" else "accelerator"]
        options.setdefault("batch_size", min(self.batch_size, per_call))
        result = tl.video_timeline(
            str(input), self.config["data"], self.score_batch, window=window, stride=stride, **options
        )
        return self._timeline_summary(result, k, smooth)

    def _timeline_summary(self, result: Any, topk: int, smooth: int) -> dict[str, Any]:
        """A `timeline.Timeline` as predict_timeline's answer: rows, segments, duration."""
        from videozoo import timeline as tl  # here: timeline decodes videos (av)

        rows = tl.timeline_rows(result, self.class_names, topk, smooth)
        return {
            "id": result.id,
            "windows": rows,
            "segments": tl.segments(rows),
            "duration": result.duration,
            "interrupted": result.interrupted,
        }

    def _decoded_timeline(self, features: dict[str, Any], window: float | None, stride: float | None) -> Any:
        """The feature timeline of one video's decoded ``{"rgb", "audio"}`` features (all rows)."""
        from videozoo import timeline as tl  # here: timeline decodes videos (av)

        batch = registry.dataset_module("youtube8m").batch_from_decoded({"max_frames": 1 << 30}, features)
        return tl.feature_timeline(
            "decoded", batch["rgb"][0], batch["audio"][0], self.score_batch, window=window, stride=stride
        )

    def _feature_timelines(self, path: Any, window: float | None, stride: float | None) -> Iterator[Any]:
        """One feature timeline per record of the shard(s) ``path``, whole records (no
        max_frames cut)."""
        from videozoo import timeline as tl  # here: timeline decodes videos (av)

        cfg = {**self.config, "data": {**self.config["data"], "max_frames": 1 << 30}}
        source = build_source(
            cfg,
            "predict",
            training=False,
            batch_size=1,
            inputs=[str(path)] if isinstance(path, (str, Path)) else list(path),
        )
        for batch in source.batches(0):
            for file, vid, reason in batch.get("skipped", []):
                log.warning("%s: skipped %s (%s)", file, vid, reason)
            for i, vid in enumerate(batch["ids"]):
                length = int(batch["mask"][i].sum())
                yield tl.feature_timeline(
                    vid,
                    batch["rgb"][i, :length],
                    batch["audio"][i, :length],
                    self.score_batch,
                    window=window,
                    stride=stride,
                )

    @torch.inference_mode()
    def score_batch(self, inputs: Any) -> torch.Tensor:
        """Scores ``[N, C]`` of model inputs: videos float ``[N, V, T, 3, S, S]`` (video
        models) or ``{"rgb", "audio", "mask"}`` batches (feature models)."""
        batch = inputs if isinstance(inputs, dict) else {"video": inputs}
        return self.task.scores(self.model, to_device(batch, self.ctx.device)).float().cpu()

    @torch.inference_mode()
    def _predict_decoded(self, item: Any, topk: int | None, name: str) -> dict[str, Any]:
        data_module = registry.dataset_module(self.config["data"]["format"])
        batch = to_device(data_module.batch_from_decoded(self.config["data"], item), self.ctx.device)
        with autocast_context(self.ctx.device, self.plan.amp, self.plan.amp_dtype or "bfloat16"):
            scores = self.task.scores(self.runner, batch).float().cpu()[0]
        if not bool(torch.isfinite(scores).all()):  # as predict_rows: NaN never reaches a row
            return {
                "id": name,
                "error": "the model gave non-finite (NaN/Inf) scores: its weights hold NaN/Inf",
            }
        return {"id": name, **top_classes(scores, self.class_names, topk or self.task.default_top_k)}


def train(
    model: str | None,
    data: str | Path | None = None,
    output: str | Path | None = None,
    *,
    config: str | Path | None = None,
    weights: str | Path | None = None,
    resume: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    set: Iterable[str] | dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``model`` on the dataset in ``data``; returns the summary the CLI prints
    (checkpoint paths, best metrics, steps). ``resume``: a checkpoint or ``"auto"``;
    ``weights``: a checkpoint, bundle or published tag to fine-tune from (``model`` may then be
    None: the tag's model)."""
    model = model or model_of(weights)
    if model is None:
        raise ConfigError(
            "name the model to train (e.g. `videozoo train tsm ...`), or pass a published tag as --weights"
        )
    output = Path(output) if output else Path("runs") / model
    items = config_overrides(set, **overrides) + ([f"data.root={data}"] if data else [])
    point = resolve_resume(str(resume), output, model) if resume else None
    start = read_fine_tune_weights(resolve_weights(weights), model) if weights and point is None else None
    if start and start.inherited.get("model"):
        log.info(
            "fine-tuning from %s: keeping its architecture and input settings (%s); --set overrides them",
            start.path,
            ", ".join(
                f"{section}.{k}={v}" for section, keys in start.inherited.items() for k, v in keys.items()
            ),
        )
    cfg = build_config(
        model,
        str(config) if config else None,
        items,
        base=point.state["config"] if point else None,
        inherited=start.inherited if start else None,
    )
    return videozoo.engine.train.train(
        cfg,
        output_dir=output,
        resume=point or (str(resume) if resume else None),
        weights=start.state if start else None,
        device=device,
        seed=seed,
        overwrite=overwrite,
    )


def evaluate(
    weights: str | Path,
    data: str | Path | None = None,
    *,
    split: str = "validate",
    model: str | None = None,
    device: str = "auto",
    config: str | Path | None = None,
    set: Iterable[str] | dict[str, Any] | None = None,
    precision: str | None = None,
    compile: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """The official metrics of a checkpoint or bundle on ``split`` of ``data`` (default: the
    dataset it was trained on); the dict the CLI writes as JSON. ``precision`` / ``compile``:
    as for ``Predictor``."""
    metrics: dict[str, Any] = evaluate_with_details(
        weights,
        data,
        split=split,
        model=model,
        device=device,
        config=config,
        set=set,
        precision=precision,
        compile=compile,
        **overrides,
    )[0]
    return metrics


def evaluate_with_details(
    weights: str | Path,
    data: str | Path | None = None,
    *,
    split: str = "validate",
    model: str | None = None,
    device: str = "auto",
    config: str | Path | None = None,
    set: Iterable[str] | dict[str, Any] | None = None,
    precision: str | None = None,
    compile: bool = False,
    **overrides: Any,
) -> tuple[dict[str, Any], Any, Any]:
    """(metrics, metric accumulator, task): what ``videozoo eval --report`` needs too."""
    ctx = init_distributed(device)
    items = config_overrides(set, **overrides) + ([f"data.root={data}"] if data else [])
    loaded = load_checkpoint_model(
        resolve_weights(weights),
        model,
        overrides=items,
        config_file=str(config) if config else None,
        device=ctx.device,
        purpose="evaluation",
    )
    cfg = loaded.config
    if "classes" in cfg["data"] and not cfg["data"]["classes"] and loaded.class_names:
        cfg["data"]["classes"] = list(loaded.class_names)  # label names -> the model's ids
    per_rank = max(1, cfg["eval"]["batch_size"] // ctx.world_size)
    source = build_source(
        cfg, split, training=False, batch_size=per_rank, rank=ctx.rank, world_size=ctx.world_size
    )
    if cfg["data"]["format"] == "youtube8m":  # features not made as YouTube-8M's: warn once
        # only the youtube8m source has .files (the shard paths)
        warn_if_not_youtube8m_features(source.files)  # type: ignore[attr-defined]
    task = make_task(cfg, loaded.class_names or source.class_names)
    plan = prepare_inference(
        loaded.model, ctx.device, compile=compile, precision=precision or default_precision(cfg)
    )
    metrics, accumulator = videozoo.engine.evaluate.evaluate(
        plan.model,
        source,
        task,
        ctx,
        amp=plan.amp,
        amp_dtype=plan.amp_dtype or "bfloat16",
        desc=split,
        return_metrics_object=True,
    )
    return metrics, accumulator, task


# ----------------------------------------------------------------------------- tools
# What the other commands do; each returns the data the command prints.


def model_info(
    model: str,
    config: str | Path | None = None,
    set: Iterable[str] | dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Size and cost of ``model`` on one training view of its config's input (frames, crop):
    ``{"model", "parameters" (trainable), "parameters_total", "buffers", "input" ({name:
    shape}), "macs", "gmacs"}`` (``videozoo info``)."""
    cfg = build_config(model, str(config) if config else None, config_overrides(set, **overrides))
    net = registry.build_model(cfg).eval()
    batch = make_task(cfg, []).example_input(net, 1, training=True)
    params = count_parameters(net)
    macs = count_macs(net, batch)
    return {
        "model": model,
        "parameters": params["trainable"],
        "parameters_total": params["total"],
        "buffers": params["buffers"],
        "input": {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")},
        "macs": macs,
        "gmacs": round(macs / 1e9, 3),
    }


def export_weights(
    weights: str | Path,
    format: str = "onnx",
    output: str | Path | None = None,
    *,
    model: str | None = None,
    device: str = "cpu",
    frames: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """A checkpoint, bundle or published tag -> ONNX / TorchScript (checked against PyTorch,
    with a JSON sidecar) or a bundle folder (``format="bundle"``). ``output`` defaults to a
    path next to ``weights`` (a tag's: in the working folder); ``frames``: the exported T.
    Returns ``{"path", "format"}`` plus, for ONNX / TorchScript, ``"max_abs_diff", "inputs",
    "dynamic_axes", "sidecar"``."""
    model = model or model_of(weights)
    resolved = resolve_weights(weights)
    # a tag resolves into the cache: name the outputs after the tag, in the working folder
    named = resolved if resolved == Path(weights) else Path.cwd() / str(weights)
    if format == "bundle":
        folder = output or named.with_name(f"{named.stem}_bundle")
        return {"path": str(write_bundle(resolved, folder, model, overwrite)), "format": format}
    out = output or default_output_path(named, format)
    with hold_output(out, "export", folder=False):
        # model None: the checkpoint's own model
        result: dict[str, Any] = export_checkpoint(model, resolved, format, out, device, frames)  # type: ignore[arg-type]
    return result


def convert_weights(
    source: str | Path,
    model: str,
    output: str | Path,
    *,
    source_format: str = "auto",
    set: Iterable[str] | dict[str, Any] | None = None,
    classes: str | Path | None = None,
) -> dict[str, Any]:
    """Published weights (PaddleVideo, MMAction2, MIT TSM) -> a videozoo checkpoint at
    ``output``; returns the converter's summary and logs what happened to every tensor. A
    file of the weights table gets its entry's ``--set`` items (``set`` still wins) and its
    provenance."""
    items = config_overrides(set)
    entry = zoo.entry_for_file(source, model)
    facts = None
    if entry is not None and source_format in ("auto", entry.source):
        items = list(entry.overrides) + items
        facts = zoo.provenance(entry, None)
        log.info(
            "%s is the published file of %s%s",
            Path(source).name,
            entry.tag,
            f"; applying --set {' '.join(entry.overrides)}" if entry.overrides else "",
        )
    summary: dict[str, Any] = videozoo.convert.convert_weights(
        source, model, output, fmt=source_format, overrides=items, classes=classes, provenance=facts
    )
    return summary


def embed_videos(
    weights: str | Path,
    inputs: str | Path | Iterable[str | Path],
    output: str | Path,
    *,
    format: str = "npy",
    overwrite: bool = False,
    model: str | None = None,
    device: str = "auto",
    config: str | Path | None = None,
    set: Iterable[str] | dict[str, Any] | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """One feature vector per input (the classifier's input, averaged over evaluation views)
    written to the folder ``output``: one .npy per video + ``index.csv`` (``format="npy"``) or
    one ``embeddings.npz``. Returns ``{"index": index.csv path, "dims": D or None, "rows":
    [{"id", "embedding": D} or {"id", "error"}]}``."""
    paths = [str(inputs)] if isinstance(inputs, (str, Path)) else [str(p) for p in inputs]
    with hold_output(output, "embed"):
        claim_output(output, overwrite)
        with Predictor(
            weights, device=device, model=model, config=config, set=set, precision=precision
        ) as predictor:
            done, failed = embed_rows(
                predictor.model,
                predictor.config,
                paths,
                predictor.ctx,
                batch_size=predictor.batch_size,
                amp=predictor.plan.amp,
                amp_dtype=predictor.plan.amp_dtype or "bfloat16",
                decode_pool=predictor.decode_pool(),
            )
        index = write_embeddings(done, failed, output, format)
    rows: list[dict[str, Any]] = [{"id": vid, "embedding": len(vector)} for vid, vector in done]
    rows += [{"id": vid, "error": reason} for vid, reason in failed]
    return {"index": str(index), "dims": len(done[0][1]) if done else None, "rows": rows}


def upgrade_checkpoint(path: str | Path, output: str | Path) -> Path:
    """Rewrite a videozoo 0.1 checkpoint as tensors and plain data (readable by a bare
    ``torch.load(weights_only=True)``) at ``output``; returns that path."""
    return upgrade_checkpoint_file(path, output)


def synth_dataset(
    dataset: str,
    folder: str | Path,
    *,
    videos: int | None = None,
    classes: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    **options: Any,
) -> dict[str, Any] | Path:
    """A small synthetic data set in the official layout of ``dataset`` (``youtube8m``:
    TFRecord shards, returns their summary; ``kinetics``: H.264 clips, returns the folder).
    ``videos`` / ``classes``: the generator's defaults when None; ``options``: its other
    settings (``data.synth.synth_youtube8m``, ``data.synth_kinetics.synth_kinetics``)."""
    sizes: dict[str, Any] = {k: v for k, v in (("videos", videos), ("classes", classes)) if v is not None}
    if dataset == "youtube8m":
        summary: dict[str, Any] = synth_youtube8m(folder, seed=seed, overwrite=overwrite, **sizes, **options)
        return summary
    if dataset == "kinetics":
        return synth_kinetics(folder, seed=seed, overwrite=overwrite, **sizes, **options)
    raise ConfigError(f"unknown synthetic data set '{dataset}': youtube8m or kinetics")


def check_data(
    inputs: str | Path | Iterable[str | Path],
    output: str | Path = "check_report.csv",
    *,
    workers: int | None = None,
    frames: int = 3,
) -> dict[str, Any]:
    """Decode ``frames`` frames of every video and check every TFRecord record under
    ``inputs`` (``workers`` processes); one CSV row per problem in ``output``. Returns the
    counts (``"problems"``, ``"bad_files"``, ...) and ``"report"``, the CSV's path."""
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    summary: dict[str, Any] = check.run_check([str(p) for p in paths], output, workers=workers, frames=frames)
    return summary


def extract_features(
    inputs: str | Path | Iterable[str | Path],
    output: str | Path,
    *,
    labels: str | Path | dict[str, list[int]] | None = None,
    device: str = "auto",
    **options: Any,
) -> dict[str, Any]:
    """Your videos -> YouTube-8M-format frame-level TFRecord shards in ``output`` (plus
    ``manifest.csv``). ``labels``: a CSV of ``video,3;17`` lines or ``{stem: class ids}``;
    ``options``: ``features``, ``fit_pca``, ``pca``, ``weights``, ... as the ``videozoo
    extract`` options (``videozoo.extract.run_extract``). Returns the run's summary."""
    paths = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    summary: dict[str, Any] = run_extract(
        [str(p) for p in paths],
        str(output),
        labels=read_labels_csv(str(labels)) if isinstance(labels, (str, Path)) else labels,
        device=device,
        **options,
    )
    return summary


def plot_run(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """The loss / learning-rate / metric curves of a training run folder as a PNG (default
    ``RUN_DIR/curves.png``); returns its path."""
    return videozoo.reports.plot_run(run_dir, output)


def published_weights(model: str | None = None, pretrained: bool = False) -> list[Weight]:
    """The weights table's entries (every published file, auxiliary files included), or only
    ``model``'s, or (``pretrained``) only the model weights ``--weights`` takes by tag."""
    return render.entries_for(model, pretrained=pretrained)


def download_weights(
    tags: list[str], to: str | Path | None = None, *, sha256: str | None = None
) -> list[Path]:
    """Fetch and verify the published files of ``tags`` into the cache (or the folder ``to``);
    ``sha256`` pins the checksum of ONE file whose zoo publishes none. Returns the paths."""
    if sha256:
        if len(tags) != 1:
            raise ConfigError("--sha256 pins the checksum of one file: give one TAG")
        pin_sha256(tags[0], sha256, to)
    return [fetch_file(tag, to) for tag in tags]


def cache_contents() -> list[dict[str, Any]]:
    """What the cache holds: ``[{"path", "kind", "size"}]`` (downloads and converted bundles)."""
    return cache.list_cache()


def clear_cache() -> int:
    """Empty the cache; returns how many items were removed."""
    return cache.clear_cache()
