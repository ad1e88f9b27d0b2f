"""Where the published files of ``--features youtube8m`` are found: the one place a file
option becomes a path (so weights-table tags can be wired in here).

``resolve_file(option, value) -> Path | None``: `value` when given (a path), else the first
of the option's published file names present in the cache folder ``$VIDEOZOO_HOME``
(default ``~/.cache/videozoo``), else None.

Published names (what Google / pytorch-fid / torchvggish release):

=================  ===========================================================================
``--inception``    ``inception-2015-12-05.tgz`` (download.tensorflow.org), its
                   ``classify_image_graph_def.pb``, pytorch-fid's
                   ``pt_inception-2015-12-05-6726825d.pth``
``--pca``          ``yt8m_pca.tgz`` (data.yt8m.org): mean.npy, eigenvecs.npy, eigenvals.npy
``--vggish``       torchvggish's ``vggish-10086976.pth``
``--vggish-pca``   torchvggish's ``vggish_pca_params-970ea276.pth``
=================  ===========================================================================
"""
from __future__ import annotations

import os
from pathlib import Path

PUBLISHED_NAMES = {
    "inception": ("inception-2015-12-05.tgz", "classify_image_graph_def.pb",
                  "pt_inception-2015-12-05-6726825d.pth"),
    "pca": ("yt8m_pca.tgz",),
    "vggish": ("vggish-10086976.pth",),
    "vggish_pca": ("vggish_pca_params-970ea276.pth",),
}


def cache_dir() -> Path:
    """``$VIDEOZOO_HOME`` or ``~/.cache/videozoo``."""
    return Path(os.environ.get("VIDEOZOO_HOME") or Path.home() / ".cache" / "videozoo")


def resolve_file(option: str, value: str | None) -> Path | None:
    """The file for `option` (a key of PUBLISHED_NAMES): `value` as given, else a published
    file in the cache folder, else None. A given path is returned even when missing (the
    loader says so in one line)."""
    if value:
        return Path(value).expanduser()
    for name in PUBLISHED_NAMES[option]:
        candidate = cache_dir() / name
        if candidate.is_file():
            return candidate
    return None
