"""The pieces of the protobuf wire format that videozoo reads and writes by hand (the
YouTube-8M record fast paths, Paddle's fluid tensor headers): base-128 varints and
length-delimited fields."""

from __future__ import annotations


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


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


def length_delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def length_delimited_fields(buf, start: int, end: int) -> list[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field of the message in buf[start:end].

    Other wire types are stepped over; a field running past ``end`` or an unknown wire type
    raises ``WireError``, a buffer cut short ``IndexError``. Keys and lengths under 128 (nearly
    all of them in YouTube-8M records) are read inline: this runs a dozen times per record,
    so a call per varint would be most of the parsing time.
    """
    fields = []
    pos = start
    while pos < end:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == 2:
            length = buf[pos]
            if length < 0x80:
                pos += 1
            else:
                length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise WireError("field runs past its message")
            fields.append((key >> 3, pos, pos + length))
            pos += length
        elif wire_type == 0:
            _, pos = read_varint(buf, pos)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise WireError(f"wire type {wire_type}")
    return fields
