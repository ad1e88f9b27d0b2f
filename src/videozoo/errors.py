"""The errors a user can fix, and the exit codes the command line gives for them.

Every error videozoo raises on purpose derives from ``VideozooError``: its message is one line
naming the file, key or option at fault and the fix, and the CLI prints it as is and exits
with the class's ``exit_code``. Anything else that reaches the CLI is a bug (exit 1, traceback
with ``VIDEOZOO_DEBUG=1``). Each class also derives from the built-in exception a caller would
expect (``ValueError``, ``FileNotFoundError``, ...), so plain ``except ValueError`` still works.

Exit codes (README, "What happens when things go wrong"):

====  ============================================================================
0     finished
1     internal error (a bug: please report it with ``VIDEOZOO_DEBUG=1`` output)
2     bad command, option, config, checkpoint or input (one line says which)
3     the command ran but produced nothing usable (no input could be predicted,
      ``check`` found bad files)
4     training stopped: too many non-finite losses in a row
75    interrupted (SIGTERM / SIGINT) after writing a checkpoint: resume with
      ``--resume auto`` (75 = EX_TEMPFAIL, "try again")
130   interrupted by a second Ctrl-C, without a checkpoint
====  ============================================================================
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOTHING_USABLE = 3
EXIT_TRAINING_STOPPED = 4
EXIT_INTERRUPTED = 75
EXIT_ABORTED = 130


class VideozooError(Exception):
    """An error the user can fix; its message says how."""

    exit_code = EXIT_USAGE
    kind = "error"


class ConfigError(VideozooError, ValueError):
    """A config key or value that does not fit the schema."""

    kind = "config error"


class DataError(VideozooError, ValueError):
    """A dataset, annotation or input file that cannot be used as it is."""


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
