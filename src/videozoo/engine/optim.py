"""Optimizers with per-parameter-group rules, and learning-rate schedules, from config.

Rules (config ``train.optimizer``): ``decay_only`` restricts weight decay to parameters whose
name contains one of the substrings (NeXtVLAD: the classifier only); ``no_decay`` exempts
names containing a substring, with two keywords: ``bias`` (every ``*.bias``) and ``norm``
(parameters of normalisation layers); ``lr_mult`` scales the learning rate of matching names
(TSM: ``classifier.bias: 2``).

Schedules are pure functions of training progress (epoch, samples seen) so that a resumed or
distributed run lands on the same learning rate: ``unit: sample`` counts GLOBAL samples.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from videozoo.errors import ConfigError

log = logging.getLogger("videozoo")

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def _norm_param_names(model: nn.Module) -> set[str]:
    names: set[str] = set()
    for mod_name, module in model.named_modules():
        if isinstance(module, _NORM_TYPES):
            names.update(
                f"{mod_name}.{p}" if mod_name else p for p, _ in module.named_parameters(recurse=False)
            )
    return names


def _matches(name: str, patterns, norm_names: set[str]) -> bool:
    for pattern in patterns:
        if pattern == "bias" and name.endswith("bias"):
            return True
        if pattern == "norm" and name in norm_names:
            return True
        if pattern not in ("bias", "norm") and pattern in name:
            return True
    return False


def _check_patterns(opt_cfg: dict) -> None:
    """decay_only / no_decay: lists of name substrings; lr_mult: substring -> number."""
    for key in ("decay_only", "no_decay"):
        bad = [p for p in opt_cfg[key] if not isinstance(p, str)]
        if bad:
            raise ConfigError(
                f"train.optimizer.{key} lists parameter-name substrings (text), "
                f"but holds a {type(bad[0]).__name__} (a YAML alias or nested "
                "list?); write the names out, e.g. [classifier, bias]"
            )
    for pattern, value in opt_cfg["lr_mult"].items():
        if (
            not isinstance(pattern, str)
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ConfigError(
                "train.optimizer.lr_mult maps parameter-name substrings to "
                f"finite numbers; got {str(pattern)[:40]!r}: "
                f"{type(value).__name__}"
            )


def param_groups(model: nn.Module, opt_cfg: dict) -> list[dict]:
    _check_patterns(opt_cfg)
    norm_names = _norm_param_names(model)
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = opt_cfg["weight_decay"]
        if opt_cfg["decay_only"] and not _matches(name, opt_cfg["decay_only"], norm_names):
            decay = 0.0
        if _matches(name, opt_cfg["no_decay"], norm_names):
            decay = 0.0
        mult = 1.0
        for pattern, value in opt_cfg["lr_mult"].items():
            if pattern in name:
                mult = float(value)
        groups.setdefault((decay, mult), []).append(param)
    return [
        {"params": ps, "weight_decay": wd, "lr": opt_cfg["lr"] * mult, "base_lr": opt_cfg["lr"] * mult}
        for (wd, mult), ps in groups.items()
    ]


def build_optimizer(model: nn.Module, opt_cfg: dict) -> torch.optim.Optimizer:
    groups = param_groups(model, opt_cfg)
    name = opt_cfg["name"].lower()
    lr = opt_cfg["lr"]
    if name in ("adam", "adamw"):
        cls: type[torch.optim.Adam | torch.optim.AdamW | torch.optim.SGD | torch.optim.RMSprop]
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        kwargs = dict(lr=lr, betas=tuple(opt_cfg["betas"]), eps=opt_cfg["eps"])
    elif name == "sgd":
        cls = torch.optim.SGD
        kwargs = dict(lr=lr, momentum=opt_cfg["momentum"], nesterov=opt_cfg["nesterov"])
    elif name == "rmsprop":
        cls = torch.optim.RMSprop
        kwargs = dict(
            lr=lr, alpha=opt_cfg["alpha"], eps=opt_cfg["eps"], momentum=0.0, centered=opt_cfg["centered"]
        )
    else:
        raise ConfigError(f"unknown optimizer '{opt_cfg['name']}'; use adam, adamw, sgd or rmsprop")
    # The fused kernels are ~5x faster for the step on large models (docs/benchmarks.md, Adam).
    try:
        # RMSprop has no fused kernel: its TypeError falls back below
        return cls(groups, fused=True, **kwargs)  # type: ignore[call-arg]
    except (TypeError, RuntimeError, ValueError):
        return cls(groups, **kwargs)


def lr_factor(schedule: dict, epoch: int, epoch_fraction: float, samples: int, total_epochs: int) -> float:
    """Learning-rate multiplier at the given training progress."""
    progress = samples if schedule["unit"] == "sample" else epoch
    name = schedule["name"]
    if name == "constant":
        factor = 1.0
    elif name == "step":
        factor = schedule["gamma"] ** math.floor(progress / schedule["step_size"])
    elif name == "multistep":
        factor = schedule["gamma"] ** sum(progress >= m for m in schedule["milestones"])
    elif name == "cosine":
        t = min(1.0, (epoch + epoch_fraction) / max(total_epochs, 1))
        factor = 0.5 * (1 + math.cos(math.pi * t))
    else:
        raise ConfigError(f"unknown schedule '{name}'; use constant, step, multistep or cosine")
    warmup = schedule["warmup_epochs"]
    if warmup > 0 and epoch + epoch_fraction < warmup:
        factor *= (epoch + epoch_fraction) / warmup
    return factor


def set_learning_rate(optimizer: torch.optim.Optimizer, factor: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]
