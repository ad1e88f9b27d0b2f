"""The `video` data format: video files with one class each -> batches for the video models
(Kinetics, UCF101, HMDB51, Something-Something V2, your own class folders). Configs and
checkpoints written before it was renamed say ``format: kinetics``; the registry reads that as
``video`` (``registry.DATA_FORMAT_ALIASES``).

Batches (see docs/ARCHITECTURE.md): `video` float `[B, V, T, 3, S, S]` (V = 1 in training,
clips x crops in evaluation), `label` long `[B]` (-1 unknown), `valid` bool `[B]`,
`ids` (video paths), `skipped` [(file, video id, reason)].

Which videos and classes (`--data DIR` sets `data.root`): data/layouts/ reads the data set
as published — Kinetics CSVs or MMAction2 list files, one folder per class, UCF101, HMDB51,
Something-Something V2 — chosen by `data.layout` (default `auto`: detected from the files) and
`data.split_id` (UCF101 / HMDB51: 1..3). `class_names(data_cfg)` gives the class list without
reading a split. `data.flip` null/auto flips training clips left-right except for layouts
whose labels say left or right (SSv2). Annotated videos missing from disk are left out with
one warning giving their count; files that exist but do not decode are reported per batch
(training: skipped; evaluation: `valid=False`, counted wrong).

Randomness: a video's sampling and crop parameters come from `(seed, epoch, index)`, so the
number of DataLoader workers never changes what a batch holds.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from videozoo.data import ignore_stop_signals
from videozoo.data.holdout import write_split_file
from videozoo.data.layouts import default_flip, detect_layout, load_records, resolve_classes
from videozoo.data.layouts.common import VideoRecord, index_videos
from videozoo.data.layouts.flat import flat_split
from videozoo.data.layouts.kinetics import clip_stem, read_csv_rows, read_list_lines
from videozoo.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TSM_SCALES,
    VideoTransform,
    build_transform,
    resize_frames,
)
from videozoo.data.video import (
    CLIP_POSITIONS,
    SEGMENT_POSITIONS,
    VIDEO_EXTENSIONS,
    VideoReader,
    VideoReadError,
    clip_indices,
    find_video_files,
    is_video_file,
    reference_segment_indices,
    segment_indices,
    short_side_size,
)
from videozoo.errors import ConfigError, DataError, DataNotFoundError
from videozoo.registry import register_dataset

logger = logging.getLogger("videozoo.data")

TASK = "singlelabel"
MODEL_INPUTS = ("video",)  # the batch keys a model reads, in export order

DEFAULTS = {
    "format": "video",
    "root": None,  # dataset folder (--data DIR)
    "layout": "auto",  # auto | kinetics | folders | flat | ucf101 | hmdb51 | ssv2 (data/layouts/)
    "val_fraction": 0.1,  # flat class folders: share of each class held out to validate
    "split_seed": 0,  # flat class folders: seed of that hold-out
    "split_file": None,  # flat class folders: the run's split.json (set by training)
    "split_id": 1,  # UCF101 / HMDB51 train/test split 1..3
    "train_annotation": None,  # explicit annotation files (CSV or list file)
    "validate_annotation": None,
    "test_annotation": None,
    "video_dir": None,  # folder holding the videos (default: by convention)
    "classes": None,  # list, file path or "kinetics400" (default: see module doc)
    "inputs": [],  # split "predict": video files, folders, list files, globs
    "sampling": "segment",  # "segment" (TSN/TSM/StNet) or "dense" (Non-local)
    "seg_num": 8,
    "seglen": None,  # frames per segment; null: the model's (StNet 5) or 1
    "test_seg_num": 8,
    "clip_len": 8,
    "frame_interval": 8,
    "test_num_clips": 10,
    "test_clip_positions": "centred",  # dense test clips: centred | spread (MMAction2) | wrap (v1.5)
    "short_side": 256,
    "short_side_range": None,  # [lo, hi): random training short side (Non-local [256, 320])
    "crop_size": 224,
    "test_crop_size": None,  # None: crop_size (Non-local tests on 256)
    "test_crops": 1,  # 1 (centre) or 3 (along the long side)
    "multi_scale_crop": False,  # TSM multi-scale crop
    "scales": list(TSM_SCALES),
    "flip": None,  # training left-right flip; null/auto: the layout's (SSv2 off)
    "mean": list(IMAGENET_MEAN),
    "std": list(IMAGENET_STD),
    # Reference pipelines (set by `videozoo convert` for the source's checkpoints):
    "multi_scale_resize": None,  # resize the multi-scale crop to this, then crop (v1.5 TSM: 256)
    "long_side": None,  # resize to short_side x long_side, aspect not kept (v1.5: 341)
    "test_segment_positions": "centred",  # segment test snippets: centred | tsn | paddle-v1.5
}


def model_input_spec(data_cfg: dict, training: bool) -> dict:
    """``model.default_input`` arguments for one view of this data section: the frames per
    clip and the crop size of training (``training``) or evaluation."""
    cfg = {**DEFAULTS, **data_cfg}
    if cfg["sampling"] == "dense":
        frames = int(cfg["clip_len"])
    else:
        frames = int(cfg["seg_num"] if training else cfg["test_seg_num"]) * int(cfg["seglen"] or 1)
    size = cfg["crop_size"] if training else (cfg["test_crop_size"] or cfg["crop_size"])
    return {"num_frames": frames, "image_size": int(size)}


def class_names(data_cfg: dict) -> list[str]:
    """The class list (index = class id) of a `data:` section, without reading a split."""
    return resolve_classes({**DEFAULTS, **(data_cfg or {})})


#: one input that cannot be predicted on: (path, "", reason)
Failure = tuple[str, str, str]


def predict_records(inputs: Any) -> tuple[list[VideoRecord], list[Failure]]:
    """Records for `predict`: video files, folders (all videos inside), list files, globs.

    Every video gets its own record; its id is its path as given (``folder/cat/0001.mp4``),
    so same-named files in different folders or with other extensions stay apart. Inputs
    that cannot be videos (missing, another file type, an empty folder) come back as
    failures ``(path, "", reason)`` instead of stopping the others.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    records: list[VideoRecord] = []
    failures: list[Failure] = []
    for item in inputs or []:
        item = str(item)
        paths = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
        if not paths:
            failures.append((item, "", "the pattern matches no file"))
        for path in map(Path, paths):
            found, failure = _input_records(path)
            records += found
            failures += [failure] if failure else []
    unique = list({r.path: r for r in records}.values())  # the same file given twice: one row
    return unique, failures


def _input_records(path: Path) -> tuple[list[VideoRecord], Failure | None]:
    """The records of one predict input (see ``predict_records``), or why it has none."""
    if path.is_dir():
        videos = find_video_files(path)
        if not videos:
            return [], (str(path), "", f"a folder with no video files ({', '.join(VIDEO_EXTENSIONS)})")
        return [VideoRecord(str(p), -1, str(p)) for p in videos], None
    if not path.exists():
        return [], (str(path), "", "no such file")
    if path.suffix.lower() in (".txt", ".lst"):
        listed = [(str(path.parent / rel), label) for rel, label in read_list_lines(path)]
        return [VideoRecord(video, label, video) for video, label in listed], None
    if path.suffix.lower() == ".csv":
        index = index_videos(path.parent)
        clips = [index.get(clip_stem(row), str(path.parent / clip_stem(row))) for row in read_csv_rows(path)]
        return [VideoRecord(video, -1, video) for video in clips], None
    if is_video_file(path):
        return [VideoRecord(str(path), -1, str(path))], None
    reason = (
        f"not a video file ({path.suffix or 'no extension'}; expected "
        f"{', '.join(VIDEO_EXTENSIONS)}), a folder or a list file"
    )
    return [], (str(path), "", reason)


# -- dataset ------------------------------------------------------------------------------------
class VideoClips(Dataset):
    """Map-style dataset; an item key is `(epoch, index)` so randomness depends on both.

    Item: dict(video float [V, T, 3, S, S] or None, label, id, video_id, error reason or None).
    """

    def __init__(self, records: list[VideoRecord], data_cfg: dict, training: bool, seed: int):
        self.records = records
        self.training = training
        self.seed = seed
        self.transform: VideoTransform = build_transform(data_cfg, training)
        self.sampling = data_cfg.get("sampling", "segment")
        if self.sampling not in ("segment", "dense"):
            raise ConfigError(f"data.sampling must be 'segment' or 'dense', got {self.sampling!r}")
        self.seg_num = int(data_cfg["seg_num"] if training else data_cfg["test_seg_num"])
        self.seglen = int(data_cfg["seglen"] or 1)
        self.clip_len = int(data_cfg["clip_len"])
        self.frame_interval = int(data_cfg["frame_interval"])
        self.num_clips = 1 if training else int(data_cfg["test_num_clips"])
        self.clip_positions = data_cfg.get("test_clip_positions", "centred")
        if self.clip_positions not in CLIP_POSITIONS:
            raise ConfigError(
                f"data.test_clip_positions must be one of {CLIP_POSITIONS}, got {self.clip_positions!r}"
            )
        self.segment_positions = data_cfg.get("test_segment_positions", "centred")
        if self.segment_positions not in SEGMENT_POSITIONS:
            raise ConfigError(
                f"data.test_segment_positions must be one of {SEGMENT_POSITIONS}, "
                f"got {self.segment_positions!r}"
            )

    def __len__(self):
        return len(self.records)

    def frame_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Frame indices `[clips, T]` for one video."""
        if self.sampling == "segment" and not self.training:
            return reference_segment_indices(num_frames, self.seg_num, self.seglen, self.segment_positions)[
                None
            ]
        if self.sampling == "segment":
            return segment_indices(num_frames, self.seg_num, self.seglen, self.training, rng)[None]
        return clip_indices(
            num_frames,
            self.clip_len,
            self.frame_interval,
            self.num_clips,
            self.training,
            rng,
            self.clip_positions,
        )

    @property
    def video_shape(self) -> tuple[int, ...]:
        frames = self.seg_num * self.seglen if self.sampling == "segment" else self.clip_len
        clips = 1 if self.sampling == "segment" else self.num_clips
        return self.transform.output_shape(clips, frames)

    def __getitem__(self, key):
        epoch, index = key
        record = self.records[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        item = {
            "video": None,
            "label": record.label,
            "id": record.path,
            "video_id": record.video_id,
            "error": None,
        }
        try:
            with VideoReader(record.path) as reader:
                indices = self.frame_indices(reader.num_frames, rng)
                frames = reader.read(indices.reshape(-1), size=self.transform.sample_short_side(rng))
                frames = self.transform.fit_frames(frames, (reader.height, reader.width))
            item["video"] = self.transform(frames.reshape(*indices.shape, *frames.shape[1:]), rng)
        except VideoReadError as err:
            item["error"] = err.reason
        return item


def collate_videos(items: list[dict], training: bool, video_shape: tuple[int, ...]) -> dict:
    """Batch dict: training drops unreadable videos (-> skipped); evaluation keeps them as
    zeros with valid=False."""
    if training:
        kept = [item for item in items if item["error"] is None]
    else:
        kept = items
    videos = [item["video"] if item["video"] is not None else torch.zeros(video_shape) for item in kept]
    return {
        "video": torch.stack(videos) if videos else torch.zeros((0, *video_shape)),
        "label": torch.tensor([item["label"] for item in kept], dtype=torch.long),
        "valid": torch.tensor([item["error"] is None for item in kept], dtype=torch.bool),
        "ids": [item["id"] for item in kept],
        "reasons": [item["error"] or "" for item in kept],
        "skipped": [
            (item["id"], item["video_id"], item["error"])
            for item in items
            if training and item["error"] is not None
        ],
        "errors": [(item["id"], item["error"]) for item in items if item["error"] is not None],
    }


class VideoSource:
    """DataSource (docs/ARCHITECTURE.md) over a `VideoClips` data set for one rank."""

    task = TASK

    def __init__(
        self,
        dataset: VideoClips,
        class_names: list[str],
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
        failures: list | None = None,
        decode_pool=None,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if dataset.training and len(dataset) < world_size:
            raise DataError(
                f"{len(dataset)} training video(s) cannot be shared by {world_size} "
                "processes: add videos or start fewer processes"
            )
        self.dataset = dataset
        self.class_names = list(class_names)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.failures = list(failures or [])  # inputs that are not videos (predict)
        self.decode_pool = decode_pool  # a concurrent.futures executor kept by the caller

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's record indices for `epoch`, in order.

        Training: a permutation from (seed, epoch), cut to a multiple of the world size so all
        ranks take the same number of steps. Evaluation: every record exactly once over ranks.
        """
        count = len(self.dataset)
        if self.dataset.training:
            order = np.random.default_rng([self.seed, epoch]).permutation(count)
            order = order[: count - count % self.world_size]
        else:
            order = np.arange(count)
        return order[self.rank :: self.world_size]

    def num_samples(self, epoch: int = 0) -> int:
        return len(self.epoch_indices(epoch))

    def num_batches(self, epoch: int = 0) -> int:
        return -(-self.num_samples(epoch) // self.batch_size)

    def batches(self, epoch: int, start_batch: int = 0):
        order = self.epoch_indices(epoch).tolist()
        keys = [
            [(epoch, index) for index in order[i : i + self.batch_size]]
            for i in range(start_batch * self.batch_size, len(order), self.batch_size)
        ]
        if not keys:
            return
        collate = _Collate(self.dataset.training, self.dataset.video_shape)
        loader: Iterable[dict[str, Any]]
        if sum(map(len, keys)) == 1 and not self.pin_memory:
            # one video: decode it here rather than wait for a worker process to start
            loader = iter([collate([self.dataset[keys[0][0]]])])
        elif self.decode_pool is not None:
            loader = _pooled_batches(self.dataset, keys, collate, self.decode_pool)
        else:
            loader = DataLoader(
                self.dataset,
                batch_sampler=keys,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                worker_init_fn=ignore_stop_signals,
                collate_fn=collate,
            )
        for position, batch in enumerate(loader):
            if position == 0 and start_batch == 0 and self.rank == 0:
                batch["skipped"] = self.failures + batch["skipped"]
            for path, reason in batch.pop("errors"):
                logger.warning(
                    "%s %s: %s", "skipping" if self.dataset.training else "cannot decode", path, reason
                )
            yield batch


def _pooled_batches(dataset: VideoClips, keys: list[list], collate, pool):
    """Batches decoded by ``pool``'s threads (PyAV and the numpy transforms release the GIL),
    in order, the next batches' videos decoding while the caller runs the model on this one."""
    flat = [key for batch_keys in keys for key in batch_keys]
    ahead = 2 * max(len(keys[0]), 2)  # videos in flight: this batch and the next
    futures = [pool.submit(dataset.__getitem__, key) for key in flat[:ahead]]
    submitted, done = len(futures), 0
    try:
        for batch_keys in keys:
            items = [futures[done + i].result() for i in range(len(batch_keys))]
            for i in range(len(batch_keys)):
                futures[done + i] = None  # let finished videos be freed
            done += len(batch_keys)
            while submitted < min(len(flat), done + ahead):
                futures.append(pool.submit(dataset.__getitem__, flat[submitted]))
                submitted += 1
            yield collate(items)
    finally:
        for future in futures:
            if future is not None:
                future.cancel()


@dataclass(frozen=True)
class _Collate:  # a picklable collate_fn for worker processes
    training: bool
    video_shape: tuple

    def __call__(self, items):
        return collate_videos(items, self.training, self.video_shape)


@register_dataset("video")
def build(
    data_cfg: dict,
    split: str,
    *,
    training: bool,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
    decode_pool=None,
) -> VideoSource:
    """The video DataSource of `split` (train/validate/test/predict) for one rank;
    ``decode_pool``: an executor whose threads decode instead of DataLoader workers (the
    Predictor keeps one alive across calls)."""
    cfg = {**DEFAULTS, **(data_cfg or {})}
    try:
        names = resolve_classes(cfg)
    except DataNotFoundError:
        if split != "predict":
            raise
        names = []  # predicting needs no data set: the checkpoint holds the class names
    if training:
        cfg["flip"] = default_flip(cfg)
    elif split != "predict" and int(cfg["test_crops"]) == 10 and not default_flip(cfg):
        logger.warning(
            "data.test_crops=10 adds mirrored views, but data.flip is off for this data "
            "set (left/right matters to its labels); 1 or 3 crops keep them out"
        )
    failures: list[Failure] = []
    if split == "predict":
        records, failures = _predict_split(cfg)
    else:
        records = _split_records(cfg, split, names, training)
    dataset = VideoClips(records, cfg, training=training, seed=seed)
    return VideoSource(
        dataset,
        names,
        batch_size=batch_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
        num_workers=num_workers,
        pin_memory=pin_memory,
        failures=failures,
        decode_pool=decode_pool,
    )


def _predict_split(cfg: dict[str, Any]) -> tuple[list[VideoRecord], list[Failure]]:
    """The records of ``data.inputs`` and the inputs that are not videos; none at all is an error."""
    records, failures = predict_records(cfg.get("inputs"))
    if not records:
        reasons = "; ".join(f"{path}: {why}" for path, _, why in failures[:5])
        raise DataNotFoundError(f"no video to predict in {cfg.get('inputs')!r} ({reasons})")
    return records, failures


def _split_records(cfg: dict[str, Any], split: str, names: list[str], training: bool) -> list[VideoRecord]:
    """The videos of a data set split, logged with the layout and (training) the flip."""
    records = load_records(cfg, split, names)
    unlabelled = sum(record.label < 0 for record in records)
    if training and unlabelled:
        raise DataError(
            f"{unlabelled} of the {len(records)} training videos of split "
            f"'{split}' have no label (a CSV without a 'label' column, or list "
            "lines without a class index); training needs one per video"
        )
    layout = detect_layout(cfg)
    logger.info(
        "%s split of %s (%s layout%s): %d videos, %d classes%s",
        split,
        cfg.get("root") or cfg.get(f"{split}_annotation"),
        layout,
        f", split {cfg['split_id']}" if layout in ("ucf101", "hmdb51") else "",
        len(records),
        len(names),
        f"; horizontal flip {'on' if cfg['flip'] else 'off'}" if training else "",
    )
    return records


def freeze_split(data_cfg: dict, output_dir: Path, *, reuse: bool, write: bool) -> bool:
    """A ``flat`` data set (class folders, no split folders): fix its train / validate split
    in ``output_dir/split.json`` (kept as it is when `reuse`, i.e. resuming; written when
    `write`, the main process) and point ``data.split_file`` at it. False for other layouts."""
    cfg = {**DEFAULTS, **data_cfg}
    if cfg.get("split_file") or not cfg.get("root") or detect_layout(cfg) != "flat":
        return False
    path = (Path(output_dir) / "split.json").resolve()
    if reuse and path.is_file():
        data_cfg["split_file"] = str(path)
        if write:
            logger.info("train / validate split of %s: the run's %s", cfg["root"], path)
        return True
    if write:  # the other processes read what the main one writes
        _write_flat_split(cfg, path)
    data_cfg["split_file"] = str(path)
    return True


def _write_flat_split(cfg: dict[str, Any], path: Path) -> None:
    """Draw the split of a ``flat`` data set, write it to `path` and say so in the log."""
    class_names, split = flat_split(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_split_file(path, class_names, split, float(cfg["val_fraction"]), int(cfg["split_seed"]))
    logger.info(
        "%s has no split folders: %d of its %d videos validate (data.val_fraction=%s "
        "of each class, data.split_seed=%s); split written to %s, which eval and "
        "--resume use",
        cfg["root"],
        len(split["validate"]),
        len(split["train"]) + len(split["validate"]),
        cfg["val_fraction"],
        cfg["split_seed"],
        path,
    )
    lone = sorted(
        {video_id.split("/", 1)[0] for video_id in split["train"]}
        - {video_id.split("/", 1)[0] for video_id in split["validate"]}
    )
    if lone and cfg["val_fraction"] > 0:
        logger.warning(
            "%d class(es) have a single video, which trains and is never validated: %s",
            len(lone),
            ", ".join(lone[:5]),
        )


# -- inputs that are already in memory ------------------------------------------------------------
def preprocessing(data_cfg: dict) -> dict:
    """What a model of this format expects, in words and numbers (model cards, load_model)."""
    cfg = {**DEFAULTS, **data_cfg}
    keys = (
        "sampling",
        "seg_num",
        "test_seg_num",
        "seglen",
        "clip_len",
        "frame_interval",
        "test_num_clips",
        "short_side",
        "crop_size",
        "test_crop_size",
        "test_crops",
        "mean",
        "std",
    )
    return {
        "input": "video [N, T, 3, H, W] float32: RGB frames in time order, (x / 255 - mean) / std",
        **{key: cfg.get(key) for key in keys if key in cfg},
    }


def batch_from_decoded(data_cfg: dict, frames) -> dict:
    """A whole decoded video in memory, uint8 RGB ``[F, H, W, 3]`` (numpy or torch), -> a
    batch of one, sampled and transformed exactly as evaluation reads a file."""
    frames = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or 0 in frames.shape:
        raise DataError(
            f"a decoded video must be uint8 RGB frames [F, H, W, 3] (F, H, W >= 1), "
            f"got {frames.dtype} {list(frames.shape)}"
        )
    clips = VideoClips([], {**DEFAULTS, **data_cfg}, training=False, seed=0)
    indices = clips.frame_indices(len(frames), np.random.default_rng(0))
    source_hw = (frames.shape[1], frames.shape[2])
    short_side = clips.transform.sample_short_side(np.random.default_rng(0))
    picked = resize_frames(frames[indices.reshape(-1)], *short_side_size(*source_hw, short_side))
    picked = clips.transform.fit_frames(picked, source_hw)
    video = clips.transform(picked.reshape(*indices.shape, *picked.shape[1:]))
    return {
        "video": video[None],
        "label": torch.tensor([-1]),
        "valid": torch.tensor([True]),
        "ids": ["decoded"],
        "skipped": [],
    }
