"""The non-local block (Wang et al. 2018) of the Non-local network and the non-local TSMs.

* ``NonLocalBlock``: ``[N, C, T, H, W] -> [N, C, T, H, W]``, embedded Gaussian or dot product
  (the 3D trunk of ``nonlocal_net.py``).
* ``FramesNonLocal``: the same block inside a 2D trunk, ``[N*T, C, H, W] -> [N*T, C, H, W]``
  (a ``temporal.SegmentModule``: T unfolded from the batch; TSM's ``nonlocal_mode``).

Parameter names (``theta``, ``phi``, ``g``, ``out``, ``bn``; ``block.`` inside
``FramesNonLocal``) are those of published checkpoints and the converters: keep them.
"""

from __future__ import annotations

import torch
from torch import nn

from videozoo.errors import ConfigError
from videozoo.models.temporal import SegmentModule

__all__ = ["NONLOCAL_MODES", "NonLocalBlock", "FramesNonLocal"]

NONLOCAL_MODES = ("embedded_gaussian", "dot_product")


class NonLocalBlock(nn.Module):
    """Non-local block (Wang et al. 2018) on ``[N, C, T, H, W]``: ``z = x + BN(W y)``.

    ``y = g(x') f(theta(x), phi(x'))^T`` with theta/phi/g 1x1x1 convs C -> C' (C/2) and x' the
    positions phi and g see: x max-pooled (1,2,2) when ``subsample``. The pairwise function f
    over the S positions of x' (``mode``):

    * ``embedded_gaussian``: ``softmax(theta^T phi * s)`` over S (PaddleVideo v1.5, Caffe2);
    * ``dot_product``: ``theta^T phi * s / S`` (MMAction2's I3D-NL dot-product model);

    with ``s = 1/sqrt(C')`` when ``scale`` else 1. ``pool_after_conv``: pool the outputs of
    phi and g (MMAction2, mmcv's ``NonLocal3d``) instead of their input (v1.5); max-pooling does
    not commute with a conv, so ported weights need the source's order. ``out_bias``: whether
    the output conv W has a bias (mmcv's has none; the BN after it makes one redundant). The
    BN's gamma starts at 0, so a fresh block is the identity.
    """

    conv_bn_pairs = (("out", "bn"),)  # forward: bn(out(y)) (models/fuse.py)

    def __init__(
        self,
        channels: int,
        inner_channels: int | None = None,
        subsample: bool = True,
        init_std: float = 0.01,
        mode: str = "embedded_gaussian",
        scale: bool = True,
        pool_after_conv: bool = False,
        out_bias: bool = True,
    ):
        super().__init__()
        if mode not in NONLOCAL_MODES:
            raise ConfigError(f"non-local mode must be one of {NONLOCAL_MODES}, got {mode!r}")
        inner = inner_channels or channels // 2
        self.mode = mode
        self.pool_after_conv = pool_after_conv
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2)) if subsample else nn.Identity()
        self.out = nn.Conv3d(inner, channels, 1, bias=out_bias)
        self.bn = nn.BatchNorm3d(channels)
        self.scale = inner**-0.5 if scale else 1.0
        for conv in (self.theta, self.phi, self.g, self.out):
            nn.init.normal_(conv.weight, std=init_std)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query = self.theta(x).flatten(2)  # [N, C', T*H*W]
        if self.pool_after_conv:
            key, value = self.pool(self.phi(x)), self.pool(self.g(x))
        else:
            pooled = self.pool(x)
            key, value = self.phi(pooled), self.g(pooled)
        key, value = key.flatten(2), value.flatten(2)  # [N, C', S]
        affinity = query.transpose(1, 2) @ key  # [N, T*H*W, S]
        if self.scale != 1.0:
            affinity = affinity * self.scale
        if self.mode == "embedded_gaussian":
            affinity = torch.softmax(affinity, dim=-1)
        else:
            affinity = affinity / key.shape[-1]
        y = (value @ affinity.transpose(1, 2)).unflatten(2, x.shape[2:])  # [N, C', T, H, W]
        return x + self.bn(self.out(y))

    def extra_repr(self) -> str:
        return f"mode={self.mode}, pool_after_conv={self.pool_after_conv}"


class FramesNonLocal(SegmentModule):
    """A ``NonLocalBlock`` inside a 2D trunk: ``[N*T, C, H, W]`` -> ``[N, C, T, H, W]`` ->
    the block -> back (MMAction2's and MIT's non-local TSM wrap blocks this way)."""

    def __init__(self, channels: int, num_segments: int, **options):
        super().__init__(num_segments)
        self.block = NonLocalBlock(channels, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clip = self.unfold_time(x).transpose(1, 2)  # [N, C, T, H, W]
        return self.block(clip).transpose(1, 2).flatten(0, 1)
