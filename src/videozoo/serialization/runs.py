"""A run folder's step checkpoints: their names, listing and pruning, and the point to resume.

Step checkpoints are named ``ckpt-<global step:08d>.pt`` so they sort by step; ``best.pt``
is a copy of the best validated one (written by the training loop).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videozoo.errors import CheckpointError
from videozoo.fileio import UnsafeFileError
from videozoo.serialization.checkpoint import read_checkpoint
from videozoo.serialization.format import require_config

_NAME = re.compile(r"^ckpt-(\d+)\.pt$")
log = logging.getLogger("videozoo")


def checkpoint_path(output_dir: str | Path, global_step: int) -> Path:
    """Where the step checkpoint of ``global_step`` goes in ``output_dir``."""
    return Path(output_dir) / f"ckpt-{global_step:08d}.pt"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Step checkpoints in `output_dir`, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(output_dir: str | Path, keep: int, protect: Path | None = None) -> None:
    """Keep the newest ``keep`` step checkpoints (and ``protect``)."""
    if keep <= 0:
        return
    for old in list_checkpoints(output_dir)[:-keep]:
        if protect is None or old != protect:
            old.unlink(missing_ok=True)


@dataclass
class ResumePoint:
    """A checkpoint to continue training from, read once."""

    path: Path
    state: dict[str, Any]


def _check_resumable(state: dict[str, Any], path: Path) -> None:
    require_config(state, path, "--resume")
    missing = [k for k in ("optimizer", "progress", "rng") if k not in state]
    if missing:
        raise CheckpointError(
            f"{path} has no training state ({', '.join(missing)} missing: it "
            "was written by convert or export); start a new run from it with "
            "--weights instead of --resume"
        )


def _read_resumable(path: Path, expect_model: str | None) -> ResumePoint:
    state = read_checkpoint(path, expect_model)
    _check_resumable(state, path)
    return ResumePoint(path, state)


def resolve_resume(
    resume: str | Path, output_dir: str | Path, expect_model: str | None = None
) -> ResumePoint | None:
    """``--resume FILE`` or ``--resume auto`` -> the checkpoint to continue from, read once.

    ``auto`` takes the newest step checkpoint in ``output_dir`` that loads; a damaged newer
    one is skipped with a warning naming it. None when the folder holds no checkpoint yet;
    ``CheckpointError`` when it holds only damaged ones.
    """
    if str(resume) != "auto":
        path = Path(resume)
        if not path.is_file():
            raise CheckpointError(f"--resume {resume}: no such file")
        return _read_resumable(path, expect_model)
    found = list_checkpoints(output_dir)
    for path in reversed(found):
        try:
            return _read_resumable(path, expect_model)
        except UnsafeFileError:
            raise
        except CheckpointError as err:
            log.warning(
                "--resume auto: skipping %s, it cannot be loaded (%s); trying the one before it",
                path.name,
                err,
            )
    if found:
        raise CheckpointError(
            f"--resume auto: none of the {len(found)} checkpoint(s) in "
            f"{output_dir} can be resumed, they are damaged or hold no "
            f"training state ({', '.join(p.name for p in found[-3:])}: "
            "reasons above); start over with --overwrite, or --resume a "
            "good copy"
        )
    return None
