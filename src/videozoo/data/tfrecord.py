"""TFRecord files: read, count and write length-framed records, with both CRC32C checks.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8  (mod 2**32)`` over CRC-32C (Castagnoli).

* ``iter_records(path)`` yields each record as a memoryview of the memory-mapped file (no
  copy, no syscall per record) and raises ``CorruptRecordError`` naming the file and byte
  offset on a CRC mismatch or a truncated record.
* ``count_records(path)`` walks the framing only (the data pages are never touched).
* ``TFRecordWriter(path)`` writes records to a temporary file renamed into place on close.
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import Iterator

import crc32c

__all__ = ["CorruptRecordError", "masked_crc32c", "frame_record", "iter_records",
           "count_records", "TFRecordWriter"]

_HEADER = struct.Struct("<QI")      # length, masked crc of the 8 length bytes
_FOOTER = struct.Struct("<I")       # masked crc of the data
_HEADER_SIZE = _HEADER.size         # 12
_FOOTER_SIZE = _FOOTER.size         # 4
_MASK_DELTA = 0xA282EAD8


class CorruptRecordError(ValueError):
    """A record failed its CRC check or was cut short; ``path`` and ``offset`` locate it."""

    def __init__(self, path: str | os.PathLike, offset: int, reason: str):
        self.path = os.fspath(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"{self.path}: corrupt TFRecord at byte {offset}: {reason}")


def masked_crc32c(data) -> int:
    """TensorFlow's masked CRC-32C of a bytes-like object."""
    crc = crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One record with its framing (header, data, footer), ready to append to a file."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), data,
                     _FOOTER.pack(masked_crc32c(data))))


def iter_records(path: str | os.PathLike, *, verify: bool = True) -> Iterator[memoryview]:
    """Yield the records of a TFRecord file in order, as read-only memoryviews.

    The file is memory-mapped: a record is a view of the page cache (no copy, no syscall per
    record) and stays valid as long as it is referenced; ``bytes(record)`` makes a copy.
    verify: check the data CRC of every record (the length CRC is always checked).
    Raises ``CorruptRecordError`` (after yielding every good record before it) at the first
    bad record; a file ending inside a record counts as truncated.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        # Never closed explicitly: the map lives until the last record view is dropped.
        data = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    offset = 0
    while offset < size:
        if size - offset < _HEADER_SIZE:
            raise CorruptRecordError(path, offset, "truncated record header")
        length, length_crc = _HEADER.unpack_from(data, offset)
        # The length is only trusted once its own CRC matches (a flipped bit could ask for terabytes).
        if masked_crc32c(data[offset:offset + 8]) != length_crc:
            raise CorruptRecordError(path, offset, "length CRC mismatch")
        start = offset + _HEADER_SIZE
        end = start + length
        if end + _FOOTER_SIZE > size:
            raise CorruptRecordError(path, offset, f"truncated record: {length} data bytes announced, "
                                                   f"{size - start} left in the file")
        record = data[start:end]
        if verify and masked_crc32c(record) != _FOOTER.unpack_from(data, end)[0]:
            raise CorruptRecordError(path, offset, "data CRC mismatch")
        offset = end + _FOOTER_SIZE
        yield record


def count_records(path: str | os.PathLike) -> int:
    """Number of records in a TFRecord file, from its framing alone (the data is not read).

    Raises ``CorruptRecordError`` on a bad length CRC or a truncated record.
    """
    return sum(1 for _ in iter_records(path, verify=False))


class TFRecordWriter:
    """Write records to ``path``; the file appears (atomically renamed) only on a clean close.

    >>> with TFRecordWriter("train0000.tfrecord") as writer:
    ...     writer.write(example_bytes)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._tmp_path = f"{self.path}.tmp{os.getpid()}"
        self._file = open(self._tmp_path, "wb")
        self.records_written = 0

    def write(self, data: bytes) -> None:
        self._file.write(frame_record(data))
        self.records_written += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            os.replace(self._tmp_path, self.path)

    def abort(self) -> None:
        """Drop everything written; ``path`` is left untouched."""
        if not self._file.closed:
            self._file.close()
            os.unlink(self._tmp_path)

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
