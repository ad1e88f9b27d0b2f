"""Data sources: files on disk -> batch dicts (see docs/ARCHITECTURE.md).

A data format is a module that registers ``build(data_cfg, split, ...) -> DataSource`` with
``@register_dataset(name)`` and declares ``DEFAULTS`` (the schema of the ``data:`` section),
``TASK`` (``multilabel`` or ``singlelabel``), ``MODEL_INPUTS`` (the batch keys a model reads,
in the order an exported graph takes them) and ``model_input_spec(data_cfg, training)`` (the
``model.default_input`` arguments of its batches); ``registry.dataset_module(fmt)`` finds them.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol

import torch

from videozoo import registry


class DataSource(Protocol):
    """The batches of one split for one rank (docs/ARCHITECTURE.md, section 2)."""

    task: str  # "multilabel" | "singlelabel"
    class_names: list[str]

    def num_batches(self, epoch: int) -> int | None: ...
    def num_samples(self, epoch: int) -> int | None: ...
    def batches(self, epoch: int, start_batch: int = 0) -> Iterable[dict[str, Any]]: ...


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGTERM / SIGINT. A signal sent to the
    whole process group (``timeout``, systemd, Slurm, torchrun, Ctrl-C) must reach the main
    process only: it checkpoints and then stops its workers itself."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_source(
    cfg: dict[str, Any],
    split: str,
    *,
    training: bool,
    batch_size: int,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    inputs: list[str] | None = None,
    decode_pool: Executor | None = None,
) -> DataSource:
    """The DataSource for `split` of the dataset described by `cfg["data"]`.

    `batch_size` is per process. The model's class count is passed to the data section so
    that labels outside it are reported as data errors. `decode_pool`: an executor for
    formats whose builder takes one (`accepts_decode_pool`), ignored by the others.
    """
    data_cfg = dict(cfg["data"])
    if "num_classes" in data_cfg and cfg["model"].get("num_classes") is not None:
        data_cfg["num_classes"] = cfg["model"]["num_classes"]
    if inputs is not None:
        data_cfg["inputs"] = list(inputs)
    build = registry.dataset_builder(data_cfg["format"])
    extra = {"decode_pool": decode_pool} if decode_pool and accepts_decode_pool(cfg) else {}
    source: DataSource = build(
        data_cfg,
        split,
        training=training,
        batch_size=batch_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
        num_workers=cfg["train"]["num_workers"],
        pin_memory=cfg["train"]["pin_memory"] and torch.cuda.is_available(),
        **extra,
    )
    return source


def freeze_split(cfg: dict[str, Any], output_dir: str | Path, *, reuse: bool, write: bool) -> bool:
    """Before a run reads its data: a data set published without a validation split gets one,
    fixed in the run folder (the format's optional ``freeze_split``; see data/video_format.py).
    True when ``cfg["data"]`` now names such a split file."""
    freeze = getattr(registry.dataset_module(cfg["data"]["format"]), "freeze_split", None)
    return bool(freeze and freeze(cfg["data"], Path(output_dir), reuse=reuse, write=write))


def accepts_decode_pool(cfg: dict[str, Any]) -> bool:
    """Whether the data format of ``cfg`` decodes with a caller's thread pool."""
    import inspect

    builder = registry.dataset_builder(cfg["data"]["format"])
    return "decode_pool" in inspect.signature(builder).parameters
