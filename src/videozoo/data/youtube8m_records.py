"""The YouTube-8M record format: TensorFlow's Example / SequenceExample without TensorFlow.

* frame-level ``tf.train.SequenceExample``: context ``id`` (2017: ``video_id``) and ``labels``;
  feature lists ``rgb`` (one 1024-byte uint8 value per second) and ``audio`` (128 bytes).
* video-level ``tf.train.Example``: ``id``, ``labels``, ``mean_rgb`` [1024], ``mean_audio`` [128].

``encode_frame_example`` / ``encode_video_example`` write records (the same bytes for the same
content in every process: map entries in key order); ``parse_frame_example``
reads one into a ``FrameExample`` (uint8 views of the record, no copy) and
``locate_frame_example`` into a ``LocatedExample`` (where the frames lie: ``FrameRows``, which a
DataLoader worker can send instead of the frames); ``record_level`` tells
frame- from video-level records; ``dequantize`` / ``quantize`` are the official 8-bit
conversion; ``record_notes`` says what is odd about a record that still parses. Elsewhere:
the message classes (``tf_example.py``), varints and fields (``protobuf_wire.py``),
``vocabulary.csv`` (``youtube8m_vocabulary.py``), shard framing (``tfrecord.py``) and the data
source (``youtube8m.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from videozoo.data.protobuf_wire import WireError, encode_varint, length_delimited, length_delimited_fields
from videozoo.data.tf_example import Example, FeatureList, Features
from videozoo.errors import DataError

RGB_SIZE = 1024
AUDIO_SIZE = 128


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
# The wire bytes of one frame in a feature list


def _frame_prefix(size: int) -> bytes:
    # Wire bytes before the data of one frame inside a FeatureList: Feature tag+length,
    # BytesList tag+length, value tag+length (all field 1, length-delimited).
    prefix, length = b"", size
    for _ in range(3):
        prefix = b"\x0a" + encode_varint(length) + prefix
        length = size + len(prefix)
    return prefix


_FRAME_PREFIX_BYTES = {size: _frame_prefix(size) for size in (RGB_SIZE, AUDIO_SIZE)}
_FRAME_PREFIX = {size: np.frombuffer(prefix, np.uint8) for size, prefix in _FRAME_PREFIX_BYTES.items()}


# --------------------------------------------------------------------------------------------
# Record encoding


def _context(features, video_id: str, labels, extra_context: dict | None = None) -> None:
    features.feature["id"].bytes_list.value.append(video_id.encode())
    if labels is not None:  # test shards carry no labels at all
        features.feature["labels"].int64_list.SetInParent()
        features.feature["labels"].int64_list.value.extend(int(label) for label in labels)
    for name, values in (extra_context or {}).items():
        if name in features.feature:
            raise ValueError(f"extra context feature '{name}' would replace the record's own")
        if isinstance(values, (str, bytes)):  # provenance text (extractor, weights, PCA)
            features.feature[name].bytes_list.value.append(
                values.encode() if isinstance(values, str) else values
            )
            continue
        values = [values] if np.ndim(values) == 0 else values
        features.feature[name].int64_list.value.extend(int(value) for value in values)


def encode_frame_example(
    video_id: str, labels, rgb: np.ndarray, audio: np.ndarray, *, extra_context: dict | None = None
) -> bytes:
    """A frame-level SequenceExample. rgb uint8 [T, 1024], audio uint8 [T, 128]; labels None = unlabeled.

    extra_context: more context features, {name: int, list of ints (int64_list) or str
    (bytes_list)} (e.g. ``has_audio``, ``feature_extractor``); readers that do not know them
    ignore them.
    """
    context = Features()
    _context(context, video_id, labels, extra_context)
    lists = []
    for name, frames, size in (("rgb", rgb, RGB_SIZE), ("audio", audio, AUDIO_SIZE)):
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.ndim != 2 or frames.shape[1] != size:
            raise DataError(f"{name} must be uint8 [T, {size}], got shape {frames.shape}")
        # The FeatureList written directly (what a protobuf serializer emits, without building
        # one message per frame): each frame is its wire prefix followed by its bytes.
        prefix = np.broadcast_to(_FRAME_PREFIX[size], (len(frames), len(_FRAME_PREFIX[size])))
        feature_list = np.concatenate([prefix, frames], axis=1).tobytes()
        entry = length_delimited(1, name.encode()) + length_delimited(2, feature_list)
        lists.append(length_delimited(1, entry))
    context_bytes = context.SerializeToString(deterministic=True)
    return length_delimited(1, context_bytes) + length_delimited(2, b"".join(lists))


def encode_video_example(video_id: str, labels, mean_rgb, mean_audio) -> bytes:
    """A video-level Example: mean_rgb float [1024], mean_audio float [128]; labels None = unlabeled."""
    example = Example()
    _context(example.features, video_id, labels)
    feature = example.features.feature
    feature["mean_rgb"].float_list.value.extend(np.asarray(mean_rgb, np.float32).ravel().tolist())
    feature["mean_audio"].float_list.value.extend(np.asarray(mean_audio, np.float32).ravel().tolist())
    return example.SerializeToString(deterministic=True)


# --------------------------------------------------------------------------------------------
# Record parsing


class RecordError(DataError):
    """A record that cannot be used (missing field, wrong size, wrong kind): skipped, not fatal."""

    def __init__(self, reason: str, video_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.video_id = video_id


class FrameExample(NamedTuple):
    video_id: str
    labels: np.ndarray | None  # int64 [L]; None when the record has no labels (test shards)
    rgb: np.ndarray  # uint8 [T, 1024]
    audio: np.ndarray  # uint8 [T, 128]


class FrameRows(NamedTuple):
    """Where a feature list's frames lie in a buffer (a record, or the shard file holding it):
    ``rows`` rows of ``stride`` bytes from ``start``, each a wire prefix of ``skip`` bytes
    and then the frame. Small and picklable, so a worker can say where a batch's frames are
    without sending them."""

    start: int
    stride: int
    skip: int
    rows: int  # the frame count

    def view(self, buffer) -> np.ndarray:
        """uint8 [rows, stride - skip] view of the frames in ``buffer`` (no copy)."""
        matrix = np.frombuffer(buffer, np.uint8, self.rows * self.stride, self.start)
        return matrix.reshape(self.rows, self.stride)[:, self.skip :]


class LocatedExample(NamedTuple):
    """A parsed record whose frames are located rather than viewed (``parse_frame_example``
    views them): ``FrameRows`` in the common encoding, a copied array otherwise."""

    video_id: str
    labels: np.ndarray | None  # int64 [L]; None when the record has no labels
    rgb: FrameRows | np.ndarray  # T frames of 1024 bytes
    audio: FrameRows | np.ndarray  # T frames of 128 bytes
    num_frames: int  # T (the shorter list's length, at most max_frames)


def _split_sequence_example(record) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Context bytes and {feature list name: (start, end) in record} of a serialized
    SequenceExample (bytes or memoryview)."""
    context = b""
    lists = {}
    try:
        for number, start, end in length_delimited_fields(record, 0, len(record)):
            if number == 1:
                context = record[start:end]
            elif number == 2:
                for _, entry_start, entry_end in length_delimited_fields(record, start, end):
                    # A map entry: key (field 1, the list's name), value (field 2, the FeatureList).
                    name, span = "", (0, 0)
                    for part, a, b in length_delimited_fields(record, entry_start, entry_end):
                        if part == 1:
                            name = str(record[a:b], "utf-8", "replace")
                        elif part == 2:
                            span = (a, b)
                    lists[name] = span
    except IndexError:
        raise RecordError("malformed protobuf (record ends inside a field)") from None
    except WireError as err:
        raise RecordError(f"malformed protobuf ({err})") from None
    return context, lists


def _frame_rows(record, span: tuple[int, int], size: int, max_frames: int) -> FrameRows | np.ndarray | None:
    """The first ``max_frames`` frames of a FeatureList of one-value byte features: their
    rows in ``record``, or a uint8 [T, size] array; None if malformed."""
    start, end = span
    prefix = _FRAME_PREFIX_BYTES[size]
    stride = len(prefix) + size
    # Fast path: the published shards encode every frame identically, so the list is a
    # [T, stride] byte matrix; check every kept frame's prefix bytes.
    count, rest = divmod(end - start, stride)
    if not rest:
        count = min(count, max_frames)
        matrix = np.frombuffer(record, np.uint8, count * stride, start).reshape(count, stride)
        if matrix[:, : len(prefix)].tobytes() == prefix * count:
            return FrameRows(start, stride, len(prefix), count)
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


def locate_frame_example(record, max_frames: int = 300, offset: int = 0) -> LocatedExample:
    """Decode one frame-level record (bytes or memoryview) and locate its first
    ``max_frames`` frames in the buffer where ``record`` starts at ``offset`` (0: the record
    itself; a shard's map: the record's offset in the file).

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
    frames = []
    for name, size in (("rgb", RGB_SIZE), ("audio", AUDIO_SIZE)):
        if name not in lists:
            raise RecordError(f"no '{name}' feature list", video_id)
        found = _frame_rows(record, lists[name], size, max_frames)
        if found is None:
            raise RecordError(f"'{name}' frames are not single {size}-byte values", video_id)
        frames.append(found)
    num_frames = min(_count(found) for found in frames)
    if num_frames == 0:
        raise RecordError("no frames", video_id)
    rgb, audio = (_placed(found, num_frames, offset) for found in frames)
    return LocatedExample(
        video_id,
        None if labels is None else np.fromiter(labels, np.int64, len(labels)),
        rgb,
        audio,
        num_frames,
    )


def _count(frames: FrameRows | np.ndarray) -> int:
    return frames.rows if isinstance(frames, FrameRows) else len(frames)


def _placed(frames: FrameRows | np.ndarray, count: int, offset: int) -> FrameRows | np.ndarray:
    """The first ``count`` frames, rows moved by ``offset``."""
    if not isinstance(frames, FrameRows):
        return frames[:count]
    if count == frames.rows and not offset:
        return frames
    return FrameRows(frames.start + offset, frames.stride, frames.skip, count)


def frames_in(buffer, frames: FrameRows | np.ndarray) -> np.ndarray:
    """uint8 [T, F] frames of a ``LocatedExample`` field: a view of ``buffer`` for located
    rows, the array itself otherwise."""
    return frames.view(buffer) if isinstance(frames, FrameRows) else frames


def parse_frame_example(record, max_frames: int = 300) -> FrameExample:
    """Decode one frame-level record (bytes or memoryview), keeping its first ``max_frames`` frames.

    rgb and audio are views into ``record`` (no copy).

    Raises ``RecordError`` (with the video id when known) for a record that cannot be used.
    """
    located = locate_frame_example(record, max_frames)
    return FrameExample(
        located.video_id, located.labels, frames_in(record, located.rgb), frames_in(record, located.audio)
    )


def record_notes(record) -> list[str]:
    """What is wrong with a frame-level record that still parses (``videozoo check`` reports
    it; reading uses it as described): an id that is not UTF-8, rgb and audio lists of
    different lengths."""
    notes = []
    context_bytes, lists = _split_sequence_example(record)
    try:
        ids = _context_value(Features.FromString(context_bytes), ("id", "video_id"), "bytes_list")
    except Exception:
        ids = None
    if ids:
        try:
            ids[0].decode("utf-8")
        except UnicodeDecodeError:
            notes.append(
                f"video id {ids[0][:60]!r} is not UTF-8 (read as {ids[0][:60].decode('utf-8', 'replace')!r})"
            )
    counts = []
    for name, size in (("rgb", RGB_SIZE), ("audio", AUDIO_SIZE)):
        found = _frame_rows(record, lists[name], size, 1 << 62) if name in lists else None
        counts += [] if found is None else [_count(found)]
    if len(counts) == 2 and counts[0] != counts[1]:
        notes.append(
            f"rgb has {counts[0]} frames but audio {counts[1]}: only the first {min(counts)} of each are used"
        )
    return notes


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


def record_feature_extractor(record: bytes) -> str | None:
    """The ``feature_extractor`` a record's context names (``youtube8m``, ``resnet50``, ...,
    written by ``videozoo extract``), or None (Google's own shards name none)."""
    try:
        context_bytes, _ = _split_sequence_example(record)
        values = _context_value(Features.FromString(context_bytes), ("feature_extractor",), "bytes_list")
    except Exception:
        return None
    return values[0].decode("utf-8", "replace") if values else None
