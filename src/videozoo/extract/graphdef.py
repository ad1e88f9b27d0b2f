"""A TensorFlow ``GraphDef`` reader (protobuf wire format, no TensorFlow): nodes and their
``Const`` tensors by name.

``read_graphdef(data: bytes) -> {name: Node}``; ``Node.op``, ``Node.inputs`` (names),
``Node.attrs`` ({key: int | float | bool | bytes | list | np.ndarray}) and, for a ``Const``,
``Node.value``: the tensor as a numpy array (float32 ``[kh, kw, in, out]`` for a conv
filter, as TF stores it). Only what the published ``classify_image_graph_def.pb`` uses is
decoded: scalar attrs, int lists (strides, ksize), tensors of the usual numeric dtypes;
other fields are skipped. Every length is checked against the bytes that really hold it, so a
damaged file is a ``DataError``, never an oversized allocation.

Field numbers (tensorflow/core/framework/*.proto): GraphDef.node = 1; NodeDef name 1, op 2,
input 3, attr 5 (map entries key 1, value 2); AttrValue list 1, s 2, i 3, f 4, b 5, type 6,
tensor 8; ListValue s 2, i 3, f 4; TensorProto dtype 1, tensor_shape 2, tensor_content 4,
float_val 5, double_val 6, int_val 7, int64_val 10, bool_val 11; TensorShapeProto dim 2
(Dim.size 1).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from videozoo.data.protobuf_wire import read_varint
from videozoo.errors import DataError

# TF DataType enum -> numpy dtype
_DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
}
#: a Const given as one value repeated to its shape may claim at most this many elements
MAX_BROADCAST_ELEMENTS = 1 << 24


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    @property
    def value(self) -> np.ndarray:
        """The tensor of a Const node."""
        return self.attrs["value"]


def _fields(buf: memoryview) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value): an int for varint fields, bytes for fixed ones,
    a memoryview for length-delimited ones (which one the wire type says: typed Any)."""
    pos, end = 0, len(buf)
    value: Any
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value, pos = bytes(buf[pos : pos + 8]), pos + 8
        elif wire == 5:
            value, pos = bytes(buf[pos : pos + 4]), pos + 4
        elif wire == 2:
            size, pos = read_varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("field runs past the end of its message")
        yield number, wire, value


def _packed(value, wire: int, fmt: str, varint: bool = False) -> list:
    """Values of a repeated scalar field, packed (length-delimited) or one at a time."""
    if wire == 2:
        if varint:
            out, pos = [], 0
            while pos < len(value):
                item, pos = read_varint(value, pos)
                out.append(item)
            return out
        return list(struct.unpack(f"<{len(value) // struct.calcsize(fmt)}{fmt}", value))
    if varint:
        return [value]
    return list(struct.unpack(f"<{fmt}", value))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _shape(buf) -> list[int]:
    dims = []
    for number, _, value in _fields(buf):
        if number == 2:
            size = next((_signed(v) for n, _, v in _fields(value) if n == 1), 0)
            dims.append(size)
    return dims


def _tensor(buf) -> np.ndarray:
    dtype_id, dims, content, values = 1, [], None, []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype_id = value
        elif number == 2:
            dims = _shape(value)
        elif number == 4:
            content = bytes(value)
        elif number == 5:
            values += _packed(value, wire, "f")
        elif number == 6:
            values += _packed(value, wire, "d")
        elif number in (7, 10, 11):
            values += [_signed(v) for v in _packed(value, wire, "", varint=True)]
    if dtype_id not in _DTYPES:
        return np.zeros(0, np.uint8)  # strings and the like: not needed here
    dtype = np.dtype(_DTYPES[dtype_id])
    if any(d < 0 for d in dims):
        raise ValueError(f"tensor shape {dims} has a negative size")
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise ValueError(
                f"tensor of shape {dims} holds {len(content)} bytes, not {count * dtype.itemsize}"
            )
        return np.frombuffer(content, dtype).reshape(dims).copy()
    if len(values) == count:
        return np.asarray(values, dtype).reshape(dims)
    if len(values) == 1 and count <= MAX_BROADCAST_ELEMENTS:  # TF repeats a single value
        return np.full(dims, values[0], dtype)
    raise ValueError(f"tensor of shape {dims} gives {len(values)} values")


def _attr_value(buf):
    for number, _wire, value in _fields(buf):
        if number == 1:  # ListValue
            items = []
            for n, w, v in _fields(value):
                if n == 2:
                    items.append(bytes(v))
                elif n == 3:
                    items += [_signed(x) for x in _packed(v, w, "", varint=True)]
                elif n == 4:
                    items += _packed(v, w, "f")
            return items
        if number == 2:
            return bytes(value)
        if number in (3, 6):
            return _signed(value)
        if number == 4:
            return struct.unpack("<f", value)[0]
        if number == 5:
            return bool(value)
        if number == 8:
            return _tensor(value)
    return None


def _node(buf) -> Node:
    node = Node("", "")
    for number, _, value in _fields(buf):
        if number == 1:
            node.name = bytes(value).decode()
        elif number == 2:
            node.op = bytes(value).decode()
        elif number == 3:
            node.inputs.append(bytes(value).decode())
        elif number == 5:
            key, attr = "", None
            for n, _, v in _fields(value):
                if n == 1:
                    key = bytes(v).decode()
                elif n == 2:
                    attr = _attr_value(v)
            node.attrs[key] = attr
    return node


def read_graphdef(data: bytes, source: str = "GraphDef") -> dict[str, Node]:
    """Every node of a serialised GraphDef, by name. Raises DataError naming `source` when
    the bytes are not a GraphDef."""
    nodes: dict[str, Node] = {}
    try:
        for number, wire, value in _fields(memoryview(data)):
            if number == 1 and wire == 2:
                node = _node(value)
                nodes[node.name] = node
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as err:
        raise DataError(f"{source}: not a TensorFlow GraphDef ({err})") from None
    if not nodes:
        raise DataError(f"{source}: not a TensorFlow GraphDef (no nodes)")
    return nodes
