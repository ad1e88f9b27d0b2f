"""The `videozoo` command line: synth, train, eval, predict, info, demo (and more).

Every command reads its model's packaged YAML config, the user's `--config FILE` and any
`--set key=value` overrides (validated before data is touched), then calls ``videozoo.api``.
Each command has one function declaring its arguments and one handler, in a module per
family: ``run_commands`` (train, eval, predict, embed, serve, demo), ``zoo_commands``
(models, download, cache, convert, export, upgrade, info), ``data_commands`` (synth,
check, extract, plot); ``arguments`` holds the argument groups they share.
Set VIDEOZOO_DEBUG=1 to see full tracebacks instead of one-line errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from tqdm import tqdm

from videozoo import __version__, registry
from videozoo.cli import data_commands, run_commands, zoo_commands
from videozoo.cli.arguments import Subparsers
from videozoo.errors import EXIT_ABORTED, EXIT_INTERNAL, EXIT_USAGE, VideozooError
from videozoo.fileio import describe_os_error, is_user_os_error

__all__ = ["main", "parse_command_line", "build_parser"]

#: the commands, in the order `videozoo --help` lists them
COMMANDS: list[Callable[[Subparsers], None]] = [
    data_commands.add_synth,
    run_commands.add_train,
    run_commands.add_eval,
    run_commands.add_predict,
    run_commands.add_embed,
    zoo_commands.add_upgrade,
    data_commands.add_check,
    zoo_commands.add_info,
    zoo_commands.add_export,
    zoo_commands.add_convert,
    data_commands.add_extract,
    zoo_commands.add_models,
    zoo_commands.add_download,
    zoo_commands.add_cache,
    run_commands.add_serve,
    data_commands.add_plot,
    run_commands.add_demo,
]

#: commands whose positional inputs may also follow an option (`predict tsm --weights W a.mp4`)
TRAILING_INPUTS = ("predict", "embed")


class _TqdmHandler(logging.StreamHandler):
    """Log lines that do not tear progress bars apart."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(verbose: bool = False) -> None:
    rank = int(os.environ.get("RANK", "0"))
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("videozoo")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else (logging.INFO if rank == 0 else logging.WARNING))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videozoo",
        description="Video classification: YouTube-8M feature models "
        f"({', '.join(registry.models_of_track('youtube8m'))}) and video models "
        f"({', '.join(registry.models_of_track('video'))}).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"videozoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(sub)
    return parser


def parse_command_line(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line; predict / embed inputs may also follow an option
    (`predict tsm --weights W a.mp4`). Exits with usage (2) on a bad command line."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        if args.command in TRAILING_INPUTS and not any(e.startswith("-") for e in extras):
            args.inputs += extras
        else:
            parser.error("unrecognized arguments: " + " ".join(extras))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code says how it ended (``errors.EXIT_MEANINGS``)."""
    args = parse_command_line(argv)
    setup_logging(args.verbose)
    debug = bool(os.environ.get("VIDEOZOO_DEBUG"))
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"videozoo {args.command}: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except VideozooError as err:  # one clear line: the message says what to fix
        if debug:
            raise
        print(f"videozoo {args.command}: {err.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        if debug:
            raise
        return _report_unexpected(args.command, err)


def _report_unexpected(command: str, err: Exception) -> int:
    """A path the OS refuses, a full disk, a binary text file: one line; else a bug."""
    if is_user_os_error(err):
        print(f"videozoo {command}: error: {describe_os_error(err)}", file=sys.stderr)  # type: ignore[arg-type]
        return EXIT_USAGE
    if isinstance(err, UnicodeDecodeError):
        print(
            f"videozoo {command}: error: an input text file is not UTF-8 (byte "
            f"{err.object[err.start : err.start + 1]!r} at {err.start}); save it as UTF-8",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(
        f"videozoo {command}: internal error: {type(err).__name__}: {err}\n"
        "(this is a bug in videozoo; rerun with VIDEOZOO_DEBUG=1 for the traceback "
        "and report it)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL
