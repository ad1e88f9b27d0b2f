"""ShardedTFRecordWriter: rotating prefix0000.tfrecord shards of N records."""

import pytest

from videozoo.data.tfrecord import ShardedTFRecordWriter, iter_records

RECORDS = [f"record {i}".encode() * (i + 1) for i in range(5)]


def test_records_rotate_over_numbered_shards(tmp_path):
    with ShardedTFRecordWriter(tmp_path, "train", shard_size=2) as writer:
        names = [writer.write(record) for record in RECORDS]
    assert names == ["train0000.tfrecord"] * 2 + ["train0001.tfrecord"] * 2 + ["train0002.tfrecord"]
    assert writer.paths == [str(tmp_path / name) for name in dict.fromkeys(names)]
    assert sorted(p.name for p in tmp_path.iterdir()) == list(dict.fromkeys(names))
    read = [bytes(r) for path in writer.paths for r in iter_records(path)]
    assert read == RECORDS


def test_an_error_drops_only_the_open_shard(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardedTFRecordWriter(tmp_path, "test", shard_size=2) as writer:
            for record in RECORDS[:3]:
                writer.write(record)
            raise RuntimeError("interrupted")
    # test0000 was complete (closed when test0001 began); test0001 never appears.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test0000.tfrecord"]
    assert writer.paths == [str(tmp_path / "test0000.tfrecord")]
    assert [bytes(r) for r in iter_records(tmp_path / "test0000.tfrecord")] == RECORDS[:2]


def test_no_records_no_shards(tmp_path):
    with ShardedTFRecordWriter(tmp_path, "x", shard_size=3) as writer:
        pass
    assert writer.paths == [] and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="shard_size"):
        ShardedTFRecordWriter(tmp_path, "x", shard_size=0)
