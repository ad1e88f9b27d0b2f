"""The errors a user can fix, and the exit codes the command line gives for them.

Every error videozoo raises on purpose derives from ``VideozooError``: its message is one line
naming the file, key or option at fault and the fix, and the CLI prints it as is and exits
with the class's ``exit_code``. Anything else that reaches the CLI is a bug (exit 1, traceback
with ``VIDEOZOO_DEBUG=1``). Each class also derives from the built-in exception a caller would
expect (``ValueError``, ``FileNotFoundError``, ...), so plain ``except ValueError`` still works.

The exit codes and what each means are ``EXIT_MEANINGS`` below (docs/reliability.md shows
``exit_code_table()``; a test keeps the two equal).
"""

from __future__ import annotations

import reprlib

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOTHING_USABLE = 3
EXIT_TRAINING_STOPPED = 4
EXIT_INTERRUPTED = 75
EXIT_ABORTED = 130

EXIT_MEANINGS = {
    EXIT_OK: "finished",
    EXIT_INTERNAL: "internal error: a bug in videozoo (rerun with `VIDEOZOO_DEBUG=1` and report "
    "the traceback)",
    EXIT_USAGE: "bad command, option, config, checkpoint or input, an output that cannot be "
    "written (read-only, full disk, occupied) or is in use by another videozoo "
    "process: one line says which and how to fix it",
    EXIT_NOTHING_USABLE: "the command ran but produced nothing usable: no input could be "
    "predicted or embedded (or the inputs held nothing), or `videozoo check` "
    "found problems (listed in its CSV)",
    EXIT_TRAINING_STOPPED: "training stopped: `train.max_bad_steps` non-finite losses in a row, "
    "or weights became NaN/Inf (nothing non-finite is saved)",
    EXIT_INTERRUPTED: "interrupted by SIGTERM / SIGINT after writing a checkpoint: continue with "
    '`--resume auto` (75 is EX_TEMPFAIL, "try again")',
    EXIT_ABORTED: "interrupted by a second Ctrl-C, without a checkpoint",
}


def exit_code_table() -> str:
    """``EXIT_MEANINGS`` as the Markdown table docs/reliability.md shows."""
    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_MEANINGS.items()]
    return "\n".join(["| exit code | meaning |", "|---|---|", *rows]) + "\n"


#: how much of a value a message shows: a few items, a few levels, short strings (a crafted
#: file's value can expand to gigabytes when formatted in full)
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 2, 60, 60, 40
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 4


def brief(value: object) -> str:
    """``repr(value)``, bounded: what messages show of a value read from a file or option."""
    return _BRIEF.repr(value)


class VideozooError(Exception):
    """An error the user can fix; its message says how."""

    exit_code = EXIT_USAGE
    kind = "error"


class ConfigError(VideozooError, ValueError):
    """A config key or value that does not fit the schema."""

    kind = "config error"


class DataError(VideozooError, ValueError):
    """A dataset, annotation or input file that cannot be used as it is."""


class ClassCountError(DataError):
    """The data's class list and the model's class count disagree; ``found``: the data's."""

    def __init__(self, message: str, found: int):
        super().__init__(message)
        self.found = found


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset folder, split, annotation or input that does not exist."""


class CheckpointError(VideozooError, RuntimeError):
    """A file that is not a usable videozoo checkpoint (or not a safe one)."""


class ExportError(VideozooError, RuntimeError):
    """An export that cannot be done as asked."""


class ConvertError(VideozooError, ValueError):
    """Published weights that cannot be converted as asked."""


class DownloadError(VideozooError, OSError):
    """Published weights that could not be fetched, or did not verify (the message names the
    URL and the VIDEOZOO_MIRROR / VIDEOZOO_OFFLINE options)."""

    kind = "download error"


class OutputExistsError(VideozooError, FileExistsError):
    """A command would overwrite results it did not write; an explicit flag allows it."""


class OutputBusyError(VideozooError, BlockingIOError):
    """Another videozoo process holds the lock of this output (``runlock.py``)."""


class OutputError(VideozooError, OSError):
    """An output that cannot be written: a read-only folder, a file where a folder must be."""


class DiskFullError(VideozooError, OSError):
    """No space left while writing a file (the previous version of the file is intact)."""


class NonFiniteError(VideozooError, ValueError):
    """A model gave NaN/Inf where numbers are needed (its weights diverged)."""


class NothingUsableError(VideozooError):
    """The command ran, but nothing usable came out (every input failed)."""

    exit_code = EXIT_NOTHING_USABLE


class TrainingStopped(VideozooError, RuntimeError):
    """Too many consecutive non-finite losses."""

    exit_code = EXIT_TRAINING_STOPPED
