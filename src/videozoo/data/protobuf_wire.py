"""The two pieces of the protobuf wire format that videozoo reads and writes by hand (the
YouTube-8M record fast paths, Paddle's fluid tensor headers): base-128 varints."""

from __future__ import annotations


def read_varint(buf, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``buf[pos]``; IndexError if cut short."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    """``value`` as a varint (negative numbers as their 64-bit two's complement, as protobuf)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
