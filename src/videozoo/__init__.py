"""videozoo: video classification on YouTube-8M features and Kinetics-style videos.

The Python API (see ``videozoo.api``): ``list_models``, ``list_pretrained``, ``create_model``,
``load_model``, ``Predictor``, ``train``, ``evaluate``, and one function per other command
(``model_info``, ``export_weights``, ``convert_weights``, ``embed_videos``, ``upgrade_checkpoint``,
``synth_dataset``, ``check_data``, ``extract_features``, ``plot_run``, ``published_weights``,
``download_weights``, ``cache_contents``, ``clear_cache``). The command line
(``videozoo --help``) is a thin layer over the same functions.
"""

from videozoo.api import (
    Predictor,
    cache_contents,
    check_data,
    clear_cache,
    convert_weights,
    create_model,
    download_weights,
    embed_videos,
    evaluate,
    export_weights,
    extract_features,
    list_models,
    list_pretrained,
    load_model,
    model_info,
    plot_run,
    published_weights,
    synth_dataset,
    train,
    upgrade_checkpoint,
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
    "model_info",
    "export_weights",
    "convert_weights",
    "embed_videos",
    "upgrade_checkpoint",
    "synth_dataset",
    "check_data",
    "extract_features",
    "plot_run",
    "published_weights",
    "download_weights",
    "cache_contents",
    "clear_cache",
]
