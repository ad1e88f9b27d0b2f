"""The checkpoint format, in one place: writing, reading (never running code), loading a model.

A checkpoint is one ``torch.save`` file of plain data that ``torch.load(weights_only=True)``
reads: tensors, numbers, strings, lists and dicts only. Keys:

* ``format`` (``FORMAT``), ``model_name``, ``model`` (the state_dict), ``config`` (the full
  config as plain dicts), ``class_names`` (list of str), ``source`` (optional dict: where the
  weights came from, e.g. a converted model zoo file, and their measured metrics);
* a training checkpoint adds ``optimizer``, ``scaler`` (or None), ``progress`` (epoch, step
  in the epoch, global step, samples seen, best metric), ``rng`` (RNG states as tensors and
  lists) and ``reason`` (epoch / interval / signal).

Files are written atomically (``fileio.atomic_write``), named ``ckpt-<global step:08d>.pt``
so they sort by step; ``best.pt`` is a copy of the best validated one. Reading refuses files
that need arbitrary unpickling (``UnsafeFileError``); checkpoints of videozoo 0.1
(``videozoo-checkpoint-v1``, numpy arrays in the RNG state) load safely too and are upgraded
in memory. ``load_model`` is the one way to get a ready model from a checkpoint file (or a
bundle folder, see ``engine/bundle.py``).
"""

from __future__ import annotations

import logging
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videozoo.errors import CheckpointError, brief
from videozoo.fileio import UnsafeFileError, atomic_write, torch_load
from videozoo.models.base import VideozooModel
from videozoo.registry import models_of_track

__all__ = [
    "FORMAT",
    "CheckpointError",
    "UnsafeFileError",
    "LoadedModel",
    "ResumePoint",
    "upgrade_checkpoint",
    "training_checkpoint",
    "copy_checkpoint",
    "save_checkpoint",
    "read_checkpoint",
    "load_model",
    "model_checkpoint",
    "checkpoint_path",
    "list_checkpoints",
    "prune_checkpoints",
    "resolve_resume",
    "capture_rng_state",
    "restore_rng_state",
    "load_weights",
    "non_finite_tensors",
    "check_plain_data",
]

FORMAT = "videozoo-checkpoint-v2"
LEGACY_FORMATS = ("videozoo-checkpoint-v1",)
_NAME = re.compile(r"^ckpt-(\d+)\.pt$")
log = logging.getLogger("videozoo")


# ----------------------------------------------------------------------------- writing
def check_plain_data(obj: Any, where: str = "checkpoint") -> None:
    """Raise TypeError if ``obj`` holds anything but tensors and plain Python data (what
    ``torch.load(weights_only=True)`` reads back)."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor)):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}")
            check_plain_data(value, f"{where}.{key}")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            check_plain_data(value, f"{where}[{i}]")
        return
    if isinstance(obj, (torch.dtype, torch.device)):
        return
    raise TypeError(f"{where} is a {type(obj).__name__}, not plain data")


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` (a checkpoint dict) atomically to ``path``; only plain data allowed."""
    check_plain_data(state)
    return atomic_write(path, lambda fh: torch.save(state, fh))


def copy_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Atomic copy (``best.pt`` from the step checkpoint it equals)."""

    def copy(fh):
        with open(src, "rb") as source:
            shutil.copyfileobj(source, fh, 1 << 22)

    return atomic_write(dst, copy)


def to_plain_data(obj):
    """numpy scalars / arrays inside ``obj`` -> Python numbers / tensors (what a checkpoint holds)."""
    if isinstance(obj, dict):
        return {k: to_plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain_data(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    return obj


def training_checkpoint(
    cfg: dict, model_state: dict, optimizer, scaler, progress: dict, class_names: list[str], reason: str
) -> dict:
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
    model_name: str, model_state: dict, config: dict, class_names: list[str], source: dict | None = None
) -> dict:
    """A checkpoint with a model and its config only (what `convert` writes; no training state)."""
    return {
        "format": FORMAT,
        "model_name": model_name,
        "model": {k: v.detach().cpu().contiguous() for k, v in model_state.items()},
        "config": config,
        "class_names": [str(n) for n in class_names],
        "source": source or {},
    }


def non_finite_tensors(state_dict: dict) -> list[str]:
    """Names of floating-point tensors holding NaN or Inf (parameters or buffers)."""
    return [
        name
        for name, tensor in state_dict.items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]


def capture_rng_state() -> dict:
    """torch / python / numpy (and CUDA) global RNG states, as tensors and plain lists."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        np.random.set_state(
            {
                "bit_generator": "MT19937",
                "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
                "has_gauss": numpy_state["has_gauss"],
                "gauss": numpy_state["gauss"],
            }
        )
    else:  # videozoo 0.1: the legacy tuple with a numpy array
        np.random.set_state(tuple(numpy_state))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- reading
def _upgrade_legacy(ckpt: dict, path: Path) -> dict:
    """videozoo 0.1 checkpoints: drop the model keys that moved to the data section."""
    config = ckpt.get("config") or {}
    model_cfg = config.get("model", {})
    if model_cfg.get("name") in models_of_track("video"):
        model_cfg.pop("seg_num", None)
    log.debug("%s: videozoo 0.1 checkpoint, read safely and upgraded in memory", path)
    ckpt["format"] = FORMAT
    return ckpt


def read_checkpoint(path: str | Path, expect_model: str | None = None) -> dict:
    """The checkpoint dict in ``path``, read without running code; clear one-line errors for
    unsafe files, other files and other models.

    A bare state_dict (a dict of tensors) comes back as ``{"format": "state_dict", "model":
    ...}``; only fine-tuning (``load_weights``) accepts that.
    """
    path = Path(path)
    if path.is_dir():
        from videozoo.engine.bundle import read_bundle

        return read_bundle(path, expect_model)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    ckpt = torch_load(path, allow_numpy=True)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint")
    if ckpt.get("format") in LEGACY_FORMATS:
        ckpt = _upgrade_legacy(ckpt, path)
    if ckpt.get("format") != FORMAT:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return {"format": "state_dict", "model": ckpt}
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


def _require_config(ckpt: dict, path: Path, purpose: str) -> None:
    if ckpt.get("format") == "state_dict" or "config" not in ckpt:
        raise CheckpointError(
            f"{path} holds bare weights (a state_dict) without the config and class names "
            f"that {purpose} needs; use it with `videozoo train --weights` to fine-tune, or "
            "pass a checkpoint written by `videozoo train` / `videozoo convert`"
        )


@dataclass
class LoadedModel:
    """A model ready for inference, with what it needs to be used correctly."""

    model: torch.nn.Module  # in eval mode
    config: dict  # the full config it was built from
    class_names: list[str]
    path: Path
    source: dict = field(default_factory=dict)  # where the weights came from (convert/bundle)


def load_model(
    path: str | Path,
    expect_model: str | None = None,
    *,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    device: str | torch.device = "cpu",
    purpose: str = "this command",
) -> LoadedModel:
    """The one way to load a model for inference: checkpoint file or bundle folder -> model in
    eval mode on ``device``, its config (``overrides`` applied) and class names."""
    from videozoo.config import build_config
    from videozoo.registry import build_model

    path = Path(path)
    ckpt = read_checkpoint(path, expect_model)
    _require_config(ckpt, path, purpose)
    cfg = build_config(expect_model or ckpt["model_name"], config_file, overrides, base=ckpt["config"])
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(
            f"{path}: the weights do not fit the model built from its config "
            f"and your --set overrides ({first[1].strip() if len(first) > 1 else first[0]})"
        ) from None
    names = list(ckpt.get("class_names") or [])
    outputs = model.num_classes if isinstance(model, VideozooModel) else None
    if names and outputs is not None and len(names) != outputs:
        raise CheckpointError(
            f"{path}: {len(names)} class names for a model with {outputs} "
            "classes; its class_names must list one name per class"
        )
    model.to(device).eval()
    return LoadedModel(model, cfg, names, path, dict(ckpt.get("source") or {}))


@dataclass
class FineTuneStart:
    """Weights to fine-tune from, read once, and the config layer they bring."""

    path: Path
    state: dict
    inherited: dict


def read_fine_tune_weights(path: str | Path, model_name: str) -> FineTuneStart:
    """Read ``--weights`` once: the tensors and, when the file has a config, the architecture
    and input settings the network was trained with (``config.inherited_from_weights``)."""
    from videozoo.config import inherited_from_weights

    path = Path(path)
    state = read_checkpoint(path, expect_model=model_name)
    state["path"] = str(path)
    inherited = inherited_from_weights(state["config"]) if "config" in state else {}
    return FineTuneStart(path, state, inherited)


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
    if ckpt.get("format") == "state_dict":
        raise CheckpointError(
            f"{path} holds bare weights: nothing to upgrade (they load as is with train --weights)"
        )
    ckpt = to_plain_data(ckpt)
    if "rng" in ckpt and not isinstance(ckpt["rng"].get("numpy"), dict):
        ckpt["rng"] = _plain_rng(ckpt["rng"])
    return save_checkpoint(ckpt, output)


def _plain_rng(rng: dict) -> dict:
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


# ----------------------------------------------------------------------------- run folders
def checkpoint_path(output_dir: str | Path, global_step: int) -> Path:
    return Path(output_dir) / f"ckpt-{global_step:08d}.pt"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Step checkpoints in `output_dir`, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(output_dir: str | Path, keep: int, protect: Path | None = None) -> None:
    """Keep the newest ``keep`` step checkpoints (and ``protect``)."""
    if keep <= 0:
        return
    for old in list_checkpoints(output_dir)[:-keep]:
        if protect is None or old != protect:
            old.unlink(missing_ok=True)


@dataclass
class ResumePoint:
    """A checkpoint to continue training from, read once."""

    path: Path
    state: dict


def _check_resumable(state: dict, path: Path) -> None:
    _require_config(state, path, "--resume")
    missing = [k for k in ("optimizer", "progress", "rng") if k not in state]
    if missing:
        raise CheckpointError(
            f"{path} has no training state ({', '.join(missing)} missing: it "
            "was written by convert or export); start a new run from it with "
            "--weights instead of --resume"
        )


def resolve_resume(
    resume: str | Path, output_dir: str | Path, expect_model: str | None = None
) -> ResumePoint | None:
    """``--resume FILE`` or ``--resume auto`` -> the checkpoint to continue from, read once.

    ``auto`` takes the newest step checkpoint in ``output_dir`` that loads; a damaged newer
    one is skipped with a warning naming it. None when the folder holds no checkpoint yet;
    ``CheckpointError`` when it holds only damaged ones.
    """
    if str(resume) != "auto":
        path = Path(resume)
        if not path.is_file():
            raise CheckpointError(f"--resume {resume}: no such file")
        state = read_checkpoint(path, expect_model)
        _check_resumable(state, path)
        return ResumePoint(path, state)
    found = list_checkpoints(output_dir)
    for path in reversed(found):
        try:
            state = read_checkpoint(path, expect_model)
            _check_resumable(state, path)
        except UnsafeFileError:
            raise
        except CheckpointError as err:
            log.warning(
                "--resume auto: skipping %s, it cannot be loaded (%s); trying the one before it",
                path.name,
                err,
            )
            continue
        return ResumePoint(path, state)
    if found:
        raise CheckpointError(
            f"--resume auto: none of the {len(found)} checkpoint(s) in "
            f"{output_dir} can be resumed, they are damaged or hold no "
            f"training state ({', '.join(p.name for p in found[-3:])}: "
            "reasons above); start over with --overwrite, or --resume a "
            "good copy"
        )
    return None


# ----------------------------------------------------------------------------- fine-tuning
def load_weights(model: torch.nn.Module, path: str | Path | dict, model_name: str) -> dict:
    """Fine-tuning load: copy every tensor whose name and shape match; report the rest.

    ``path``: a checkpoint file, a bundle folder, or a checkpoint dict already read. A
    classifier whose class count differs is replaced by a fresh one (``reset_classifier``). Returns the report
    {"loaded", "missing", "unexpected", "mismatched"} (lists of names).
    """
    ckpt = path if isinstance(path, dict) else read_checkpoint(path, expect_model=model_name)
    path = ckpt.get("path", "the weights") if isinstance(path, dict) else path
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
        raise CheckpointError(
            f"{path}: no tensor matches model '{model_name}'; is it a checkpoint of another model?"
        )
    bad = non_finite_tensors({n: target[n] for n in loaded})
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} tensor(s) hold NaN/Inf (e.g. {bad[0]}); refusing to fine-tune from them"
        )
    model.load_state_dict(target)
    if isinstance(model, VideozooModel) and set(model.classifier_keys()) & (source.keys() - set(loaded)):
        model.reset_classifier(model.num_classes)  # trained for other classes
    report = {
        "loaded": loaded,
        "missing": [n for n in target if n not in source],
        "unexpected": [n for n in source if n not in target],
        "mismatched": mismatched,
    }
    log.info(
        "weights from %s: %d tensors loaded, %d missing (kept initialised), "
        "%d unexpected (ignored), %d shape-mismatched (re-initialised)%s",
        path,
        len(loaded),
        len(report["missing"]),
        len(report["unexpected"]),
        len(mismatched),
        "".join(f"\n  mismatched: {m}" for m in mismatched[:10]),
    )
    return report
