"""Reading and writing files without running code from them and without losing data.

* ``atomic_write(path, write)`` / ``atomic_write_text`` / ``atomic_write_bytes``: the new
  content goes to a hidden temporary file in the same folder (``.<name>.<random>.tmp``),
  is fsynced and renamed over ``path``; a crash or a full disk leaves the old file intact.
  A full disk raises ``DiskFullError("no space left on <dir> ...")``; any other OS refusal
  (a read-only folder, a file where a folder must be) ``OutputError`` naming the real target,
  never the temporary. The new file gets the mode ``open()`` would give it (0666 less the
  umask); a file written over keeps its mode.
* ``ensure_folder(folder)``: ``mkdir -p`` with the same one-line ``OutputError``.
* ``remove_stale_temporaries(folder)``: deletes such hidden temporaries left by a killed
  process (only our own naming pattern, and only files older than a minute).
* ``torch_load(path)``: ``torch.load(weights_only=True)``: tensors and plain Python types
  only, optionally numpy arrays (their reconstruction runs no code). Anything else is refused
  with ``UnsafeFileError`` naming the object the file asked for.
* ``load_numpy_pickle(path_or_file)``: a pickle of plain containers and numpy arrays (Paddle's
  ``.pdparams``), through an Unpickler that admits only numpy's array reconstruction; every
  length and array size it claims is bounded by the file's size.
* ``read_json(path, max_bytes)``: JSON at most ``max_bytes`` long and ``MAX_JSON_DEPTH``
  deep (checked before parsing: deep nesting would exhaust Python's stack).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import re
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from videozoo.errors import CheckpointError, DiskFullError, OutputError, OutputExistsError

_TMP_PATTERN = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{6,}\.tmp$")
# what the OS says about a path the user chose or the disk, never about videozoo itself
_USER_ERRNOS = {
    errno.ENOENT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EFBIG,
}
#: JSON files videozoo reads (bundle configs, metrics) are a few levels deep
MAX_JSON_DEPTH = 64
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


# ----------------------------------------------------------------------------- writing
def _is_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # torch.save reports a failed write as RuntimeError("... file write failed")
    cause = err.__cause__ or err.__context__
    return cause is not None and cause is not err and _is_disk_full(cause)


def output_error(err: OSError, path: str | os.PathLike) -> OutputError | DiskFullError:
    """``err`` (raised while writing ``path``) as one line naming ``path``, not a temporary."""
    path = Path(path)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left on {path.parent} while writing {path.name}; free some space and run again"
        )
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(
            f"cannot write {path}: permission denied (a read-only folder?); "
            "choose a writable output or fix the folder's permissions"
        )
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return OutputError(
                f"cannot write {path}: {blocker} is a file, not a folder; choose another output"
            )
    return OutputError(f"cannot write {path}: {err.strerror or err}")


def is_user_os_error(err: BaseException) -> bool:
    """An OSError about a path or the disk (the command line reports it in one line)."""
    return isinstance(err, OSError) and err.errno in _USER_ERRNOS


def real_name(path: str | os.PathLike) -> Path:
    """The file an atomic write's temporary ``.<name>.<random>.tmp`` stands for (else ``path``)."""
    path = Path(path)
    match = _TMP_PATTERN.match(path.name)
    return path.with_name(match.group(1)) if match else path


def describe_os_error(err: OSError) -> str:
    """One line for ``err`` naming the real target, never an atomic write's temporary."""
    name = real_name(err.filename) if err.filename is not None else None
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the disk{f' while writing {name}' if name else ''}; free "
            "some space and run again"
        )
    text = err.strerror or str(err)
    return f"{text}: {name}" if name else text


def is_special_file(path: str | os.PathLike) -> bool:
    """A FIFO, device or socket (stat does not open it, so a FIFO cannot block)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def ensure_folder(folder: str | os.PathLike) -> Path:
    """``mkdir -p folder``; ``OutputError`` (one line) when the OS refuses."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:  # exists, but is not a folder
        raise output_error(OSError(errno.ENOTDIR, err.strerror), folder) from None
    except OSError as err:
        raise output_error(err, folder) from None
    return folder


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for a moment, in every thread)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mode_for(path: str | os.PathLike) -> int:
    """The mode to give a new version of ``path``: its current one, else what open() would
    give a new file (0666 less the umask). For temporaries renamed into place: mkstemp
    makes them 0600."""
    try:
        return stat.S_IMODE(Path(path).stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file and rename it to ``path`` once complete.

    ``path`` is always either the old file or the complete new one. Raises ``DiskFullError``
    (one line naming the folder) when the disk fills up, ``OutputError`` for other refusals;
    the temporary file is removed.
    """
    path = Path(path)
    ensure_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise output_error(err, path) from None
    try:
        os.fchmod(fd, mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if _is_disk_full(err) or (isinstance(err, RuntimeError) and _disk_nearly_full(path.parent)):
            raise DiskFullError(
                f"no space left on {path.parent} while writing {path.name}; "
                "the previous version of the file is intact: free some space "
                "and run again"
            ) from None
        if isinstance(err, OSError) and err.filename in (None, tmp, str(path)):
            raise output_error(err, path) from None  # not an input that `write` read
        raise
    _fsync_dir(path.parent)
    return path


def _disk_nearly_full(folder: Path) -> bool:
    try:
        import shutil

        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


def _fsync_dir(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_of(path: str | os.PathLike) -> str:
    """The file's sha256 as hex, read in 1 MiB blocks (any size in bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def csv_text_cell(value: Any) -> Any:
    """A CSV cell that spreadsheets will not run as a formula: text starting with = + - @
    (or a tab / carriage return) gets a leading apostrophe. Numbers pass unchanged. Only for
    files a spreadsheet reads: it changes the text (a YouTube-8M id "-abc" becomes "'-abc")."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(path: str | os.PathLike, header: list[str], rows: Iterable, *, escape: bool = False) -> Path:
    """Write a CSV atomically; ``escape``: text cells through ``csv_text_cell`` (files meant
    for spreadsheets); without it every cell is kept verbatim (files meant for programs)."""
    import csv

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_text_cell(v) for v in row] if escape else row)
    return atomic_write_text(path, text.getvalue())


def save_figure(fig, path: str | os.PathLike) -> Path:
    """``fig.savefig`` atomically (the format from the file name)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png")
    return atomic_write_bytes(path, buffer.getvalue())


def refuse_to_overwrite(
    folder: str | os.PathLike,
    patterns: Iterable[str],
    what: str,
    overwrite: bool,
    flag: str = "--overwrite",
    ignore: Callable[[str], bool] = lambda name: False,
) -> None:
    """Raise ``OutputExistsError`` when ``folder`` already holds files matching ``patterns``
    (e.g. another dataset; names for which ``ignore`` is true do not count) unless
    ``overwrite``; the message names the files and the flag."""
    folder = Path(folder)
    if overwrite or not folder.is_dir():
        return
    found = sorted({p.name for pattern in patterns for p in folder.glob(pattern) if not ignore(p.name)})
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise OutputExistsError(
            f"{folder} already holds {what} ({shown}); choose an empty folder or pass {flag} to replace it"
        )


def remove_stale_temporaries(folder: str | os.PathLike, min_age_s: float = 60.0) -> int:
    """Delete hidden ``.<name>.<random>.tmp`` files that an interrupted save left in
    ``folder`` (not recursive). Returns how many bytes were freed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    freed, now = 0, time.time()
    for entry in folder.iterdir():
        if not _TMP_PATTERN.match(entry.name) or not entry.is_file():
            continue
        try:
            stat = entry.stat()
            if now - stat.st_mtime < min_age_s:
                continue  # maybe another live process's save in progress
            entry.unlink()
            freed += stat.st_size
        except OSError:
            continue
    return freed


# ----------------------------------------------------------------------------- reading
class UnsafeFileError(CheckpointError):
    """A file that could only be loaded by running code named in it."""


def _numpy_globals() -> list:
    core = getattr(np, "_core", None) or np.core
    names = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    names += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return names


def _unsupported_global(err: Exception) -> str | None:
    match = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(err))
    return match.group(1) if match else None


def torch_load(path: str | os.PathLike, *, allow_numpy: bool = False, extra_globals: Iterable = ()) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU.

    ``allow_numpy``: also admit numpy arrays, scalars and dtypes (their reconstruction runs
    no code). ``extra_globals``: more allowed classes, or ``(stand_in, "module.Name")`` pairs
    that map a name in the file to a harmless class of ours. Raises ``UnsafeFileError`` when
    the file asks for anything else, ``CheckpointError`` when it is not a torch file at all.
    """
    import torch

    allowed = (_numpy_globals() if allow_numpy else []) + list(extra_globals)
    try:
        with torch.serialization.safe_globals(allowed):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        name = _unsupported_global(err)
        if name is None:
            raise CheckpointError(
                f"{path} is not a readable PyTorch file (damaged, or another kind of file)"
            ) from None
        raise UnsafeFileError(
            f"{path}: refused to load: it asks to construct the Python object '{name}', and "
            "loading it would run code from the file; videozoo only loads tensors and plain "
            "data"
        ) from None
    except FileNotFoundError:
        raise
    except Exception as err:  # zip/pickle framing errors of a damaged or foreign file
        raise CheckpointError(
            f"{path} is not a readable PyTorch file ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:160] if str(err) else ''})"
        ) from None
    _refuse_non_dense(loaded, path)
    return loaded


def _refuse_non_dense(obj: Any, path) -> None:
    """Sparse (and other non-strided) tensors: no model weight is one; refuse them by name."""
    import torch

    stack = [("", obj)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, torch.Tensor):
            if item.layout != torch.strided:
                raise CheckpointError(
                    f"{path}: tensor {where or '(top level)'} is "
                    f"{str(item.layout).removeprefix('torch.')}, not dense; "
                    "videozoo reads dense tensors only (save it with "
                    ".to_dense())"
                )
        elif isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))


class _PickleTooLarge(CheckpointError):
    """A pickle that asks for more memory than its file could fill."""


class _CheckedArray(np.ndarray):
    """What the unpickler builds for ``numpy.ndarray``: an ndarray whose pickled state is
    checked against the file's size before numpy allocates it (turned back into a plain
    ndarray once loaded). Each load uses a subclass whose ``budget`` is its file's size."""

    budget = 0

    def __new__(cls, shape, dtype=float, *args, **kwargs):  # ndarray(shape) called by a pickle
        _check_array_size(shape, dtype, cls.budget)
        return np.ndarray.__new__(cls, shape, dtype, *args, **kwargs)

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("malformed ndarray state")
        shape, dtype = state[-4], state[-3]
        _check_array_size(shape, dtype, type(self).budget)
        if getattr(dtype, "hasobject", False):
            raise pickle.UnpicklingError("an object array (weights are numbers)")
        super().__setstate__(state)


def _check_array_size(shape, dtype, budget: int) -> None:
    try:
        count = 1
        for dim in shape if isinstance(shape, (tuple, list)) else (shape,):
            if int(dim) < 0:
                raise ValueError
            count *= int(dim)
        nbytes = count * np.dtype(dtype).itemsize
    except (TypeError, ValueError, OverflowError):
        raise pickle.UnpicklingError("malformed array shape or dtype") from None
    if nbytes > budget:
        raise _PickleTooLarge(
            f"the pickle asks for an array of {count} values ({nbytes} "
            f"bytes), more than the file's {budget} bytes can hold"
        )


class _BoundedBytes(io.BytesIO):
    """The pickle's bytes; a read longer than what is left is refused, not truncated."""

    def read(self, n: int | None = -1) -> bytes:
        size = len(self.getbuffer())
        if n is not None and n > size - self.tell():
            raise _PickleTooLarge(
                f"the pickle claims a length of {n} bytes where "
                f"{size - self.tell()} remain (the file holds {size} bytes)"
            )
        return super().read(n)


class _NumpyOnlyUnpickler(pickle._Unpickler):
    """Admits numpy array/scalar reconstruction and plain containers, nothing else.

    The pure-Python unpickler reading from memory: every length the pickle claims is bounded
    by the bytes it really holds (the C one allocates a claimed ``BINBYTES8`` length first),
    and arrays are bounded by the file's size (``_CheckedArray``)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("_codecs", "encode"),  # how protocol-2 pickles store bytes (old Paddle .pdparams)
    }

    def __init__(self, data: bytes):
        super().__init__(_BoundedBytes(data))
        self.budget = len(data)
        self.array_type = type("_CheckedArray", (_CheckedArray,), {"budget": len(data)})

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED and not (module == "numpy.dtypes" and name.endswith("DType")):
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        if name == "ndarray":
            return self.array_type
        if name == "_reconstruct":
            return self._reconstruct
        if name == "scalar":
            return self._scalar
        if name == "encode":
            return _latin1_encode
        return super().find_class(module, name)

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not self.array_type:
            raise pickle.UnpicklingError("array reconstruction of another type")
        _check_array_size(shape, dtype, self.budget)
        return np.ndarray.__new__(self.array_type, shape, dtype)

    def _scalar(self, dtype, *data):
        _check_array_size((), dtype, self.budget)
        return (getattr(np, "_core", None) or np.core).multiarray.scalar(dtype, *data)

    def load_bytearray8(self):
        raise pickle.UnpicklingError("a protocol-5 bytearray (weights files have none)")

    dispatch: ClassVar[dict[int, Callable[..., Any]]] = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _latin1_encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {str(encoding)[:40]!r}")
    return text.encode("latin1")


def _plain_arrays(obj: Any, max_depth: int = 64) -> Any:
    """``obj`` with every ``_CheckedArray`` replaced by a plain ndarray (iteratively, and at
    most ``max_depth`` containers deep: weights files are a dict of arrays)."""

    def plain(value):
        return value.view(np.ndarray) if isinstance(value, _CheckedArray) else value

    stack, seen = [(obj, 0)], set()
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise _PickleTooLarge(
                f"containers nested more than {max_depth} deep (weights files are a dict of arrays)"
            )
        if id(node) in seen:  # shared (memoised) containers are visited once
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                node[key] = plain(value)
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                node[i] = plain(value)
                stack.append((value, depth + 1))
        elif isinstance(node, tuple):
            stack.extend((value, depth + 1) for value in node)
    return plain(obj)


def load_numpy_pickle(source: str | os.PathLike | BinaryIO, *, name: str | None = None) -> Any:
    """Unpickle plain containers and numpy arrays only (e.g. Paddle ``.pdparams``).

    Raises ``UnsafeFileError`` naming the callable a crafted file asked for (it is never
    called), ``CheckpointError`` for a file that is not a pickle or that claims more memory
    than its size allows (an array or a byte string larger than the file).
    """
    label = name or str(source)
    try:
        if hasattr(source, "read"):
            data = source.read()
        else:
            with open(source, "rb") as fh:
                data = fh.read()
        return _plain_arrays(_NumpyOnlyUnpickler(data).load())
    except _PickleTooLarge as err:
        raise CheckpointError(f"{label}: refused: {err}; the file is damaged or crafted") from None
    except pickle.UnpicklingError as err:
        if str(err).startswith("forbidden global"):
            raise UnsafeFileError(
                f"{label}: refused to load: the pickle asks for "
                f"{str(err).removeprefix('forbidden global ')}, which could "
                "run code; only numpy arrays and plain containers are "
                "accepted"
            ) from None
        raise CheckpointError(f"{label} is not a readable pickle ({str(err)[:200]})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, struct.error) as err:
        raise CheckpointError(
            f"{label} is not a readable pickle ({type(err).__name__}: {str(err)[:200]})"
        ) from None


def read_json(path: str | os.PathLike, max_bytes: int, error: type = CheckpointError) -> Any:
    """The JSON in ``path``, refused with ``error`` (one line naming the file and the bound)
    when it is larger than ``max_bytes``, nested deeper than ``MAX_JSON_DEPTH`` or invalid."""
    import json

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {size} bytes, more than such a file holds (limit {max_bytes})")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path} is not readable JSON ({str(err)[:200]})") from None
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise error(f"{path}: JSON nested more than {MAX_JSON_DEPTH} levels deep; refusing it")
        elif bracket in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError, RecursionError) as err:
        raise error(f"{path} is not readable JSON ({str(err)[:200]})") from None
