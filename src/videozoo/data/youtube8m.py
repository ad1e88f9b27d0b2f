"""YouTube-8M frame-level features read straight from the published TFRecord shards.

Records (TensorFlow's ``example.proto`` / ``feature.proto``, rebuilt here without TensorFlow):

* frame-level ``tf.train.SequenceExample``: context ``id`` (2017: ``video_id``) and ``labels``;
  feature lists ``rgb`` (one 1024-byte uint8 value per second) and ``audio`` (128 bytes).
* video-level ``tf.train.Example``: ``id``, ``labels``, ``mean_rgb`` [1024], ``mean_audio`` [128].
  Recognised only to tell the user they gave the wrong kind of shards.

``build(...)`` (registered as data format ``youtube8m``) returns a DataSource whose batches are

* ``rgb`` float32 [B, T, 1024], ``audio`` float32 [B, T, 128]: dequantized, zero-padded to the
  longest video of the batch (T <= max_frames);
* ``mask`` bool [B, T] (True = real frame); ``labels`` float32 multi-hot [B, C] (zeros in
  test/predict); ``ids`` list[str]; ``skipped`` list[(file, video id, reason)].

Order and coverage: the rank's record stream (its shards, shuffled per epoch in training, then
a seeded shuffle buffer) is cut into batches; DataLoader worker w parses batches
k = w, w + W, ... of that same stream, so the batch order depends on (seed, epoch, rank,
world_size) only, every record lands in exactly one batch, and ``start_batch`` skips batches
without parsing them.
"""
from __future__ import annotations

import csv
import glob
import logging
import os
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from videozoo.data.tfrecord import CorruptRecordError, count_records, iter_records
from videozoo.registry import register_dataset

log = logging.getLogger("videozoo.data")

RGB_SIZE = 1024
AUDIO_SIZE = 128
VOCABULARY_COLUMNS = ["Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl",
                      "Vertical1", "Vertical2", "Vertical3", "WikiDescription"]

# Schema and defaults of the config's `data:` section for this format.
DEFAULTS = {
    "format": "youtube8m",
    "root": None,                          # folder of shards + vocabulary.csv (None: --data DIR)
    "train_files": "train*.tfrecord",      # globs relative to root
    "validate_files": "validate*.tfrecord",
    "test_files": "test*.tfrecord",
    "inputs": [],                          # split "predict": files, folders or globs
    "vocabulary": "vocabulary.csv",        # relative to root; missing -> names "class_<i>"
    "num_classes": None,                   # None: taken from the model config / vocabulary
    "max_frames": 300,                     # frames kept per video (the first ones)
    "shuffle_buffer": 1024,                # records, per rank, training only
    "verify_crc": True,                    # check the data CRC32C of every record
}


# --------------------------------------------------------------------------------------------
# tf.train.Example / SequenceExample message classes, built from descriptors (no TensorFlow).
# Field numbers follow tensorflow/core/example/{feature,example}.proto so real files parse.

def _build_message_classes() -> dict:
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="videozoo/tensorflow_example.proto", package="tensorflow", syntax="proto3")

    def field(name, number, type_, repeated=False, message=None, oneof=None):
        f = F(name=name, number=number, type=type_,
              label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
        if message:
            f.type_name = f".tensorflow.{message}"
        if oneof is not None:
            f.oneof_index = oneof
        return f

    def message(name, *fields):
        m = proto.message_type.add(name=name)
        m.field.extend(fields)
        return m

    def string_map(name, field_name, entry_name, value):
        m = proto.message_type.add(name=name)
        entry = m.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.extend([field("key", 1, F.TYPE_STRING),
                            field("value", 2, F.TYPE_MESSAGE, message=value)])
        m.field.append(field(field_name, 1, F.TYPE_MESSAGE, True, f"{name}.{entry_name}"))

    message("BytesList", field("value", 1, F.TYPE_BYTES, True))
    message("FloatList", field("value", 1, F.TYPE_FLOAT, True))
    message("Int64List", field("value", 1, F.TYPE_INT64, True))
    feature = message("Feature",
                      field("bytes_list", 1, F.TYPE_MESSAGE, message="BytesList", oneof=0),
                      field("float_list", 2, F.TYPE_MESSAGE, message="FloatList", oneof=0),
                      field("int64_list", 3, F.TYPE_MESSAGE, message="Int64List", oneof=0))
    feature.oneof_decl.add(name="kind")
    string_map("Features", "feature", "FeatureEntry", "Feature")
    message("FeatureList", field("feature", 1, F.TYPE_MESSAGE, True, "Feature"))
    string_map("FeatureLists", "feature_list", "FeatureListEntry", "FeatureList")
    message("Example", field("features", 1, F.TYPE_MESSAGE, message="Features"))
    message("SequenceExample", field("context", 1, F.TYPE_MESSAGE, message="Features"),
            field("feature_lists", 2, F.TYPE_MESSAGE, message="FeatureLists"))

    # A private pool: no clash with TensorFlow's own classes if it is imported too.
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{m.name}"))
            for m in proto.message_type}


_MESSAGES = _build_message_classes()
BytesList, FloatList, Int64List = _MESSAGES["BytesList"], _MESSAGES["FloatList"], _MESSAGES["Int64List"]
Feature, Features = _MESSAGES["Feature"], _MESSAGES["Features"]
FeatureList, FeatureLists = _MESSAGES["FeatureList"], _MESSAGES["FeatureLists"]
Example, SequenceExample = _MESSAGES["Example"], _MESSAGES["SequenceExample"]


# --------------------------------------------------------------------------------------------
# Dequantization

_DEQUANTIZE_SCALE = np.float32(4.0 / 255.0)
_DEQUANTIZE_BIAS = np.float32(4.0 / 512.0 - 2.0)


def _dequantize_into(out: np.ndarray, x: np.ndarray) -> None:
    # Convert, then scale and shift in place: numpy vectorises these (a lookup table does not).
    out[...] = x
    np.multiply(out, _DEQUANTIZE_SCALE, out=out)
    np.add(out, _DEQUANTIZE_BIAS, out=out)


def dequantize(x):
    """uint8 features -> float32 in [-2, 2]: ``x * 4/255 + (4/512 - 2)`` (0 -> -1.992, 255 -> 2.008).

    The official formula (Google's starter code), used for rgb and audio alike. PaddleVideo's
    NeXtVLAD uses ``x * 4/255 - 2`` for rgb (no +4/512 offset); we do not copy that.
    Accepts a numpy array or a torch tensor; returns the same kind.
    """
    if isinstance(x, torch.Tensor):
        return x.to(torch.float32) * float(_DEQUANTIZE_SCALE) + float(_DEQUANTIZE_BIAS)
    x = np.asarray(x)
    out = np.empty(x.shape, np.float32)
    _dequantize_into(out, x)
    return out


def quantize(x) -> np.ndarray:
    """float features -> uint8, the inverse of ``dequantize`` (values clipped to [-2, 2])."""
    q = np.rint((np.asarray(x, dtype=np.float32) - _DEQUANTIZE_BIAS) / _DEQUANTIZE_SCALE)
    return np.clip(q, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Protobuf wire format: just enough to find the feature lists without a message per frame

def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _wire_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _length_delimited_fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field of the message in buf[start:end]."""
    pos = start
    while pos < end:
        key, pos = _read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise RecordError("malformed protobuf (field runs past its message)")
            yield key >> 3, pos, pos + length
            pos += length
        elif wire_type == 0:
            _, pos = _read_varint(buf, pos)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise RecordError(f"malformed protobuf (wire type {wire_type})")


def _frame_prefix(size: int) -> bytes:
    # Wire bytes before the data of one frame inside a FeatureList: Feature tag+length,
    # BytesList tag+length, value tag+length (all field 1, length-delimited).
    prefix, length = b"", size
    for _ in range(3):
        prefix = b"\x0a" + _encode_varint(length) + prefix
        length = size + len(prefix)
    return prefix


_FRAME_PREFIX = {size: np.frombuffer(_frame_prefix(size), np.uint8) for size in (RGB_SIZE, AUDIO_SIZE)}


# --------------------------------------------------------------------------------------------
# Record encoding

def _context(features, video_id: str, labels) -> None:
    features.feature["id"].bytes_list.value.append(video_id.encode())
    if labels is not None:  # test shards carry no labels at all
        features.feature["labels"].int64_list.SetInParent()
        features.feature["labels"].int64_list.value.extend(int(label) for label in labels)


def encode_frame_example(video_id: str, labels, rgb: np.ndarray, audio: np.ndarray) -> bytes:
    """A frame-level SequenceExample. rgb uint8 [T, 1024], audio uint8 [T, 128]; labels None = unlabeled."""
    context = Features()
    _context(context, video_id, labels)
    lists = []
    for name, frames, size in (("rgb", rgb, RGB_SIZE), ("audio", audio, AUDIO_SIZE)):
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.ndim != 2 or frames.shape[1] != size:
            raise ValueError(f"{name} must be uint8 [T, {size}], got shape {frames.shape}")
        # The FeatureList written directly (what a protobuf serializer emits, without building
        # one message per frame): each frame is its wire prefix followed by its bytes.
        prefix = np.broadcast_to(_FRAME_PREFIX[size], (len(frames), len(_FRAME_PREFIX[size])))
        feature_list = np.concatenate([prefix, frames], axis=1).tobytes()
        lists.append(_wire_field(1, _wire_field(1, name.encode()) + _wire_field(2, feature_list)))
    return _wire_field(1, context.SerializeToString()) + _wire_field(2, b"".join(lists))


def encode_video_example(video_id: str, labels, mean_rgb, mean_audio) -> bytes:
    """A video-level Example: mean_rgb float [1024], mean_audio float [128]; labels None = unlabeled."""
    example = Example()
    _context(example.features, video_id, labels)
    feature = example.features.feature
    feature["mean_rgb"].float_list.value.extend(np.asarray(mean_rgb, np.float32).ravel().tolist())
    feature["mean_audio"].float_list.value.extend(np.asarray(mean_audio, np.float32).ravel().tolist())
    return example.SerializeToString()


# --------------------------------------------------------------------------------------------
# Record parsing

class RecordError(ValueError):
    """A record that cannot be used (missing field, wrong size, wrong kind): skipped, not fatal."""

    def __init__(self, reason: str, video_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.video_id = video_id


class FrameExample(NamedTuple):
    video_id: str
    labels: np.ndarray | None   # int64 [L]; None when the record has no labels (test shards)
    rgb: np.ndarray      # uint8 [T, 1024]
    audio: np.ndarray    # uint8 [T, 128]


def _split_sequence_example(record) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Context bytes and {feature list name: (start, end) in record} of a serialized
    SequenceExample (bytes or memoryview)."""
    context = b""
    lists = {}
    try:
        for number, start, end in _length_delimited_fields(record, 0, len(record)):
            if number == 1:
                context = record[start:end]
            elif number == 2:
                for _, entry_start, entry_end in _length_delimited_fields(record, start, end):
                    # A map entry: key (field 1, the list's name), value (field 2, the FeatureList).
                    name, span = "", (0, 0)
                    for part, a, b in _length_delimited_fields(record, entry_start, entry_end):
                        if part == 1:
                            name = str(record[a:b], "utf-8", "replace")
                        elif part == 2:
                            span = (a, b)
                    lists[name] = span
    except IndexError:
        raise RecordError("malformed protobuf (record ends inside a field)") from None
    return context, lists


def _frames(record: bytes, span: tuple[int, int], size: int, max_frames: int) -> np.ndarray | None:
    """uint8 [T, size] view of a FeatureList of one-value byte features, or None if malformed."""
    start, end = span
    prefix = _FRAME_PREFIX[size]
    stride = len(prefix) + size
    # Fast path: the published shards encode every frame identically, so the list is a
    # [T, stride] byte matrix; check every frame's prefix bytes, then take a strided view.
    if (end - start) % stride == 0:
        matrix = np.frombuffer(record, np.uint8, end - start, start).reshape(-1, stride)
        if (matrix[:max_frames, :len(prefix)] == prefix).all():
            return matrix[:max_frames, len(prefix):]
    # Anything else (other encoders' choices): the protobuf parser.
    try:
        features = FeatureList.FromString(record[start:end]).feature[:max_frames]
    except Exception:
        return None
    values = [f.bytes_list.value for f in features]
    if any(len(v) != 1 for v in values):
        return None
    data = b"".join(v[0] for v in values)
    if len(data) != len(values) * size:
        return None
    return np.frombuffer(data, np.uint8).reshape(-1, size)


def _context_value(context, names: tuple[str, ...], kind: str):
    for name in names:
        if name in context.feature:
            return getattr(context.feature[name], kind).value
    return None


def parse_frame_example(record, max_frames: int = 300) -> FrameExample:
    """Decode one frame-level record (bytes or memoryview), keeping its first ``max_frames`` frames.

    rgb and audio are views into ``record`` (no copy).

    Raises ``RecordError`` (with the video id when known) for a record that cannot be used.
    """
    context_bytes, lists = _split_sequence_example(record)
    try:
        context = Features.FromString(context_bytes)
    except Exception:
        raise RecordError("malformed context") from None
    ids = _context_value(context, ("id", "video_id"), "bytes_list")
    video_id = ids[0].decode("utf-8", "replace") if ids else ""
    if not ids:
        raise RecordError("no 'id' (or 'video_id') in the context")
    labels = _context_value(context, ("labels",), "int64_list")
    if "rgb" not in lists and "mean_rgb" in context.feature:
        raise RecordError("video-level record (mean_rgb) where a frame-level one is needed", video_id)
    frames = {}
    for name, size in (("rgb", RGB_SIZE), ("audio", AUDIO_SIZE)):
        if name not in lists:
            raise RecordError(f"no '{name}' feature list", video_id)
        frames[name] = _frames(record, lists[name], size, max_frames)
        if frames[name] is None:
            raise RecordError(f"'{name}' frames are not single {size}-byte values", video_id)
    num_frames = min(len(frames["rgb"]), len(frames["audio"]))
    if num_frames == 0:
        raise RecordError("no frames", video_id)
    return FrameExample(video_id, None if labels is None else np.array(labels, dtype=np.int64),
                        frames["rgb"][:num_frames], frames["audio"][:num_frames])


def record_level(record: bytes) -> str:
    """``"frame"`` (SequenceExample with rgb/audio lists), ``"video"`` (Example with
    mean_rgb/mean_audio) or ``"unknown"``."""
    try:
        context_bytes, lists = _split_sequence_example(record)
        if "rgb" in lists or "audio" in lists:
            return "frame"
        # An Example's field 1 (features) reads as a SequenceExample's context.
        features = Features.FromString(context_bytes).feature
    except Exception:
        return "unknown"
    return "video" if "mean_rgb" in features or "mean_audio" in features else "unknown"


def check_frame_level(paths: list[str]) -> None:
    """Raise a clear ValueError if the first readable record of these shards is not frame-level."""
    for path in paths[:8]:
        try:
            record = next(iter_records(path, verify=False), None)
        except (OSError, CorruptRecordError):
            continue  # reported (and skipped) by the reader later
        if record is None:
            continue
        level = record_level(record)
        if level == "frame":
            return
        found = ("video-level records (tf.train.Example with mean_rgb/mean_audio)" if level == "video"
                 else "records that are neither frame- nor video-level YouTube-8M examples")
        raise ValueError(
            f"{path}: holds {found}; this model needs frame-level records "
            "(tf.train.SequenceExample with 'rgb' and 'audio' feature lists). "
            "Use the frame-level shards of YouTube-8M (or `videozoo` feature extraction).")


# --------------------------------------------------------------------------------------------
# Files, vocabulary

def resolve_files(patterns, root: str | None) -> list[str]:
    """Sorted files matching the glob(s) (relative to root when given); a folder means its
    *.tfrecord. A pattern that matches nothing raises FileNotFoundError naming it and the folder."""
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
            raise FileNotFoundError(
                f"no files match '{os.path.basename(full)}' in {os.path.abspath(folder)}; "
                "check --data DIR (or data.root) and the data.*_files globs")
        files.extend(matched)
    return list(dict.fromkeys(files))


def read_vocabulary(path: str | None, num_classes: int | None) -> list[str]:
    """Class names by index from vocabulary.csv (columns Index and Name); "class_<i>" where absent.

    num_classes None: as many classes as the vocabulary has (max Index + 1).
    """
    names: dict[int, str] = {}
    if path and os.path.isfile(path):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"Index", "Name"} <= set(reader.fieldnames or []):
                raise ValueError(f"{path}: a vocabulary needs the columns Index and Name "
                                 f"(official: {','.join(VOCABULARY_COLUMNS)})")
            for row in reader:
                names[int(row["Index"])] = row["Name"]
    if num_classes is None:
        if not names:
            raise ValueError(f"the number of classes is unknown: no vocabulary at {path}; "
                             "set data.num_classes (or model.num_classes)")
        num_classes = max(names) + 1
    return [names.get(i) or f"class_{i}" for i in range(num_classes)]


# --------------------------------------------------------------------------------------------
# The DataSource

class _Batch(NamedTuple):
    records: list[tuple[str, memoryview]]   # (file, serialized record: a view of the mapped file)
    skipped: list[tuple[str, str, str]]


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


class YouTube8MSource:
    """Batches of frame-level YouTube-8M records for one rank (see the module docstring)."""

    task = "multilabel"

    def __init__(self, files: list[str], class_names: list[str], split: str, *, training: bool,
                 batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 num_workers: int = 0, max_frames: int = 300, shuffle_buffer: int = 1024,
                 verify_crc: bool = True, pin_memory: bool = False):
        self.files = files
        self.class_names = class_names
        self.num_classes = len(class_names)
        self.split = split
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
            return [(path, 0, 1) for path in files[self.rank::self.world_size]]
        # Fewer files than ranks: every rank reads every file and keeps every world_size-th record.
        return [(path, self.rank, self.world_size) for path in files]

    def _records(self, epoch: int) -> Iterator[tuple[str, memoryview | None, str]]:
        """(file, record, "") per record of this rank, or (file, None, reason) for a corrupt shard."""
        for path, part, parts in self._shard_plan(epoch):
            index = 0
            try:
                for record in iter_records(path, verify=self.verify_crc):
                    if index % parts == part:
                        yield path, record, ""
                    index += 1
            except (CorruptRecordError, OSError) as err:
                # Reported once: by the rank that owns the first unread record.
                if index % parts == part:
                    log.warning("%s; skipping the rest of the file", err)
                    reason = (f"{err.reason} at byte {err.offset}"
                              if isinstance(err, CorruptRecordError) else str(err))
                    yield path, None, f"{reason}; rest of the file skipped"

    def _shuffled(self, stream: Iterator, epoch: int) -> Iterator:
        if self.shuffle_buffer <= 1:
            yield from stream
            return
        rng = _rng(self.seed, epoch, self.rank, self.world_size)
        buffer = []
        for item in stream:
            if item[1] is None:  # corruption notices pass straight through
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
        batch = _Batch([], [])
        for path, record, reason in self._shuffled(self._records(epoch), epoch):
            if record is None:
                batch.skipped.append((path, "", reason))
                continue
            batch.records.append((path, record))
            if len(batch.records) == self.batch_size:
                yield batch
                batch = _Batch([], [])
        if self.training:
            batch.records.clear()  # drop the last partial batch in training (BatchNorm, even steps)
        if batch.records or batch.skipped:
            yield batch

    # ---- parsing into tensors

    def _parse(self, record) -> FrameExample:
        example = parse_frame_example(record, self.max_frames)
        if self.use_labels:
            if example.labels is None:
                raise RecordError("no 'labels' in the context (test shards are unlabeled)",
                                  example.video_id)
            bad = example.labels[(example.labels < 0) | (example.labels >= self.num_classes)]
            if bad.size:
                raise RecordError(f"label {int(bad[0])} outside the vocabulary "
                                  f"(num_classes {self.num_classes})", example.video_id)
        return example

    def collate(self, raw: _Batch) -> dict:
        examples, skipped = [], list(raw.skipped)
        for path, record in raw.records:
            try:
                examples.append(self._parse(record))
            except RecordError as err:
                log.warning("%s: skipping video '%s': %s", path, err.video_id, err.reason)
                skipped.append((path, err.video_id, err.reason))
        return collate_examples(examples, self.num_classes, self.use_labels, skipped)

    # ---- DataSource interface

    def num_batches(self, epoch: int) -> int | None:
        """Exact for up to 64 files; beyond, estimated from file sizes (the counts need a seek
        per record)."""
        plan = self._shard_plan(epoch)
        try:
            for path, _, _ in plan[:64]:
                if path not in self._record_counts:
                    self._record_counts[path] = count_records(path)
            counted = [path for path, _, _ in plan if path in self._record_counts]
            bytes_per_record = (sum(os.path.getsize(p) for p in counted)
                                / max(1, sum(self._record_counts[p] for p in counted)))
            records = 0
            for path, part, parts in plan:
                count = self._record_counts.get(path)
                if count is None:
                    count = round(os.path.getsize(path) / max(bytes_per_record, 1.0))
                records += (count - part + parts - 1) // parts
        except (CorruptRecordError, OSError):
            return None
        full, rest = divmod(records, self.batch_size)
        return full + (1 if rest and not self.training else 0)

    def batches(self, epoch: int, start_batch: int = 0) -> Iterable[dict]:
        """This rank's batches of `epoch`, from batch `start_batch` on (earlier batches are framed
        and shuffled but not parsed; skips they held were reported when they were first read)."""
        stream = _BatchStream(self, epoch, start_batch)
        if self.num_workers <= 0:
            return iter(stream)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=self.num_workers,
                                             pin_memory=self.pin_memory)
        return iter(loader)


class _BatchStream(torch.utils.data.IterableDataset):
    """Worker w of W parses batches start_batch + w, + W, ...; the DataLoader's round-robin
    over workers then returns them in stream order."""

    def __init__(self, source: YouTube8MSource, epoch: int, start_batch: int):
        self.source, self.epoch, self.start_batch = source, epoch, start_batch

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for index, raw in enumerate(self.source._raw_batches(self.epoch)):
            position = index - self.start_batch
            if position >= 0 and position % workers == worker:
                yield self.source.collate(raw)


def collate_examples(examples: list[FrameExample], num_classes: int, use_labels: bool = True,
                     skipped: list | None = None) -> dict:
    """Pad and dequantize examples into a batch dict (see the module docstring)."""
    batch_size = len(examples)
    length = max((len(e.rgb) for e in examples), default=0)
    rgb = np.zeros((batch_size, length, RGB_SIZE), np.float32)
    audio = np.zeros((batch_size, length, AUDIO_SIZE), np.float32)
    mask = np.zeros((batch_size, length), bool)
    labels = np.zeros((batch_size, num_classes), np.float32)
    for i, example in enumerate(examples):
        t = len(example.rgb)
        _dequantize_into(rgb[i, :t], example.rgb)
        _dequantize_into(audio[i, :t], example.audio)
        mask[i, :t] = True
        if use_labels and example.labels is not None:
            labels[i, example.labels] = 1.0
    return {"rgb": torch.from_numpy(rgb), "audio": torch.from_numpy(audio),
            "mask": torch.from_numpy(mask), "labels": torch.from_numpy(labels),
            "ids": [e.video_id for e in examples], "skipped": list(skipped or [])}


@register_dataset("youtube8m")
def build(data_cfg: dict, split: str, *, training: bool, batch_size: int, seed: int,
          rank: int = 0, world_size: int = 1, num_workers: int = 0,
          pin_memory: bool = False) -> YouTube8MSource:
    """The DataSource of one split (train / validate / test / predict) for this rank."""
    cfg = {**DEFAULTS, **data_cfg}
    root = cfg["root"]
    if split == "predict":
        if not cfg["inputs"]:
            raise ValueError("nothing to predict: give feature files, folders or globs")
        files = resolve_files(cfg["inputs"], None)
    elif split in ("train", "validate", "test"):
        if not root:
            raise ValueError("no YouTube-8M folder: pass --data DIR (or set data.root)")
        if not os.path.isdir(root):
            raise FileNotFoundError(f"YouTube-8M folder {root} does not exist (--data / data.root)")
        files = resolve_files(cfg[f"{split}_files"], root)
    else:
        raise ValueError(f"unknown split '{split}'; expected train, validate, test or predict")
    check_frame_level(files)
    vocabulary = os.path.join(root, cfg["vocabulary"]) if root and cfg["vocabulary"] else None
    class_names = read_vocabulary(vocabulary, cfg["num_classes"])
    return YouTube8MSource(files, class_names, split, training=training, batch_size=batch_size,
                           seed=seed, rank=rank, world_size=world_size, num_workers=num_workers,
                           max_frames=cfg["max_frames"], shuffle_buffer=cfg["shuffle_buffer"],
                           verify_crc=cfg["verify_crc"], pin_memory=pin_memory)
