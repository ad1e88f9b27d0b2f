"""The inference fast path that eval, predict, embed and the ``Predictor`` run.

``prepare_inference(model, device, precision=..., compile=...) -> InferencePlan`` turns a
loaded eval-mode model into the one that scores inputs:

* BatchNorm folded into the convolution before it (``models/fuse.py``; scores move by float
  rounding only, ~1e-6 relative);
* channels_last (channels_last_3d for 3D convs) for models with conv weights;
* on a CPU in float32 (``fuse``, default on): the ResNet blocks' ReLUs and residual adds fused
  into their convs as single oneDNN calls (``models/fuse.fuse_relu_add``), eager, no warm-up;
* ``precision`` (fp32 / bf16 / fp16 / auto, ``engine/precision.resolve_precision``): the
  autocast dtype the engine runs the forward in;
* ``compile``: ``torch.compile`` with static shapes (one graph per input shape: a model's
  evaluation input has one shape) and a persistent inductor cache under
  ``$VIDEOZOO_HOME/inductor`` (default ``~/.cache/videozoo/inductor``), so a machine pays the
  compile of a model once and later processes load the compiled kernels. Off by default,
  by measurement: on the AVX2 EPYC the compiled TSM-R50 forward took as much CPU time as the
  fused eager one (``benchmarks/bench_fastpath.py``) after minutes of compiling, so it pays
  nowhere there, not even in a long-lived server; it is the option for GPUs and for CPUs
  where a measurement says otherwise (docs/fast_inference.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

from videozoo.engine.precision import channels_last_format, resolve_precision
from videozoo.models.fuse import fold_batchnorm, fusable, fuse_relu_add

log = logging.getLogger("videozoo")


@dataclass
class InferencePlan:
    """The model to run and how: ``amp_dtype`` None means float32 (no autocast)."""

    model: torch.nn.Module
    amp_dtype: str | None
    folded_bn: int
    fused_blocks: int
    channels_last: bool
    compiled: bool

    @property
    def amp(self) -> bool:
        return self.amp_dtype is not None


def videozoo_home() -> Path:
    """Where videozoo keeps per-machine caches: $VIDEOZOO_HOME or ~/.cache/videozoo."""
    return Path(os.environ.get("VIDEOZOO_HOME") or Path.home() / ".cache" / "videozoo")


def compile_for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile`` with static shapes and the persistent inductor cache (module doc)."""
    cache = videozoo_home() / "inductor"
    cache.mkdir(parents=True, exist_ok=True)
    # inductor reads the variable when it first writes or looks up a kernel; a user's own
    # TORCHINDUCTOR_CACHE_DIR wins
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    return cast(torch.nn.Module, torch.compile(model, dynamic=False))


def prepare_inference(
    model: torch.nn.Module,
    device: torch.device,
    *,
    precision: str = "fp32",
    compile: bool = False,
    fold_bn: bool = True,
    channels_last: bool | str = "auto",
    fuse: bool = True,
) -> InferencePlan:
    """The fast path for an eval-mode ``model`` (see the module docstring); logs one line."""
    amp_dtype, reason = resolve_precision(precision, device)
    model.eval()
    folded = fold_batchnorm(model) if fold_bn else 0
    has_convs = any(p.dim() in (4, 5) for p in model.parameters())
    use_cl = has_convs if channels_last == "auto" else bool(channels_last)
    if use_cl:
        # Module.to takes memory_format at run time; its type stubs do not list it
        model.to(memory_format=channels_last_format(model))  # type: ignore[call-overload]
    # oneDNN's fused conv ops are eager float32 CPU kernels; inductor fuses on its own
    use_fused = fuse and folded > 0 and amp_dtype is None and not compile and fusable(model)
    fused = fuse_relu_add(model) if use_fused else 0
    runner = compile_for_inference(model) if compile else model
    log.info(
        "%s; %d BatchNorms folded into convs; %d blocks with ReLU and add fused into their convs; "
        "channels_last %s; torch.compile %s",
        reason,
        folded,
        fused,
        "on" if use_cl else "off",
        "on" if compile else "off",
    )
    return InferencePlan(runner, amp_dtype, folded, fused, use_cl, bool(compile))
