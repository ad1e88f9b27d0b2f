"""videozoo: video classification on YouTube-8M features and Kinetics-style videos.

The Python API (see ``videozoo.api``): ``list_models``, ``list_pretrained``, ``create_model``,
``load_model``, ``Predictor``, ``train``, ``evaluate``, and one function per other command
(``model_info``, ``export_weights``, ``convert_weights``, ``embed_videos``, ``upgrade_checkpoint``,
``synth_dataset``, ``check_data``, ``extract_features``, ``plot_run``). The command line
(``videozoo --help``) is a thin layer over the same functions.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("videozoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.2.0"

from videozoo.api import (  # noqa: E402
    Predictor,
    check_data,
    convert_weights,
    create_model,
    embed_videos,
    evaluate,
    export_weights,
    extract_features,
    list_models,
    list_pretrained,
    load_model,
    model_info,
    plot_run,
    synth_dataset,
    train,
    upgrade_checkpoint,
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
    "model_info",
    "export_weights",
    "convert_weights",
    "embed_videos",
    "upgrade_checkpoint",
    "synth_dataset",
    "check_data",
    "extract_features",
    "plot_run",
]
