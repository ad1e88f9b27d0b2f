"""One checkpoint writer and reader.

A checkpoint is a single file (``torch.save`` of a dict) holding the model, optimizer,
scheduler and scaler states, the position in training (epoch, step within the epoch, global
step, samples seen), RNG states, the full config and the class names. Files are written
atomically: a temporary file in the same folder, fsync, rename, fsync of the folder, so a
crash while saving leaves the previous checkpoint intact. Names sort by global step:
``ckpt-00001234.pt``; ``best.pt`` is a copy of the best validated one.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "videozoo-checkpoint-v1"
_NAME = re.compile(r"^ckpt-(\d+)\.pt$")
log = logging.getLogger("videozoo")


class CheckpointError(RuntimeError):
    """A file that is not a usable videozoo checkpoint."""


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save `obj` to `path` so that `path` is always either the old or the new file."""
    return _atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    def copy(fh):
        with open(src, "rb") as source:
            shutil.copyfileobj(source, fh, 1 << 22)
    return _atomic_write(dst, copy)


def _atomic_write(path: str | Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def checkpoint_path(output_dir: str | Path, global_step: int) -> Path:
    return Path(output_dir) / f"ckpt-{global_step:08d}.pt"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Step checkpoints in `output_dir`, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(output_dir: str | Path, keep: int) -> None:
    if keep <= 0:
        return
    for old in list_checkpoints(output_dir)[:-keep]:
        old.unlink(missing_ok=True)


def resolve_resume(resume: str, output_dir: str | Path) -> Path | None:
    """`--resume auto` -> newest checkpoint in the output folder (None if there is none)."""
    if resume == "auto":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"--resume {resume}: no such file")
    return path


def load_checkpoint(path: str | Path, expect_model: str | None = None) -> dict:
    """Load and sanity-check a checkpoint; clear errors for other files or other models."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # pickle/zip errors: not a torch file at all
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({type(err).__name__}: "
                              f"{str(err)[:120]})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint dict")
    if ckpt.get("format") != FORMAT:
        # A bare state_dict (e.g. exported weights) is accepted for fine-tuning.
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return {"format": "state_dict", "model": ckpt}
        raise CheckpointError(f"{path} is not a videozoo checkpoint (no '{FORMAT}' marker); "
                              "pass a file written by `videozoo train`")
    if expect_model and ckpt.get("model_name") != expect_model:
        raise CheckpointError(f"{path} is a '{ckpt.get('model_name')}' checkpoint, not "
                              f"'{expect_model}'; use `videozoo ... {ckpt.get('model_name')}` "
                              "or the right file")
    return ckpt


def capture_rng_state() -> dict:
    import random

    import numpy as np
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    import random

    import numpy as np
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_weights(model: torch.nn.Module, path: str | Path, model_name: str) -> dict:
    """Fine-tuning load: copy every tensor whose name and shape match; report the rest.

    A classifier whose class count differs keeps its fresh initialisation. Returns the report
    {"loaded", "missing", "unexpected", "mismatched"} (lists of names).
    """
    ckpt = load_checkpoint(path, expect_model=model_name)
    source = ckpt["model"]
    target = model.state_dict()
    loaded, mismatched = [], []
    for name, tensor in source.items():
        if name in target and target[name].shape == tensor.shape:
            target[name] = tensor
            loaded.append(name)
        elif name in target:
            mismatched.append(f"{name} {tuple(tensor.shape)} -> {tuple(target[name].shape)}")
    if not loaded:
        raise CheckpointError(f"{path}: no tensor matches model '{model_name}'; "
                              "is it a checkpoint of another model?")
    model.load_state_dict(target)
    report = {"loaded": loaded, "missing": [n for n in target if n not in source],
              "unexpected": [n for n in source if n not in target], "mismatched": mismatched}
    log.info("weights from %s: %d tensors loaded, %d missing (kept initialised), "
             "%d unexpected (ignored), %d shape-mismatched (re-initialised)%s",
             path, len(loaded), len(report["missing"]), len(report["unexpected"]),
             len(mismatched), "".join(f"\n  mismatched: {m}" for m in mismatched[:10]))
    return report
