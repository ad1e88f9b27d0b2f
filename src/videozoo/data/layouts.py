"""Video data sets laid out as they are published: where a split's annotations and videos are,
and the class list of the data set. Output: ``VideoRecord(path, label, video_id)`` per video on
disk (``label`` = class id, -1 unknown), read by the ``kinetics`` DataSource (data/kinetics.py).

Layouts (``data.layout``: ``auto`` takes the first, in this order, whose files are in --data DIR)
-----------------------------------------------------------------------------------------------
1. ``ssv2``: Something-Something V2. ``labels.json`` (``{"Approaching something with your
   camera": "0", ...}``) and ``train.json`` / ``validation.json`` / ``test.json`` (or the
   older ``something-something-v2-<name>.json``) in DIR, DIR/labels/ or DIR/annotations/.
   Entries ``{"id", "label", "template", "placeholders"}``: the class is the template without
   its square brackets, as spelled in labels.json; test.json has ids only (label unknown).
   Videos ``<id>.webm`` in DIR/20bn-something-something-v2/, DIR/videos/ or DIR.
2. ``ucf101``: ``classInd.txt`` (``1 ApplyEyeMakeup``, 1-based) with ``trainlist0N.txt``
   (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``) and ``testlist0N.txt`` (no label: the
   folder is the class) in DIR, DIR/ucfTrainTestlist/ or DIR/annotations/; N = ``data.split_id``.
   Videos under DIR/UCF-101/, DIR/UCF101/, DIR/videos/ or DIR (matched without regard to case
   or extension: re-encoded copies and fixed file names still match).
3. ``hmdb51``: ``<class>_test_split<N>.txt`` (``<video>.avi <0|1|2>``: 1 train, 2 test,
   0 unused) in DIR, DIR/testTrainMulti_7030_splits/, DIR/test_train_splits/(...) or
   DIR/annotations/; N = ``data.split_id``. Videos ``<class>/<video>.avi`` under DIR/videos/,
   DIR/hmdb51_org/, DIR/hmdb51/ or DIR.
4. ``kinetics``: an annotation file (official CSV or MMAction2 list file, rules below), or
   any ``data.<split>_annotation`` set.
5. ``folders``: DIR/train/<class>/, DIR/val|validate|validation/<class>/, DIR/test/<class>/
   with the videos inside (any depth). Videos directly in a split folder belong to no class and
   are left out (one warning with their count).
6. ``flat``: DIR/<class>/ with the videos inside (any depth) and no split folders. The
   validate split is held out of each class (``data.val_fraction``, ``data.split_seed``; rules
   in data/holdout.py); training writes it to the run folder as ``split.json`` and sets
   ``data.split_file``, which then decides both splits (eval, resume). No test split.

``data.video_dir`` replaces the video folder search of layouts 1-4. UCF101 and HMDB51 have no
validation list: their ``validate`` and ``test`` splits are both the test list.

Kinetics annotation files (layout 4)
------------------------------------
For split ``train`` / ``validate`` / ``test`` (aliases: ``val``, ``validation``) the annotation
is ``data.<split>_annotation`` when set, else the first that exists of

    DIR/<name>.csv, DIR/<name>_list.txt, DIR/<name>.txt, DIR/kinetics400_<name>_list_videos.txt
    (and the same names under DIR/annotations/), for <name> in the split's aliases.

* Official CSV (``label,youtube_id,time_start,time_end,split``; ``label`` may be absent in
  test): the clip ``<youtube_id>_<time_start:06d>_<time_end:06d>.<mp4|webm|mkv|avi|...>`` (or
  plain ``<youtube_id>.<ext>``) is looked up anywhere under the split's video folder: the first
  of DIR/<name>/ or DIR/videos_<name>/ that exists (flat or one sub-folder per class), else DIR.
* List file (MMAction2): ``relative/path.mp4 label_index`` per line (label optional). Paths are
  relative to the first of (the list file's folder, the split's video folder) that holds the
  first listed file.

Class ids (first rule that applies)
-----------------------------------
1. ``data.classes``: a list of names, a path to a text file (one name per line, line = id), or
   ``kinetics400`` (the shipped, sorted 400 names).
2. DIR/classes.txt (line order = id).
3. The layout's own list: ssv2 the ids of labels.json; ucf101 classInd.txt; hmdb51 the sorted
   class names of the split files; flat the sorted class folder names (those of the split
   file when there is one); folders the sorted class folder names of the train split
   (of the split asked when there is no train folder); kinetics: for CSVs, the Kinetics-400 list
   if every label (of the train CSV, else of the validate / test one) is a Kinetics-400 class
   (ids match Kinetics-400 checkpoints even for a partial download), otherwise the sorted set of
   labels; for list files the Kinetics-400 list if every index is < 400, else "0".."max".
4. No data folder and no annotation (predicting from a checkpoint): the Kinetics-400 list.

Annotated videos missing from disk are left out with one warning giving their count; a
malformed annotation line raises ``DataError`` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from videozoo.data.holdout import check_val_fraction, read_split_file, stratified_split
from videozoo.data.video import VIDEO_EXTENSIONS, find_video_files, is_video_file
from videozoo.errors import ConfigError, DataError, DataNotFoundError

logger = logging.getLogger("videozoo.data")

SPLIT_NAMES = {"train": ("train",), "validate": ("validate", "val", "validation"), "test": ("test",)}
ANNOTATION_PATTERNS = ("{}.csv", "{}_list.txt", "{}.txt", "kinetics400_{}_list_videos.txt")
#: horizontal flip in training when ``data.flip`` is null/auto: off where left/right is the label
FLIP_DEFAULTS = {"ssv2": False}


@dataclass(frozen=True)
class VideoRecord:
    path: str
    label: int  # -1: unknown
    video_id: str


#: One annotated video as a layout reader found it: (video id, path on disk or None when it is
#: not there, class name | class id (list files) | None (unknown)). A plain tuple: Kinetics
#: has 250k of them, and a NamedTuple costs several times more to make.
Entry = tuple[str, "str | None", "str | int | None"]


@dataclass
class Annotated:
    """A layout reader's answer: the data set's class list and the entries of one split."""

    class_names: list[str]
    entries: list[Entry]
    source: Path | None = None  # annotation file or split folder (for messages)
    video_root: Path | None = None  # where the videos were looked for


# -- small readers shared by the layouts --------------------------------------------------------
def _root(cfg: dict) -> Path:
    root = cfg.get("root")
    if not root:
        raise DataNotFoundError("no data folder: pass --data DIR (or set data.root)")
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"data folder {root} does not exist; check --data")
    return root


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty lines (CRLF and a BOM are fine)."""
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape").lstrip("\ufeff")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _malformed(path: Path, line_no: int, line: str, expected: str) -> DataError:
    return DataError(f"{path}:{line_no}: malformed line {line[:80]!r}; expected {expected}")


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg}); re-download or repair the file"
        ) from None


_VIDEO_SUFFIXES = frozenset(VIDEO_EXTENSIONS)


def _video_files(folder: Path) -> list[tuple[str, str, str]]:
    """(folder relative to `folder`, file stem, path) of every video under `folder`, recursive
    and sorted. Plain strings: an SSv2 or Kinetics folder holds 200k+ files."""
    top = str(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        relative = dirpath[len(top) :].strip(os.sep).replace(os.sep, "/")
        prefix = os.path.join(dirpath, "")
        for name in sorted(filenames):
            dot = name.rfind(".")  # string ops: os.path.join/splitext per file cost 3x more
            if dot > 0 and name[dot:].lower() in _VIDEO_SUFFIXES:
                found.append((relative, name[:dot], prefix + name))
    return found


def index_videos(folder: Path) -> dict[str, str]:
    """Video file stem -> path for every video under `folder` (recursive, first one wins)."""
    found: dict[str, str] = {}
    for _, stem, path in _video_files(folder):
        found.setdefault(stem, path)
    return found


def index_relative(folder: Path) -> dict[str, str]:
    """Lower-cased ``relative/path`` without extension -> path, for every video under `folder`."""
    found: dict[str, str] = {}
    for relative, stem, path in _video_files(folder):
        found.setdefault(f"{relative}/{stem}".lstrip("/").lower(), path)
    return found


def _has_video(folder: Path) -> bool:
    return any(is_video_file(name) for _, _, names in os.walk(folder) for name in names)


def _video_index(
    cfg: dict, candidates: list[Path], keys: list[str], index: Callable[[Path], dict]
) -> tuple[Path, dict[str, str]]:
    """The first of `candidates` (or ``data.video_dir``) holding any of `keys`, with its index
    (`index(folder)`: key -> path); the first existing candidate when none holds one."""
    if cfg.get("video_dir"):
        candidates = [Path(cfg["video_dir"])]
    fallback = None
    wanted = set(keys)
    for folder in candidates:
        if not folder.is_dir():
            continue
        found = index(folder)
        if wanted & found.keys():
            return folder, found
        fallback = fallback or (folder, found)
    return fallback or (candidates[0], {})


def _match_relative(
    cfg: dict, candidates: list[Path], videos: list[tuple[str, str]]
) -> tuple[list[Entry], Path]:
    """Entries for (``class/file.avi``, class) pairs, found under the first candidate folder
    holding any of them; matched without regard to case or extension."""
    keys = [os.path.splitext(relative)[0].lower() for relative, _ in videos]
    video_root, index = _video_index(cfg, candidates, keys, index_relative)
    return [(rel, index.get(key), label) for (rel, label), key in zip(videos, keys)], video_root


def _located(cfg: dict, find: Callable[[Path], object], missing: str):
    """(data folder, what ``find(data folder)`` located there); else DataNotFoundError with
    `missing` (``{root}`` filled in)."""
    root = _root(cfg)
    found = find(root)
    if not found:
        raise DataNotFoundError(missing.format(root=root))
    return root, found


def _first_folder(candidates, holds: Callable[[Path], object]) -> Path | None:
    return next((folder for folder in candidates if folder.is_dir() and holds(folder)), None)


def _check_split(split: str) -> None:
    if split not in SPLIT_NAMES:
        raise ConfigError(f"unknown split '{split}'; use train, validate or test")


# -- class names --------------------------------------------------------------------------------
@cache
def kinetics400_classes() -> tuple[str, ...]:
    text = resources.files("videozoo").joinpath("assets/kinetics400_classes.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def read_class_file(path) -> list[str]:
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"class file {path} is empty; write one class name per line")
    return names


# -- 1. Something-Something V2 ------------------------------------------------------------------
SSV2_FILES = {"train": "train", "validate": "validation", "test": "test"}


def _ssv2_folder(root: Path) -> tuple[Path, str] | None:
    """(annotation folder, file-name prefix) of an SSv2 download, or None."""
    for folder in (root, root / "labels", root / "annotations"):
        for prefix in ("", "something-something-v2-"):
            if (folder / f"{prefix}labels.json").is_file() and any(
                (folder / f"{prefix}{name}.json").is_file() for name in ("train", "validation")
            ):
                return folder, prefix
    return None


def read_ssv2(cfg: dict, split: str | None) -> Annotated:
    root, (folder, prefix) = _located(
        cfg,
        _ssv2_folder,
        "no Something-Something V2 labels in {root}: "
        "looked for labels.json with train.json/validation.json in "
        "DIR, DIR/labels, DIR/annotations",
    )
    labels_path = folder / f"{prefix}labels.json"
    labels = _read_json(labels_path)
    try:
        ids = {name: int(value) for name, value in labels.items()}
    except (AttributeError, TypeError, ValueError):
        raise DataError(f'{labels_path}: expected {{"class name": "id", ...}} with integer ids') from None
    if sorted(ids.values()) != list(range(len(ids))):
        raise DataError(f"{labels_path}: class ids must be 0..{len(ids) - 1}, each once")
    class_names = sorted(ids, key=ids.get)
    if split is None:
        return Annotated(class_names, [])
    _check_split(split)
    path = folder / f"{prefix}{SSV2_FILES[split]}.json"
    if not path.is_file():
        raise DataNotFoundError(f"no '{split}' list of Something-Something V2: {path} does not exist")
    items = _read_json(path)
    if not isinstance(items, list):
        raise DataError(f'{path}: expected a list of {{"id": ..., "template": ...}} entries')
    videos = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or "id" not in item:
            raise DataError(f'{path}: entry {number} has no \'id\'; expected {{"id": "1234", ...}}')
        label = None
        if split != "test" or "template" in item:
            if not isinstance(item.get("template"), str):
                raise DataError(f"{path}: entry {number} (id {item['id']}) has no 'template'")
            label = item["template"].replace("[", "").replace("]", "")
            if label not in ids:
                raise DataError(
                    f"{path}: entry {number} (id {item['id']}): template {label!r} "
                    f"is not a class of {labels_path.name}"
                )
        videos.append((str(item["id"]), label))
    video_root, index = _video_index(
        cfg,
        [root / "20bn-something-something-v2", root / "videos", root],
        [vid for vid, _ in videos],
        index_videos,
    )
    entries = [(vid, index.get(vid), label) for vid, label in videos]
    return Annotated(class_names, entries, path, video_root)


# -- 2. UCF101 ----------------------------------------------------------------------------------
def _ucf101_folder(root: Path) -> Path | None:
    return _first_folder(
        (root, root / "ucfTrainTestlist", root / "annotations"),
        lambda folder: (folder / "classInd.txt").is_file(),
    )


def _numbered_files(folder: Path, pattern: str) -> list[int]:
    """The split ids N of the files in `folder` matching `pattern` (a regex with one group)."""
    ids = [re.fullmatch(pattern, path.name) for path in folder.iterdir()]
    return sorted(int(match.group(1)) for match in ids if match)


def read_ucf101(cfg: dict, split: str | None) -> Annotated:
    root, folder = _located(
        cfg, _ucf101_folder, "no UCF101 classInd.txt in {root}, {root}/ucfTrainTestlist or {root}/annotations"
    )
    class_file = folder / "classInd.txt"
    names: dict[int, str] = {}
    for line_no, line in _text_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) in names:
            raise _malformed(class_file, line_no, line, "'<index> <ClassName>' with each index once")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DataError(f"{class_file}: class indices must run 1..{len(names)} without gaps")
    class_names = [names[i] for i in range(1, len(names) + 1)]
    if split is None:
        return Annotated(class_names, [])
    _check_split(split)
    split_id = int(cfg.get("split_id") or 1)
    kind = "train" if split == "train" else "test"  # no validation list: validate = test
    path = folder / f"{kind}list{split_id:02d}.txt"
    if not path.is_file():
        have = _numbered_files(folder, kind + r"list(\d+)\.txt")
        raise DataNotFoundError(
            f"{path} does not exist: data.split_id={split_id}; this UCF101 "
            f"copy has {kind} splits {have or 'none'}"
        )
    known = set(class_names)
    videos = []
    for line_no, line in _text_lines(path):
        parts = line.split()
        relative, folder_name = parts[0], parts[0].split("/")[0]
        if kind == "train" and (
            len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(class_names)
        ):
            raise _malformed(path, line_no, line, f"'Class/v_Class_gXX_cYY.avi <1..{len(class_names)}>'")
        if kind == "test" and (len(parts) > 2 or "/" not in relative or folder_name not in known):
            raise _malformed(
                path, line_no, line, f"'Class/v_Class_gXX_cYY.avi' with a class of {class_file.name}"
            )
        label = class_names[int(parts[1]) - 1] if kind == "train" else folder_name
        videos.append((relative, label))
    entries, video_root = _match_relative(
        cfg, [root / "UCF-101", root / "UCF101", root / "videos", root], videos
    )
    return Annotated(class_names, entries, path, video_root)


# -- 3. HMDB51 ----------------------------------------------------------------------------------
HMDB51_SPLIT = r"(.+)_test_split(\d+)\.txt"


def _hmdb51_folder(root: Path) -> Path | None:
    candidates = (
        root,
        root / "testTrainMulti_7030_splits",
        root / "test_train_splits",
        root / "test_train_splits" / "testTrainMulti_7030_splits",
        root / "annotations",
    )
    return _first_folder(
        candidates, lambda folder: any(re.fullmatch(HMDB51_SPLIT, path.name) for path in folder.iterdir())
    )


def read_hmdb51(cfg: dict, split: str | None) -> Annotated:
    root, folder = _located(
        cfg,
        _hmdb51_folder,
        "no HMDB51 split files (<class>_test_split1.txt) in {root} or {root}/testTrainMulti_7030_splits",
    )
    split_id = int(cfg.get("split_id") or 1)
    by_split: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = re.fullmatch(HMDB51_SPLIT, path.name)
        if match:
            by_split.setdefault(int(match.group(2)), {})[match.group(1)] = path
    files = by_split.get(split_id)
    if not files:
        raise DataNotFoundError(
            f"no HMDB51 split {split_id} files (<class>_test_split{split_id}.txt) "
            f"in {folder}: data.split_id must be one of {sorted(by_split)}"
        )
    class_names = sorted(files)
    if split is None:
        return Annotated(class_names, [])
    _check_split(split)
    wanted = "1" if split == "train" else "2"  # no validation list: validate = test
    videos = []
    for name, path in files.items():
        for line_no, line in _text_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise _malformed(path, line_no, line, "'<video>.avi <0|1|2>' (1 train, 2 test, 0 unused)")
            if parts[1] == wanted:
                videos.append((f"{name}/{parts[0]}", name))
    entries, video_root = _match_relative(
        cfg, [root / "videos", root / "hmdb51_org", root / "hmdb51", root], videos
    )
    return Annotated(class_names, entries, folder, video_root)


# -- 4. Kinetics CSVs and list files ------------------------------------------------------------
def find_annotation(data_cfg: dict, split: str, required: bool = True) -> Path | None:
    """The annotation file of `split`: explicit `data.<split>_annotation` or by convention."""
    _check_split(split)
    explicit = data_cfg.get(f"{split}_annotation")
    if explicit:
        path = Path(explicit)
        if not path.is_absolute() and data_cfg.get("root") and not path.exists():
            path = Path(data_cfg["root"]) / path
        if not path.is_file():
            raise DataNotFoundError(f"data.{split}_annotation: {explicit} does not exist")
        return path
    if not data_cfg.get("root") and not required:
        return None
    root = _root(data_cfg)
    tried = []
    for folder in (root, root / "annotations"):
        for name in SPLIT_NAMES[split]:
            for pattern in ANNOTATION_PATTERNS:
                candidate = folder / pattern.format(name)
                if candidate.is_file():
                    return candidate
                tried.append(candidate.relative_to(root).as_posix())
    if required:
        raise DataNotFoundError(
            f"no '{split}' annotation in {root}: looked for {', '.join(tried[:8])} "
            f"(and under annotations/); or set data.{split}_annotation"
        )
    return None


def video_folder(data_cfg: dict, split: str, annotation: Path) -> Path:
    """Where the videos of `split` live (see the module docstring)."""
    if data_cfg.get("video_dir"):
        return Path(data_cfg["video_dir"])
    root = Path(data_cfg["root"]) if data_cfg.get("root") else annotation.parent
    for name in SPLIT_NAMES[split]:
        for folder in (root / name, root / f"videos_{name}"):
            if folder.is_dir():
                return folder
    return root


def read_csv_rows(path: Path) -> list[dict]:
    """Rows of an official Kinetics CSV as dicts with youtube_id, time_start, time_end, label."""
    with open(path, newline="", encoding="utf-8") as f:
        try:
            reader = csv.DictReader(f)
            missing = {"youtube_id", "time_start", "time_end"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(
                    f"{path}: not a Kinetics CSV (missing column(s) "
                    f"{', '.join(sorted(missing))}; expected label,youtube_id,"
                    "time_start,time_end,split)"
                )
            return list(reader)
        except (UnicodeDecodeError, csv.Error) as err:
            raise DataError(
                f"{path}: not a readable UTF-8 CSV ({type(err).__name__} at byte "
                f"{getattr(err, 'start', '?')})"
            ) from None


def read_list_lines(path: Path) -> list[tuple[str, int]]:
    """(relative path, label or -1) per non-empty line of an MMAction2-style list file."""
    entries = []
    for _, line in _text_lines(path):
        if line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            entries.append((parts[0], int(parts[1])))
        else:
            entries.append((line, -1))
    if not entries:
        raise DataError(f"list file {path} has no entries; expected 'relative/path.mp4 label' lines")
    return entries


def clip_stem(row: dict) -> str:
    return f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"


def _kinetics_classes(annotation: Path) -> list[str]:
    stat = annotation.stat()
    return list(_kinetics_classes_of(str(annotation), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=8)  # the train and validate sources both ask; a 250k-row CSV takes a second
def _kinetics_classes_of(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    annotation = Path(path)
    if annotation.suffix == ".csv":
        labels = {row["label"] for row in read_csv_rows(annotation) if row.get("label")}
        return kinetics400_classes() if labels <= set(kinetics400_classes()) else tuple(sorted(labels))
    top = max(label for _, label in read_list_lines(annotation))
    return kinetics400_classes() if top < 400 else tuple(str(i) for i in range(top + 1))


def read_kinetics(cfg: dict, split: str | None) -> Annotated:
    annotation = next(
        filter(None, (find_annotation(cfg, name, required=False) for name in ("train", "validate", "test"))),
        None,
    )
    class_names = _kinetics_classes(annotation) if annotation else list(kinetics400_classes())
    if split is None:
        return Annotated(class_names, [])
    annotation = find_annotation(cfg, split)
    folder = video_folder(cfg, split, annotation)
    entries = []
    if annotation.suffix == ".csv":
        videos = index_videos(folder)
        for line_no, row in enumerate(read_csv_rows(annotation), 2):
            try:
                stem = clip_stem(row)
            except (TypeError, ValueError):
                raise DataError(
                    f"{annotation}:{line_no}: time_start/time_end {row['time_start']!r}, "
                    f"{row['time_end']!r} are not numbers"
                ) from None
            entries.append(
                (stem, videos.get(stem) or videos.get(row["youtube_id"]), row.get("label") or None)
            )
        return Annotated(class_names, entries, annotation, folder)
    lines = read_list_lines(annotation)
    base = next((b for b in (annotation.parent, folder) if (b / lines[0][0]).is_file()), annotation.parent)
    for relative, label in lines:
        path = base / relative
        entries.append((relative, str(path) if path.is_file() else None, None if label < 0 else label))
    return Annotated(class_names, entries, annotation, base)


def _kinetics_found(root: Path) -> bool:
    return any(find_annotation({"root": str(root)}, split, required=False) for split in SPLIT_NAMES)


# -- 5. one folder per class --------------------------------------------------------------------
def _split_folder(root: Path, split: str) -> Path | None:
    return _first_folder([root / name for name in SPLIT_NAMES[split]], lambda folder: True)


def _class_folders(folder: Path) -> list[Path]:
    """Sub-folders of `folder` that hold videos (at any depth), sorted by name."""
    return [
        sub
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and not sub.name.startswith(".") and _has_video(sub)
    ]


def _folders_found(root: Path) -> bool:
    return any(
        folder and _class_folders(folder) for folder in (_split_folder(root, split) for split in SPLIT_NAMES)
    )


def read_folders(cfg: dict, split: str | None) -> Annotated:
    root = _root(cfg)
    train = _split_folder(root, "train")
    folder = _split_folder(root, split) if split else None
    if split and folder is None:
        raise DataNotFoundError(
            f"no '{split}' split in {root}: looked for {', '.join(name + '/' for name in SPLIT_NAMES[split])}"
        )
    class_folder = train or folder or next(filter(None, (_split_folder(root, s) for s in SPLIT_NAMES)), None)
    if class_folder is None:
        raise DataNotFoundError(f"no class folders in {root}: expected train/<class>/*.mp4")
    class_names = [sub.name for sub in _class_folders(class_folder)]
    if split is None:
        return Annotated(class_names, [])
    classes = _class_folders(folder)
    if not classes:
        raise DataNotFoundError(
            f"{folder} has no class folder holding videos; expected {folder}/<class>/*.mp4"
        )
    entries = [
        (path.relative_to(folder).as_posix(), str(path), sub.name)
        for sub in classes
        for path in find_video_files(sub)
    ]
    loose = [name for name in sorted(os.listdir(folder)) if is_video_file(name)]
    if loose:
        logger.warning(
            "%d video(s) directly in %s are in no class folder (left out), e.g. %s",
            len(loose),
            folder,
            ", ".join(loose[:3]),
        )
    return Annotated(class_names, entries, folder, folder)


# -- 6. one folder per class, no split folders ---------------------------------------------------
def _flat_found(root: Path) -> bool:
    return not any(_split_folder(root, split) for split in SPLIT_NAMES) and bool(_class_folders(root))


def _flat_videos(root: Path) -> dict[str, list[tuple[str, str]]]:
    """Class name -> [(id = path relative to DIR, path)] of every video in a class folder."""
    return {
        sub.name: [(path.relative_to(root).as_posix(), str(path)) for path in find_video_files(sub)]
        for sub in _class_folders(root)
    }


def flat_split(cfg: dict) -> tuple[list[str], dict[str, list[str]]]:
    """(class names, {"train": ids, "validate": ids}) of a ``flat`` data set: the split file's
    when ``data.split_file`` is set, else drawn now (data/holdout.py)."""
    if cfg.get("split_file"):
        record = read_split_file(cfg["split_file"])
        return record["classes"], {"train": record["train"], "validate": record["validate"]}
    videos = _flat_videos(_root(cfg))
    ids = {name: [video_id for video_id, _ in found] for name, found in videos.items()}
    return sorted(videos), stratified_split(
        ids, check_val_fraction(cfg.get("val_fraction", 0.1)), int(cfg.get("split_seed") or 0)
    )


def read_flat(cfg: dict, split: str | None) -> Annotated:
    root = _root(cfg)
    if split is None:
        return Annotated(flat_split(cfg)[0], [])
    _check_split(split)
    if split == "test":
        raise DataNotFoundError(
            f"{root} has one folder per class and no test split; evaluate "
            "the validate split, or predict on videos given by path"
        )
    class_names, chosen = flat_split(cfg)
    if not chosen[split]:
        raise DataNotFoundError(
            f"no '{split}' videos in {root} (data.val_fraction="
            f"{cfg.get('val_fraction')}, classes with two or more videos "
            "give one each)"
        )
    paths = {video_id: path for found in _flat_videos(root).values() for video_id, path in found}
    entries = [(video_id, paths.get(video_id), video_id.split("/", 1)[0]) for video_id in chosen[split]]
    return Annotated(class_names, entries, Path(cfg.get("split_file") or root), root)


# -- detection and the records of a split -------------------------------------------------------
class Layout(NamedTuple):
    found: Callable[[Path], object]  # truthy when DIR holds this layout
    read: Callable[[dict, str | None], Annotated]
    looked_for: str  # for the "nothing matched" error


LAYOUTS = {  # detection order
    "ssv2": Layout(
        _ssv2_folder,
        read_ssv2,
        "ssv2: labels.json + train.json/validation.json in DIR, labels/ or annotations/",
    ),
    "ucf101": Layout(
        _ucf101_folder, read_ucf101, "ucf101: classInd.txt in DIR, ucfTrainTestlist/ or annotations/"
    ),
    "hmdb51": Layout(
        _hmdb51_folder,
        read_hmdb51,
        "hmdb51: <class>_test_split<N>.txt in DIR, testTrainMulti_7030_splits/ or annotations/",
    ),
    "kinetics": Layout(
        _kinetics_found,
        read_kinetics,
        "kinetics: train.csv, train_list.txt, train.txt or kinetics400_train_list_videos.txt "
        "(or val/validate/test ones) in DIR or annotations/",
    ),
    "folders": Layout(
        _folders_found, read_folders, "folders: train/<class>/ (or val/, validate/, test/) holding videos"
    ),
    "flat": Layout(_flat_found, read_flat, "flat: <class>/ folders holding videos"),
}


def detect_layout(cfg: dict) -> str:
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
    root = _root(cfg)
    for name, layout in LAYOUTS.items():
        if layout.found(root):
            return name
    raise DataNotFoundError(
        f"no data set found in {root}: looked for "
        f"{'; '.join(layout.looked_for for layout in LAYOUTS.values())}; "
        f"point --data at the data set's folder or set data.layout"
    )


def resolve_classes(data_cfg: dict, split: str | None = None) -> list[str]:
    """Class names (index = class id) by the rules in the module docstring. `split` is kept
    for callers of the older signature; the class list does not depend on it."""
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


def default_flip(data_cfg: dict) -> bool:
    """``data.flip`` as a bool: true/false as set; null or ``auto``: the layout's default
    (no flip for Something-Something V2, whose labels say left or right)."""
    flip = data_cfg.get("flip")
    if isinstance(flip, bool):
        return flip
    if flip not in (None, "auto"):
        raise ConfigError(f"data.flip must be true, false or auto, got {flip!r}")
    return FLIP_DEFAULTS.get(detect_layout(data_cfg), True)


def _warn_missing(missing: list[str], where) -> None:
    if missing:
        logger.warning(
            "%d annotated video(s) not found under %s (left out), e.g. %s",
            len(missing),
            where,
            ", ".join(missing[:3]),
        )


def load_records(data_cfg: dict, split: str, class_names: list[str]) -> list[VideoRecord]:
    """The videos of `split` that exist on disk, with class ids in `class_names`."""
    found = LAYOUTS[detect_layout(data_cfg)].read(data_cfg, split)
    class_ids = {name: i for i, name in enumerate(class_names)}
    records, missing = [], []
    for video_id, path, label in found.entries:
        if label is None:
            class_id = -1
        elif isinstance(label, str):
            class_id = class_ids.get(label, -1)
            if class_id < 0:
                raise DataError(
                    f"{found.source}: class {label!r} is not one of the "
                    f"{len(class_names)} classes in use; set data.classes to the full "
                    f"class list"
                )
        elif label >= len(class_names):
            raise DataError(
                f"{found.source}: label {label} >= number of classes "
                f"{len(class_names)}; set data.classes to the right class list"
            )
        else:
            class_id = label
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
