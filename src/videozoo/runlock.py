"""One writer per output: an exclusive lock held for a command's whole lifetime.

``hold_output(path, command)`` (a context manager) takes an exclusive ``fcntl.flock`` on a
lock file and records its holder in it (``pid``, ``host``, command, start time):

* for an output folder (train, synth, extract, embed, export --format bundle) the lock is
  ``FOLDER/.videozoo.lock`` (the folder is created if needed);
* for an output file (export --format onnx / torchscript) it is ``.<name>.videozoo.lock``
  beside the file, so an export next to a running training does not wait for it.

A second process asking for the same output gets ``OutputBusyError`` naming the holder. The
kernel drops a flock when its holder dies (even by SIGKILL), so a lock file that can be
locked but still names a holder was left by a dead process: it is taken over and the dead
holder is named in the log. The holder removes the file when it is done (and the folder, if
it created it and left it empty). Locks are advisory:
they keep videozoo commands apart, not other programs; under torchrun only rank 0 locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from videozoo.errors import OutputBusyError
from videozoo.fileio import ensure_folder, output_error

log = logging.getLogger("videozoo")

LOCK_NAME = ".videozoo.lock"
_LOCK_SUFFIX = ".videozoo.lock"


def lock_path(path: str | os.PathLike, *, folder: bool = True) -> Path:
    """Where the lock of output ``path`` lives (see the module docstring)."""
    path = Path(path)
    return path / LOCK_NAME if folder else path.parent / f".{path.name}{_LOCK_SUFFIX}"


def is_lock_file(name: str) -> bool:
    """True for the name of a lock file (commands ignore it when they look at a folder)."""
    return name == LOCK_NAME or (name.startswith(".") and name.endswith(_LOCK_SUFFIX))


def _read_holder(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        holder = json.loads(text) if text.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another videozoo process"
    started = holder.get("started")
    since = (
        time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started))
        if isinstance(started, (int, float))
        else ""
    )
    return (
        f"videozoo {holder.get('command', '?')} (pid {holder.get('pid', '?')} on "
        f"{holder.get('host', '?')}{since})"
    )


def _open_locked(path: Path, what: str) -> int:
    """An fd of ``path`` holding its exclusive flock; OutputBusyError when another has it."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise output_error(err, path.parent) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputBusyError(
                f"{what} is in use by {_describe(holder)}; wait for it to finish or choose another output"
            ) from None
        # The previous holder may have removed the file between our open and our flock:
        # then we hold a lock on a file nobody else sees; start over.
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def hold_output(
    path: str | os.PathLike, command: str, *, folder: bool = True, enabled: bool = True
) -> Iterator[Path]:
    """Hold the exclusive lock of output ``path`` while the block runs (see the module
    docstring); yields the lock file's path. ``enabled=False``: do nothing (other ranks)."""
    path = Path(path)
    where = lock_path(path, folder=folder)
    if not enabled:
        yield where
        return
    created = not where.parent.exists()
    ensure_folder(where.parent)
    fd = _open_locked(where, str(path))
    stale = _read_holder(fd)
    if stale:
        log.warning(
            "%s: taking over the stale lock of %s: that process is no longer running", path, _describe(stale)
        )
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "started": time.time()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
    try:
        yield where
    finally:
        with contextlib.suppress(OSError):
            where.unlink()
        os.close(fd)
        if created:  # a command refused before writing anything leaves no empty folder
            with contextlib.suppress(OSError):
                where.parent.rmdir()
