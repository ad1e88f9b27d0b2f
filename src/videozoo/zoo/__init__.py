"""Published weights by name: the table (``table.py``), the download cache (``hub.py``) and the
one door every ``--weights`` / ``load_model`` / ``Predictor`` argument goes through.

    resolve_weights("tsm_r50_1x1x8_k400.mmaction2")  # -> ~/.cache/videozoo/bundles/<tag>/
    resolve_weights("runs/x/best.pt")                # an existing path: returned as is
    fetch_file("vocabulary.youtube8m")               # an auxiliary file, verified, cached
    list_pretrained("tsm")                           # the tags of one model

First use of a model tag downloads the published file (``hub.fetch_file``), converts it once
with ``videozoo.convert`` (the entry's options on top of the converter's, its class names),
and stores the result as a bundle (``serialization/bundle.py``: safetensors + config.json + model
card) under ``$VIDEOZOO_HOME/bundles/<tag>``; later uses load that bundle. The conversion runs
under a file lock and lands by renaming a finished folder, so concurrent processes convert
once and never see half a bundle.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from videozoo.errors import CheckpointError
from videozoo.zoo import table
from videozoo.zoo.hub import fetch_file, home
from videozoo.zoo.table import Weight

__all__ = [
    "resolve_weights",
    "fetch_file",
    "list_pretrained",
    "model_of",
    "bundle_for",
    "bundles_dir",
    "entry_for_file",
    "provenance",
    "Weight",
]


def bundles_dir() -> Path:
    return home() / "bundles"


def list_pretrained(model: str | None = None) -> list[str]:
    """Tags of the loadable published weights (of ``model`` when given)."""
    return [e.tag for e in table.entries(model, pretrained_only=True) if e.loadable]


def entry_for_file(path: str | os.PathLike, model: str | None = None) -> Weight | None:
    """The table entry of a published file, recognised by its published name (and model)."""
    name = Path(path).name
    for entry in table.TABLE:
        if entry.file == name and entry.model is not None and model in (None, entry.model):
            return entry
    return None


def model_of(arg: str | os.PathLike | None) -> str | None:
    """The model a ``--weights`` tag implies (None for paths and unknown names)."""
    if arg is None or Path(arg).exists():
        return None
    entry = table.get(str(arg))
    return entry.model if entry is not None else None


def resolve_weights(arg: str | os.PathLike, *, convert_overrides: list[str] | None = None) -> Path:
    """A checkpoint path, bundle folder or table tag -> a local path to load.

    Paths that exist are returned unchanged; a tag of a loadable model is fetched, converted
    and cached once (``convert_overrides``: extra ``--set`` items for the conversion, cached
    separately). Anything else is a one-line ``CheckpointError``.
    """
    path = Path(arg)
    if path.exists():
        return path
    entry = table.get(str(arg))
    if entry is None:
        import difflib

        close = difflib.get_close_matches(str(arg), table.tags(), n=1)
        raise CheckpointError(
            f"{arg}: no such checkpoint file or bundle folder, and no "
            f"published weights have that tag"
            + (f" (did you mean '{close[0]}'?)" if close else "")
            + "; list the tags with `videozoo models --pretrained`"
        )
    if entry.model is None:
        raise CheckpointError(
            f"{entry.tag} is an auxiliary file ({entry.protocol}), not model "
            f"weights; fetch it with `videozoo download {entry.tag}`"
        )
    if not entry.loadable:
        raise CheckpointError(
            f"{entry.tag} is published ({entry.urls[0]}) but videozoo cannot load it yet: {entry.note}"
        )
    return bundle_for(entry, convert_overrides or [])


def _bundle_folder(entry: Weight, overrides: list[str]) -> Path:
    if not overrides:
        return bundles_dir() / entry.tag
    key = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:10]
    return bundles_dir() / f"{entry.tag}-{key}"


def provenance(entry: Weight, sha256: str | None) -> dict:
    """The table facts a converted bundle carries (shown in its model card)."""
    return {
        "tag": entry.tag,
        "url": entry.urls[0],
        "sha256": sha256 or "",
        "dataset": entry.dataset,
        "protocol": entry.protocol,
        "reference_metrics": dict(entry.metrics),
        "license": entry.license,
        "paper": entry.paper,
        "zoo": entry.zoo,
        "status": entry.status,
        **({"note": entry.note} if entry.note else {}),
    }


def bundle_for(entry: Weight, overrides: list[str] | None = None) -> Path:
    """The cached bundle of a model entry, converting it first when needed."""
    from filelock import FileLock

    from videozoo.serialization.bundle import is_bundle

    overrides = list(overrides or [])
    folder = _bundle_folder(entry, overrides)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.with_name(folder.name + ".lock"))):
        if is_bundle(folder):
            return folder
        source = fetch_file(entry)
        classes = fetch_file("vocabulary.youtube8m") if entry.classes == "youtube8m" else None
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            _convert_into(entry, source, classes, overrides, work)
            if folder.exists():  # a damaged earlier bundle: replaced whole
                shutil.rmtree(folder)
            os.replace(work / "bundle", folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return folder


def _convert_into(
    entry: Weight, source: Path, classes: Path | None, overrides: list[str], work: Path
) -> None:
    import logging

    from videozoo.convert import convert_weights
    from videozoo.fileio import sha256_of
    from videozoo.serialization.bundle_writer import write_bundle

    assert entry.model is not None  # resolve_weights refuses auxiliary files before converting
    logging.getLogger("videozoo").info("%s: converting %s once into the cache", entry.tag, source.name)
    checkpoint = work / "converted.pt"
    convert_weights(
        source,
        entry.model,
        checkpoint,
        fmt=entry.source,
        overrides=list(entry.overrides) + overrides,
        classes=classes,
        verbose=False,
        provenance=provenance(entry, sha256_of(source)),
    )
    write_bundle(checkpoint, work / "bundle", entry.model)
