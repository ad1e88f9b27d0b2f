"""What a training run writes besides checkpoints: ``train_log.csv``, ``valid_log.csv``,
TensorBoard events and the log lines, from rank 0 only.

One row per logged step: when a run resumes from global step g, rows after g (written by the
interrupted run after its last checkpoint) are dropped first, so the files read as if the run
had never stopped. Files stay open while the run lasts and are closed by ``close()``.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from videozoo.fileio import atomic_write_text

log = logging.getLogger("videozoo")

TRAIN_LOG, VALID_LOG = "train_log.csv", "valid_log.csv"


def _rows_up_to(path: Path, last_step: int) -> tuple[list[str], list[list[str]], int]:
    """(header, rows with step <= last_step, rows dropped) of a log CSV."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or "step" not in rows[0]:
        return [], [], 0
    header, body = rows[0], rows[1:]
    col = header.index("step")
    kept = [r for r in body if len(r) > col and r[col].isdigit() and int(r[col]) <= last_step]
    return header, kept, len(body) - len(kept)


def truncate_logs(output_dir: Path, last_step: int) -> int:
    """Drop log rows written after ``last_step`` (a resumed run replays those steps)."""
    dropped = 0
    for name in (TRAIN_LOG, VALID_LOG):
        path = output_dir / name
        if not path.is_file():
            continue
        header, kept, n = _rows_up_to(path, last_step)
        if n:
            text = io.StringIO()
            csv.writer(text).writerows([header, *kept])
            atomic_write_text(path, text.getvalue())
            dropped += n
    return dropped


class _CsvFile:
    """Append rows to a CSV; the header comes from the first row (or the existing file)."""

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] | None = None
        self._fh: io.TextIOWrapper | None = None

    def write(self, row: dict) -> None:
        if self._fh is None:
            exists = self.path.is_file() and self.path.stat().st_size > 0
            if exists:
                with self.path.open(newline="") as fh:
                    self.fields = next(csv.reader(fh), None)
            self._fh = self.path.open("a", newline="")
            if not exists or not self.fields:
                self.fields = list(row)
                csv.writer(self._fh).writerow(self.fields)
        assert self.fields is not None  # set above with the file
        csv.DictWriter(self._fh, fieldnames=self.fields, extrasaction="ignore").writerow(row)
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RunLog:
    """Training and validation logs of one run (a no-op off rank 0)."""

    def __init__(self, output_dir: Path, *, enabled: bool, tensorboard: bool = False):
        self.enabled = enabled
        self.train_csv = _CsvFile(output_dir / TRAIN_LOG)
        self.valid_csv = _CsvFile(output_dir / VALID_LOG)
        self.board = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.board = SummaryWriter(str(output_dir / "tensorboard"))
            except ImportError:
                log.warning(
                    "train.tensorboard is on but the tensorboard package is not "
                    "installed (pip install tensorboard); writing CSV logs only"
                )

    def train_row(self, row: dict) -> None:
        if not self.enabled:
            return
        log.info(
            "epoch %d step %d  loss %.4f  lr %.3g  %.1f samples/s",
            row["epoch"],
            row["step"],
            row["loss"],
            row["lr"],
            row["samples_per_s"],
        )
        self.train_csv.write(row)
        if self.board:
            for key in ("loss", "lr", "samples_per_s"):
                self.board.add_scalar(f"train/{key}", row[key], row["step"])

    def valid_row(self, epoch: int, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        log.info("epoch %d validation: %s", epoch, format_metrics(metrics))
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        self.valid_csv.write({"epoch": epoch, "step": step, **numbers})
        if self.board:
            for key, value in numbers.items():
                self.board.add_scalar(f"valid/{key}", value, step)

    def close(self) -> None:
        self.train_csv.close()
        self.valid_csv.close()
        if self.board:
            self.board.close()


def format_metrics(metrics: dict) -> str:
    return "  ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
        for k, v in metrics.items()
        if isinstance(v, (int, float))
    )
