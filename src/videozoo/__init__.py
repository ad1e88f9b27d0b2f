"""videozoo: video classification on YouTube-8M features and Kinetics-style videos.

The Python API (see ``videozoo.api``): ``list_models``, ``list_pretrained``, ``create_model``,
``load_model``, ``Predictor``, ``train``, ``evaluate``. The command line (``videozoo --help``) is a thin layer
over the same functions.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("videozoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.2.0"

from videozoo.api import (
    Predictor,
    create_model,
    evaluate,
    list_models,  # noqa: E402
    list_pretrained,
    load_model,
    train,
)

__all__ = [
    "__version__",
    "list_models",
    "list_pretrained",
    "create_model",
    "load_model",
    "Predictor",
    "train",
    "evaluate",
]
