"""YouTube-8M reader: record parsing, file handling, and the DataSource's order and coverage."""

import csv
import os
import struct

import numpy as np
import pytest
import torch

from videozoo.data import tf_example
from videozoo.data import youtube8m as y8m
from videozoo.data import youtube8m_records as records
from videozoo.data.protobuf_wire import length_delimited
from videozoo.data.tfrecord import TFRecordWriter, iter_records
from videozoo.data.youtube8m_vocabulary import VOCABULARY_COLUMNS

NUM_CLASSES = 10


def _frames(video_index, num_frames):
    """Recognisable uint8 frames: rgb[t] is filled with (video_index + t) % 256."""
    values = (video_index + np.arange(num_frames)) % 256
    rgb = np.repeat(values[:, None], records.RGB_SIZE, axis=1).astype(np.uint8)
    audio = np.repeat(values[:, None], records.AUDIO_SIZE, axis=1).astype(np.uint8)
    return rgb, audio


def _write_dataset(root, videos_per_file=(5, 4, 3), prefix="train", start=0):
    """Shards of small videos (1..5 frames); returns {video id: (labels, num_frames)}."""
    os.makedirs(root, exist_ok=True)
    truth = {}
    index = start
    for shard, count in enumerate(videos_per_file):
        with TFRecordWriter(os.path.join(root, f"{prefix}{shard:04d}.tfrecord")) as writer:
            for _ in range(count):
                video_id = f"v{index:03d}"
                labels = [index % NUM_CLASSES, (index * 3 + 1) % NUM_CLASSES][: index % 3]
                num_frames = 1 + index % 5
                writer.write(records.encode_frame_example(video_id, labels, *_frames(index, num_frames)))
                truth[video_id] = (sorted(set(labels)), num_frames)
                index += 1
    return truth


def _source(root, split="train", training=True, batch_size=4, **kwargs):
    data_cfg = {"root": str(root), "num_classes": NUM_CLASSES, "shuffle_buffer": 8, **kwargs.pop("data", {})}
    return y8m.build(
        data_cfg, split, training=training, batch_size=batch_size, seed=kwargs.pop("seed", 0), **kwargs
    )


def _ids(batches):
    return [video_id for batch in batches for video_id in batch["ids"]]


# ---- records


def test_frame_example_round_trip_matches_protobuf():
    rgb, audio = _frames(7, 6)
    record = records.encode_frame_example("abc", [3, 1], rgb, audio)
    example = records.parse_frame_example(record)
    assert example.video_id == "abc" and list(example.labels) == [3, 1]
    assert np.array_equal(example.rgb, rgb) and np.array_equal(example.audio, audio)
    # The bytes are a valid SequenceExample for the protobuf parser too.
    message = tf_example.SequenceExample.FromString(record)
    assert message.context.feature["id"].bytes_list.value[0] == b"abc"
    frames = message.feature_lists.feature_list["rgb"].feature
    assert [f.bytes_list.value[0] for f in frames] == [row.tobytes() for row in rgb]


def test_2017_video_id_and_protobuf_encoded_records_are_read():
    message = tf_example.SequenceExample()
    message.context.feature["video_id"].bytes_list.value.append(b"old")
    message.context.feature["labels"].int64_list.value.extend([4])
    rgb, audio = _frames(1, 3)
    for name, frames in (("rgb", rgb), ("audio", audio)):
        for row in frames:
            message.feature_lists.feature_list[name].feature.add().bytes_list.value.append(row.tobytes())
    example = records.parse_frame_example(message.SerializeToString())
    assert example.video_id == "old" and list(example.labels) == [4]
    assert np.array_equal(example.rgb, rgb)


def test_irregular_wire_encoding_falls_back_to_protobuf():
    # Valid protobuf that is not byte-identical to the usual encoding: the first rgb frame's
    # length written as a padded (non-minimal) varint. The protobuf path must read it.
    rgb, audio = _frames(2, 2)
    prefix = {size: bytes(records._FRAME_PREFIX[size]) for size in (records.RGB_SIZE, records.AUDIO_SIZE)}
    padded = b"\x0a\x86\x88\x00" + prefix[records.RGB_SIZE][3:]  # 0x86 0x08 == 0x86 0x88 0x00 == 1030
    rgb_list = padded + rgb[0].tobytes() + prefix[records.RGB_SIZE] + rgb[1].tobytes()
    audio_list = b"".join(prefix[records.AUDIO_SIZE] + row.tobytes() for row in audio)
    context = tf_example.Features()
    context.feature["id"].bytes_list.value.append(b"pad")
    lists = length_delimited(
        1, length_delimited(1, b"rgb") + length_delimited(2, rgb_list)
    ) + length_delimited(1, length_delimited(1, b"audio") + length_delimited(2, audio_list))
    record = length_delimited(1, context.SerializeToString()) + length_delimited(2, lists)
    example = records.parse_frame_example(record)
    assert np.array_equal(example.rgb, rgb) and np.array_equal(example.audio, audio)
    assert example.labels is None  # no labels in the context


def test_max_frames_keeps_the_first_frames():
    rgb, audio = _frames(0, 10)
    example = records.parse_frame_example(records.encode_frame_example("x", [], rgb, audio), max_frames=4)
    assert example.rgb.shape == (4, 1024) and example.audio.shape == (4, 128)
    assert np.array_equal(example.rgb, rgb[:4])


def test_dequantize_official_formula():
    values = records.dequantize(np.array([0, 255], np.uint8))
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, [-1.9921875, 2.0078125], rtol=0, atol=1e-6)  # spec values
    tensor = records.dequantize(torch.tensor([0, 255], dtype=torch.uint8))
    assert torch.allclose(tensor, torch.tensor([-1.9921875, 2.0078125]))
    assert np.array_equal(
        records.quantize(records.dequantize(np.arange(256, dtype=np.uint8))), np.arange(256)
    )


def test_record_level_and_bad_records():
    rgb, audio = _frames(0, 2)
    video = records.encode_video_example("v", [1], np.zeros(1024), np.zeros(128))
    assert records.record_level(video) == "video"
    assert records.record_level(records.encode_frame_example("f", [1], rgb, audio)) == "frame"
    with pytest.raises(records.RecordError, match="video-level"):
        records.parse_frame_example(video)
    message = tf_example.SequenceExample()
    message.context.feature["id"].bytes_list.value.append(b"noaudio")
    message.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(bytes(1024))
    with pytest.raises(records.RecordError, match="'audio'") as info:
        records.parse_frame_example(message.SerializeToString())
    assert info.value.video_id == "noaudio"
    with pytest.raises(records.RecordError, match="'rgb' frames"):
        records.parse_frame_example(
            records.encode_frame_example("short", [], rgb, audio).replace(
                bytes(records._FRAME_PREFIX[records.RGB_SIZE]), b"\x0a\x85\x08\x0a\x82\x08\x0a\xff\x07", 1
            )
        )


def test_video_level_shards_give_one_clear_error(tmp_path):
    with TFRecordWriter(tmp_path / "train0000.tfrecord") as writer:
        writer.write(records.encode_video_example("v", [1], np.zeros(1024), np.zeros(128)))
    with pytest.raises(ValueError) as info:
        _source(tmp_path)
    message = str(info.value)
    assert "train0000.tfrecord" in message and "video-level" in message and "frame-level" in message


def test_glob_matching_nothing_names_pattern_and_folder(tmp_path):
    _write_dataset(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        _source(tmp_path, "validate", training=False)
    assert "validate*.tfrecord" in str(info.value) and str(tmp_path) in str(info.value)


def test_vocabulary_names_and_fallback(tmp_path):
    _write_dataset(tmp_path)
    assert _source(tmp_path).class_names[3] == "class_3"
    with open(tmp_path / "vocabulary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(VOCABULARY_COLUMNS)
        writer.writerow([0, 5, "/m/0", "Game", "", "", "", "", ""])
        writer.writerow([11, 5, "/m/1", "Car", "", "", "", "", ""])
    names = _source(tmp_path, data={"num_classes": None}).class_names
    assert len(names) == 12 and names[0] == "Game" and names[11] == "Car" and names[5] == "class_5"


# ---- the DataSource


def test_batches_content(tmp_path):
    truth = _write_dataset(tmp_path)
    batches = list(
        _source(
            tmp_path, "validate", training=False, batch_size=5, data={"validate_files": "train*.tfrecord"}
        ).batches(0)
    )
    assert [len(b["ids"]) for b in batches] == [5, 5, 2]  # evaluation keeps the last partial batch
    assert _ids(batches) == sorted(truth)  # files and records in order
    for batch in batches:
        for i, video_id in enumerate(batch["ids"]):
            labels, num_frames = truth[video_id]
            assert batch["mask"][i].sum() == num_frames
            assert torch.equal(batch["labels"][i].nonzero().flatten(), torch.tensor(labels, dtype=torch.long))
            assert torch.all(batch["rgb"][i, num_frames:] == 0)
            first = int(video_id[1:]) % 256  # the stored byte: features stay uint8 in batches
            assert torch.all(batch["rgb"][i, 0] == first) and torch.all(batch["audio"][i, 0] == first)
        assert batch["rgb"].dtype == batch["audio"].dtype == torch.uint8
        assert batch["rgb"].shape == (len(batch["ids"]), batch["mask"].shape[1], 1024)
        assert batch["rgb"].shape[1] == batch["mask"].sum(1).max()  # padded to the longest
        assert batch["labels"].shape[1] == NUM_CLASSES and batch["skipped"] == []


def test_training_drops_last_partial_batch_and_counts_batches(tmp_path):
    _write_dataset(tmp_path)
    train = _source(tmp_path, batch_size=5)
    assert [len(b["ids"]) for b in train.batches(0)] == [5, 5]
    assert train.num_batches(0) == 2
    evaluation = _source(
        tmp_path, "validate", training=False, batch_size=5, data={"validate_files": "train*.tfrecord"}
    )
    assert evaluation.num_batches(0) == 3


@pytest.mark.parametrize("files", [(5, 4, 3), (12,)])  # more files than ranks, and fewer
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_every_record_exactly_once_across_ranks(tmp_path, files, world_size):
    truth = _write_dataset(tmp_path, files)
    ids = []
    for rank in range(world_size):
        source = _source(
            tmp_path,
            "validate",
            training=False,
            batch_size=2,
            rank=rank,
            world_size=world_size,
            data={"validate_files": "train*.tfrecord"},
        )
        ids += _ids(source.batches(0))
    assert sorted(ids) == sorted(truth)


def test_workers_do_not_change_the_order(tmp_path):
    truth = _write_dataset(tmp_path, (7, 6, 5))
    for training in (True, False):
        serial = [b["ids"] for b in _source(tmp_path, "train", training, batch_size=3).batches(1)]
        parallel = [
            b["ids"] for b in _source(tmp_path, "train", training, batch_size=3, num_workers=2).batches(1)
        ]
        assert serial == parallel
        ids = sum(serial, [])
        assert len(ids) == len(set(ids)) == (18 if training else len(truth))


def test_training_order_is_seeded_and_resumable(tmp_path):
    _write_dataset(tmp_path, (7, 6, 5))
    source = _source(tmp_path, batch_size=3)
    epoch0 = [b["ids"] for b in source.batches(0)]
    assert epoch0 == [b["ids"] for b in _source(tmp_path, batch_size=3).batches(0)]
    assert epoch0 != [b["ids"] for b in source.batches(1)]
    assert epoch0 != [b["ids"] for b in _source(tmp_path, batch_size=3, seed=1).batches(0)]
    ids = sum(epoch0, [])
    assert ids != sorted(ids)  # shuffled
    for start in (1, 4):
        assert [b["ids"] for b in source.batches(0, start_batch=start)] == epoch0[start:]


def test_bad_records_are_skipped_and_reported(tmp_path, caplog):
    truth = _write_dataset(tmp_path, (4, 4))
    # A third shard: a good record, a record without audio, a label out of range, a good one...
    path = tmp_path / "train0002.tfrecord"
    rgb, audio = _frames(0, 2)
    no_audio = tf_example.SequenceExample()
    no_audio.context.feature["id"].bytes_list.value.append(b"noaudio")
    no_audio.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(bytes(1024))
    with TFRecordWriter(path) as writer:
        writer.write(records.encode_frame_example("good1", [1], rgb, audio))
        writer.write(no_audio.SerializeToString())
        writer.write(records.encode_frame_example("badlabel", [NUM_CLASSES], rgb, audio))
        writer.write(records.encode_frame_example("good2", [2], rgb, audio))
        writer.write(records.encode_frame_example("lost", [2], rgb, audio))
    # ...then cut inside the last record: the file is read up to there.
    os.truncate(path, os.path.getsize(path) - 10)
    # And shard 1 gets a flipped data byte in its third record.
    shard1 = tmp_path / "train0001.tfrecord"
    data = bytearray(shard1.read_bytes())
    third = sum(16 + len(r) for r in list(iter_records(shard1))[:2])
    data[third + 40] ^= 0xFF
    shard1.write_bytes(bytes(data))

    batches = list(
        _source(
            tmp_path, "validate", training=False, batch_size=3, data={"validate_files": "train*.tfrecord"}
        ).batches(0)
    )
    ids = _ids(batches)
    skipped = [s for b in batches for s in b["skipped"]]
    # The flipped byte costs shard 1 its third record only: reading re-syncs after it.
    expected = sorted(truth)[:4] + [sorted(truth)[i] for i in (4, 5, 7)] + ["good1", "good2"]
    assert ids == expected
    reasons = {(os.path.basename(f), video_id): reason for f, video_id, reason in skipped}
    assert len(skipped) == 4
    assert "data CRC" in reasons[("train0001.tfrecord", "")]
    assert "'audio'" in reasons[("train0002.tfrecord", "noaudio")]
    assert "outside the vocabulary" in reasons[("train0002.tfrecord", "badlabel")]
    assert "truncated" in reasons[("train0002.tfrecord", "")]
    assert "badlabel" in caplog.text and "train0001.tfrecord" in caplog.text


def test_test_and_predict_splits_read_unlabeled_records(tmp_path):
    rgb, audio = _frames(0, 3)
    with TFRecordWriter(tmp_path / "test0000.tfrecord") as writer:
        writer.write(records.encode_frame_example("t1", None, rgb, audio))
        writer.write(records.encode_frame_example("t2", [99], rgb, audio))  # labels ignored here
    (batch,) = _source(tmp_path, "test", training=False).batches(0)
    assert batch["ids"] == ["t1", "t2"] and batch["labels"].sum() == 0 and batch["skipped"] == []
    predict = y8m.build(
        {"inputs": [str(tmp_path)], "num_classes": 5}, "predict", training=False, batch_size=8, seed=0
    )
    assert _ids(predict.batches(0)) == ["t1", "t2"]
    # In a labeled split, an unlabeled record is a data error.
    (batch,) = _source(tmp_path, "validate", training=False, data={"validate_files": "test*"}).batches(0)
    assert batch["ids"] == [] and {s[1] for s in batch["skipped"]} == {"t1", "t2"}


def test_frame_counts_header_constant():
    # The fast path relies on the exact wire prefix of one frame; check it against protobuf.
    feature_list = tf_example.FeatureList()
    feature_list.feature.add().bytes_list.value.append(bytes(records.RGB_SIZE))
    encoded = feature_list.SerializeToString()
    assert encoded == bytes(records._FRAME_PREFIX[records.RGB_SIZE]) + bytes(records.RGB_SIZE)
    assert struct.unpack("<B", encoded[:1])[0] == 0x0A


# ---- damage and balance (issue: one flipped byte dropped the rest of the shard)


def test_flipped_byte_in_a_long_shard_loses_one_video(tmp_path):
    truth = _write_dataset(tmp_path, (140,))
    path = tmp_path / "train0000.tfrecord"
    offsets = [0]
    for record in iter_records(path):
        offsets.append(offsets[-1] + 16 + len(record))
    data = bytearray(path.read_bytes())
    data[offsets[30] + 4] ^= 0x40  # inside the length of record 30: the framing is lost there
    path.write_bytes(bytes(data))
    batches = list(
        _source(
            tmp_path, "validate", training=False, batch_size=16, data={"validate_files": "train*.tfrecord"}
        ).batches(0)
    )
    assert len(_ids(batches)) == 139 and sorted(truth)[30] not in _ids(batches)
    skipped = [s for b in batches for s in b["skipped"]]
    assert len(skipped) == 1 and "bytes skipped" in skipped[0][2]


def test_shards_are_balanced_over_ranks_by_bytes(tmp_path):
    truth = _write_dataset(tmp_path, (40, 5, 5, 5, 5, 5, 5, 5, 5))  # one big shard, eight small
    seen, counts = [], []
    for rank in range(2):
        source = _source(
            tmp_path,
            "validate",
            training=False,
            batch_size=4,
            rank=rank,
            world_size=2,
            data={"validate_files": "train*.tfrecord"},
        )
        ids = _ids(source.batches(0))
        seen += ids
        counts.append(len(ids))
        assert source.num_samples(0) == len(ids)
    assert sorted(seen) == sorted(truth)  # every record exactly once
    assert counts == [40, 40]  # round-robin by file would give 65 / 15
    assert y8m.balanced_assignment([5, 1, 1, 1, 1, 1], 2) == [[0], [1, 2, 3, 4, 5]]
