"""Layers shared by the feature-sequence models (NeXtVLAD, Attention LSTM, Attention Cluster).

Shapes: sequences are ``[B, T, F]`` with a bool mask ``[B, T]`` (True = real frame, padding at
the end). Everything here keeps padded frames out of the result, so appending padded frames
never changes a model's output.

* ``RealFrames(mask [B, T])``: the real frames of a padded batch as rows ``[R, ...]`` for
  frame-wise layers (``pack`` / ``unpack``); free when nothing is padded.
* ``masked_softmax(scores [B, T, ...], mask [B, T])``: softmax over T, zero weight on padding.
* ``zero_padding(x [B, T, ...], mask [B, T])``: padded frames set to 0.
* ``MaskedBatchNorm1d``: BatchNorm over the channels of ``[..., C]`` whose batch statistics
  are taken over real frames only (the native BatchNorm when no mask is given).
* ``ContextGating``: squeeze-excitation gating of a ``[B, D]`` vector (NeXtVLAD head).
* ``init_msra_``: He-normal weights (std sqrt(2 / fan_in)), zero biases.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RealFrames:
    """The real frames of a padded batch (``mask [B, T]``, True = real) as rows of a matrix.

    Frame-wise layers (linears, BatchNorm over frames) run on ``pack(x [B, T, ...])`` ->
    ``[R, ...]``, the R real frames only, so padding costs nothing and batch statistics see
    real frames alone; ``unpack(rows [R, ...])`` -> ``[B, T, ...]`` puts them back with zeros
    on padded frames. Without padding both are views (no copy, no masking at all).

    While tracing or compiling (ONNX / TorchScript / torch.export / torch.compile) shapes must
    not depend on the data: nothing is packed (R = B*T), ``pack`` zeroes padded frames, and
    ``row_mask`` (``[R]`` bool, else None) tells the model to mask with tensor ops itself.
    """

    def __init__(self, mask: torch.Tensor):
        self.mask = mask
        self.index = self.row_mask = None
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            self.row_mask = mask.flatten()
        elif not bool(mask.all()):  # one host sync per batch; none of the work is on padding
            self.index = mask.flatten().nonzero().squeeze(1)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, T, ...]`` -> rows ``[R, ...]`` of the real frames."""
        if self.row_mask is not None:
            x = zero_padding(x, self.mask)
        rows = x.flatten(0, 1)
        return rows if self.index is None else rows.index_select(0, self.index)

    def unpack(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows ``[R, ...]`` -> ``[B, T, ...]``, zeros on padded frames (in packed mode)."""
        if self.index is not None:
            full = rows.new_zeros((self.mask.numel(),) + rows.shape[1:])
            rows = full.index_copy(0, self.index, rows)
        return rows.unflatten(0, self.mask.shape)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 of ``scores [B, T, ...]`` restricted to ``mask [B, T]``.

    Padded positions get weight 0; a video with no real frame gets all-zero weights (not NaN).
    """
    mask = mask.reshape(mask.shape + (1,) * (scores.dim() - 2))
    # A finite fill value (not -inf) keeps all-padding rows NaN-free; they are zeroed below.
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=1) * mask.to(scores.dtype)


def zero_padding(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x [B, T, ...]`` with padded frames set to 0, so NaN/inf padding cannot leak through."""
    return x.masked_fill(~mask.reshape(mask.shape + (1,) * (x.dim() - 2)), 0.0)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the last dim of ``x [..., C]`` using real frames (``mask [...]``) only.

    Same parameters and buffers as ``nn.BatchNorm1d(C)`` (state dicts are interchangeable).
    Without a mask (every frame real, e.g. rows packed by ``RealFrames``) it is the native
    BatchNorm. With one, in training the statistics (and the running-statistics update) come
    from the masked frames; in eval the running statistics are applied to every frame, padding
    included, which is harmless because callers zero the padded frames' contribution afterwards.
    """

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x [..., C]``, ``mask [...]`` or None -> normalised ``[..., C]``."""
        if mask is None or (not self.training and self.track_running_stats):
            return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        # Statistics in float32 even under autocast: variances of bf16 values are too coarse.
        values = x.float().reshape(-1, x.shape[-1])
        weights = mask.to(values.dtype).reshape(-1, 1)
        count = weights.sum().clamp_min(1.0)
        mean = (values * weights).sum(dim=0) / count
        var = (((values - mean) ** 2) * weights).sum(dim=0) / count
        if self.training:
            self._update_running_stats(mean, var, count)
        out = (values - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            out = out * self.weight + self.bias
        return out.to(x.dtype).reshape(x.shape)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor) -> None:
        tracked, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
        if tracked is None or running_mean is None or running_var is None:
            return  # track_running_stats=False: no running statistics are kept
        tracked.add_(1)
        if self.momentum is None:  # cumulative moving average, as nn.BatchNorm
            momentum = 1.0 / float(tracked)
        else:
            momentum = self.momentum
        unbiased_var = var * count / (count - 1).clamp_min(1.0)
        running_mean.lerp_(mean.to(running_mean.dtype), momentum)
        running_var.lerp_(unbiased_var.to(running_var.dtype), momentum)


class ContextGating(nn.Module):
    """Squeeze-excitation context gating: ``x * sigmoid(W2 relu(BN(W1 x)))`` for ``x [B, D]``.

    Both linears have no bias (BatchNorm follows the first; the reference omits the second's).
    """

    def __init__(self, dim: int, reduction: int):
        super().__init__()
        self.squeeze = nn.Linear(dim, dim // reduction, bias=False)
        self.norm = nn.BatchNorm1d(dim // reduction)
        self.excite = nn.Linear(dim // reduction, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.excite(F.relu(self.norm(self.squeeze(x)))))
        return x * gates


def init_msra_(module: nn.Module) -> None:
    """He-normal init (std sqrt(2 / fan_in)) for every Linear weight, zero biases.

    BatchNorm layers keep PyTorch's init (weight 1, bias 0); recurrent layers are not touched.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def feature_sequence_input(batch_size: int, num_frames: int, rgb_size: int, audio_size: int) -> dict:
    """A random YouTube-8M style batch: ``rgb [B, T, rgb_size]``, ``audio``, all-True ``mask``."""
    return {
        "rgb": torch.randn(batch_size, num_frames, rgb_size),
        "audio": torch.randn(batch_size, num_frames, audio_size),
        "mask": torch.ones(batch_size, num_frames, dtype=torch.bool),
    }
