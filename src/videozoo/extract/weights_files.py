"""Where the published files of ``--features youtube8m`` are found: the one place a file
option becomes a path (so weights-table tags can be wired in here).

``resolve_file(option, value) -> Path | None``: `value` when given (a path, or a tag of the
weights table, fetched like any other tag: ``videozoo download yt8m_pca.google``), else the
first of the option's published files already downloaded into the cache (``videozoo
download``: ``$VIDEOZOO_HOME/files``) or put in ``$VIDEOZOO_HOME`` itself (default
``~/.cache/videozoo``), else None. Nothing is downloaded unless a tag is given.

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

from pathlib import Path

from videozoo.zoo import hub

PUBLISHED_NAMES = {
    "inception": (
        "inception-2015-12-05.tgz",
        "classify_image_graph_def.pb",
        "pt_inception-2015-12-05-6726825d.pth",
    ),
    "pca": ("yt8m_pca.tgz",),
    "vggish": ("vggish-10086976.pth",),
    "vggish_pca": ("vggish_pca_params-970ea276.pth",),
}


#: the weights-table tags of each option's published files, in order of preference
TAGS = {
    "inception": ("inception_2015_12_05.google", "pt_inception_2015_12_05.pytorch-fid"),
    "pca": ("yt8m_pca.google",),
    "vggish": ("vggish.torchvggish",),
    "vggish_pca": ("vggish_pca.torchvggish",),
}


def cache_dir() -> Path:
    """``$VIDEOZOO_HOME`` or ``~/.cache/videozoo`` (the weights cache's home)."""
    return hub.home()


def resolve_file(option: str, value: str | None) -> Path | None:
    """The file for `option` (a key of PUBLISHED_NAMES): `value` as given (a tag is fetched),
    else a published file in the cache, else None. A given path is returned even when
    missing (the loader says so in one line)."""
    if value:
        if value in TAGS[option]:
            return hub.fetch_file(value)
        return Path(value).expanduser()
    for tag in TAGS[option]:
        if hub.is_cached(tag):
            return hub.cached_file(tag)
    for name in PUBLISHED_NAMES[option]:
        candidate = cache_dir() / name
        if candidate.is_file():
            return candidate
    return None
