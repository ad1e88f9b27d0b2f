"""Name -> builder registries for models and data formats; ``create_model`` is the only door.

A model file registers its builder once, with ``@register_model("nextvlad")`` on a function or
an ``nn.Module`` class. The builder's keyword defaults are the model's reference
hyperparameters and the schema of the config's ``model:`` section; it returns an
``nn.Module`` whose ``forward(batch: dict) -> logits``. Data formats register a builder with
``@register_dataset("youtube8m")`` the same way.

Registration happens when a module is imported, so the registries import every module of
``videozoo.models`` / ``videozoo.data`` the first time a name is looked up.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from videozoo.errors import ConfigError

if TYPE_CHECKING:  # torch is imported by the registered modules, not by the registry itself
    from torch import nn

#: a builder: a function or an ``nn.Module`` class; the decorators return it unchanged
Builder = TypeVar("Builder", bound=Callable[..., Any])

logger = logging.getLogger("videozoo")

_MODELS: dict[str, Callable[..., Any]] = {}
_DATASETS: dict[str, Callable[..., Any]] = {}
_SCANNED: set[str] = set()


def register_model(name: str) -> Callable[[Builder], Builder]:
    def wrap(fn: Builder) -> Builder:
        if name in _MODELS and _MODELS[name] is not fn:
            raise ValueError(f"model name '{name}' is registered twice")
        _MODELS[name] = fn
        return fn

    return wrap


def register_dataset(name: str) -> Callable[[Builder], Builder]:
    def wrap(fn: Builder) -> Builder:
        if name in _DATASETS and _DATASETS[name] is not fn:
            raise ValueError(f"data format '{name}' is registered twice")
        _DATASETS[name] = fn
        return fn

    return wrap


def import_submodules(package: str) -> None:
    """Import every module of `package` once, so the decorators in them run (the model and
    data format registries here; other registries, such as convert's mappings, call it too)."""
    if package in _SCANNED:
        return
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        importlib.import_module(f"{package}.{info.name}")
    _SCANNED.add(package)


#: Every shipped model and its track, in the order lists show them: ``youtube8m`` models read
#: YouTube-8M frame features (TFRecord shards), ``video`` models read video files.
MODEL_TRACKS = {
    "nextvlad": "youtube8m",
    "attention_lstm": "youtube8m",
    "attention_cluster": "youtube8m",
    "tsn": "video",
    "tsm": "video",
    "stnet": "video",
    "nonlocal": "video",
}


def list_models() -> list[str]:
    """Registered model names: the shipped ones in ``MODEL_TRACKS`` order, then any others."""
    import_submodules("videozoo.models")
    order = list(MODEL_TRACKS)
    return sorted(_MODELS, key=lambda n: (order.index(n) if n in order else len(order), n))


def models_of_track(track: str) -> list[str]:
    """The shipped models of one track (``youtube8m`` or ``video``), without importing them."""
    return [name for name, its_track in MODEL_TRACKS.items() if its_track == track]


def list_datasets() -> list[str]:
    import_submodules("videozoo.data")
    return sorted(_DATASETS)


def model_builder(name: str) -> Callable[..., Any]:
    import_submodules("videozoo.models")
    if name not in _MODELS:
        raise ConfigError(f"unknown model '{name}'; available: {', '.join(list_models())}")
    return _MODELS[name]


def model_module(name: str) -> ModuleType:
    """The module that registered model `name` (it may declare ``DEFAULT_SEGMENTS``, the
    frames or segments of the model's reference training clip)."""
    return importlib.import_module(model_builder(name).__module__)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build model `name`; `kwargs` override the builder's defaults (the config's model keys)."""
    model: nn.Module = model_builder(name)(**kwargs)
    return model


def build_model(cfg: dict[str, Any]) -> nn.Module:
    """The model described by a full config's ``model`` section (``name`` + builder kwargs);
    a null ``num_classes`` (not known from data yet, e.g. ``videozoo info``) takes the
    builder's default."""
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name" and not (k == "num_classes" and v is None)}
    return create_model(cfg["model"]["name"], **kwargs)


#: old data format names that configs and checkpoints may still hold -> the name now
DATA_FORMAT_ALIASES = {"kinetics": "video"}
_ALIASES_SEEN: set[str] = set()


def _current_format_name(fmt: str) -> str:
    """The data format `fmt` names today: an old name (``kinetics``) gives its new one,
    logged once per process."""
    new = DATA_FORMAT_ALIASES.get(fmt)
    if new is None:
        return fmt
    if fmt not in _ALIASES_SEEN:
        _ALIASES_SEEN.add(fmt)
        logger.info("data format '%s' is the old name of '%s'; reading it as '%s'", fmt, new, new)
    return new


def dataset_builder(fmt: str) -> Callable[..., Any]:
    """The builder of data format `fmt` (old names accepted: ``DATA_FORMAT_ALIASES``)."""
    import_submodules("videozoo.data")
    fmt = _current_format_name(fmt)
    if fmt not in _DATASETS:
        raise ConfigError(f"unknown data format '{fmt}'; available: {', '.join(list_datasets())}")
    return _DATASETS[fmt]


def dataset_module(fmt: str) -> ModuleType:
    """The module that registered data format `fmt` (it holds the format's DEFAULTS)."""
    return importlib.import_module(dataset_builder(fmt).__module__)
