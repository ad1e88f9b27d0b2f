"""Numeric formats the engine can switch on: autocast (AMP), channels_last, SyncBatchNorm.

``train.amp`` and ``train.channels_last`` take true, false or "auto" (the default):

* ``resolve_amp(setting, device, dtype_name) -> (on, reason)``: "auto" turns bfloat16
  autocast on where the hardware computes in bfloat16 natively (a CUDA GPU that supports it;
  a CPU with AVX512-BF16 or AMX) and off elsewhere (emulated bfloat16 was 5-25x slower than
  float32 on an AVX2 CPU). ``reason`` is the one line the engine logs.
* ``resolve_channels_last(setting, model)``: "auto" is on for models with conv weights (4-D
  or 5-D parameters: the ResNet-based video models), off for the others.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path

import torch

from videozoo.errors import ConfigError

log = logging.getLogger("videozoo")

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


@functools.lru_cache(maxsize=None)
def native_bf16(device_type: str, device_index: int | None = None) -> tuple[bool, str]:
    """Whether ``device`` computes bfloat16 natively, and the hardware fact that says so."""
    if device_type == "cuda":
        name = torch.cuda.get_device_name(device_index)
        major, minor = torch.cuda.get_device_capability(device_index)
        if major >= 8 or torch.version.hip:  # Ampere and later; ROCm GPUs
            return True, f"{name} (compute capability {major}.{minor}) has native bfloat16"
        return False, f"{name} (compute capability {major}.{minor}) has no native bfloat16"
    if device_type == "cpu":
        has = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        if has is not None and amx is not None:
            avx512_bf16, amx_tile = has(), amx()
        else:  # older torch: read the kernel's CPU flags
            flags = _cpu_flags()
            avx512_bf16, amx_tile = "avx512_bf16" in flags, "amx_bf16" in flags
        if avx512_bf16 or amx_tile:
            which = " and ".join(n for n, ok in (("AVX512-BF16", avx512_bf16),
                                                ("AMX", amx_tile)) if ok)
            return True, f"this CPU has {which}"
        capability = torch.backends.cpu.get_cpu_capability()
        return False, f"this CPU ({capability}) has neither AVX512-BF16 nor AMX"
    return False, f"no native bfloat16 check for device type '{device_type}'"


def resolve_amp(setting, device: torch.device, dtype_name: str = "bfloat16") -> tuple[bool, str]:
    """``train.amp`` (true / false / "auto") on ``device`` -> (autocast on?, one-line reason)."""
    if setting is not True and setting is not False and setting != "auto":
        raise ConfigError(f"train.amp must be true, false or auto, got {setting!r}")
    if setting != "auto":
        state = "on" if setting else "off"
        return bool(setting), f"{dtype_name} autocast {state} (train.amp={str(setting).lower()})"
    if dtype_name == "float16":
        if device.type == "cuda":
            return True, "float16 autocast on (train.amp=auto, train.amp_dtype=float16, CUDA)"
        return False, f"autocast off (train.amp=auto: float16 needs CUDA, device is {device.type})"
    native, why = native_bf16(device.type, device.index)
    if native:
        return True, f"bfloat16 autocast on (train.amp=auto: {why})"
    return False, f"autocast off (train.amp=auto: {why}; train.amp=true forces it)"


def resolve_channels_last(setting, model: torch.nn.Module) -> bool:
    """``train.channels_last`` (true / false / "auto": models with conv weights) for ``model``."""
    if setting == "auto":
        return any(p.dim() in (4, 5) for p in model.parameters())
    return bool(setting)


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


def autocast_context(device: torch.device, enabled, dtype_name: str):
    """Autocast to ``dtype_name`` when ``enabled`` (true / false / "auto", see ``resolve_amp``)."""
    global _warned_bf16
    if enabled == "auto":
        enabled = resolve_amp("auto", device, dtype_name)[0]
    if not enabled:
        return contextlib.nullcontext()
    dtype = AMP_DTYPES[dtype_name]
    if dtype is torch.float16 and device.type != "cuda":
        raise ConfigError("train.amp_dtype=float16 needs CUDA; use bfloat16 on CPU")
    if device.type == "cpu" and not _warned_bf16 and not native_bf16("cpu")[0]:
        log.warning("this CPU has no native bfloat16 support: --amp on will likely be slower "
                    "than float32 here (--amp auto chooses for you)")
        _warned_bf16 = True
    return torch.autocast(device.type, dtype=dtype)
