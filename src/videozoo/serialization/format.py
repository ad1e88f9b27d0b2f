"""The checkpoint format: what one checkpoint holds, and the two kinds videozoo writes.

A checkpoint is one ``torch.save`` file of plain data that ``torch.load(weights_only=True)``
reads: tensors, numbers, strings, lists and dicts only. Keys:

* ``format`` (``FORMAT``), ``model_name``, ``model`` (the state_dict), ``config`` (the full
  config as plain dicts), ``class_names`` (list of str), ``source`` (optional dict: where the
  weights came from, e.g. a converted model zoo file, and their measured metrics);
* a training checkpoint adds ``optimizer``, ``scaler`` (or None), ``progress`` (epoch, step
  in the epoch, global step, samples seen, best metric), ``rng`` (RNG states as tensors and
  lists) and ``reason`` (epoch / interval / signal).

Checkpoints of videozoo 0.1 carry ``videozoo-checkpoint-v1`` (``LEGACY_FORMATS``; see
``upgrade.py``). A bare state_dict read from a file is ``{"format": STATE_DICT, "model": ...}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from videozoo.errors import CheckpointError
from videozoo.serialization.plain import to_plain_data
from videozoo.serialization.rng import capture_rng_state

FORMAT = "videozoo-checkpoint-v2"
LEGACY_FORMATS = ("videozoo-checkpoint-v1",)
#: the ``format`` of bare weights (a dict of tensors without config): fine-tuning takes them
STATE_DICT = "state_dict"


def training_checkpoint(
    cfg: dict[str, Any],
    model_state: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    progress: dict[str, Any],
    class_names: list[str],
    reason: str,
) -> dict[str, Any]:
    """A checkpoint that ``--resume`` continues exactly (model + training state)."""
    return {
        "format": FORMAT,
        "model_name": cfg["model"]["name"],
        "model": model_state,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler else None,
        "progress": to_plain_data(progress),
        "rng": capture_rng_state(),
        "config": to_plain_data(cfg),
        "class_names": [str(n) for n in class_names],
        "reason": reason,
    }


def model_checkpoint(
    model_name: str,
    model_state: dict[str, torch.Tensor],
    config: dict[str, Any],
    class_names: list[str],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A checkpoint with a model and its config only (what `convert` writes; no training state)."""
    return {
        "format": FORMAT,
        "model_name": model_name,
        "model": {k: v.detach().cpu().contiguous() for k, v in model_state.items()},
        "config": config,
        "class_names": [str(n) for n in class_names],
        "source": source or {},
    }


def require_config(ckpt: dict[str, Any], path: Path, purpose: str) -> None:
    """Refuse bare weights where ``purpose`` needs the config and class names."""
    if ckpt.get("format") == STATE_DICT or "config" not in ckpt:
        raise CheckpointError(
            f"{path} holds bare weights (a state_dict) without the config and class names "
            f"that {purpose} needs; use it with `videozoo train --weights` to fine-tune, or "
            "pass a checkpoint written by `videozoo train` / `videozoo convert`"
        )
