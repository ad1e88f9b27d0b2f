"""Numeric formats the engine can switch on: autocast (AMP), channels_last, SyncBatchNorm.

``train.amp`` and ``train.channels_last`` take true, false or "auto" (the default):

* ``resolve_amp(setting, device, dtype_name) -> (on, reason)``: "auto" turns bfloat16
  autocast on only where bfloat16 is measured to be faster than float32: a CUDA GPU with
  bfloat16 tensor cores (compute capability 8.0 or later, ROCm) and a CPU with AMX
  (``amx_bf16``). AVX512-BF16 without AMX was slower than float32 (TSM-R50 training 0.73x,
  inference 0.94x; NeXtVLAD training 0.88x) and AVX2 emulates bfloat16 (5-25x slower), so
  those CPUs stay in float32. ``reason`` is the one line the engine logs.
* ``resolve_precision(setting, device) -> (dtype name or None, reason)``: the same decision
  for inference (``eval`` / ``predict`` / ``embed --precision fp32|bf16|fp16|auto``, the
  ``Predictor``'s ``precision=``); None means plain float32.
* ``resolve_channels_last(setting, model)``: "auto" is on for models with conv weights (4-D
  or 5-D parameters: the ResNet-based video models), off for the others.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path
from typing import Any

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


@functools.cache
def native_bf16(device_type: str, device_index: int | None = None) -> tuple[bool, str]:
    """Whether bfloat16 is faster than float32 on ``device``, and the hardware fact that says so."""
    if device_type == "cuda":
        name = torch.cuda.get_device_name(device_index)
        major, minor = torch.cuda.get_device_capability(device_index)
        if major >= 8 or torch.version.hip:  # Ampere and later; ROCm GPUs
            return True, f"{name} (compute capability {major}.{minor}) has bfloat16 tensor cores"
        return False, f"{name} (compute capability {major}.{minor}) has no bfloat16 tensor cores"
    if device_type == "cpu":
        return cpu_bf16_decision(_cpu_flags())
    return False, f"no bfloat16 check for device type '{device_type}'"


def cpu_bf16_decision(flags: set[str]) -> tuple[bool, str]:
    """bfloat16 on a CPU with these /proc/cpuinfo ``flags``: only AMX makes it faster."""
    if not flags:  # no /proc/cpuinfo (not Linux): ask torch
        amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        flags = {"amx_bf16"} if amx else set()
    if "amx_bf16" in flags:
        return True, "this CPU has AMX (amx_bf16): bfloat16 matmuls run natively"
    if "avx512_bf16" in flags:
        return False, ("this CPU has AVX512-BF16 but no AMX: bfloat16 measured slower than float32 there")
    capability = torch.backends.cpu.get_cpu_capability()
    return False, f"this CPU ({capability}) has no AMX: bfloat16 would be emulated"


def resolve_amp(setting: bool | str, device: torch.device, dtype_name: str = "bfloat16") -> tuple[bool, str]:
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


#: ``--precision`` values -> autocast dtype names (None: plain float32)
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


def resolve_precision(setting: str, device: torch.device) -> tuple[str | None, str]:
    """Inference ``--precision`` (fp32 / bf16 / fp16 / auto) -> (autocast dtype name or None,
    one-line reason). auto: bf16 where ``native_bf16`` says it is faster, else fp32."""
    if setting == "auto":
        native, why = native_bf16(device.type, device.index)
        chosen = "bf16" if native else "fp32"
        return PRECISIONS[chosen], f"inference in {chosen} (--precision auto: {why})"
    if setting not in PRECISIONS:
        raise ConfigError(f"--precision must be one of fp32, bf16, fp16, auto; got {setting!r}")
    if setting == "fp16" and device.type != "cuda":
        raise ConfigError(f"--precision fp16 needs CUDA (device is {device.type}); use fp32 or bf16")
    return PRECISIONS[setting], f"inference in {setting} (--precision {setting})"


def resolve_channels_last(setting: bool | str, model: torch.nn.Module) -> bool:
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
        if type(child) in plain and isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            sync = torch.nn.SyncBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            sync.load_state_dict(child.state_dict())
            setattr(module, name, sync)
        else:
            convert_sync_batchnorm(child)
    return module


_warned_bf16 = False


def autocast_context(
    device: torch.device, enabled: bool | str, dtype_name: str
) -> contextlib.AbstractContextManager[Any]:
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
        log.warning(
            "bfloat16 is slower than float32 on this CPU (%s); --amp / --precision auto choose for you",
            native_bf16("cpu")[1],
        )
        _warned_bf16 = True
    return torch.autocast(device.type, dtype=dtype)
