"""Inference only: fold each BatchNorm into the convolution whose output it normalises.

In eval mode ``bn(conv(x)) = conv'(x)`` with ``w' = w * g`` and ``b' = (b - mean) * g + beta``
where ``g = gamma / sqrt(var + eps)`` per output channel, so one op replaces two and a
full pass over every feature map disappears. The result differs from the unfused model only
by float rounding (~1e-6 relative in float32).

Which (conv, BN) pairs may be folded is declared by the modules that know their forward: a
module lists ``conv_bn_pairs = (("conv1", "bn1"), ...)`` when its forward applies that BN
directly to that conv's output (nothing in between, the conv's output used nowhere else).
``nn.Sequential`` children are folded where a conv is directly followed by a BN. The folded
BN is replaced by ``nn.Identity``, so the model keeps its structure and attribute names;
its ``state_dict`` no longer loads into an unfused model (this is for inference only).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["fold_batchnorm", "fold_conv_bn"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def fold_conv_bn(conv: nn.Module, bn: nn.Module) -> None:
    """Fold eval-mode ``bn`` into ``conv`` in place (``conv`` gains a bias if it had none)."""
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.affine:
        shift = shift + bn.bias.double()
    old_bias = conv.bias.double() if conv.bias is not None else 0.0
    new_weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
    conv.weight.copy_(new_weight.to(conv.weight.dtype))
    new_bias = (old_bias * scale + shift).to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias, requires_grad=conv.weight.requires_grad)
    else:
        conv.bias.copy_(new_bias)


def _foldable(conv, bn) -> bool:
    return (
        isinstance(conv, _CONVS)
        and type(bn) in _NORMS
        and bn.track_running_stats
        and bn.running_mean is not None
        and conv.out_channels == bn.num_features
    )


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every declared (conv, BN) pair of ``model`` (in eval mode) in place; returns how
    many BatchNorms were folded. Refuses a model in training mode."""
    if model.training:
        raise ValueError("fold_batchnorm is for inference: call model.eval() first")
    folded = 0
    for module in list(model.modules()):
        pairs = list(getattr(module, "conv_bn_pairs", ()))
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            pairs += list(zip(names, names[1:]))
        for conv_name, bn_name in pairs:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if _foldable(conv, bn):
                fold_conv_bn(conv, bn)
                setattr(module, bn_name, nn.Identity())
                folded += 1
    return folded
