"""TFRecord files: read, count and write length-framed records, with both CRC32C checks.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (LE) | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8  (mod 2**32)`` over CRC-32C (Castagnoli).

* ``scan_records(path)`` yields each record as a memoryview of the memory-mapped file (no
  copy, no syscall per record) and a ``Damage`` for each damaged stretch (CRC mismatch,
  truncation), after which it re-syncs on the next sound record; ``scan_located_records``
  also gives each record's byte offset in the file.
* ``map_file(path)`` is the read-only map those views come from (the last few files' maps are
  kept, so a reader and a batch assembler in one process share pages instead of mapping twice).
* ``iter_records(path)`` is the strict version: ``CorruptRecordError`` at the first damage.
* ``count_records(path)`` walks the framing only (the data pages are never touched).
* ``TFRecordWriter(path)`` writes records to a temporary file renamed into place on close.
* ``ShardedTFRecordWriter(folder, prefix, shard_size)`` writes records into rotating shards
  ``{prefix}0000.tfrecord``, ``{prefix}0001.tfrecord``, ... of ``shard_size`` records each.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import tempfile
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import crc32c
import numpy as np

from videozoo.errors import DataError
from videozoo.fileio import mode_for, output_error

__all__ = [
    "CorruptRecordError",
    "Damage",
    "masked_crc32c",
    "frame_record",
    "scan_records",
    "scan_located_records",
    "map_file",
    "iter_records",
    "count_records",
    "TFRecordWriter",
    "ShardedTFRecordWriter",
]

_HEADER = struct.Struct("<QI")  # length, masked crc of the 8 length bytes
_FOOTER = struct.Struct("<I")  # masked crc of the data
_HEADER_SIZE = _HEADER.size  # 12
_FOOTER_SIZE = _FOOTER.size  # 4
_MASK_DELTA = 0xA282EAD8


class CorruptRecordError(DataError):
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
    return b"".join(
        (length, struct.pack("<I", masked_crc32c(length)), data, _FOOTER.pack(masked_crc32c(data)))
    )


class Damage(NamedTuple):
    """A damaged stretch of a TFRecord file, skipped by ``scan_records``."""

    offset: int  # byte offset where the damage was found
    skipped_bytes: int  # bytes skipped to reach the next good record (or the end of the file)
    reason: str  # length CRC mismatch / data CRC mismatch / truncated record ...


_MAPS_KEPT = 8
_maps: OrderedDict = OrderedDict()  # (path, device, inode, size, mtime) -> memoryview, most recent last


def map_file(path: str | os.PathLike) -> memoryview | None:
    """The whole file as a read-only memoryview of a shared memory map (None if it is empty).

    The maps of the last few files are kept and handed out again while the file is unchanged
    (same inode, size and mtime); a map lives on as long as a view of it is referenced.
    """
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        key = (os.fspath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        view = _maps.get(key)
        if view is not None:
            _maps.move_to_end(key)
            return view
        if info.st_size == 0:
            return None
        view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    _maps[key] = view
    if len(_maps) > _MAPS_KEPT:
        _maps.popitem(last=False)
    return view


def _check_record(data: memoryview, offset: int, size: int, verify: bool) -> tuple[int, str]:
    """(end offset of the record at ``offset``, "") if it is sound, else (-1, reason)."""
    if size - offset < _HEADER_SIZE:
        return -1, "truncated record header"
    length, length_crc = _HEADER.unpack_from(data, offset)
    # The length is only trusted once its own CRC matches (a flipped bit could ask for terabytes).
    if masked_crc32c(data[offset : offset + 8]) != length_crc:
        return -1, "length CRC mismatch"
    end = offset + _HEADER_SIZE + length
    if end + _FOOTER_SIZE > size:
        return -1, (
            f"truncated record: {length} data bytes announced, "
            f"{size - offset - _HEADER_SIZE} left in the file"
        )
    if verify and masked_crc32c(data[offset + _HEADER_SIZE : end]) != _FOOTER.unpack_from(data, end)[0]:
        return -1, "data CRC mismatch"
    return end + _FOOTER_SIZE, ""


def _next_good_record(data: memoryview, start: int, size: int, verify: bool) -> int:
    """The first offset >= ``start`` where a sound record begins, or ``size``.

    Candidates are offsets whose 8 length bytes announce a record that fits in the file
    (found with numpy, a chunk at a time); each is then checked with its CRCs.
    """
    raw = np.frombuffer(data, np.uint8)
    chunk = 1 << 20
    for lo in range(start, size - _HEADER_SIZE - _FOOTER_SIZE + 1, chunk):
        hi = min(lo + chunk, size - _HEADER_SIZE - _FOOTER_SIZE + 1)
        window = raw[lo : hi + 7]
        lengths = np.zeros(hi - lo, np.uint64)
        for k in range(8):
            lengths |= window[k : k + hi - lo].astype(np.uint64) << np.uint64(8 * k)
        room = (size - _HEADER_SIZE - _FOOTER_SIZE) - np.arange(lo, hi, dtype=np.int64)
        for i in np.flatnonzero(lengths <= room.astype(np.uint64)):
            if _check_record(data, lo + int(i), size, verify)[0] > 0:
                return lo + int(i)
    return size


def scan_records(path: str | os.PathLike, *, verify: bool = True) -> Iterator[memoryview | Damage]:
    """Every sound record of a TFRecord file in order (memoryviews of the mapped file), and a
    ``Damage`` for each damaged stretch, after which reading re-syncs: it continues at the
    next offset whose length CRC (and, with ``verify``, data CRC) check out, so one flipped
    byte costs one record, not the rest of the file.
    """
    for item in scan_located_records(path, verify=verify):
        yield item if isinstance(item, Damage) else item[1]


def scan_located_records(
    path: str | os.PathLike, *, verify: bool = True
) -> Iterator[tuple[int, memoryview] | Damage]:
    """``scan_records`` with each record's place: ``(byte offset of its data in the file,
    record)``, so that a record can be found again in ``map_file(path)`` (another process)."""
    data = map_file(path)
    if data is None:  # an empty file
        return
    size, offset = len(data), 0
    while offset < size:
        end, reason = _check_record(data, offset, size, verify)
        if end > 0:
            yield offset + _HEADER_SIZE, data[offset + _HEADER_SIZE : end - _FOOTER_SIZE]
            offset = end
            continue
        if reason == "data CRC mismatch":  # the framing is sound: only this record is lost
            length = _HEADER.unpack_from(data, offset)[0]
            resume = offset + _HEADER_SIZE + length + _FOOTER_SIZE
        else:
            resume = _next_good_record(data, offset + 1, size, verify)
        yield Damage(offset, resume - offset, reason)
        offset = resume


def iter_records(path: str | os.PathLike, *, verify: bool = True) -> Iterator[memoryview]:
    """Yield the records of a TFRecord file in order, as read-only memoryviews; raise
    ``CorruptRecordError`` (after every good record before it) at the first damage.

    The file is memory-mapped: a record is a view of the page cache (no copy, no syscall per
    record) and stays valid as long as it is referenced; ``bytes(record)`` makes a copy.
    verify: check the data CRC of every record (the length CRC is always checked).
    """
    for item in scan_records(path, verify=verify):
        if isinstance(item, Damage):
            raise CorruptRecordError(path, item.offset, item.reason)
        yield item


def count_records(path: str | os.PathLike) -> int:
    """Number of sound records in a TFRecord file, from its framing alone (the data is not
    read); damaged stretches are skipped as ``scan_records`` does."""
    return sum(1 for item in scan_records(path, verify=False) if not isinstance(item, Damage))


class _CloseOrAbort(ABC):
    """As a context manager: ``close()`` on a clean exit, ``abort()`` on an exception."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class TFRecordWriter(_CloseOrAbort):
    """Write records to ``path``; the file appears (atomically renamed) only on a clean close.

    >>> with TFRecordWriter("train0000.tfrecord") as writer:
    ...     writer.write(example_bytes)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        folder, name = os.path.split(os.path.abspath(self.path))
        try:
            fd, self._tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            os.fchmod(fd, mode_for(self.path))
        except OSError as err:
            raise output_error(err, self.path) from None
        self._file = os.fdopen(fd, "wb")
        self.records_written = 0

    def write(self, data: bytes) -> None:
        try:
            self._file.write(frame_record(data))
        except OSError as err:  # a full disk: one line naming the shard, not the temporary
            self.abort()
            raise output_error(err, self.path) from None
        self.records_written += 1

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                os.replace(self._tmp_path, self.path)
            except OSError as err:
                self.abort()
                raise output_error(err, self.path) from None

    def abort(self) -> None:
        """Drop everything written; ``path`` is left untouched."""
        if not self._file.closed:
            with contextlib.suppress(OSError):  # closing flushes: a full disk fails again
                self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)


class ShardedTFRecordWriter(_CloseOrAbort):
    """Write records into ``{prefix}0000.tfrecord``, ``{prefix}0001.tfrecord``, ... in
    ``folder``, ``shard_size`` records each (the last one may hold fewer).

    Each shard is a ``TFRecordWriter``: it appears (renamed into place) when the next record
    starts a new shard, or on ``close``.
    ``abort`` drops the shard being written; shards already complete stay. ``paths`` lists
    the shards written so far. As a context manager it closes, or aborts on an exception.
    """

    def __init__(self, folder: str | os.PathLike, prefix: str, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.folder, self.prefix, self.shard_size = os.fspath(folder), prefix, shard_size
        self.paths: list[str] = []
        self._writer: TFRecordWriter | None = None

    def write(self, data: bytes) -> str:
        """Append one record; returns the name of the shard it went to."""
        if self._writer is None or self._writer.records_written == self.shard_size:
            self.close()
            name = f"{self.prefix}{len(self.paths):04d}.tfrecord"
            self.paths.append(os.path.join(self.folder, name))
            self._writer = TFRecordWriter(self.paths[-1])
        self._writer.write(data)
        return os.path.basename(self.paths[-1])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        """Drop the shard being written (it never appears); complete shards stay."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
            self.paths.pop()
