"""Model bundles: a folder to share a trained model, with no pickle in it at all.

    DIR/model.safetensors   the weights (safetensors: a JSON header and raw tensor bytes)
    DIR/config.json         format, model name, the full config (architecture, data
                            preprocessing and sampling), class names, where the weights came
                            from, their measured metrics, the videozoo version
    DIR/README.md           a model card for people: what it is, inputs, classes, provenance,
                            metrics, how to use it

This module is the format and its reader: ``read_bundle(dir)`` returns the same dict a
checkpoint file holds (``checkpoint.read_checkpoint`` calls it for folders), so
``load_checkpoint_model(DIR)``, ``predict --weights DIR`` and ``eval --weights DIR`` take
bundles as they are. ``bundle_writer.write_bundle`` makes one.

``config.json`` is read within bounds (``MAX_CONFIG_BYTES``, ``fileio.MAX_JSON_DEPTH`` deep,
at most ``config.MAX_CLASSES`` classes) before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from videozoo.config import MAX_CLASSES
from videozoo.errors import CheckpointError, brief
from videozoo.fileio import read_json
from videozoo.serialization.format import FORMAT

BUNDLE_FORMAT = "videozoo-bundle-v1"
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
#: a bundle's config.json: ~10 KB, plus ~30 bytes per class name
MAX_CONFIG_BYTES = 64 << 20


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a bundle's config.json."""
    return Path(path).is_dir() and (Path(path) / CONFIG).is_file()


def read_bundle(folder: str | Path, expect_model: str | None = None) -> dict[str, Any]:
    """The checkpoint dict of a bundle folder (weights from safetensors: no unpickling)."""
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


def _check_sizes(meta: dict[str, Any], path: Path) -> None:
    """Refuse a class count no model has before anything is allocated for it."""
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
