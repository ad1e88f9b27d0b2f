"""Writing a bundle folder (see ``bundle.py`` for the format) and its model card.

``write_bundle(path_to_checkpoint, out_dir)`` makes one, holding ``out_dir``'s lock; a folder
that holds anything is refused unless ``overwrite``, and then only the three bundle files are
replaced, other files stay. Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save

from videozoo.errors import CheckpointError
from videozoo.fileio import atomic_write, atomic_write_text, refuse_to_overwrite
from videozoo.models.complexity import count_parameters
from videozoo.registry import build_model, dataset_module
from videozoo.runlock import hold_output, is_lock_file
from videozoo.serialization.bundle import BUNDLE_FORMAT, CARD, CONFIG, WEIGHTS
from videozoo.serialization.checkpoint import read_checkpoint
from videozoo.serialization.format import STATE_DICT
from videozoo.version import __version__


def _metrics_of(checkpoint_path: Path, ckpt: dict[str, Any]) -> dict[str, Any]:
    """Measured metrics to ship: the training's best validation, or an eval JSON beside it."""
    metrics = dict((ckpt.get("progress") or {}).get("best_metrics") or ckpt.get("metrics") or {})
    for candidate in sorted(checkpoint_path.parent.glob(f"{checkpoint_path.stem}_*_metrics.json")):
        try:
            metrics.setdefault("evaluations", {})[candidate.stem] = json.loads(candidate.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return {k: v for k, v in metrics.items() if not isinstance(v, list)}


def write_bundle(
    weights: str | Path, out_dir: str | Path, expect_model: str | None = None, overwrite: bool = False
) -> Path:
    """Write the bundle of a checkpoint (or convert one bundle into another folder)."""
    with hold_output(out_dir, "export"):
        refuse_to_overwrite(out_dir, ["*"], "files", overwrite, ignore=is_lock_file)
        return _write_bundle(Path(weights), Path(out_dir), expect_model)


def _write_bundle(weights: Path, out_dir: Path, expect_model: str | None) -> Path:
    ckpt = read_checkpoint(weights, expect_model)
    if ckpt.get("format") == STATE_DICT or "config" not in ckpt:
        raise CheckpointError(
            f"{weights} holds bare weights without the config a bundle needs; "
            "export a checkpoint written by `videozoo train` or `convert`"
        )
    cfg = ckpt["config"]
    state = {k: v.detach().cpu().contiguous() for k, v in ckpt["model"].items()}
    atomic_write(out_dir / WEIGHTS, lambda fh: fh.write(save(state)))
    data_module = dataset_module(cfg["data"]["format"])
    meta = {
        "format": BUNDLE_FORMAT,
        "model_name": ckpt["model_name"],
        "videozoo_version": __version__,
        "class_names": list(ckpt.get("class_names") or []),
        "preprocessing": data_module.preprocessing(cfg["data"]),
        "scores": {"multilabel": "sigmoid", "singlelabel": "softmax"}[data_module.TASK],
        "source": ckpt.get("source") or {"trained_with": "videozoo train", "file": weights.name},
        "metrics": _metrics_of(weights, ckpt),
        "config": cfg,
    }
    atomic_write_text(out_dir / CONFIG, json.dumps(meta, indent=2, allow_nan=False) + "\n")
    params = count_parameters(build_model(cfg))["trainable"]
    atomic_write_text(out_dir / CARD, model_card(meta, params))
    return out_dir


def model_card(meta: dict[str, Any], params: int) -> str:
    """README.md of a bundle: what the model is and how to use it."""
    name, classes = meta["model_name"], meta["class_names"]
    model_cfg = {k: v for k, v in meta["config"]["model"].items() if k != "name"}
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes)} in all)" if len(classes) > 10 else "")
    source = meta.get("source") or {}
    lines = [
        f"# {name} (videozoo bundle)",
        "",
        f"A `{name}` video classifier with {params / 1e6:.2f}M parameters and "
        f"{len(classes)} classes, packaged by videozoo {meta['videozoo_version']}. The weights "
        f"are in `{WEIGHTS}` (safetensors: loading them runs no code); `{CONFIG}` holds the "
        "architecture, the preprocessing and the class names.",
        "",
        *_usage(name),
        "## Architecture",
        "",
        "\n".join(f"- `{k}`: {v}" for k, v in model_cfg.items()),
        "",
        "## Input and preprocessing",
        "",
        "\n".join(f"- `{k}`: {v}" for k, v in meta["preprocessing"].items()),
        f"- scores: {meta['scores']} of the logits",
        "",
        "## Classes",
        "",
        shown,
        "",
        "## Where the weights come from",
        "",
        "\n".join(f"- {k}: {v}" for k, v in source.items()) or "- (not recorded)",
        "",
        "## Measured metrics",
        "",
        _metrics_table(meta.get("metrics") or {}),
        "",
    ]
    return "\n".join(lines)


def _usage(name: str) -> list[str]:
    """The card's "Use it" section: the command line and the Python API."""
    return [
        "## Use it",
        "",
        "```bash",
        f"videozoo predict {name} --weights THIS_FOLDER my_video.mp4",
        "```",
        "",
        "```python",
        "import videozoo",
        "predictor = videozoo.Predictor('THIS_FOLDER')",
        "print(predictor.predict(['my_video.mp4'], topk=5))",
        "```",
        "",
    ]


def _metrics_table(metrics: dict[str, Any]) -> str:
    """A Markdown table of the numeric metrics, or how to get some."""
    rows = "\n".join(
        f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in metrics.items()
        if isinstance(v, (int, float))
    )
    if not rows:
        return "None recorded: evaluate with `videozoo eval` and export again to include them."
    return "| metric | value |\n|---|---|\n" + rows
