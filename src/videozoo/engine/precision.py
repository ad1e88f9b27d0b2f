"""Numeric formats the engine can switch on: autocast (AMP), channels_last, SyncBatchNorm."""
from __future__ import annotations

import contextlib
import logging

import torch

log = logging.getLogger("videozoo")


def channels_last_format(model: torch.nn.Module) -> torch.memory_format:
    """channels_last for 2D networks, channels_last_3d when the model has 5-D (3D conv) weights."""
    has_3d = any(p.dim() == 5 for p in model.parameters())
    return torch.channels_last_3d if has_3d else torch.channels_last


def convert_sync_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Plain BatchNorm layers -> SyncBatchNorm; subclasses with their own forward (the masked
    BatchNorm of the feature models) are left alone."""
    plain = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    for name, child in module.named_children():
        if type(child) in plain:
            sync = torch.nn.SyncBatchNorm(child.num_features, child.eps, child.momentum,
                                          child.affine, child.track_running_stats)
            sync.load_state_dict(child.state_dict())
            setattr(module, name, sync)
        else:
            convert_sync_batchnorm(child)
    return module


_warned_bf16 = False


def autocast_context(device: torch.device, enabled: bool, dtype_name: str):
    global _warned_bf16
    if not enabled:
        return contextlib.nullcontext()
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[dtype_name]
    if dtype is torch.float16 and device.type != "cuda":
        raise ValueError("train.amp_dtype=float16 needs CUDA; use bfloat16 on CPU")
    if device.type == "cpu" and not _warned_bf16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        log.warning("this CPU has no native bfloat16 support: --amp will likely be slower than "
                    "float32 here")
        _warned_bf16 = True
    return torch.autocast(device.type, dtype=dtype)
