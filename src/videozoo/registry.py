"""Name -> builder registries for models and datasets.

A model file registers a builder with ``@register_model("nextvlad")``; the builder takes the
keyword arguments of the config's ``model`` section (minus ``name``) and returns an
``nn.Module`` whose ``forward(batch: dict) -> logits``. ``create_model`` is the only door.
Datasets register the same way by data ``format`` (``youtube8m``, ``kinetics``).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

_MODELS: dict[str, Callable[..., Any]] = {}
_DATASETS: dict[str, Callable[..., Any]] = {}

# Modules imported lazily so that `videozoo --help` does not pay for every model.
_MODEL_MODULES = {
    "nextvlad": "videozoo.models.nextvlad",
    "attention_lstm": "videozoo.models.attention_lstm",
    "attention_cluster": "videozoo.models.attention_cluster",
    "tsn": "videozoo.models.tsn",
    "tsm": "videozoo.models.tsm",
    "stnet": "videozoo.models.stnet",
    "nonlocal": "videozoo.models.nonlocal_net",
}
_DATASET_MODULES = {
    "youtube8m": "videozoo.data.youtube8m",
    "kinetics": "videozoo.data.kinetics",
}


def register_model(name: str):
    def wrap(fn):
        _MODELS[name] = fn
        return fn
    return wrap


def register_dataset(name: str):
    def wrap(fn):
        _DATASETS[name] = fn
        return fn
    return wrap


def list_models() -> list[str]:
    return list(_MODEL_MODULES)


def _lookup(table: dict, modules: dict, name: str, kind: str):
    if name not in table and name in modules:
        importlib.import_module(modules[name])
    if name not in table:
        raise KeyError(f"unknown {kind} '{name}'; available: {', '.join(sorted(modules))}")
    return table[name]


def model_builder(name: str) -> Callable[..., Any]:
    return _lookup(_MODELS, _MODEL_MODULES, name, "model")


def create_model(name: str, **kwargs):
    """Build model `name` with constructor overrides `kwargs` (the config's model section)."""
    return model_builder(name)(**kwargs)


def dataset_builder(fmt: str) -> Callable[..., Any]:
    return _lookup(_DATASETS, _DATASET_MODULES, fmt, "data format")
