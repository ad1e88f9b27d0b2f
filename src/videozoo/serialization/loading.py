"""Models from checkpoints: a ready model for inference, and weights to fine-tune from.

``load_checkpoint_model(path)`` is the one way to get a model in eval mode with its config
and class names from a checkpoint file or a bundle folder; ``read_fine_tune_weights`` reads
``--weights`` once and ``load_weights`` copies the tensors that fit into a new model. This
module builds models, so it sits above the file format modules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videozoo.config import build_config, inherited_from_weights
from videozoo.errors import CheckpointError
from videozoo.models.base import VideozooModel
from videozoo.registry import build_model
from videozoo.serialization.checkpoint import read_checkpoint
from videozoo.serialization.format import require_config
from videozoo.serialization.plain import non_finite_tensors

log = logging.getLogger("videozoo")


@dataclass
class LoadedModel:
    """A model ready for inference, with what it needs to be used correctly."""

    model: torch.nn.Module  # in eval mode
    config: dict[str, Any]  # the full config it was built from
    class_names: list[str]
    path: Path
    source: dict[str, Any] = field(default_factory=dict)  # where the weights came from


def load_checkpoint_model(
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
    path = Path(path)
    ckpt = read_checkpoint(path, expect_model)
    require_config(ckpt, path, purpose)
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
    state: dict[str, Any]
    inherited: dict[str, Any]


def read_fine_tune_weights(path: str | Path, model_name: str) -> FineTuneStart:
    """Read ``--weights`` once: the tensors and, when the file has a config, the architecture
    and input settings the network was trained with (``config.inherited_from_weights``)."""
    path = Path(path)
    state = read_checkpoint(path, expect_model=model_name)
    state["path"] = str(path)
    inherited = inherited_from_weights(state["config"]) if "config" in state else {}
    return FineTuneStart(path, state, inherited)


def load_weights(
    model: torch.nn.Module, path: str | Path | dict[str, Any], model_name: str
) -> dict[str, list[str]]:
    """Fine-tuning load: copy every tensor whose name and shape match; report the rest.

    ``path``: a checkpoint file, a bundle folder, or a checkpoint dict already read. A
    classifier whose class count differs is replaced by a fresh one (``reset_classifier``). Returns the report
    {"loaded", "missing", "unexpected", "mismatched"} (lists of names).
    """
    ckpt = path if isinstance(path, dict) else read_checkpoint(path, expect_model=model_name)
    where = ckpt.get("path", "the weights") if isinstance(path, dict) else path
    source = ckpt["model"]
    target = model.state_dict()
    loaded, mismatched = _copy_matching(source, target)
    if not loaded:
        raise CheckpointError(
            f"{where}: no tensor matches model '{model_name}'; is it a checkpoint of another model?"
        )
    bad = non_finite_tensors({n: target[n] for n in loaded})
    if bad:
        raise CheckpointError(
            f"{where}: {len(bad)} tensor(s) hold NaN/Inf (e.g. {bad[0]}); refusing to fine-tune from them"
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
    _log_report(where, report)
    return report


def _copy_matching(source: dict[str, Any], target: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Put ``source``'s tensors into ``target`` where name and shape match: (loaded names,
    ``"name (source shape) -> (target shape)"`` of the names whose shape differs)."""
    loaded, mismatched = [], []
    for name, tensor in source.items():
        if name in target and target[name].shape == tensor.shape:
            target[name] = tensor
            loaded.append(name)
        elif name in target:
            mismatched.append(f"{name} {tuple(tensor.shape)} -> {tuple(target[name].shape)}")
    return loaded, mismatched


def _log_report(where: object, report: dict[str, list[str]]) -> None:
    log.info(
        "weights from %s: %d tensors loaded, %d missing (kept initialised), "
        "%d unexpected (ignored), %d shape-mismatched (re-initialised)%s",
        where,
        len(report["loaded"]),
        len(report["missing"]),
        len(report["unexpected"]),
        len(report["mismatched"]),
        "".join(f"\n  mismatched: {m}" for m in report["mismatched"][:10]),
    )
