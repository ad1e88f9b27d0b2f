"""Video data sets laid out as they are published: which layout a ``--data DIR`` holds, the
class list of the data set and the videos of a split. Output: ``VideoRecord(path, label,
video_id)`` per video on disk (``label`` = class id, -1 unknown), read by the ``video`` data
format (data/video_format.py).

Layouts (``data.layout``: ``auto`` takes the first, in ``LAYOUTS`` order, whose files are in
DIR; one module each, whose docstring gives the files it reads):

1. ``ssv2`` (layouts/ssv2.py): Something-Something V2;
2. ``ucf101`` (layouts/ucf101.py): UCF101, split ``data.split_id``;
3. ``hmdb51`` (layouts/hmdb51.py): HMDB51, split ``data.split_id``;
4. ``kinetics`` (layouts/kinetics.py): Kinetics CSVs or MMAction2 list files, or any
   ``data.<split>_annotation`` set;
5. ``folders`` (layouts/folders.py): ``train/<class>/``, ``val/<class>/``, ``test/<class>/``;
6. ``flat`` (layouts/flat.py): ``<class>/`` folders, no split folders (a held-out validation split).

``data.video_dir`` replaces the video folder search of layouts 1-4.

Class ids (first rule that applies)
-----------------------------------
1. ``data.classes``: a list of names, a path to a text file (one name per line, line = id), or
   ``kinetics400`` (the shipped, sorted 400 names).
2. DIR/classes.txt (line order = id).
3. The layout's own list (its module says which).
4. No data folder and no annotation (predicting from a checkpoint): the Kinetics-400 list.

Annotated videos missing from disk are left out with one warning giving their count; a
malformed annotation line raises ``DataError`` naming the file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from videozoo.data.layouts import flat, folders, hmdb51, kinetics, ssv2, ucf101
from videozoo.data.layouts.common import SPLIT_NAMES, Annotated, VideoRecord, data_root, read_class_file
from videozoo.data.layouts.kinetics import kinetics400_classes
from videozoo.errors import ConfigError, DataError, DataNotFoundError

logger = logging.getLogger("videozoo.data")

#: every layout, in detection order
LAYOUTS = {
    "ssv2": ssv2.LAYOUT,
    "ucf101": ucf101.LAYOUT,
    "hmdb51": hmdb51.LAYOUT,
    "kinetics": kinetics.LAYOUT,
    "folders": folders.LAYOUT,
    "flat": flat.LAYOUT,
}
#: horizontal flip in training when ``data.flip`` is null/auto: off where left/right is the label
FLIP_DEFAULTS = {"ssv2": False}


def detect_layout(cfg: dict[str, Any]) -> str:
    """The layout of the data section: ``data.layout`` unless ``auto``, else the first in
    LAYOUTS order whose files are in ``data.root`` (explicit annotation files: ``kinetics``)."""
    layout = cfg.get("layout") or "auto"
    if layout != "auto":
        if layout not in LAYOUTS:
            raise ConfigError(
                f"data.layout={layout!r} is not a layout; use auto or one of {', '.join(LAYOUTS)}"
            )
        return layout
    if any(cfg.get(f"{split}_annotation") for split in SPLIT_NAMES):
        return "kinetics"
    root = data_root(cfg)
    for name, layout in LAYOUTS.items():
        if layout.found(root):
            return name
    raise DataNotFoundError(
        f"no data set found in {root}: looked for "
        f"{'; '.join(layout.looked_for for layout in LAYOUTS.values())}; "
        f"point --data at the data set's folder or set data.layout"
    )


def resolve_classes(data_cfg: dict[str, Any]) -> list[str]:
    """Class names (index = class id) by the rules in the module docstring."""
    classes = data_cfg.get("classes")
    root = Path(data_cfg["root"]) if data_cfg.get("root") else None
    if isinstance(classes, (list, tuple)):
        return [str(name) for name in classes]
    if classes == "kinetics400":
        return list(kinetics400_classes())
    if classes:
        path = Path(classes)
        if not path.is_file() and root is not None and (root / path).is_file():
            path = root / path
        if not path.is_file():
            raise DataNotFoundError(f"data.classes: {classes} is neither 'kinetics400' nor an existing file")
        return read_class_file(path)
    if root is not None and (root / "classes.txt").is_file():
        return read_class_file(root / "classes.txt")
    if root is None and not any(data_cfg.get(f"{s}_annotation") for s in SPLIT_NAMES):
        return list(kinetics400_classes())
    return LAYOUTS[detect_layout(data_cfg)].read(data_cfg, None).class_names


def default_flip(data_cfg: dict[str, Any]) -> bool:
    """``data.flip`` as a bool: true/false as set; null or ``auto``: the layout's default
    (no flip for Something-Something V2, whose labels say left or right)."""
    flip = data_cfg.get("flip")
    if isinstance(flip, bool):
        return flip
    if flip not in (None, "auto"):
        raise ConfigError(f"data.flip must be true, false or auto, got {flip!r}")
    return FLIP_DEFAULTS.get(detect_layout(data_cfg), True)


def _warn_missing(missing: list[str], where: Path | None) -> None:
    if missing:
        logger.warning(
            "%d annotated video(s) not found under %s (left out), e.g. %s",
            len(missing),
            where,
            ", ".join(missing[:3]),
        )


def _class_id(label: str | int | None, class_ids: dict[str, int], found: Annotated) -> int:
    """The class id of an entry's label (-1: unknown); a label outside the classes in use is
    an error naming the annotation."""
    if label is None:
        return -1
    if isinstance(label, str):
        if label not in class_ids:
            raise DataError(
                f"{found.source}: class {label!r} is not one of the {len(class_ids)} classes in "
                "use; set data.classes to the full class list"
            )
        return class_ids[label]
    if label >= len(class_ids):
        raise DataError(
            f"{found.source}: label {label} >= number of classes {len(class_ids)}; set "
            "data.classes to the right class list"
        )
    return label


def load_records(data_cfg: dict[str, Any], split: str, class_names: list[str]) -> list[VideoRecord]:
    """The videos of `split` that exist on disk, with class ids in `class_names`."""
    found = LAYOUTS[detect_layout(data_cfg)].read(data_cfg, split)
    class_ids = {name: i for i, name in enumerate(class_names)}
    records, missing = [], []
    for video_id, path, label in found.entries:
        class_id = _class_id(label, class_ids, found)
        if path is None:
            missing.append(video_id)
        else:
            records.append(VideoRecord(path, class_id, video_id))
    _warn_missing(missing, found.video_root)
    if not records:
        raise DataNotFoundError(
            f"no videos of split '{split}' found: {found.source} lists "
            f"{len(missing)} video(s), none of them under {found.video_root}"
        )
    return records
