"""Load ImageNet ResNet weights (torchvision state_dict layout, a local file) into our trunks.

``load_imagenet_resnet(model, path) -> LoadReport`` finds the ``ResNet`` inside ``model`` (or
takes ``model`` itself), matches tensors by torchvision name and adapts the ones whose shape
differs in a known way:

* 2D kernel ``[O, 3, k, k]`` into a wider input (StNet's 15-channel conv1): average the RGB
  kernel, divide by ``in_channels / 3`` (5) and repeat it ``in_channels`` times, so a stack of
  identical frames gives the 2D network's response.
* 2D kernel ``[O, I, k, k]`` into a 3D conv ``[O, I, t, k, k]`` (C2D / I3D): repeat over time
  and divide by t ("inflation"; t = 1 is a plain unsqueeze).

The ImageNet ``fc`` is skipped unless the trunk has a matching ``fc``. Everything else the
model holds (temporal blocks, non-local blocks, heads, the classifier) keeps its
initialisation. The report lists loaded / adapted / skipped / re-initialised /
shape-mismatched tensors and is logged to ``videozoo.models``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from videozoo.errors import ConfigError, DataError, DataNotFoundError
from videozoo.models.resnet import ResNet

__all__ = ["LoadReport", "load_imagenet_resnet", "read_state_dict"]

logger = logging.getLogger("videozoo.models")


@dataclass
class LoadReport:
    """Tensor names as the model calls them (``backbone.layer1.0.conv1.weight``), except
    ``skipped``, which names entries of the file."""

    path: str
    loaded: list[str] = field(default_factory=list)  # copied (a 1xkxk unsqueeze counts)
    adapted: list[str] = field(default_factory=list)  # "name: how"
    skipped: list[str] = field(default_factory=list)  # in the file, unused by the model
    reinitialised: list[str] = field(default_factory=list)  # in the model, not in the file
    mismatched: list[str] = field(default_factory=list)  # "name: file [..] vs model [..]"

    def __str__(self) -> str:
        lines = [
            f"ImageNet weights {self.path}: {len(self.loaded)} loaded as is, "
            f"{len(self.adapted)} adapted, {len(self.skipped)} skipped, "
            f"{len(self.reinitialised)} re-initialised, "
            f"{len(self.mismatched)} shape-mismatched"
        ]
        for title, names in (
            ("adapted", self.adapted),
            ("skipped (in the file, not used)", self.skipped),
            ("re-initialised (not in the file)", self.reinitialised),
            ("shape-mismatched (kept their initialisation)", self.mismatched),
        ):
            if names:
                shown = ", ".join(names[:12]) + (
                    f", ... and {len(names) - 12} more" if len(names) > 12 else ""
                )
                lines.append(f"  {title}: {shown}")
        return "\n".join(lines)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``path``: plain, or under "state_dict" / "model"; "module." stripped.
    ``path`` may be a weights-table tag (``resnet50_imagenet.torchvision``): fetched, cached."""
    path = Path(path)
    if not path.exists():
        from videozoo.zoo import table

        entry = table.get(str(path))
        if entry is not None and entry.classes == "imagenet":
            from videozoo.zoo.hub import fetch_file

            path = fetch_file(entry)
    if not path.is_file():
        raise DataNotFoundError(
            f"{path}: ImageNet weights file not found. Point `model.pretrained` at a local "
            f"torchvision ResNet state_dict, or a tag (resnet50_imagenet.torchvision, "
            f"resnet101_imagenet.torchvision, ...: `videozoo models`), or set "
            f"it to null to train from scratch."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise DataError(
            f"{path}: not a readable PyTorch state_dict ({exc}). Save weights "
            f"with torch.save(model.state_dict(), path)."
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError(
            f"{path}: expected a dict of tensors (a state_dict), optionally under "
            f"'state_dict' or 'model'; got {type(obj).__name__}"
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _same_numbers(file_shape: torch.Size, model_shape: torch.Size) -> bool:
    """Equal shapes, or a 2D kernel going into a 1xkxk 3D conv (a plain unsqueeze)."""
    if file_shape == model_shape:
        return True
    return len(model_shape) == 5 and model_shape[2] == 1 and file_shape == model_shape[:2] + model_shape[3:]


def _adapt(weight: torch.Tensor, target: torch.Size) -> tuple[torch.Tensor | None, str]:
    """Fit a 2D ImageNet kernel to ``target``; (None, "") when no known adaptation fits."""
    if (
        weight.dim() != 4
        or len(target) not in (4, 5)
        or weight.shape[0] != target[0]
        or weight.shape[-2:] != target[-2:]
    ):
        return None, ""
    notes = []
    in_channels = target[1]
    if weight.shape[1] == 3 and in_channels != 3 and in_channels % 3 == 0:
        copies = in_channels // 3
        weight = weight.mean(1, keepdim=True).div(copies).repeat(1, in_channels, 1, 1)
        notes.append(f"RGB kernel averaged, divided by {copies}, repeated to {in_channels} input channels")
    if len(target) == 5 and weight.shape[1] == in_channels:
        frames = target[2]
        weight = weight.unsqueeze(2).repeat(1, 1, frames, 1, 1).div(frames)
        kernel = "x".join(map(str, target[2:]))
        notes.append(
            f"inflated to {kernel} (repeated over time, divided by {frames})"
            if frames > 1
            else f"used as {kernel}"
        )
    if weight.shape != target:
        return None, ""
    return weight, "; ".join(notes)


def _find_trunk(model: nn.Module) -> tuple[str, ResNet]:
    for name, module in model.named_modules():
        if isinstance(module, ResNet):
            return (name + "." if name else ""), module
    raise ConfigError(f"{type(model).__name__} holds no videozoo ResNet trunk to load ImageNet weights into")


@torch.no_grad()
def load_imagenet_resnet(model: nn.Module, path: str | Path, *, verbose: bool = True) -> LoadReport:
    """Copy a torchvision ImageNet ResNet state_dict into ``model``'s ResNet trunk.

    Raises ``ValueError`` if not a single tensor fits (wrong file or wrong depth).
    """
    prefix, trunk = _find_trunk(model)
    source = read_state_dict(path)
    report = LoadReport(str(path))
    target = trunk.state_dict()
    for name, current in target.items():
        weight = source.get(name)
        if weight is None:
            report.reinitialised.append(prefix + name)
        elif _same_numbers(weight.shape, current.shape):
            target[name] = weight.reshape(current.shape).to(current.dtype)
            report.loaded.append(prefix + name)
        else:
            adapted, how = _adapt(weight, current.shape)
            if adapted is None:
                report.mismatched.append(
                    f"{prefix}{name}: file {list(weight.shape)} vs model {list(current.shape)}"
                )
            else:
                target[name] = adapted.to(current.dtype)
                report.adapted.append(f"{prefix}{name}: {how}")
    report.skipped = [name for name in source if name not in target]
    if not report.loaded and not report.adapted:
        raise DataError(
            f"{path}: no tensor fits this ResNet-{trunk.depth} trunk; is it a "
            f"torchvision ResNet-{trunk.depth} state_dict?"
        )
    trunk.load_state_dict(target)
    # Heads and classifiers outside the trunk never come from ImageNet.
    if prefix:
        report.reinitialised += [name for name in model.state_dict() if not name.startswith(prefix)]
    if verbose:
        level = logging.WARNING if report.mismatched else logging.INFO
        logger.log(level, "%s", report)
    return report
