"""``videozoo convert``: published model-zoo weights -> an ordinary videozoo checkpoint.

``convert_weights(source, model, output)`` reads the file (``sources.py``), picks the
``Mapping`` for (format, model) (``mapping.py``; one module per source format registers
them), builds the model with the options that reproduce the source, fills its state_dict
through a ``TensorMapper`` that records what happened to every tensor, and writes a
checkpoint (``serialization/format.py``) that eval, predict, export, ``train --weights`` and
``videozoo.load_model`` take unchanged. Its config holds the architecture options and the
preprocessing the source was trained with; its class names are the Kinetics-400 list for
Kinetics sources, or ``classes`` (one name per line, or a YouTube-8M vocabulary.csv).
"""

from __future__ import annotations

import logging
from pathlib import Path

from videozoo.convert.mapping import ConversionReport, Mapping, TensorMapper, mappings, register_mapping
from videozoo.convert.sources import FORMATS, WeightFile, read_weights
from videozoo.errors import ConvertError

__all__ = [
    "convert_weights",
    "FORMATS",
    "Mapping",
    "TensorMapper",
    "ConversionReport",
    "register_mapping",
    "mappings",
    "read_class_names",
]

log = logging.getLogger("videozoo")


def read_class_names(path: str | Path, num_classes: int) -> list[str]:
    """Class names from a text file (one per line) or a YouTube-8M vocabulary.csv."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"--classes {path}: no such file")
    if path.suffix.lower() == ".csv":
        from videozoo.data.youtube8m_vocabulary import read_vocabulary

        names = read_vocabulary(str(path), None)  # all of it: its size must match too
    else:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) != num_classes:
        raise ConvertError(
            f"--classes {path} names {len(names)} classes, the weights have "
            f"{num_classes}; pass the class list the weights were trained with"
        )
    return names


def _pick_mapping(weights: WeightFile, model: str) -> Mapping:
    table = mappings()
    mapping = table.get((weights.format, model))
    available = sorted(m for (fmt, m) in table if fmt == weights.format)
    if mapping is None:
        raise ConvertError(
            f"no converter for '{model}' from {weights.format}; "
            f"{weights.format} models: {', '.join(available) or 'none'}"
        )
    if not mapping.matches(weights.tensors):
        alike = [
            m
            for (fmt, m), mp in table.items()
            if fmt == weights.format and m != model and mp.matches(weights.tensors)
        ]
        where = f"{weights.format} file {weights.path}"
        if alike:
            raise ConvertError(
                f"{where} looks like a '{alike[0]}' model, not '{model}'; run "
                f"`videozoo convert {weights.path} --model {alike[0]} ...`"
            )
        raise ConvertError(
            f"{where} does not look like a '{model}' model (none of its "
            f"identifying tensors, e.g. '{mapping.signature[0]}', is there)"
        )
    return mapping


def _mapped_state(
    weights: WeightFile, mapping: Mapping, model: str, overrides: list[str] | None
) -> tuple[dict, ConversionReport, dict]:
    """The `model` state dict mapped from `weights`, its per-tensor report and the config it
    was built with (the mapping's settings, then `overrides`)."""
    from videozoo.config import build_config, model_schema, nested_to_overrides
    from videozoo.registry import build_model

    cfg = build_config(model, overrides=nested_to_overrides(mapping.config) + list(overrides or []))
    if cfg["model"]["num_classes"] is None:  # the published models' own class count
        cfg["model"]["num_classes"] = model_schema(model)["num_classes"]
    target = build_model(cfg).state_dict()
    mapper = TensorMapper(weights.tensors, target, f"{weights.path} ({weights.format})", weights.ignored)
    mapping.convert(mapper, cfg)
    state, report = mapper.finish()
    return state, report, cfg


def _class_names(classes: str | Path | None, mapping: Mapping, num_classes: int) -> list[str]:
    """From the --classes file, else Kinetics-400's for a Kinetics-400 mapping, else class_<i>."""
    from videozoo.data.layouts.kinetics import kinetics400_classes

    if classes is not None:
        return read_class_names(classes, num_classes)
    if mapping.classes == "kinetics400" and num_classes == 400:
        return list(kinetics400_classes())
    log.warning(
        "no --classes FILE given: class names will be class_0 .. class_%d; pass "
        "the class list (one name per line, or vocabulary.csv) for named "
        "predictions",
        num_classes - 1,
    )
    return [f"class_{i}" for i in range(num_classes)]


def convert_weights(
    source: str | Path,
    model: str,
    output: str | Path,
    *,
    fmt: str = "auto",
    overrides: list[str] | None = None,
    classes: str | Path | None = None,
    verbose: bool = True,
    provenance: dict | None = None,
) -> dict:
    """Convert ``source`` for ``model`` and write the checkpoint ``output``; returns a summary
    (output path, format, counts, config) and prints the per-tensor report when verbose.
    ``provenance``: more facts for the checkpoint's ``source`` (a weights-table entry's)."""
    from videozoo.serialization.checkpoint import save_checkpoint
    from videozoo.serialization.format import model_checkpoint
    from videozoo.version import __version__

    weights = read_weights(source, fmt)
    mapping = _pick_mapping(weights, model)
    state, report, cfg = _mapped_state(weights, mapping, model, overrides)
    class_names = _class_names(classes, mapping, cfg["model"]["num_classes"])
    source_meta = {
        "file": Path(weights.path).name,
        "format": weights.format,
        "converted_by": f"videozoo {__version__}",
        "description": mapping.description,
        **(provenance or {}),
    }
    path = save_checkpoint(model_checkpoint(model, state, cfg, class_names, source_meta), output)
    if verbose:
        print(f"{weights.path} ({weights.format}) -> {model}:")
        print("\n".join(report.lines()))
        print(f"{report.summary()}; checkpoint written to {path}")
    return {
        "output": str(path),
        "format": weights.format,
        "model": model,
        "mapped": report.count("mapped"),
        "transformed": report.count("transformed"),
        "ignored": report.count("ignored"),
        "class_names": len(class_names),
    }
