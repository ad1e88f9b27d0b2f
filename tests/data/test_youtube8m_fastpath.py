"""YouTube-8M fast paths give what the plain route gives: protobuf parsing of each record,
then numpy padding, on shards with damage and with the other valid protobuf encodings."""

import os
import pickle

import numpy as np
import pytest
import torch

from videozoo.data import tf_example, tfrecord
from videozoo.data import youtube8m as y8m
from videozoo.data import youtube8m_records as records
from videozoo.data.protobuf_wire import length_delimited
from videozoo.data.tfrecord import Damage, TFRecordWriter, scan_located_records, scan_records

NUM_CLASSES = 12


def _protobuf_record(video_id, labels, rgb, audio, *, id_key="id", extra_context=False):
    """The same example serialised by the protobuf library (field order and sizes its own)."""
    message = tf_example.SequenceExample()
    message.context.feature[id_key].bytes_list.value.append(video_id.encode())
    if labels is not None:
        message.context.feature["labels"].int64_list.value.extend(labels)
    if extra_context:
        message.context.feature["segment_scores"].float_list.value.extend([0.5, 1.0])
    for name, frames in (("audio", audio), ("rgb", rgb)):  # audio first: another map order
        for row in frames:
            message.feature_lists.feature_list[name].feature.add().bytes_list.value.append(row.tobytes())
    return message.SerializeToString()


def _irregular_record(video_id, labels, rgb, audio):
    """Valid protobuf the fast path cannot take as a byte matrix: the feature lists come
    first, an unknown field sits between them, and one rgb frame's length is a padded varint."""
    prefix = records._FRAME_PREFIX_BYTES
    rgb_list = b"".join(
        (b"\x0a\x86\x88\x00" + prefix[records.RGB_SIZE][3:] if t == 0 else prefix[records.RGB_SIZE])
        + row.tobytes()
        for t, row in enumerate(rgb)
    )
    audio_list = b"".join(prefix[records.AUDIO_SIZE] + row.tobytes() for row in audio)
    context = tf_example.Features()
    context.feature["id"].bytes_list.value.append(video_id.encode())
    if labels is not None:
        context.feature["labels"].int64_list.value.extend(labels)
    lists = (
        length_delimited(1, length_delimited(1, b"rgb") + length_delimited(2, rgb_list))
        + b"\x10\x07"  # field 2, varint 7: unknown to a FeatureLists, skipped by parsers
        + length_delimited(1, length_delimited(1, b"audio") + length_delimited(2, audio_list))
    )
    return length_delimited(2, lists) + length_delimited(1, context.SerializeToString())


ENCODERS = {
    "ours": lambda video_id, labels, rgb, audio: records.encode_frame_example(video_id, labels, rgb, audio),
    "protobuf": _protobuf_record,
    "protobuf 2017": lambda *a: _protobuf_record(*a, id_key="video_id", extra_context=True),
    "irregular": _irregular_record,
}


def _plain_parse(record, max_frames):
    """The reference: the protobuf library, one feature at a time."""
    message = tf_example.SequenceExample.FromString(bytes(record))
    context = message.context.feature
    video_id = (context["id"] if "id" in context else context["video_id"]).bytes_list.value[0].decode()
    labels = list(context["labels"].int64_list.value) if "labels" in context else None
    lists = message.feature_lists.feature_list
    rgb = [f.bytes_list.value[0] for f in lists["rgb"].feature[:max_frames]]
    audio = [f.bytes_list.value[0] for f in lists["audio"].feature[:max_frames]]
    count = min(len(rgb), len(audio))
    return (
        video_id,
        labels,
        np.frombuffer(b"".join(rgb[:count]), np.uint8).reshape(count, -1),
        np.frombuffer(b"".join(audio[:count]), np.uint8).reshape(count, -1),
    )


def _plain_batches(paths, batch_size, max_frames):
    """Batches by the plain route: records in file order, protobuf parsing, numpy padding."""
    examples = [
        _plain_parse(item, max_frames)
        for path in paths
        for item in scan_records(path)
        if not isinstance(item, Damage)
    ]
    examples = [
        e
        for e in examples
        if len(e[2]) and e[1] is not None and all(0 <= label < NUM_CLASSES for label in e[1])
    ]
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        length = max(len(rgb) for _, _, rgb, _ in chunk)
        batch = {
            "ids": [],
            "rgb": np.zeros((len(chunk), length, 1024), np.uint8),
            "audio": np.zeros((len(chunk), length, 128), np.uint8),
            "mask": np.zeros((len(chunk), length), bool),
            "labels": np.zeros((len(chunk), NUM_CLASSES), np.float32),
        }
        for i, (video_id, labels, rgb, audio) in enumerate(chunk):
            batch["ids"].append(video_id)
            batch["rgb"][i, : len(rgb)], batch["audio"][i, : len(rgb)] = rgb, audio
            batch["mask"][i, : len(rgb)] = True
            batch["labels"][i, labels] = 1.0
        yield batch


def _random_example(rng, index, max_len=9):
    frames = int(rng.integers(1, max_len))
    labels = sorted(set(rng.integers(0, NUM_CLASSES, int(rng.integers(0, 4))).tolist()))
    rgb = rng.integers(0, 256, (frames, records.RGB_SIZE), dtype=np.uint8)
    audio = rng.integers(
        0, 256, (frames + int(rng.integers(-1, 2)) if frames > 1 else 1, records.AUDIO_SIZE), dtype=np.uint8
    )  # audio a frame shorter or longer at times
    return f"vid{index:03d}", labels, rgb, audio


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("max_frames", [300, 3])
def test_parse_and_locate_match_protobuf(encoder, max_frames):
    rng = np.random.default_rng(len(encoder) + max_frames)
    for index in range(12):
        video_id, labels, rgb, audio = _random_example(rng, index)
        record = ENCODERS[encoder](video_id, labels, rgb, audio)
        expected = _plain_parse(record, max_frames)
        parsed = records.parse_frame_example(memoryview(record), max_frames)
        assert parsed.video_id == expected[0] and list(parsed.labels) == expected[1]
        assert np.array_equal(parsed.rgb, expected[2]) and np.array_equal(parsed.audio, expected[3])
        # Located at an offset in a larger buffer (a shard), the rows find the same frames.
        buffer = b"\xff" * 37 + record + b"\xee" * 5
        located = records.locate_frame_example(record, max_frames, offset=37)
        assert located.num_frames == len(expected[2])
        assert np.array_equal(records.frames_in(buffer, located.rgb), expected[2])
        assert np.array_equal(records.frames_in(buffer, located.audio), expected[3])
        # Our encoder and protobuf's write every frame alike: a byte matrix, no copy.
        assert isinstance(located.rgb, records.FrameRows) == (encoder != "irregular")


def test_a_frame_prefix_that_differs_anywhere_takes_the_protobuf_path():
    rgb, audio = np.full((4, 1024), 7, np.uint8), np.full((4, 128), 9, np.uint8)
    record = bytearray(records.encode_frame_example("x", [1], rgb, audio))
    prefix = records._FRAME_PREFIX_BYTES[records.RGB_SIZE]
    last = record.rfind(prefix)  # the last rgb frame: its BytesList length, one too short
    record[last + 4] -= 1
    with pytest.raises(records.RecordError, match="'rgb' frames"):  # protobuf finds the list malformed
        records.parse_frame_example(bytes(record))


def test_scan_located_records_gives_file_offsets(tmp_path):
    path = tmp_path / "a.tfrecord"
    payloads = [b"first", b"", b"x" * 1000]
    with TFRecordWriter(path) as writer:
        for payload in payloads:
            writer.write(payload)
    data = path.read_bytes()
    located = list(scan_located_records(path))
    assert [bytes(record) for _, record in located] == payloads
    assert [data[offset : offset + len(record)] for offset, record in located] == payloads


def test_map_file_is_shared_until_the_file_changes(tmp_path):
    path = tmp_path / "a.tfrecord"
    path.write_bytes(b"abc")
    first = tfrecord.map_file(path)
    assert tfrecord.map_file(path) is first and bytes(first) == b"abc"
    path.write_bytes(b"abcdef")  # another size: a new map
    assert bytes(tfrecord.map_file(path)) == b"abcdef"
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    assert tfrecord.map_file(empty) is None


def _damaged_shards(root, rng):
    """Three shards of every encoding, with a flipped data byte, a flipped length byte,
    garbage between records, a bad label and a truncated tail."""
    os.makedirs(root, exist_ok=True)
    paths, index = [], 0
    for shard in range(3):
        path = os.path.join(root, f"train{shard:04d}.tfrecord")
        with TFRecordWriter(path) as writer:
            for _ in range(9):
                video_id, labels, rgb, audio = _random_example(rng, index)
                if index == 5:
                    labels = [NUM_CLASSES + 3]  # outside the vocabulary
                encoder = list(ENCODERS.values())[index % len(ENCODERS)]
                writer.write(encoder(video_id, labels, rgb, audio))
                index += 1
        paths.append(path)
    offsets = [offset - 12 for offset, _ in scan_located_records(paths[1])]
    data = bytearray(open(paths[1], "rb").read())
    data[offsets[2] + 100] ^= 0x01  # a data byte: that record's data CRC fails
    data[offsets[5] + 3] ^= 0x10  # a length byte: the framing is lost until record 6
    data[offsets[7] : offsets[7]] = b"garbage!" * 5  # bytes between records
    open(paths[1], "wb").write(bytes(data))
    os.truncate(paths[2], os.path.getsize(paths[2]) - 30)  # the last record cut short
    return paths


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_equal_the_plain_route_on_damaged_shards(tmp_path, workers):
    paths = _damaged_shards(tmp_path, np.random.default_rng(3))
    source = y8m.build(
        {"root": str(tmp_path), "validate_files": "train*.tfrecord", "num_classes": NUM_CLASSES},
        "validate",
        training=False,
        batch_size=4,
        seed=0,
        num_workers=workers,
    )
    ours = list(source.batches(0))
    got = [
        example
        for batch in ours
        for example in zip(batch["ids"], batch["rgb"], batch["audio"], batch["mask"], batch["labels"])
    ]
    expected = [
        example
        for batch in _plain_batches(paths, 4, 300)
        for example in zip(batch["ids"], batch["rgb"], batch["audio"], batch["mask"], batch["labels"])
    ]
    assert [e[0] for e in got] == [e[0] for e in expected] and len(got) == 27 - 4
    for (_, rgb, audio, mask, labels), (_, rgb_e, audio_e, mask_e, labels_e) in zip(got, expected):
        length = int(mask_e.sum())
        assert int(mask.sum()) == length and bool(mask[:length].all())
        assert np.array_equal(rgb[:length].numpy(), rgb_e[:length]) and not rgb[length:].any()
        assert np.array_equal(audio[:length].numpy(), audio_e[:length]) and not audio[length:].any()
        assert np.array_equal(labels.numpy(), labels_e)
    for batch in ours:  # padded to the batch's longest video, uint8 and bool as documented
        assert batch["rgb"].dtype == torch.uint8 and batch["mask"].dtype == torch.bool
        assert batch["rgb"].shape[1] == max((int(m.sum()) for m in batch["mask"]), default=0)
    kinds = sorted(
        reason.split(" at byte")[0].split(":")[0] for batch in ours for _, _, reason in batch["skipped"]
    )
    assert kinds == [
        "data CRC mismatch",
        f"label {NUM_CLASSES + 3} outside the vocabulary (num_classes {NUM_CLASSES})",
        "length CRC mismatch",
        "length CRC mismatch",
        "truncated record",
    ]


def test_located_batches_survive_pickling(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "test0000.tfrecord"
    with TFRecordWriter(path) as writer:
        for index, encoder in enumerate(list(ENCODERS.values()) * 2):
            video_id, labels, rgb, audio = _random_example(rng, index)
            writer.write(encoder(video_id, None if index % 3 == 0 else labels, rgb, audio))
    source = y8m.build(
        {"root": str(tmp_path), "num_classes": NUM_CLASSES}, "test", training=False, batch_size=8, seed=0
    )
    located = next(iter(y8m._BatchStream(source, 0, 0)))
    sent = pickle.loads(pickle.dumps(located))
    assert sent.files == located.files and sent.skipped == located.skipped
    for a, b in zip(sent.examples, located.examples):
        assert (a.video_id, a.num_frames) == (b.video_id, b.num_frames)
        assert (a.labels is None) == (b.labels is None) and (
            a.labels is None or a.labels.tolist() == b.labels.tolist()
        )
        assert type(a.rgb) is type(b.rgb) and type(a.audio) is type(b.audio)
    for key, value in source.assemble(sent).items():
        other = source.assemble(located)[key]
        assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other


def test_pinned_batches_equal_ordinary_ones():
    rng = np.random.default_rng(2)
    examples = []
    for index in range(3):
        video_id, labels, rgb, audio = _random_example(rng, index)
        count = min(len(rgb), len(audio))
        examples.append(
            records.FrameExample(video_id, np.array(labels, np.int64), rgb[:count], audio[:count])
        )
    pinned = y8m.collate_examples(examples, NUM_CLASSES, pin_memory=True)
    plain = y8m.collate_examples(examples, NUM_CLASSES)
    for key in ("rgb", "audio", "mask", "labels"):
        assert torch.equal(pinned[key], plain[key])
        assert pinned[key].is_pinned() == y8m._accelerator_available()  # pinned only where it can be
