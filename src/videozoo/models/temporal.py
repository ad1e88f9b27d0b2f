"""Temporal layers that plug into the 2D ResNet trunk (``resnet.py``) of TSM and StNet.

* ``TemporalShift`` (TSM): ``[N*T, C, H, W] -> [N*T, C, H, W]``, no parameters, no MACs.
* ``TemporalModelingBlock`` (StNet): ``[N*T, C, H, W] -> [N*T, C, H, W]``, residual 3x1x1 conv.

2D trunks fold time into the batch (``[N*T, ...]``, frames of one clip adjacent). Layers that
need to unfold it are ``SegmentModule`` s: their ``num_segments`` (T) is set at construction
and updated by the owning model from its input with ``set_num_segments`` (so a model trained
on 8 segments can be tested on 25). The non-local block is in ``nonlocal_block.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from videozoo.errors import ConfigError

__all__ = [
    "SegmentModule",
    "set_num_segments",
    "TemporalShift",
    "TemporalModelingBlock",
    "SHIFT_DIRECTIONS",
]

SHIFT_DIRECTIONS = ("previous_first", "next_first")


class SegmentModule(nn.Module):
    """A layer on ``[N*T, ...]`` batches that needs T (``num_segments``) to unfold time."""

    def __init__(self, num_segments: int):
        super().__init__()
        if num_segments < 1:
            raise ConfigError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = num_segments

    def unfold_time(self, x: torch.Tensor) -> torch.Tensor:
        """``[N*T, ...] -> [N, T, ...]`` (a view)."""
        return x.view(-1, self.num_segments, *x.shape[1:])


def set_num_segments(module: nn.Module, num_segments: int) -> None:
    """Set T on every ``SegmentModule`` inside ``module`` (only writes when it changes).

    A no-op while TorchScript-tracing (the legacy ONNX exporter): sizes are traced tensors
    there, and a trace is static anyway, so it keeps the configured T: export with the
    model's ``default_input()``.
    """
    if torch.jit.is_tracing():
        return
    for m in module.modules():
        if isinstance(m, SegmentModule) and m.num_segments != num_segments:
            m.num_segments = num_segments


def _take_previous(x: torch.Tensor) -> torch.Tensor:
    """``out[:, t] = x[:, t-1]`` along dim 1 of ``[N, T, ...]``, zeros at t=0 (no wrap)."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def _take_next(x: torch.Tensor) -> torch.Tensor:
    """``out[:, t] = x[:, t+1]``, zeros at the last frame."""
    return torch.cat([x[:, 1:], torch.zeros_like(x[:, :1])], dim=1)


def _shift_by_cat(frames: torch.Tensor, fold: int, channel_dim: int, previous_first: bool) -> torch.Tensor:
    """The shift from slices and ``torch.cat``: what tracing and ONNX export see."""
    first, second, rest = frames.split([fold, fold, frames.shape[channel_dim] - 2 * fold], dim=channel_dim)
    if previous_first:
        first, second = _take_previous(first), _take_next(second)
    else:
        first, second = _take_next(first), _take_previous(second)
    return torch.cat([first, second, rest], dim=channel_dim)


def _shift_by_copy(frames: torch.Tensor, fold: int, channel_dim: int, previous_first: bool) -> torch.Tensor:
    """The same shift as a new tensor, built by copying (no autograd graph of its own)."""
    # One plain copy of everything, then the two shifted groups overwritten: a copy of the
    # untouched channels alone would be a strided copy (slower than the whole contiguous one).
    out = frames.clone(memory_format=torch.contiguous_format)
    groups = [
        (frames.narrow(channel_dim, start, fold), out.narrow(channel_dim, start, fold)) for start in (0, fold)
    ]
    (back_in, back_out), (ahead_in, ahead_out) = groups if previous_first else groups[::-1]
    back_out[:, 1:].copy_(back_in[:, :-1])
    back_out[:, :1].zero_()
    ahead_out[:, :-1].copy_(ahead_in[:, 1:])
    ahead_out[:, -1:].zero_()
    return out


class _ShiftFunction(torch.autograd.Function):
    """Training's shift: a copy forward, a copy backward (the gradient of a shift is the
    opposite shift). Autograd through slices and ``cat`` takes ~1.5x as long
    (``benchmarks/bench_shift.py``: 112 against 77 ms per ResNet-50 clip)."""

    @staticmethod
    def forward(ctx, frames, fold: int, channel_dim: int, previous_first: bool):
        ctx.shift = (fold, channel_dim, previous_first)
        return _shift_by_copy(frames, fold, channel_dim, previous_first)

    @staticmethod
    def backward(ctx, grad):
        fold, channel_dim, previous_first = ctx.shift
        return _shift_by_copy(grad, fold, channel_dim, not previous_first), None, None, None


class TemporalShift(SegmentModule):
    """Shift 1/shift_div of the channels one frame forward and 1/shift_div one frame back.

    ``direction="previous_first"`` (PaddleVideo, the reference): channels ``[0, C/d)`` take
    the previous frame's value, ``[C/d, 2C/d)`` the next frame's. ``"next_first"`` (MIT's
    TSM code) swaps the two groups; it only matters when porting weights. The remaining
    channels pass unchanged; ends are zero-filled. Runs as one copy (an autograd Function whose
    backward is the opposite shift); under tracing it is built from slices and ``torch.cat``,
    so it exports to ONNX without warnings.
    """

    def __init__(self, channels: int, num_segments: int, shift_div: int, direction: str):
        super().__init__(num_segments)
        if direction not in SHIFT_DIRECTIONS:
            raise ConfigError(f"shift direction must be one of {SHIFT_DIRECTIONS}, got {direction!r}")
        self.channels = channels
        self.fold = channels // shift_div
        if self.fold < 1 or 2 * self.fold > channels:
            raise ConfigError(
                f"shift_div={shift_div} leaves no channel to shift in a "
                f"{channels}-channel layer; use 2 <= shift_div <= {channels}"
            )
        self.direction = direction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Shift in the physical layout (channels innermost for channels_last input): slicing
        # C out of a channels_last tensor is ~10x slower, and the output keeps x's format.
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            return self._shift(x.permute(0, 2, 3, 1), channel_dim=-1).permute(0, 3, 1, 2)
        return self._shift(x, channel_dim=2)

    def _shift(self, x: torch.Tensor, channel_dim: int) -> torch.Tensor:
        """``x`` ``[N*T, ...]``; ``channel_dim`` indexes C in the unfolded ``[N, T, ...]``."""
        frames = self.unfold_time(x)
        previous_first = self.direction == "previous_first"
        # A trace records slices and cat (ONNX Slice/Concat); in-place copies into slices of
        # an empty tensor would not export cleanly. Both give identical values and gradients.
        shift = _shift_by_cat if torch.jit.is_tracing() else _ShiftFunction.apply
        return shift(frames, self.fold, channel_dim, previous_first).flatten(0, 1)

    def extra_repr(self) -> str:
        return f"fold={self.fold}, direction={self.direction}"


class TemporalModelingBlock(SegmentModule):
    """StNet temporal modelling: ``x + BN(ReLU(conv_3x1x1(x)))`` across the T segments.

    The 3x1x1 kernel is stored as a Conv2d over ``[N, C, T, H*W]`` (weight ``[C, C, 3, 1]``;
    squeeze the last dim of PaddleVideo's ``[C, C, 3, 1, 1]`` when porting): identical maths,
    and every weight stays 4-D so ``model.to(memory_format=torch.channels_last)`` works.
    """

    def __init__(self, channels: int, num_segments: int):
        super().__init__(num_segments)
        self.conv = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm2d(channels)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.unfold_time(x)  # [N, T, C, H, W]
        clip = frames.flatten(3).transpose(1, 2)  # [N, C, T, H*W]
        update = self.bn(self.relu(self.conv(clip)))
        return x + update.transpose(1, 2).reshape(x.shape)
