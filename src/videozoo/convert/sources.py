"""Reading published weight files as ``{name: numpy array}``, without running code from them.

Formats (``--from``):

* ``paddle-v1.5``: a PaddleVideo v1.5 weights folder, or its published ``.tar.gz`` read
  directly (one file per variable, written by ``fluid.io.save_persistables``). Each file is a
  LoDTensor: ``uint32 version``, ``uint64 lod_level`` (+ per level ``uint64 nbytes`` and
  data), then ``uint32 version``, ``int32 desc_size``, a ``VarType.TensorDesc`` protobuf
  (field 1: data type, field 2: dims) and the raw little-endian data.
* ``paddlevideo``: a PaddleVideo 2.x ``.pdparams`` (a pickle of ``{name: ndarray}``) through
  an Unpickler that admits only numpy arrays.
* ``mmaction2`` / ``mit-tsm``: a ``.pth`` read with ``torch.load(weights_only=True)``; the
  few plain metadata types MMAction2 stores (numpy scalars, mmengine's history buffers) are
  allowed as harmless stand-ins.

Optimizer state in the v1.5 folders (Adam moments, momentum velocities, learning rates, ...)
is recognised by name and not read (only its shape is reported).

Limits (a few hundred crafted bytes must not cost gigabytes): every length a fluid header
claims is checked against the bytes its file or tar member really holds before anything is
read; a tar member may hold at most ``MAX_MEMBER_BYTES``, a tarball at most
``MAX_ARCHIVE_BYTES`` uncompressed and ``MAX_ARCHIVE_MEMBERS`` entries (counted while
streaming); sparse members are refused. ``.pdparams`` arrays are bounded by the file's size
(``fileio.load_numpy_pickle``).
"""

from __future__ import annotations

import math
import os
import re
import struct
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from videozoo.data.protobuf_wire import encode_varint, read_varint
from videozoo.errors import ConvertError
from videozoo.fileio import load_numpy_pickle, torch_load

FORMATS = ("paddle-v1.5", "paddlevideo", "mmaction2", "mit-tsm")

# fluid VarType.Type -> numpy dtype
_FLUID_DTYPES = {
    0: np.bool_,
    1: np.int16,
    2: np.int32,
    3: np.int64,
    4: np.float16,
    5: np.float32,
    6: np.float64,
    20: np.uint8,
    21: np.int8,
}
_FLUID_CODES = {np.dtype(v): k for k, v in _FLUID_DTYPES.items()}

#: the most one tar member may hold: far above any published weight file (the largest
#: variable of a PaddleVideo v1.5 model, NeXtVLAD's hidden layer, is ~0.3 GB; whole published
#: archives are under 1 GB)
MAX_MEMBER_BYTES = 2 << 30
#: the most a tarball may hold uncompressed, and how many entries (published ones: < 1,000)
MAX_ARCHIVE_BYTES = 8 << 30
MAX_ARCHIVE_MEMBERS = 100_000
#: at most this many LoD levels and dims in a fluid tensor header (fluid writes 0 / <= 5)
_MAX_LOD_LEVEL, _MAX_DIMS = 8, 16


class _ClaimTooLarge(ValueError):
    """A header claims more bytes than its file or member holds (a damaged or crafted file)."""


class _Limited:
    """A member's file object that knows how many bytes it really holds (``left``), so a
    header's claimed length is checked before anything is read."""

    def __init__(self, fh: IO[bytes], size: int):
        self.fh, self.left = fh, size

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise _ClaimTooLarge(
                f"its header claims {_size_text(n)} where the file holds {self.left} more bytes"
            )
        parts, wanted = [], n
        while wanted:  # in chunks: memory follows the data that really arrives
            chunk = self.fh.read(min(wanted, 1 << 24))
            if not chunk:
                break
            parts.append(chunk)
            wanted -= len(chunk)
        self.left -= n - wanted
        return b"".join(parts)


def _size_text(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n} bytes"


#: names of optimizer / training-state variables in fluid persistables (never model weights)
#: (RMSProp: _momentum/_mean_square/_mean_grad; piecewise_decay names its rate "learning_rate")
OPTIMIZER_STATE = re.compile(
    r"(_moment\d*_\d+|_beta[12]_pow_acc_\d+|_velocity_\d+|_mean_square_\d+|_mean_grad_\d+|"
    r"_momentum_\d+|_squared_\d+|_linear_\d+|^learning_rate(_\d+)?|^@LR_DECAY_COUNTER@|"
    r"_fp32_master_\d+)$"
)


@dataclass
class WeightFile:
    """The tensors of one published weight file."""

    path: str
    format: str
    tensors: dict[str, np.ndarray]
    ignored: dict[str, tuple] = field(default_factory=dict)  # name -> shape (optimizer state)
    meta: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- fluid tensors
def _parse_tensor_desc(desc: bytes) -> tuple[int, list[int]]:
    data_type, dims, pos = None, [], 0
    while pos < len(desc):
        key, pos = read_varint(desc, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(desc, pos)
            if number == 1:
                data_type = value
            elif number == 2:
                dims.append(value - (1 << 64) if value >= 1 << 63 else value)
        elif wire == 2:  # packed dims (not what fluid writes, but valid protobuf)
            length, pos = read_varint(desc, pos)
            end = pos + length
            while pos < end:
                value, pos = read_varint(desc, pos)
                if number == 2:
                    dims.append(value - (1 << 64) if value >= 1 << 63 else value)
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    if data_type is None:
        raise ValueError("tensor description without a data type")
    return data_type, dims


def read_fluid_header(fh: _Limited) -> tuple[np.dtype, tuple[int, ...]]:
    """Read a LoDTensor's header from ``fh``, leaving it at the start of the raw data; every
    claimed length is checked against the bytes ``fh`` really holds (ValueError if not)."""
    if fh.left < 12:
        raise ValueError("too short for a fluid tensor")
    version, lod_level = struct.unpack("<IQ", fh.read(12))
    if version != 0 or lod_level > _MAX_LOD_LEVEL:
        raise ValueError("not a fluid LoDTensor file")
    for _ in range(lod_level):
        (nbytes,) = struct.unpack("<Q", fh.read(8))
        fh.read(nbytes)
    version, desc_size = struct.unpack("<Ii", fh.read(8))
    if version != 0 or not 0 < desc_size < 4096:
        raise ValueError("not a fluid LoDTensor file")
    data_type, dims = _parse_tensor_desc(fh.read(desc_size))
    if data_type not in _FLUID_DTYPES:
        raise ValueError(f"unsupported fluid data type {data_type}")
    if len(dims) > _MAX_DIMS or any(d < 0 for d in dims):
        raise ValueError("not a fluid LoDTensor file (bad dims)")
    return np.dtype(_FLUID_DTYPES[data_type]).newbyteorder("<"), tuple(dims)


def read_fluid_tensor(fh: _Limited) -> np.ndarray:
    """The tensor in ``fh`` (a ``_Limited`` reader of one file or member)."""
    dtype, shape = read_fluid_header(fh)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > fh.left:
        raise _ClaimTooLarge(
            f"its header claims {list(shape)} {dtype.name} values "
            f"({_size_text(nbytes)}) where the file holds {fh.left} bytes of data"
        )
    data = fh.read(nbytes)
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def fluid_tensor_bytes(array: np.ndarray) -> bytes:
    """A LoDTensor file for ``array`` (lod level 0), as fluid's save_persistables writes it."""
    array = np.ascontiguousarray(array)
    code = _FLUID_CODES[array.dtype.newbyteorder("=")]
    desc = b"\x08" + encode_varint(code) + b"".join(b"\x10" + encode_varint(d) for d in array.shape)
    return (
        struct.pack("<IQ", 0, 0)
        + struct.pack("<Ii", 0, len(desc))
        + desc
        + array.astype(array.dtype.newbyteorder("<")).tobytes()
    )


def write_fluid_dir(folder: str | os.PathLike, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` as a fluid persistables folder (one file per variable)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in tensors.items():
        (folder / name).write_bytes(fluid_tensor_bytes(np.asarray(array)))
    return folder


def _fluid_members(path: Path) -> Iterator[tuple[str, _Limited]]:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            with open(file, "rb") as fh:
                yield file.name, _Limited(fh, os.fstat(fh.fileno()).st_size)
        return
    try:
        archive = tarfile.open(path, "r|*")  # a stream: headers' sizes never pre-allocate
    except (tarfile.TarError, OSError) as err:
        raise ConvertError(f"{path}: not a readable .tar.gz ({err})") from None
    with archive:
        for count, member in enumerate(_streamed(archive, path), 1):
            _check_member(path, member, count, archive.offset)
            if member.isfile():
                data = archive.extractfile(member)
                if data is not None:
                    yield os.path.basename(member.name), _Limited(data, member.size)


def _streamed(archive: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """The members of ``archive`` in one pass, without keeping them all in memory."""
    while True:
        try:
            member = archive.next()
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ConvertError(f"{path}: not a readable .tar.gz ({err})") from None
        if member is None:
            return
        # next() appends every member to this list (not in typeshed's TarFile); the pass needs none
        archive.members.clear()  # type: ignore[attr-defined]
        yield member


def _check_member(path: Path, member: tarfile.TarInfo, count: int, offset: int) -> None:
    """Refuse what no published weights archive holds, before reading the member."""
    where = f"{path}: member {member.name[:200]!r}"
    if member.issparse():
        raise ConvertError(
            f"{where} is a sparse file ({_size_text(member.size)} claimed); "
            "weight archives hold none: refusing it"
        )
    if member.size > MAX_MEMBER_BYTES:
        raise ConvertError(
            f"{where} claims {_size_text(member.size)}, more than any published "
            f"weight file (limit {_size_text(MAX_MEMBER_BYTES)})"
        )
    if offset > MAX_ARCHIVE_BYTES:  # where this member's data ends in the uncompressed stream
        raise ConvertError(
            f"{path}: holds more than {_size_text(MAX_ARCHIVE_BYTES)} "
            "uncompressed, more than any published weights archive"
        )
    if count > MAX_ARCHIVE_MEMBERS:
        raise ConvertError(
            f"{path}: holds more than {MAX_ARCHIVE_MEMBERS} entries, more than any published weights archive"
        )


def read_fluid(path: str | os.PathLike) -> WeightFile:
    """A v1.5 weights folder or tarball; files that are not LoDTensors (``__model__``,
    READMEs) are listed in ``meta["not_tensors"]``."""
    path = Path(path)
    tensors, ignored, not_tensors = {}, {}, []
    for name, fh in _fluid_members(path):
        if name.startswith("."):
            continue
        try:
            if OPTIMIZER_STATE.search(name):
                ignored[name] = read_fluid_header(fh)[1]
            else:
                tensors[name] = read_fluid_tensor(fh)
        except _ClaimTooLarge as err:
            raise ConvertError(
                f"{path}: {name[:200]!r}: {err}; the file is damaged or not a weights file"
            ) from None
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise ConvertError(
                f"{path}: the archive is damaged or truncated at {name[:200]!r} ({err})"
            ) from None
        except (ValueError, IndexError, struct.error):
            not_tensors.append(name)
    if not tensors:
        raise ConvertError(
            f"{path}: holds no PaddlePaddle fluid tensor files; a v1.5 weights "
            "folder has one file per variable (e.g. fc_0.w_0)"
        )
    return WeightFile(str(path), "paddle-v1.5", tensors, ignored, {"not_tensors": not_tensors})


# ----------------------------------------------------------------------------- pickles
def read_pdparams(path: str | os.PathLike) -> WeightFile:
    obj = load_numpy_pickle(path)
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: a .pdparams should hold a dict of arrays, got {type(obj).__name__}")
    tensors, meta = {}, {}
    for name, value in obj.items():
        if isinstance(value, np.ndarray):
            tensors[str(name)] = value
        else:
            meta[str(name)] = value  # e.g. "StructuredToParameterName@@"
    if not tensors:
        raise ConvertError(f"{path}: holds no arrays")
    return WeightFile(str(path), "paddlevideo", tensors, {}, meta)


class _StandIn:
    """A harmless stand-in for plain metadata classes found in published .pth files."""

    def __setstate__(self, state):
        self.state = state


#: metadata classes MMAction2/mmengine checkpoints may carry: read as inert stand-ins
PTH_STAND_INS = [
    (_StandIn, "mmengine.logging.history_buffer.HistoryBuffer"),
    (_StandIn, "mmengine.config.config.ConfigDict"),
    (_StandIn, "mmengine.config.config.Config"),
]


def read_pth(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """(state dict as numpy arrays, other top-level entries) of a PyTorch weights file."""
    import torch

    obj = torch_load(path, allow_numpy=True, extra_globals=PTH_STAND_INS)
    if not isinstance(obj, dict):
        raise ConvertError(
            f"{path}: expected a dict (a state_dict, or one under 'state_dict'), got {type(obj).__name__}"
        )
    if str(obj.get("format", "")).startswith("videozoo-checkpoint"):
        raise ConvertError(f"{path} is already a videozoo checkpoint; use it directly")
    state = obj.get("state_dict", obj) if isinstance(obj.get("state_dict"), dict) else obj
    tensors = {
        str(k): v.detach().float().numpy() if v.is_floating_point() else v.numpy()
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }
    if not tensors:
        raise ConvertError(f"{path}: holds no tensors")
    meta = {k: v for k, v in obj.items() if k != "state_dict"} if state is not obj else {}
    return tensors, meta


# ----------------------------------------------------------------------------- detection
def detect_format(path: str | os.PathLike) -> str:
    """Which of ``FORMATS`` the file is, from its kind and (for .pth) its tensor names."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir() or name.endswith((".tar.gz", ".tgz", ".tar")):
        return "paddle-v1.5"
    if name.endswith(".pdparams"):
        return "paddlevideo"
    if name.endswith((".pth", ".pt", ".pth.tar", ".ckpt")):
        tensors, _ = read_pth(path)
        keys = list(tensors)
        if any(k.startswith(("backbone.", "cls_head.")) for k in keys):
            return "mmaction2"
        if any(
            k.startswith(("module.base_model.", "base_model.", "module.new_fc.", "new_fc.")) for k in keys
        ):
            return "mit-tsm"
        raise ConvertError(
            f"{path}: a PyTorch file whose tensor names (e.g. {keys[0]}) match "
            "no known model zoo; pass --from with one of: " + ", ".join(FORMATS)
        )
    raise ConvertError(
        f"{path}: cannot tell the format from the file; pass --from with one of: "
        + ", ".join(FORMATS)
        + " (a v1.5 folder or .tar.gz, a .pdparams, a .pth)"
    )


def read_weights(path: str | os.PathLike, fmt: str = "auto") -> WeightFile:
    """Read ``path`` in format ``fmt`` (``auto``: detect it)."""
    path = Path(path)
    if not path.exists():
        raise ConvertError(f"{path}: no such file or folder")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "paddle-v1.5":
        return read_fluid(path)
    if fmt == "paddlevideo":
        return read_pdparams(path)
    if fmt in ("mmaction2", "mit-tsm"):
        tensors, meta = read_pth(path)
        return WeightFile(str(path), fmt, tensors, {}, meta)
    raise ConvertError(f"unknown --from {fmt!r}; use auto or one of: {', '.join(FORMATS)}")


def tar_directory(folder: str | os.PathLike, archive: str | os.PathLike) -> Path:
    """Pack a weights folder as a .tar.gz the way PaddleVideo published them (for tests)."""
    folder, archive = Path(folder), Path(archive)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


__all__ = [
    "FORMATS",
    "WeightFile",
    "read_weights",
    "detect_format",
    "read_fluid",
    "read_pdparams",
    "read_pth",
    "write_fluid_dir",
    "fluid_tensor_bytes",
    "read_fluid_tensor",
    "tar_directory",
    "OPTIMIZER_STATE",
]
