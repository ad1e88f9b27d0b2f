"""Configs are data: nested dicts loaded from YAML and checked against a schema taken from code.

A full config has four sections:

* ``model``: ``name`` plus the keyword arguments of the registered builder (schema = the
  builder's signature defaults);
* ``data``: ``format`` plus that format's ``DEFAULTS`` (schema = the data module's dict);
  a model module's ``DEFAULT_SEGMENTS`` / ``DEFAULT_CLIP_LEN`` is that model's default
  ``data.seg_num`` / ``data.clip_len``;
* ``train`` and ``eval``: engine options (schema = ``ENGINE_DEFAULTS`` below).

Precedence: code defaults < packaged ``configs/<model>.yaml`` < ``--config FILE`` < ``--set``.
An unknown key or a value of the wrong type raises ``ConfigError`` naming the key and the valid
keys, before any data is read.

YAML (files and ``--set`` values) is read within bounds, checked on the parser's event stream
before anything is built: at most ``MAX_YAML_BYTES``, nesting at most ``MAX_YAML_DEPTH``
deep, and at most ``MAX_YAML_NODES`` values with every alias counted as the copy it stands
for (a "billion laughs" alias bomb is refused at the alias that crosses the bound). Sizes
are bounded too: ``model.num_classes`` <= ``MAX_CLASSES``, other model/data integers <=
``MAX_SIZE``. Messages show values through ``errors.brief`` (a bounded repr).
"""

from __future__ import annotations

import copy
import inspect
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from videozoo import registry
from videozoo.errors import ConfigError, brief

#: bounds on what a YAML config may hold (the packaged recipes: ~2 KB, depth 3, ~100 values;
#: a class list inline for YouTube-8M's 3,862 classes stays far below them)
MAX_YAML_BYTES = 4 << 20
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 1_000_000
#: more classes than any video dataset (Kinetics-700, YouTube-8M's 3,862, ...) by far; a
#: classifier this wide is already ~0.8 GB of weights at 2,048 features
MAX_CLASSES = 100_000
#: the largest other model/data integer (layer widths, frames, crop sizes, buffers)
MAX_SIZE = 1 << 20

ENGINE_DEFAULTS: dict[str, Any] = {
    "train": {
        "epochs": 1,
        "batch_size": 32,  # global batch, split over processes (and accumulation steps)
        "optimizer": {
            "name": "adam",  # adam | adamw | rmsprop | sgd
            "lr": 1.0e-3,
            "weight_decay": 0.0,
            "decay_only": [],  # parameter-name substrings that get weight decay (empty: all)
            "no_decay": [],  # parameter-name substrings, or "norm"/"bias", exempt from decay
            "lr_mult": {},  # parameter-name substring -> learning-rate multiplier
            "momentum": 0.9,
            "nesterov": False,
            "betas": [0.9, 0.999],
            "eps": 1.0e-8,
            "alpha": 0.99,  # RMSProp smoothing constant (rho)
            "centered": False,
        },
        "schedule": {
            "name": "constant",  # constant | step | multistep | cosine
            "unit": "epoch",  # what milestones / step_size count: epoch | sample
            "step_size": 1.0,  # step: multiply by gamma every step_size units
            "milestones": [],  # multistep: multiply by gamma at each milestone
            "gamma": 0.1,
            "warmup_epochs": 0.0,
        },
        "log_interval": 20,
        "valid_interval": 1,  # validate every N epochs (0: never)
        "save_every_steps": 0,  # also checkpoint every N optimizer steps (0: epoch ends only)
        "keep_checkpoints": 3,
        "monitor": "",  # metric that picks best.pt (default: gap or top1)
        "num_workers": 2,
        "pin_memory": False,
        "amp": "auto",  # true | false | auto: bf16 autocast where native (CUDA, AVX512-BF16/AMX)
        "amp_dtype": "bfloat16",  # bfloat16 | float16 (float16 only on CUDA, with a scaler)
        "grad_accum": 1,
        "clip_grad_norm": 0.0,  # 0: off
        "channels_last": "auto",  # true | false | auto: on for models with conv weights
        "compile": False,
        "sync_bn": False,
        "max_bad_steps": 5,  # consecutive NaN/Inf losses before the run stops
        "tensorboard": False,
    },
    "eval": {
        "batch_size": 64,  # global
        "top_k": 20,
    },
}


def _type_name(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


_INTEGRAL_FLOAT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d{1,3}")

#: switches that take true, false or "auto" (engine/precision.py decides what auto means)
_BOOL_OR_AUTO = {"train.amp", "train.channels_last"}


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Return `value` converted to the type of `default`, or raise ConfigError."""
    if key in _BOOL_OR_AUTO:
        if isinstance(value, bool) or value == "auto":
            return value
        raise ConfigError(f"config key '{key}' expects true, false or auto, got {brief(value)}")
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGRAL_FLOAT.fullmatch(value.strip()):
            number = float(value)  # YAML 1.1 reads "1e9" as a string; it means 10^9
            if number.is_integer():
                return int(number)
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    elif isinstance(default, dict):
        if isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigError(
        f"config key '{key}' expects {_type_name(default)} (default {brief(default)}), "
        f"got {_type_name(value)} {brief(value)}"
    )


def _merge_checked(base: dict[str, Any], update: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Deep-merge `update` into a copy of `base`; every key of `update` must exist in `base`."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        path = f"{prefix}{key}"
        if key not in out:
            valid = ", ".join(sorted(out)) or "(none)"
            raise ConfigError(f"unknown config key {brief(str(path))}; valid keys here: {valid}")
        default = out[key]
        if isinstance(default, dict) and default and isinstance(value, dict):
            out[key] = _merge_checked(default, value, path + ".")
        else:
            out[key] = _coerce(value, default, path)
    return out


def model_schema(name: str) -> dict[str, Any]:
    """The `model:` section schema: the registered builder's keyword defaults."""
    builder = registry.model_builder(name)
    schema: dict[str, Any] = {"name": name}
    for param in inspect.signature(builder).parameters.values():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        schema[param.name] = None if param.default is param.empty else param.default
    return schema


def data_schema(fmt: str) -> dict[str, Any]:
    """The `data:` section schema: the format's DEFAULTS, whose ``format`` is the format's
    current name (an old name such as ``kinetics`` comes out as ``video``)."""
    return {"format": fmt, **copy.deepcopy(registry.dataset_module(fmt).DEFAULTS)}


#: model-module constant -> the data key it is the default of (the model's reference clip)
MODEL_CLIP_CONSTANTS = {"DEFAULT_SEGMENTS": "seg_num", "DEFAULT_CLIP_LEN": "clip_len"}


def _model_clip_defaults(name: str, data_defaults: dict[str, Any]) -> dict[str, Any]:
    """The frame counts model `name` declares for its data section (its one home)."""
    module = registry.model_module(name)
    return {
        key: getattr(module, constant)
        for constant, key in MODEL_CLIP_CONSTANTS.items()
        if hasattr(module, constant) and key in data_defaults
    }


def packaged_config_path(model: str) -> Path:
    return Path(str(resources.files("videozoo") / "configs" / f"{model}.yaml"))


def _check_yaml_events(text: str, source: str) -> None:
    """Refuse YAML nested deeper than ``MAX_YAML_DEPTH`` or expanding (aliases counted as
    copies) to more than ``MAX_YAML_NODES`` values, from the event stream (nothing built)."""
    anchored: dict[str, int] = {}  # anchor -> values its node expands to
    starts: list[tuple[str | None, int]] = []  # (anchor, values before it) per open collection
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(starts) >= MAX_YAML_DEPTH:
                raise ConfigError(
                    f"{source}: YAML nested more than {MAX_YAML_DEPTH} levels "
                    "deep; configs are a few levels deep"
                )
            starts.append((event.anchor, total))
            total += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, before = starts.pop()
            if anchor is not None:
                anchored[anchor] = total - before
        elif isinstance(event, yaml.AliasEvent):
            total += anchored.get(event.anchor or "", 1)  # an alias always names its anchor
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor is not None:
                anchored[event.anchor] = 1
        if total > MAX_YAML_NODES:
            raise ConfigError(
                f"{source}: YAML expands to more than {MAX_YAML_NODES} values "
                "(aliases counted as the copies they stand for); refusing it"
            )


class InvalidYaml(ConfigError):
    """Text that is not YAML (``--set`` then takes the value as a plain string)."""


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)`` within the bounds in the module docstring; ConfigError
    naming ``source`` otherwise."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{source}: {len(text)} characters of YAML, more than a config holds (limit {MAX_YAML_BYTES})"
        )
    try:
        _check_yaml_events(text, source)
        return yaml.safe_load(text)
    except ConfigError:
        raise
    except yaml.YAMLError as err:
        raise InvalidYaml(f"{source} is not valid YAML: {_one_line(err)}") from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(f"{source}: a value YAML cannot build ({_one_line(err)})") from None


def _one_line(err: Exception, limit: int = 300) -> str:
    return " ".join(str(err).split())[:limit]


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(
            f"{path}: {path.stat().st_size} bytes, more than a config holds (limit {MAX_YAML_BYTES} bytes)"
        )
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not a UTF-8 text file (byte {err.start}); a config is YAML text"
        ) from None
    loaded = load_yaml(text, str(path)) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping with sections model/data/train/eval")
    return loaded


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ['train.optimizer.lr=0.01', ...] into a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value (e.g. train.epochs=3), got '{item}'")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw, f"--set {key.strip()[:100]}") if raw != "" else ""
        except InvalidYaml:
            value = raw
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def override_item(path: str, value: Any) -> str:
    """``("train.epochs", 3)`` -> ``"train.epochs=3"`` (the value as YAML flow text)."""
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return f"{path}={text.removesuffix('...').strip()}"


def nested_to_overrides(nested: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"model": {"a": 1}}`` -> ``["model.a=1"]``."""
    items = []
    for key, value in nested.items():
        if isinstance(value, dict) and value:
            items += nested_to_overrides(value, f"{prefix}{key}.")
        else:
            items.append(override_item(f"{prefix}{key}", value))
    return items


def _check_sections(cfg: dict[str, Any], source: str) -> None:
    for section in cfg:
        if section not in ("model", "data", "train", "eval"):
            raise ConfigError(
                f"{source}: unknown section {brief(section)}; valid sections: data, eval, model, train"
            )


def build_config(
    model: str | None,
    config_file: str | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
    inherited: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble and validate the config for `model`.

    `base` replaces the packaged YAML (used to rebuild a config stored in a checkpoint).
    `inherited` is a layer between the YAML and the user's settings: what a fine-tuning run
    takes from the weights it starts from (see ``inherited_from_weights``).
    """
    user = read_yaml(config_file) if config_file else {}
    cli = parse_overrides(overrides or [])
    for src, layer in ((config_file or "", user), ("--set", cli)):
        _check_sections(layer, src)
    name = model or user.get("model", {}).get("name") or (base or {}).get("model", {}).get("name")
    if not name:
        raise ConfigError("no model given; name one of: " + ", ".join(registry.list_models()))
    if name not in registry.list_models():
        raise ConfigError(f"unknown model '{name}'; available: {', '.join(registry.list_models())}")
    if base is None:
        packaged = packaged_config_path(name)
        base = read_yaml(packaged) if packaged.is_file() else {}
    layers = [base, inherited or {}, user, cli]
    fmt = next(
        (layer["data"]["format"] for layer in reversed(layers) if "format" in layer.get("data", {})), None
    )
    if fmt is None:
        raise ConfigError(
            f"config for '{name}' names no data.format ({' or '.join(registry.list_datasets())})"
        )
    defaults = {"model": model_schema(name), "data": data_schema(fmt)}
    defaults["data"].update(_model_clip_defaults(name, defaults["data"]))
    cfg = {**copy.deepcopy(defaults), **copy.deepcopy(ENGINE_DEFAULTS)}
    for layer in layers:
        layer = copy.deepcopy(layer)
        layer.get("model", {}).pop("name", None)
        layer.get("data", {}).pop("format", None)
        cfg = _merge_checked(cfg, layer)
    cfg["model"]["name"] = name
    if not any("num_classes" in layer.get("model", {}) for layer in layers):
        cfg["model"]["num_classes"] = None  # from the data (see classes_from_data)
    _shared_keys_agree(cfg)
    _check_values(cfg, defaults)
    return cfg


#: engine settings and their smallest sensible value
_ENGINE_MINIMUMS = {
    "train.epochs": 1,
    "train.batch_size": 1,
    "train.log_interval": 1,
    "train.valid_interval": 0,
    "train.save_every_steps": 0,
    "train.keep_checkpoints": 1,
    "train.num_workers": 0,
    "train.grad_accum": 1,
    "train.clip_grad_norm": 0,
    "train.max_bad_steps": 1,
    "train.optimizer.lr": 0,
    "train.optimizer.weight_decay": 0,
    "train.optimizer.momentum": 0,
    "train.optimizer.eps": 0,
    "train.schedule.warmup_epochs": 0,
    "train.schedule.gamma": 0,
    "eval.batch_size": 1,
    "eval.top_k": 1,
}
#: model / data integers that may be 0 although their default is positive
_ZERO_ALLOWED = {"data.shuffle_buffer"}


def _check_values(cfg: dict[str, Any], defaults: dict[str, Any]) -> None:
    """One-line errors for values no run can use (``--epochs 0``, a negative crop size...)."""

    def get(path: str) -> Any:
        node: Any = cfg
        for part in path.split("."):
            node = node[part]
        return node

    for path, minimum in _ENGINE_MINIMUMS.items():
        value = get(path)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key '{path}' must be a finite number, got {value}")
        if isinstance(value, (int, float)) and value < minimum:
            raise ConfigError(f"config key '{path}' must be >= {minimum}, got {value}")
    # Model / data integers count or measure something: never negative, and >= 1 where the
    # default is positive (a size, a count), unless listed in _ZERO_ALLOWED.
    for section in ("model", "data"):
        for key, value in cfg[section].items():
            path = f"{section}.{key}"
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            default = defaults[section].get(key)
            positive = isinstance(default, int) and not isinstance(default, bool) and default > 0
            minimum = 1 if positive and path not in _ZERO_ALLOWED else 0
            if isinstance(value, int) and value < minimum:
                raise ConfigError(f"config key '{path}' must be >= {minimum}, got {value}")
            maximum = MAX_CLASSES if key == "num_classes" else MAX_SIZE
            if value > maximum:
                raise ConfigError(
                    f"config key '{path}' must be <= {maximum}, got "
                    f"{brief(value)}: no model or dataset is that large"
                )
            if ("drop" in key) and not 0.0 <= value < 1.0:
                raise ConfigError(f"config key '{path}' is a probability in [0, 1), got {value}")


#: data keys a fine-tuning run takes from its weights: what the network was trained to see
INHERITED_DATA_KEYS = ("mean", "std", "sampling", "seg_num", "seglen", "clip_len", "frame_interval")


def inherited_from_weights(weights_config: dict[str, Any]) -> dict[str, Any]:
    """The layer a fine-tuning run takes from the config stored with its weights: the
    architecture options (not the class count, not ImageNet loading) and the input the
    network was trained on (normalisation, frames); the user's --config and --set still win.
    Weights converted from MMAction2's TSM, say, keep their shift direction this way."""
    model = {
        k: v
        for k, v in weights_config.get("model", {}).items()
        if k not in ("name", "num_classes", "pretrained")
    }
    data = {k: v for k, v in weights_config.get("data", {}).items() if k in INHERITED_DATA_KEYS}
    return {"model": model, "data": data}


def classes_from_data(cfg: dict[str, Any], class_names: list[str], where: str = "the data") -> None:
    """Fill ``model.num_classes`` from the dataset's class list when no config layer set it;
    when one did and the two disagree, a one-line error names both numbers and the fix."""
    count = len(class_names)
    if cfg["model"].get("num_classes") is None:
        cfg["model"]["num_classes"] = count
    elif cfg["model"]["num_classes"] != count:
        raise ConfigError(
            f"model.num_classes={cfg['model']['num_classes']} but {where} has {count} classes; "
            f"drop --set model.num_classes (the class count follows the data) or set it to "
            f"{count}"
        )
    if "num_classes" in cfg["data"] and cfg["data"]["num_classes"] is None:
        cfg["data"]["num_classes"] = count


def _shared_keys_agree(cfg: dict[str, Any]) -> None:
    """A key in both the model and the data section is one fact (``num_classes``, StNet's
    ``seglen``): the data section's null takes the model's value; set in both, they must agree."""
    for key in sorted(set(cfg["model"]) & set(cfg["data"]) - {"name", "format"}):
        model_value, data_value = cfg["model"][key], cfg["data"][key]
        if data_value is None:
            cfg["data"][key] = model_value
        elif model_value is not None and data_value != model_value:
            raise ConfigError(
                f"data.{key}={brief(data_value)} but model.{key}="
                f"{brief(model_value)}: they "
                f"are one setting; set only model.{key} (the data section follows)"
            )


def dump_config(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
