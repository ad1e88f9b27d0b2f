"""YouTube-8M frame-level features read straight from the published TFRecord shards.

``build(...)`` (registered as data format ``youtube8m``) returns a DataSource whose batches are

* ``rgb`` uint8 [B, T, 1024], ``audio`` uint8 [B, T, 128]: the quantized features as stored,
  zero-padded to the longest video of the batch (T <= max_frames). They stay uint8 up to the
  training device (4x fewer bytes than float32), where the task dequantizes them
  (``engine/tasks.py``);
* ``mask`` bool [B, T] (True = real frame); ``labels`` float32 multi-hot [B, C] (zeros in
  test/predict); ``ids`` list[str]; ``skipped`` list[(file, video id, reason)].

Order and coverage: shards are given to ranks balanced by bytes (a seeded shuffle per epoch
in training, then each shard to the rank with the fewest bytes so far); the rank's record
stream (then a seeded shuffle buffer in training) is cut into batches; DataLoader worker w
parses batches k = w, w + W, ... of that same stream, so the batch order depends on (seed,
epoch, rank, world_size) only, every record lands in exactly one batch, and ``start_batch``
skips batches without parsing them.

Speed: a worker checks the CRCs and parses its batches but sends the main process only where
each example's frames lie in its shard (``_LocatedBatch``: a few numbers per example); the main
process copies them from the page cache into the padded batch (pinned memory with
``pin_memory`` and an accelerator), each byte written once. Moving the parsed megabytes
through shared memory instead cost ~10 ms per batch of 32 (fresh shared pages every batch).
Without workers the same two steps run in the main process.

Damage: a bad CRC or a truncated record loses that record only (the reader re-syncs on the
next sound record, ``tfrecord.scan_records``); it is logged with file and byte offset and
counted as skipped. Records that parse but cannot be used (missing field, label outside the
vocabulary) are skipped with file and video id the same way.
"""

from __future__ import annotations

import glob
import heapq
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from videozoo.data import ignore_stop_signals
from videozoo.data.tfrecord import (
    CorruptRecordError,
    Damage,
    count_records,
    map_file,
    scan_located_records,
    scan_records,
)
from videozoo.data.youtube8m_records import (
    AUDIO_SIZE,
    RGB_SIZE,
    FrameExample,
    FrameRows,
    LocatedExample,
    RecordError,
    frames_in,
    locate_frame_example,
    record_feature_extractor,
    record_level,
)
from videozoo.data.youtube8m_vocabulary import read_vocabulary
from videozoo.errors import DataError, DataNotFoundError
from videozoo.fileio import is_special_file
from videozoo.registry import models_of_track, register_dataset

log = logging.getLogger("videozoo.data")

TASK = "multilabel"
MODEL_INPUTS = ("rgb", "audio", "mask")  # the batch keys a model reads, in export order

# Schema and defaults of the config's `data:` section for this format.
DEFAULTS: dict[str, Any] = {
    "format": "youtube8m",
    "root": None,  # folder of shards + vocabulary.csv (None: --data DIR)
    "train_files": "train*.tfrecord",  # globs relative to root
    "validate_files": "validate*.tfrecord",
    "test_files": "test*.tfrecord",
    "inputs": [],  # split "predict": files, folders or globs
    "vocabulary": "vocabulary.csv",  # relative to root; missing -> names "class_<i>"
    "num_classes": None,  # None: the model's num_classes
    "max_frames": 300,  # frames kept per video (the first ones)
    "shuffle_buffer": 1024,  # records, per rank, training only
    "verify_crc": True,  # check the data CRC32C of every record
}

_VIDEO_MAGIC = (b"ftyp", b"\x1a\x45\xdf\xa3", b"RIFF", b"FLV")


def model_input_spec(data_cfg: dict, training: bool) -> dict:
    """``model.default_input`` arguments for a batch of this format (T = max_frames)."""
    return {"num_frames": int(data_cfg.get("max_frames") or 300)}


# --------------------------------------------------------------------------------------------
# Files


def resolve_files(patterns, root: str | None) -> list[str]:
    """Sorted files matching the glob(s) (relative to root when given); a folder means its
    *.tfrecord. A pattern that matches nothing raises DataNotFoundError naming it and the folder."""
    if isinstance(patterns, str):
        patterns = [patterns]
    files = []
    for pattern in patterns:
        full = os.path.join(root, pattern) if root else pattern
        if os.path.isdir(full):
            full = os.path.join(full, "*.tfrecord")
        matched = sorted(p for p in glob.glob(full) if os.path.isfile(p))
        if not matched:
            folder = os.path.dirname(full) or "."
            raise DataNotFoundError(
                f"no files match '{os.path.basename(full)}' in {os.path.abspath(folder)}; "
                "check --data DIR (or data.root) and the data.*_files globs"
            )
        files.extend(matched)
    return list(dict.fromkeys(files))


def _looks_like_video(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(12)
    return any(magic in head for magic in _VIDEO_MAGIC)


def _names(track: str) -> str:
    return ", ".join(models_of_track(track))


def check_frame_level(paths: list[str]) -> None:
    """Raise a clear DataError if these files are not frame-level YouTube-8M TFRecords (a
    video file, another kind of file, or video-level shards)."""
    for path in paths[:8]:
        first = next(scan_records(path, verify=False), None)
        if first is None:
            continue  # empty file
        if isinstance(first, Damage) and first.offset == 0 and first.skipped_bytes == os.path.getsize(path):
            what = (
                "a video file"
                if _looks_like_video(path)
                else "not a TFRecord file (no sound record anywhere in it)"
            )
            raise DataError(
                f"{path}: {what}; the feature models ({_names('youtube8m')}) read "
                f"YouTube-8M TFRecord shards. Use a video model ({_names('video')}) "
                "for videos, or `videozoo extract` to turn videos into features"
            )
        if isinstance(first, Damage):
            continue  # a damaged start: reported (and skipped) by the reader later
        level = record_level(first)
        if level == "frame":
            return
        found = (
            "video-level records (tf.train.Example with mean_rgb/mean_audio)"
            if level == "video"
            else "records that are neither frame- nor video-level YouTube-8M examples"
        )
        raise DataError(
            f"{path}: holds {found}; this model needs frame-level records "
            "(tf.train.SequenceExample with 'rgb' and 'audio' feature lists). "
            "Use the frame-level shards of YouTube-8M (or `videozoo extract`)."
        )


_WARNED_PROVENANCE: set[str] = set()


def warn_if_not_youtube8m_features(paths: list[str]) -> None:
    """Warn once per process when the first record says its features were not made as
    YouTube-8M's (``videozoo extract --features resnet50``): the published YouTube-8M weights
    (and any model trained on Google's features) give meaningless scores on them. Records
    without provenance (Google's own shards) pass silently."""
    for path in paths[:1]:
        first = next(scan_records(path, verify=False), None)
        if first is None or isinstance(first, Damage):
            return
        extractor = record_feature_extractor(bytes(first))
        if extractor and extractor != "youtube8m" and extractor not in _WARNED_PROVENANCE:
            _WARNED_PROVENANCE.add(extractor)
            log.warning(
                "%s: these features were made by `videozoo extract --features %s`, not "
                "as YouTube-8M's (Inception-v3 + Google's PCA): models trained on "
                "YouTube-8M, every published weight among them, give meaningless "
                "scores on them. Fine if this model was trained on features from the "
                "same extractor; else extract with --features youtube8m",
                path,
                extractor,
            )


# --------------------------------------------------------------------------------------------
# The DataSource


class _Batch(NamedTuple):
    records: list[tuple[str, int, memoryview]]  # (file, offset of the record in it, the record:
    skipped: list[tuple[str, str, str]]  #  a view of the mapped file)


class _LocatedBatch(NamedTuple):
    """A parsed batch as a DataLoader worker sends it: where each example's frames lie in its
    shard (a few numbers per example), not the frames: the main process copies them from the
    page cache straight into the batch tensors (pinned when asked), which costs far less than
    moving megabytes through shared memory."""

    files: list[str]  # the shard of each example
    examples: list[LocatedExample]  # frame rows as offsets in that shard
    skipped: list[tuple[str, str, str]]

    def __reduce__(self):
        # Sent as plain tuples: pickling ~100 named tuples and small arrays per batch took
        # over a millisecond, the plain tuples take ~20 us.
        examples = [
            (
                e.video_id,
                None if e.labels is None else e.labels.tolist(),
                _plain(e.rgb),
                _plain(e.audio),
                e.num_frames,
            )
            for e in self.examples
        ]
        return _located_batch, (self.files, examples, self.skipped)


def _plain(frames: FrameRows | np.ndarray) -> tuple | np.ndarray:
    return tuple(frames) if isinstance(frames, FrameRows) else frames


def _located_batch(files: list[str], examples: list[tuple], skipped: list) -> _LocatedBatch:
    """A ``_LocatedBatch`` from what its ``__reduce__`` sent."""

    def frames(sent):
        return FrameRows(*sent) if isinstance(sent, tuple) else sent

    return _LocatedBatch(
        files,
        [
            LocatedExample(
                video_id,
                None if labels is None else np.array(labels, np.int64),
                frames(rgb),
                frames(audio),
                num_frames,
            )
            for video_id, labels, rgb, audio, num_frames in examples
        ],
        skipped,
    )


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def balanced_assignment(sizes: list[int], world_size: int) -> list[list[int]]:
    """Indices of ``sizes`` per rank: each item, in the given order, goes to the rank with the
    smallest total so far (ties: the lowest rank). Deterministic."""
    heap = [(0, rank) for rank in range(world_size)]
    parts: list[list[int]] = [[] for _ in range(world_size)]
    for index, size in enumerate(sizes):
        total, rank = heapq.heappop(heap)
        parts[rank].append(index)
        heapq.heappush(heap, (total + size, rank))
    return parts


class YouTube8MSource:
    """Batches of frame-level YouTube-8M records for one rank (see the module docstring)."""

    task = TASK

    def __init__(
        self,
        files: list[str],
        class_names: list[str],
        split: str,
        *,
        training: bool,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        max_frames: int = 300,
        shuffle_buffer: int = 1024,
        verify_crc: bool = True,
        pin_memory: bool = False,
        failures: list | None = None,
    ):
        self.files = files
        self.failures = list(failures or [])  # predict inputs that are not usable shards
        self.class_names = class_names
        self.num_classes = len(class_names)
        self.training = training
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.max_frames = max_frames
        self.shuffle_buffer = shuffle_buffer if training else 0
        self.verify_crc = verify_crc
        self.use_labels = split in ("train", "validate")
        self._record_counts: dict[str, int] = {}

    # ---- the record stream of this rank

    def _shard_plan(self, epoch: int) -> list[tuple[str, int, int]]:
        """(file, part, parts) read by this rank: records whose index % parts == part."""
        files = list(self.files)
        if self.training:
            _rng(self.seed, epoch).shuffle(files)  # same on every rank
        if len(files) >= self.world_size:
            sizes = [os.path.getsize(path) for path in files]
            mine = balanced_assignment(sizes, self.world_size)[self.rank]
            return [(files[i], 0, 1) for i in mine]
        # Fewer files than ranks: every rank reads every file and keeps every world_size-th record.
        return [(path, self.rank, self.world_size) for path in files]

    def _records(self, epoch: int) -> Iterator[tuple[str, tuple[int, memoryview] | None, str]]:
        """(file, (offset, record), "") per record of this rank, or (file, None, reason) for a
        damaged stretch of a shard (reported once, by the rank that reads the file or part 0)."""
        for path, part, parts in self._shard_plan(epoch):
            index = 0
            try:
                for item in scan_located_records(path, verify=self.verify_crc):
                    if isinstance(item, Damage):
                        if part == 0:
                            log.warning(
                                "%s: damaged at byte %d (%s); skipped %d bytes to the next sound record",
                                path,
                                item.offset,
                                item.reason,
                                item.skipped_bytes,
                            )
                            yield (
                                path,
                                None,
                                (f"{item.reason} at byte {item.offset}: {item.skipped_bytes} bytes skipped"),
                            )
                        continue
                    if index % parts == part:
                        yield path, item, ""
                    index += 1
            except OSError as err:
                if part == 0:
                    log.warning("%s: cannot be read (%s); skipping the file", path, err)
                    yield path, None, f"unreadable: {err}"

    def _shuffled(self, stream: Iterator, epoch: int) -> Iterator:
        if self.shuffle_buffer <= 1:
            yield from stream
            return
        rng = _rng(self.seed, epoch, self.rank, self.world_size)
        buffer: list[Any] = []
        for item in stream:
            if item[1] is None:  # damage notices pass straight through
                yield item
            elif len(buffer) < self.shuffle_buffer:
                buffer.append(item)
            else:
                j = int(rng.integers(len(buffer)))
                yield buffer[j]
                buffer[j] = item
        rng.shuffle(buffer)
        yield from buffer

    def _raw_batches(self, epoch: int) -> Iterator[_Batch]:
        """The rank's batches, unparsed; a pure function of (seed, epoch, rank, world_size)."""
        batch = _Batch([], list(self.failures) if self.rank == 0 else [])
        for path, record, reason in self._shuffled(self._records(epoch), epoch):
            if record is None:
                batch.skipped.append((path, "", reason))
                continue
            batch.records.append((path, *record))
            if len(batch.records) == self.batch_size:
                yield batch
                batch = _Batch([], [])
        if self.training:
            batch.records.clear()  # drop the last partial batch in training (BatchNorm, even steps)
        if batch.records or batch.skipped:
            yield batch

    # ---- parsing (in a worker), then the batch tensors (in the main process)

    def _locate(self, record, offset: int) -> LocatedExample:
        # Frame rows as offsets in the shard, so that another process can find them.
        example = locate_frame_example(record, self.max_frames, offset)
        if self.use_labels:
            if example.labels is None:
                raise RecordError("no 'labels' in the context (test shards are unlabeled)", example.video_id)
            outside = [label for label in example.labels.tolist() if not 0 <= label < self.num_classes]
            if outside:
                raise RecordError(
                    f"label {outside[0]} outside the vocabulary (num_classes {self.num_classes})",
                    example.video_id,
                )
        return example

    def locate(self, raw: _Batch) -> _LocatedBatch:
        """Parse a batch's records; unusable ones are logged and listed as skipped."""
        files, examples, skipped = [], [], list(raw.skipped)
        for path, offset, record in raw.records:
            try:
                examples.append(self._locate(record, offset))
                files.append(path)
            except RecordError as err:
                log.warning("%s: skipping video '%s': %s", path, err.video_id, err.reason)
                skipped.append((path, err.video_id, err.reason))
        return _LocatedBatch(files, examples, skipped)

    def assemble(self, located: _LocatedBatch) -> dict:
        """The batch dict of a located batch: frames copied from the shards' maps."""
        maps = {path: map_file(path) for path in set(located.files)}
        examples = [
            FrameExample(e.video_id, e.labels, frames_in(maps[path], e.rgb), frames_in(maps[path], e.audio))
            for path, e in zip(located.files, located.examples)
        ]
        return collate_examples(
            examples, self.num_classes, self.use_labels, located.skipped, pin_memory=self.pin_memory
        )

    # ---- DataSource interface

    def num_samples(self, epoch: int) -> int | None:
        """Records this rank is given in ``epoch`` (exact for up to 64 files; beyond, an
        estimate from file sizes: counting needs a seek per record)."""
        plan = self._shard_plan(epoch)
        try:
            for path, _, _ in plan[:64]:
                if path not in self._record_counts:
                    self._record_counts[path] = count_records(path)
            counted = [path for path, _, _ in plan if path in self._record_counts]
            bytes_per_record = sum(os.path.getsize(p) for p in counted) / max(
                1, sum(self._record_counts[p] for p in counted)
            )
            records = 0
            for path, part, parts in plan:
                count = self._record_counts.get(path)
                if count is None:
                    count = round(os.path.getsize(path) / max(bytes_per_record, 1.0))
                records += (count - part + parts - 1) // parts
        except (CorruptRecordError, OSError):
            return None
        return records

    def num_batches(self, epoch: int) -> int | None:
        records = self.num_samples(epoch)
        if records is None:
            return None
        full, rest = divmod(records, self.batch_size)
        return full + (1 if rest and not self.training else 0)

    def batches(self, epoch: int, start_batch: int = 0) -> Iterable[dict]:
        """This rank's batches of `epoch`, from batch `start_batch` on (earlier batches are framed
        and shuffled but not parsed; skips they held were reported when they were first read)."""
        stream = _BatchStream(self, epoch, start_batch)
        if self.num_workers <= 0:
            return map(self.assemble, stream)
        loader = torch.utils.data.DataLoader(
            stream,
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=_as_sent,
            worker_init_fn=ignore_stop_signals,
        )
        return map(self.assemble, loader)


def _as_sent(located: Any) -> Any:
    """A worker's ``_LocatedBatch`` as it is (``batch_size=None``: items come one by one). The
    DataLoader's default would turn numpy arrays into tensors (moved through shared memory)."""
    return located


class _BatchStream(torch.utils.data.IterableDataset):
    """Worker w of W locates batches start_batch + w, + W, ...; the DataLoader's round-robin
    over workers then returns them in stream order."""

    def __init__(self, source: YouTube8MSource, epoch: int, start_batch: int):
        self.source, self.epoch, self.start_batch = source, epoch, start_batch

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for index, raw in enumerate(self.source._raw_batches(self.epoch)):
            position = index - self.start_batch
            if position >= 0 and position % workers == worker:
                yield self.source.locate(raw)


def collate_examples(
    examples: list[FrameExample],
    num_classes: int,
    use_labels: bool = True,
    skipped: list | None = None,
    pin_memory: bool = False,
) -> dict:
    """Pad examples into a batch dict of uint8 features (see the module docstring); with
    ``pin_memory`` (and an accelerator) the tensors are allocated pinned and written once."""
    pin = pin_memory and _accelerator_available()
    lengths = np.array([len(e.rgb) for e in examples], np.int64)
    length = int(lengths.max(initial=0))
    batch_size = len(examples)
    rgb = _empty((batch_size, length, RGB_SIZE), torch.uint8, pin)
    audio = _empty((batch_size, length, AUDIO_SIZE), torch.uint8, pin)
    for i, (example, count) in enumerate(zip(examples, lengths.tolist())):
        rgb[i, :count] = example.rgb
        rgb[i, count:] = 0
        audio[i, :count] = example.audio
        audio[i, count:] = 0
    mask = _empty((batch_size, length), torch.bool, pin)
    np.less(np.arange(length), lengths[:, None], out=mask)
    labels = _empty((batch_size, num_classes), torch.float32, pin)
    labels[...] = 0
    rows = [(i, e.labels) for i, e in enumerate(examples) if use_labels and e.labels is not None]
    if rows:
        labels[
            np.repeat([i for i, _ in rows], [len(ls) for _, ls in rows]),
            np.concatenate([ls for _, ls in rows]),
        ] = 1.0
    return {
        "rgb": torch.from_numpy(rgb),
        "audio": torch.from_numpy(audio),
        "mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(labels),
        "ids": [e.video_id for e in examples],
        "skipped": list(skipped or []),
    }


def _empty(shape: tuple[int, ...], dtype: torch.dtype, pin: bool) -> np.ndarray:
    """An uninitialised array; pinned memory when ``pin``. Unpinned ones come from numpy: its
    allocations reuse freed memory, while torch.empty maps fresh pages for each large batch
    (a page fault per 4 KB)."""
    if pin:
        return torch.empty(shape, dtype=dtype, pin_memory=True).numpy()
    return np.empty(shape, torch.empty(0, dtype=dtype).numpy().dtype)


def _accelerator_available() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    return bool(accelerator.is_available()) if accelerator else torch.cuda.is_available()


@register_dataset("youtube8m")
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
) -> YouTube8MSource:
    """The DataSource of one split (train / validate / test / predict) for this rank."""
    cfg = {**DEFAULTS, **data_cfg}
    root = cfg["root"]
    failures: list[tuple[str, str, str]] = []
    if split == "predict":
        if not cfg["inputs"]:
            raise DataError("nothing to predict: give feature files, folders or globs")
        files, failures = _predict_files(cfg["inputs"])
    elif split in ("train", "validate", "test"):
        if not root:
            raise DataError("no YouTube-8M folder: pass --data DIR (or set data.root)")
        if not os.path.isdir(root):
            raise DataNotFoundError(f"YouTube-8M folder {root} does not exist (--data / data.root)")
        files = resolve_files(cfg[f"{split}_files"], root)
    else:
        raise DataError(f"unknown split '{split}'; expected train, validate, test or predict")
    if split != "predict":
        check_frame_level(files)
    if split == "predict":  # eval calls it from api.evaluate; training's validation does not
        warn_if_not_youtube8m_features(files)
    vocabulary = os.path.join(root, cfg["vocabulary"]) if root and cfg["vocabulary"] else None
    class_names = read_vocabulary(vocabulary, cfg["num_classes"])
    return YouTube8MSource(
        files,
        class_names,
        split,
        training=training,
        batch_size=batch_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
        num_workers=num_workers,
        max_frames=cfg["max_frames"],
        shuffle_buffer=cfg["shuffle_buffer"],
        verify_crc=cfg["verify_crc"],
        pin_memory=pin_memory,
        failures=failures,
    )


def _predict_files(inputs) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Shards to predict, and the inputs that are not usable shards as failures
    ``(path, "", reason)``; the others go on. All unusable: a DataError."""
    files, failures = [], []
    for item in [inputs] if isinstance(inputs, str) else inputs:
        try:
            matched = resolve_files(item, None)
        except DataNotFoundError:
            why = (
                "not a regular file (a FIFO, device or socket): not opened"
                if is_special_file(item)
                else "no such file (or the pattern matches none)"
            )
            failures.append((str(item), "", why))
            continue
        for path in matched:
            try:
                check_frame_level([path])
                files.append(path)
            except (DataError, OSError) as err:
                failures.append((path, "", str(err).removeprefix(f"{path}: ")))
    if not files:
        raise DataError(
            "no usable TFRecord shard among the inputs: "
            + "; ".join(f"{p}: {why}" for p, _, why in failures[:3])
        )
    return list(dict.fromkeys(files)), failures


# --------------------------------------------------------------------------------------------
# Inputs that are already in memory


def preprocessing(data_cfg: dict) -> dict:
    """What a model of this format expects, in words and numbers (model cards, load_model)."""
    return {
        "input": "YouTube-8M frame features, one row per second: rgb uint8 [T, 1024] and "
        "audio uint8 [T, 128] (or float32, already dequantized), mask bool [T]",
        "dequantize": "x * 4/255 + (4/512 - 2)",
        "max_frames": int(data_cfg.get("max_frames") or DEFAULTS["max_frames"]),
    }


def batch_from_decoded(data_cfg: dict, features: dict) -> dict:
    """One video's features in memory, ``{"rgb": [T, 1024], "audio": [T, 128]}`` (uint8 as
    stored, or float already dequantized), -> a batch of one."""
    if not isinstance(features, dict) or not {"rgb", "audio"} <= set(features):
        raise DataError("a feature model takes {'rgb': [T, 1024], 'audio': [T, 128]} per video")
    rgb, audio = (torch.as_tensor(np.asarray(features[k])) for k in ("rgb", "audio"))
    if (
        rgb.dim() != 2
        or audio.dim() != 2
        or len(rgb) != len(audio)
        or len(rgb) == 0
        or rgb.shape[1] != RGB_SIZE
        or audio.shape[1] != AUDIO_SIZE
    ):
        raise DataError(
            f"rgb and audio must be [T, {RGB_SIZE}] and [T, {AUDIO_SIZE}] with the "
            f"same T >= 1, got {list(rgb.shape)} and {list(audio.shape)}"
        )
    for name, values in (("rgb", rgb), ("audio", audio)):
        if values.is_floating_point() and not bool(torch.isfinite(values).all()):
            raise DataError(f"{name} holds NaN/Inf values; features must be finite")
        if not (values.is_floating_point() or values.dtype == torch.uint8):
            raise DataError(f"{name} must be uint8 (as stored) or float, got {values.dtype}")
    length = min(len(rgb), int(data_cfg.get("max_frames") or DEFAULTS["max_frames"]))
    return {
        "rgb": rgb[None, :length],
        "audio": audio[None, :length],
        "mask": torch.ones(1, length, dtype=torch.bool),
        "ids": ["decoded"],
        "skipped": [],
    }
