"""TFRecord framing: round trip, CRC and truncation errors with file + offset, counting."""

import os

import pytest

from videozoo.data.tfrecord import (
    CorruptRecordError,
    Damage,
    TFRecordWriter,
    count_records,
    iter_records,
    masked_crc32c,
    scan_records,
)

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
    with pytest.raises(CorruptRecordError, match="length CRC") as info:
        list(iter_records(path))
    assert info.value.offset == _offsets(RECORDS)[1] and info.value.path == str(path)
    assert count_records(path) == len(RECORDS) - 1  # counting re-syncs past the damage


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
    assert count_records(path) == len(RECORDS) - 1


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


# ---- re-sync after damage: one bad byte costs one record, not the rest of the file


def _scan(path):
    return [item if isinstance(item, Damage) else bytes(item) for item in scan_records(path)]


@pytest.mark.parametrize("where", ["length", "length crc", "data", "data crc"])
def test_one_flipped_byte_loses_one_record(tmp_path, where):
    records = [bytes([i]) * (200 + 37 * i) for i in range(12)]
    path = _write(tmp_path / "r.tfrecord", records)
    start = _offsets(records)[5]
    offset = {
        "length": start + 3,
        "length crc": start + 9,
        "data": start + 12 + 50,
        "data crc": start + 12 + len(records[5]) + 1,
    }[where]
    _flip_byte(path, offset)
    items = _scan(path)
    damage = [i for i in items if isinstance(i, Damage)]
    assert [i for i in items if not isinstance(i, Damage)] == records[:5] + records[6:]
    assert len(damage) == 1 and damage[0].offset == start
    assert damage[0].skipped_bytes == 16 + len(records[5])  # exactly the damaged record
    assert ("length" in damage[0].reason) == where.startswith("length")
    # Counting reads the framing only: a damaged data byte is not seen there.
    assert count_records(path) == len(records) - where.startswith("length")


def test_garbage_between_records_and_a_file_of_garbage(tmp_path):
    first, second = b"x" * 300, b"y" * 400
    path = tmp_path / "g.tfrecord"
    with TFRecordWriter(path) as writer:
        writer.write(first)
    framed_second = open(_write(tmp_path / "s.tfrecord", [second]), "rb").read()
    garbage = bytes(range(256)) * 3 + b"\x00" * 100
    with open(path, "ab") as fh:
        fh.write(garbage + framed_second)
    items = _scan(path)
    assert items[0] == first and items[2] == second
    assert isinstance(items[1], Damage) and items[1].skipped_bytes == len(garbage)

    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(os.urandom(5000))
    items = _scan(junk)
    assert len(items) == 1 and items[0].offset == 0 and items[0].skipped_bytes == 5000
