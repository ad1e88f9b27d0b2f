"""Checkpoint files: one writer, one reader (never running code), the upgrade of old files.

Files are written atomically (``fileio.atomic_write``); reading refuses files that need
arbitrary unpickling (``UnsafeFileError``). Checkpoints of videozoo 0.1 load safely too and
are upgraded in memory (``upgrade.py``); a folder is read as a bundle (``bundle.py``). The
format itself is ``format.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, BinaryIO

import torch

from videozoo.errors import CheckpointError, brief
from videozoo.fileio import atomic_write, torch_load
from videozoo.serialization.bundle import read_bundle
from videozoo.serialization.format import FORMAT, LEGACY_FORMATS, STATE_DICT
from videozoo.serialization.plain import check_plain_data
from videozoo.serialization.upgrade import as_plain_checkpoint, upgrade_legacy


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` (a checkpoint dict) atomically to ``path``; only plain data allowed."""
    check_plain_data(state)
    return atomic_write(path, lambda fh: torch.save(state, fh))


def copy_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Atomic copy (``best.pt`` from the step checkpoint it equals)."""

    def copy(fh: BinaryIO) -> None:
        with open(src, "rb") as source:
            shutil.copyfileobj(source, fh, 1 << 22)

    return atomic_write(dst, copy)


def read_checkpoint(path: str | Path, expect_model: str | None = None) -> dict[str, Any]:
    """The checkpoint dict in ``path``, read without running code; clear one-line errors for
    unsafe files, other files and other models.

    A bare state_dict (a dict of tensors) comes back as ``{"format": "state_dict", "model":
    ...}``; only fine-tuning (``loading.load_weights``) accepts that.
    """
    path = Path(path)
    if path.is_dir():
        return read_bundle(path, expect_model)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    loaded = torch_load(path, allow_numpy=True)
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path} holds a {type(loaded).__name__}, not a checkpoint")
    ckpt: dict[str, Any] = loaded
    if ckpt.get("format") in LEGACY_FORMATS:
        ckpt = upgrade_legacy(ckpt, path)
    if ckpt.get("format") != FORMAT:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return {"format": STATE_DICT, "model": ckpt}
        raise CheckpointError(
            f"{path} is not a videozoo checkpoint (no '{FORMAT}' marker); "
            "pass a file written by `videozoo train` or `videozoo convert`"
        )
    if expect_model and ckpt.get("model_name") != expect_model:
        found = brief(ckpt.get("model_name"))
        raise CheckpointError(
            f"{path} is a {found} checkpoint, not '{expect_model}'; use "
            f"`videozoo ... {found.strip(chr(39))}` or the right file"
        )
    return ckpt


def upgrade_checkpoint(path: str | Path, output: str | Path) -> Path:
    """Rewrite a checkpoint of an older videozoo in the current plain-data format.

    videozoo 0.1 checkpoints hold numpy arrays in their RNG state; they are read safely (numpy
    array reconstruction runs no code) and written back as tensors and plain data, so that a
    bare ``torch.load(weights_only=True)`` reads them too. A file that would need arbitrary
    unpickling is refused: videozoo never runs code from a file, and genuine checkpoints of
    any videozoo version never need it.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    if ckpt.get("format") == STATE_DICT:
        raise CheckpointError(
            f"{path} holds bare weights: nothing to upgrade (they load as is with train --weights)"
        )
    return save_checkpoint(as_plain_checkpoint(ckpt), output)
