"""Model bundles: a folder to share a trained model, with no pickle in it at all.

    DIR/model.safetensors   the weights (safetensors: a JSON header and raw tensor bytes)
    DIR/config.json         format, model name, the full config (architecture, data
                            preprocessing and sampling), class names, where the weights came
                            from, their measured metrics, the videozoo version
    DIR/README.md           a model card for people: what it is, inputs, classes, provenance,
                            metrics, how to use it

``write_bundle(path_to_checkpoint, out_dir)`` makes one (holding ``out_dir``'s lock; a folder
that holds anything is refused unless ``overwrite``, and then only these three files are
replaced, other files stay); ``read_bundle(dir)`` returns the same
dict a checkpoint file holds (``engine/checkpoint.read_checkpoint`` calls it for folders), so
``load_model(DIR)``, ``predict --weights DIR`` and ``eval --weights DIR`` take bundles as they are.

``config.json`` is read within bounds (``MAX_CONFIG_BYTES``, ``fileio.MAX_JSON_DEPTH`` deep,
at most ``config.MAX_CLASSES`` classes) before anything is built from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from videozoo.errors import CheckpointError, brief
from videozoo.fileio import atomic_write, atomic_write_text, read_json, refuse_to_overwrite
from videozoo.runlock import hold_output, is_lock_file

BUNDLE_FORMAT = "videozoo-bundle-v1"
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
#: a bundle's config.json: ~10 KB, plus ~30 bytes per class name
MAX_CONFIG_BYTES = 64 << 20


def is_bundle(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG).is_file()


def read_bundle(folder: str | Path, expect_model: str | None = None) -> dict:
    """The checkpoint dict of a bundle folder (weights from safetensors: no unpickling)."""
    from safetensors.torch import load_file

    from videozoo.engine.checkpoint import FORMAT

    folder = Path(folder)
    if not is_bundle(folder):
        raise CheckpointError(
            f"{folder} is a folder without {CONFIG}; pass a checkpoint file "
            "(.pt) or a bundle written by `videozoo export --format bundle`"
        )
    meta = read_json(folder / CONFIG, MAX_CONFIG_BYTES)
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise CheckpointError(
            f"{folder / CONFIG} is not a videozoo bundle (format {brief(found)}, expected {BUNDLE_FORMAT!r})"
        )
    _check_sizes(meta, folder / CONFIG)
    if expect_model and meta.get("model_name") != expect_model:
        raise CheckpointError(f"{folder} is a {brief(meta.get('model_name'))} bundle, not '{expect_model}'")
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder}: {WEIGHTS} is missing")
    try:
        state = load_file(str(weights))
    except Exception as err:  # a damaged header or a truncated file
        raise CheckpointError(f"{weights} is not a readable safetensors file ({err})") from None
    return {
        "format": FORMAT,
        "model_name": meta["model_name"],
        "model": state,
        "config": meta["config"],
        "class_names": meta["class_names"],
        "source": meta.get("source") or {},
        "metrics": meta.get("metrics") or {},
    }


def _check_sizes(meta: dict, path: Path) -> None:
    """Refuse a class count no model has before anything is allocated for it."""
    from videozoo.config import MAX_CLASSES

    config, names = meta.get("config"), meta.get("class_names")
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("model"), dict)
        or not isinstance(names, list)
    ):
        raise CheckpointError(
            f"{path}: not a videozoo bundle config (needs 'config' with a "
            "'model' section and a 'class_names' list)"
        )
    count = config["model"].get("num_classes")
    if isinstance(count, (int, float)) and count > MAX_CLASSES:
        raise CheckpointError(
            f"{path}: model.num_classes={brief(count)}, more than the {MAX_CLASSES} classes videozoo accepts"
        )
    if len(names) > MAX_CLASSES:
        raise CheckpointError(
            f"{path}: {len(names)} class names, more than the {MAX_CLASSES} classes videozoo accepts"
        )


def _metrics_of(checkpoint_path: Path, ckpt: dict) -> dict:
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
    from safetensors.torch import save

    from videozoo import __version__
    from videozoo.engine.checkpoint import read_checkpoint
    from videozoo.models.complexity import count_parameters
    from videozoo.registry import build_model, dataset_module

    ckpt = read_checkpoint(weights, expect_model)
    if ckpt.get("format") == "state_dict" or "config" not in ckpt:
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


def model_card(meta: dict, params: int) -> str:
    """README.md of a bundle: what the model is and how to use it."""
    name, classes = meta["model_name"], meta["class_names"]
    model_cfg = {k: v for k, v in meta["config"]["model"].items() if k != "name"}
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes)} in all)" if len(classes) > 10 else "")
    metrics = meta.get("metrics") or {}
    metric_lines = "\n".join(
        f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in metrics.items()
        if isinstance(v, (int, float))
    )
    source = meta.get("source") or {}
    lines = [
        f"# {name} (videozoo bundle)",
        "",
        f"A `{name}` video classifier with {params / 1e6:.2f}M parameters and "
        f"{len(classes)} classes, packaged by videozoo {meta['videozoo_version']}. The weights "
        f"are in `{WEIGHTS}` (safetensors: loading them runs no code); `{CONFIG}` holds the "
        "architecture, the preprocessing and the class names.",
        "",
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
        ("| metric | value |\n|---|---|\n" + metric_lines)
        if metric_lines
        else "None recorded: evaluate with `videozoo eval` and export again to include them.",
        "",
    ]
    return "\n".join(lines)
