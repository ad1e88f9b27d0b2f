"""TFRecord framing: round trip, CRC and truncation errors with file + offset, counting."""
import os

import pytest

from videozoo.data.tfrecord import (CorruptRecordError, TFRecordWriter, count_records, iter_records,
                                    masked_crc32c)

RECORDS = [b"", b"a", b"hello world" * 100, bytes(range(256)) * 50]


def _write(path, records):
    with TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


def _offsets(records):
    offsets, offset = [], 0
    for record in records:
        offsets.append(offset)
        offset += 16 + len(record)
    return offsets


def _flip_byte(path, offset):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0xFF
    open(path, "wb").write(bytes(data))


def test_masked_crc32c_known_value():
    # CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720); then TensorFlow's mask.
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % 2**32


def test_round_trip_and_count(tmp_path):
    path = _write(tmp_path / "a.tfrecord", RECORDS)
    assert [bytes(record) for record in iter_records(path)] == RECORDS
    assert count_records(path) == len(RECORDS)
    assert os.path.getsize(path) == sum(16 + len(r) for r in RECORDS)


def test_empty_file(tmp_path):
    path = _write(tmp_path / "empty.tfrecord", [])
    assert list(iter_records(path)) == [] and count_records(path) == 0


def test_data_crc_mismatch_names_file_and_offset(tmp_path):
    path = _write(tmp_path / "bad.tfrecord", RECORDS)
    bad = 2
    _flip_byte(path, _offsets(RECORDS)[bad] + 12 + 5)  # inside the data of record 2
    read = []
    with pytest.raises(CorruptRecordError) as info:
        for record in iter_records(path):
            read.append(bytes(record))
    assert read == RECORDS[:bad]
    assert info.value.offset == _offsets(RECORDS)[bad]
    assert "bad.tfrecord" in str(info.value) and "data CRC" in str(info.value)
    # Without verification the bad data goes through, and counting only needs the framing.
    assert len(list(iter_records(path, verify=False))) == len(RECORDS)
    assert count_records(path) == len(RECORDS)


def test_length_crc_mismatch(tmp_path):
    path = _write(tmp_path / "len.tfrecord", RECORDS)
    _flip_byte(path, _offsets(RECORDS)[1] + 2)  # inside the length of record 1
    for read in (lambda: list(iter_records(path)), lambda: count_records(path)):
        with pytest.raises(CorruptRecordError, match="length CRC") as info:
            read()
        assert info.value.offset == _offsets(RECORDS)[1] and info.value.path == str(path)


@pytest.mark.parametrize("cut", [3, 20])  # inside the last header, inside the last data
def test_truncation(tmp_path, cut):
    path = _write(tmp_path / "cut.tfrecord", RECORDS)
    last = _offsets(RECORDS)[-1]
    os.truncate(path, last + cut)
    read = []
    with pytest.raises(CorruptRecordError, match="truncated") as info:
        for record in iter_records(path):
            read.append(bytes(record))
    assert read == RECORDS[:-1] and info.value.offset == last
    with pytest.raises(CorruptRecordError, match="truncated"):
        count_records(path)


def test_writer_leaves_no_file_on_error(tmp_path):
    path = tmp_path / "partial.tfrecord"
    with pytest.raises(RuntimeError):
        with TFRecordWriter(path) as writer:
            writer.write(b"x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_interoperates_with_tfrecord_package(tmp_path):
    tfrecord = pytest.importorskip("tfrecord")
    theirs = tmp_path / "theirs.tfrecord"
    writer = tfrecord.TFRecordWriter(str(theirs))
    for record in RECORDS[1:]:
        writer.write({"x": (record, "byte")})
    writer.close()
    ours = [bytes(record) for record in iter_records(theirs)]  # their framing passes our CRC checks
    assert len(ours) == len(RECORDS) - 1
    mine = _write(tmp_path / "mine.tfrecord", ours)
    assert open(mine, "rb").read() == open(theirs, "rb").read()
