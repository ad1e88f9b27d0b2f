"""videozoo: video classification on YouTube-8M features and Kinetics-style videos.

The Python API (see ``videozoo.api``): ``list_models``, ``list_pretrained``, ``create_model``,
``load_model``, ``Predictor``, ``train``, ``evaluate``. The command line (``videozoo --help``) is a thin layer
over the same functions.
"""

from videozoo.api import (
    Predictor,
    create_model,
    evaluate,
    list_models,
    list_pretrained,
    load_model,
    train,
)
from videozoo.version import __version__

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
