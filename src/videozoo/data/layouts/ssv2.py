"""The ``ssv2`` layout: Something-Something V2 as published.

``labels.json`` (``{"Approaching something with your camera": "0", ...}``) and ``train.json`` /
``validation.json`` / ``test.json`` (or the older ``something-something-v2-<name>.json``) in
DIR, DIR/labels/ or DIR/annotations/. Entries ``{"id", "label", "template", "placeholders"}``:
the class is the template without its square brackets, as spelled in labels.json; test.json
has ids only (label unknown). Videos ``<id>.webm`` in DIR/20bn-something-something-v2/,
DIR/videos/ or DIR. Class ids: those of labels.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videozoo.data.layouts.common import (
    Annotated,
    Entry,
    Layout,
    check_split,
    index_videos,
    located,
    read_json,
    video_index,
)
from videozoo.errors import DataError, DataNotFoundError

SSV2_FILES = {"train": "train", "validate": "validation", "test": "test"}


def ssv2_folder(root: Path) -> tuple[Path, str] | None:
    """(annotation folder, file-name prefix) of an SSv2 download, or None."""
    for folder in (root, root / "labels", root / "annotations"):
        for prefix in ("", "something-something-v2-"):
            if (folder / f"{prefix}labels.json").is_file() and any(
                (folder / f"{prefix}{name}.json").is_file() for name in ("train", "validation")
            ):
                return folder, prefix
    return None


def _class_ids(labels_path: Path) -> dict[str, int]:
    """Class name -> id of ``labels.json``; ids must run 0..N-1."""
    labels = read_json(labels_path)
    try:
        ids = {name: int(value) for name, value in labels.items()}
    except (AttributeError, TypeError, ValueError):
        raise DataError(f'{labels_path}: expected {{"class name": "id", ...}} with integer ids') from None
    if sorted(ids.values()) != list(range(len(ids))):
        raise DataError(f"{labels_path}: class ids must be 0..{len(ids) - 1}, each once")
    return ids


def _entry(
    path: Path, number: int, item: Any, split: str, ids: dict[str, int], labels: str
) -> tuple[str, str | None]:
    """(video id, class name or None for an unlabelled test entry) of entry `number` of `path`."""
    if not isinstance(item, dict) or "id" not in item:
        raise DataError(f'{path}: entry {number} has no \'id\'; expected {{"id": "1234", ...}}')
    if split == "test" and "template" not in item:
        return str(item["id"]), None
    if not isinstance(item.get("template"), str):
        raise DataError(f"{path}: entry {number} (id {item['id']}) has no 'template'")
    label: str = item["template"].replace("[", "").replace("]", "")
    if label not in ids:
        raise DataError(
            f"{path}: entry {number} (id {item['id']}): template {label!r} is not a class of {labels}"
        )
    return str(item["id"]), label


def read_ssv2(cfg: dict[str, Any], split: str | None) -> Annotated:
    root, (folder, prefix) = located(
        cfg,
        ssv2_folder,
        "no Something-Something V2 labels in {root}: "
        "looked for labels.json with train.json/validation.json in "
        "DIR, DIR/labels, DIR/annotations",
    )
    labels_path = folder / f"{prefix}labels.json"
    ids = _class_ids(labels_path)
    class_names = sorted(ids, key=lambda name: ids[name])
    if split is None:
        return Annotated(class_names, [])
    check_split(split)
    path = folder / f"{prefix}{SSV2_FILES[split]}.json"
    if not path.is_file():
        raise DataNotFoundError(f"no '{split}' list of Something-Something V2: {path} does not exist")
    items = read_json(path)
    if not isinstance(items, list):
        raise DataError(f'{path}: expected a list of {{"id": ..., "template": ...}} entries')
    videos = [
        _entry(path, number, item, split, ids, labels_path.name) for number, item in enumerate(items, 1)
    ]
    video_root, index = video_index(
        cfg,
        [root / "20bn-something-something-v2", root / "videos", root],
        [vid for vid, _ in videos],
        index_videos,
    )
    entries: list[Entry] = [(vid, index.get(vid), label) for vid, label in videos]
    return Annotated(class_names, entries, path, video_root)


LAYOUT = Layout(
    ssv2_folder, read_ssv2, "ssv2: labels.json + train.json/validation.json in DIR, labels/ or annotations/"
)
