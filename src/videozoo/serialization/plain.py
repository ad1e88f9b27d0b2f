"""Plain data: what a checkpoint may hold (tensors, numbers, strings, lists, dicts) and the
conversion of numpy values into it; the NaN/Inf check of a state_dict."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def check_plain_data(obj: Any, where: str = "checkpoint") -> None:
    """Raise TypeError if ``obj`` holds anything but tensors and plain Python data (what
    ``torch.load(weights_only=True)`` reads back)."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor)):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is a {type(key).__name__}")
            check_plain_data(value, f"{where}.{key}")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            check_plain_data(value, f"{where}[{i}]")
        return
    if isinstance(obj, (torch.dtype, torch.device)):
        return
    raise TypeError(f"{where} is a {type(obj).__name__}, not plain data")


def to_plain_data(obj: Any) -> Any:
    """numpy scalars / arrays inside ``obj`` -> Python numbers / tensors (what a checkpoint holds)."""
    if isinstance(obj, dict):
        return {k: to_plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain_data(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    return obj


def non_finite_tensors(state_dict: dict[str, Any]) -> list[str]:
    """Names of floating-point tensors holding NaN or Inf (parameters or buffers)."""
    return [
        name
        for name, tensor in state_dict.items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]
