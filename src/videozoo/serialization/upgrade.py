"""What changed since videozoo 0.1, in one place: the in-memory upgrade a reader applies and
the plain-data rewrite ``videozoo upgrade`` saves.

0.1 checkpoints (``videozoo-checkpoint-v1``) kept StNet/TSN-style ``seg_num`` in the model
section of video models (it moved to ``data``) and numpy values in their RNG state (numpy's
legacy tuple; python's state as a tuple).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videozoo.registry import models_of_track
from videozoo.serialization.format import FORMAT
from videozoo.serialization.plain import to_plain_data

log = logging.getLogger("videozoo")


def upgrade_legacy(ckpt: dict[str, Any], path: Path) -> dict[str, Any]:
    """A 0.1 checkpoint dict in today's format (in memory): drop the moved model keys."""
    config = ckpt.get("config") or {}
    model_cfg = config.get("model", {})
    if model_cfg.get("name") in models_of_track("video"):
        model_cfg.pop("seg_num", None)
    log.debug("%s: videozoo 0.1 checkpoint, read safely and upgraded in memory", path)
    ckpt["format"] = FORMAT
    return ckpt


def as_plain_checkpoint(ckpt: dict[str, Any]) -> dict[str, Any]:
    """``ckpt`` (read from any version) as tensors and plain data only, RNG state included."""
    ckpt = to_plain_data(ckpt)
    if "rng" in ckpt and not isinstance(ckpt["rng"].get("numpy"), dict):
        ckpt["rng"] = _plain_rng(ckpt["rng"])
    return ckpt


def _plain_rng(rng: dict[str, Any]) -> dict[str, Any]:
    """videozoo 0.1's RNG state (numpy's legacy tuple, python's tuple) as plain data."""
    name, key, pos, has_gauss, gauss = rng["numpy"]
    key = key if isinstance(key, torch.Tensor) else torch.as_tensor(np.asarray(key))
    version, internal, python_gauss = rng["python"]
    out = dict(rng)
    out["numpy"] = {
        "key": key.to(torch.int64),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }
    out["python"] = [version, list(internal), python_gauss]
    return out
