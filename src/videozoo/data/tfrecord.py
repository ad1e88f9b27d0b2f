"""TFRecord files: read, count and write length-framed records, with both CRC32C checks.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8  (mod 2**32)`` over CRC-32C (Castagnoli).

* ``iter_records(path)`` yields each record's ``bytes``; it reads the file in large chunks
  (no syscall per record) and raises ``CorruptRecordError`` naming the file and byte offset on
  a CRC mismatch or a truncated record.
* ``count_records(path)`` walks the framing only (seeks over the data), for progress bars and
  splitting work.
* ``TFRecordWriter(path)`` writes records to a temporary file renamed into place on close.
"""
from __future__ import annotations

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
_CHUNK_SIZE = 16 << 20              # read size: big enough that syscalls do not matter


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


def _check_length_crc(path, buffer, pos: int, offset: int) -> int:
    length, length_crc = _HEADER.unpack_from(buffer, pos)
    # The length is only trusted once its own CRC matches (a flipped bit could ask for terabytes).
    if masked_crc32c(memoryview(buffer)[pos:pos + 8]) != length_crc:
        raise CorruptRecordError(path, offset, "length CRC mismatch")
    return length


def iter_records(path: str | os.PathLike, *, verify: bool = True,
                 chunk_size: int = _CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the records of a TFRecord file in order.

    verify: check the data CRC of every record (the length CRC is always checked).
    Raises ``CorruptRecordError`` (after yielding every good record before it) at the first
    bad record; a file ending inside a record counts as truncated.
    """
    with open(path, "rb", buffering=0) as f:
        buffer = b""
        pos = 0          # position of the next record in `buffer`
        offset = 0       # file offset of buffer[pos]
        eof = False

        def fill(needed: int) -> bool:
            # Make buffer[pos:pos + needed] available; False if the file ends first.
            nonlocal buffer, pos, eof
            while len(buffer) - pos < needed and not eof:
                chunk = f.read(max(chunk_size, needed - (len(buffer) - pos)))
                if not chunk:
                    eof = True
                    break
                buffer = buffer[pos:] + chunk if pos < len(buffer) else chunk
                pos = 0
            return len(buffer) - pos >= needed

        while True:
            if not fill(_HEADER_SIZE):
                if len(buffer) > pos:
                    raise CorruptRecordError(path, offset, "truncated record header")
                return
            length = _check_length_crc(path, buffer, pos, offset)
            if not fill(_HEADER_SIZE + length + _FOOTER_SIZE):
                raise CorruptRecordError(
                    path, offset, f"truncated record: {length} data bytes announced, "
                                  f"{len(buffer) - pos - _HEADER_SIZE} left in the file")
            start = pos + _HEADER_SIZE
            end = start + length
            record = buffer[start:end]
            if verify and masked_crc32c(record) != _FOOTER.unpack_from(buffer, end)[0]:
                raise CorruptRecordError(path, offset, "data CRC mismatch")
            consumed = _HEADER_SIZE + length + _FOOTER_SIZE
            pos += consumed
            offset += consumed
            yield record


def count_records(path: str | os.PathLike) -> int:
    """Number of records in a TFRecord file, from its framing alone (data is not read).

    Raises ``CorruptRecordError`` on a bad length CRC or a truncated last record.
    """
    size = os.path.getsize(path)
    count = 0
    offset = 0
    with open(path, "rb") as f:
        while offset < size:
            header = f.read(_HEADER_SIZE)
            if len(header) < _HEADER_SIZE:
                raise CorruptRecordError(path, offset, "truncated record header")
            length = _check_length_crc(path, header, 0, offset)
            offset += _HEADER_SIZE + length + _FOOTER_SIZE
            if offset > size:
                raise CorruptRecordError(path, offset - _HEADER_SIZE - length - _FOOTER_SIZE,
                                         "truncated record")
            f.seek(offset)
            count += 1
    return count


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
