"""One progress-bar factory: bars on an interactive terminal (rank 0), plain log lines elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress_bar(
    iterable: Iterable[Any] | None = None, *, main_process: bool = True, **kwargs: Any
) -> tqdm[Any]:
    """A tqdm bar, disabled off rank 0 and when stderr is not a terminal (CI logs, files)."""
    enabled = main_process and sys.stderr.isatty()
    return tqdm(iterable, disable=not enabled, mininterval=1.0, dynamic_ncols=True, leave=False, **kwargs)
