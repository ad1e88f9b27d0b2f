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

``fuse_relu_add(model)`` (CPU, float32, after folding) goes one step further for the ResNet
trunks: each residual block's ``relu(conv(x))`` and its closing ``relu(conv(out) + shortcut)``
become single oneDNN calls (``torch.ops.mkldnn._convolution_pointwise``: the conv with the
ReLU, and the residual add, applied to its output while it is in cache), and so does the stem's
conv + ReLU. It saves the separate passes of ReLU and add over every feature map: ~10% of
the CPU time of a TSM-R50 forward on an AVX2 EPYC (docs/benchmarks.md, ``bench_fastpath.py``).
It knows the forward of ``models.resnet``'s ``BasicBlock`` / ``Bottleneck`` (a chain of
conv -> BN -> ReLU, the last conv's BN output added to the shortcut, then ReLU) and swaps
each folded block for a ``FusedResidualBlock`` computing the same thing.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from videozoo.models.resnet import BasicBlock, Bottleneck, ResidualBlock, ResNet

__all__ = ["FusedResidualBlock", "fold_batchnorm", "fold_conv_bn", "fuse_relu_add"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def fold_conv_bn(conv: _ConvNd, bn: _BatchNorm) -> None:
    """Fold eval-mode ``bn`` into ``conv`` in place (``conv`` gains a bias if it had none)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_conv_bn needs a BatchNorm with running statistics")
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    shift = -bn.running_mean.double() * scale
    if bn.weight is not None and bn.bias is not None:  # affine
        scale = scale * bn.weight.double()
        shift = shift * bn.weight.double() + bn.bias.double()
    dtype = conv.weight.dtype
    old_bias = conv.bias.double() if conv.bias is not None else 0.0
    new_weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
    conv.weight.copy_(new_weight.to(dtype))
    new_bias = (old_bias * scale + shift).to(dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias, requires_grad=conv.weight.requires_grad)
    else:
        conv.bias.copy_(new_bias)


def _foldable(conv: _ConvNd, bn: _BatchNorm) -> bool:
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
            if isinstance(conv, _ConvNd) and isinstance(bn, _BatchNorm) and _foldable(conv, bn):
                fold_conv_bn(conv, bn)
                setattr(module, bn_name, nn.Identity())
                folded += 1
    return folded


class ConvReLU(nn.Module):
    """``relu(conv(x) [+ residual])`` as one oneDNN call; reads ``conv``'s parameters when
    called, so ``.to(...)`` on the model still reaches them."""

    def __init__(self, conv: _ConvNd):
        super().__init__()
        self.conv = conv
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        padding, stride, dilation, groups = self.geometry
        weight, bias = self.conv.weight, self.conv.bias
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, padding, stride, dilation, groups, "relu", [], ""
            )
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, weight, bias, padding, stride, dilation, groups, "add", None, "relu", [], ""
        )


class FusedResidualBlock(nn.Module):
    """A folded ``BasicBlock`` / ``Bottleneck``: ``relu(convN(... relu(conv1(block_input(x))))
    + shortcut(x))`` with every ReLU and the add fused into the convs."""

    def __init__(self, block: ResidualBlock, convs: list[_ConvNd]):
        super().__init__()
        self.block_input = block.block_input
        self.downsample = block.downsample
        self.convs = nn.ModuleList(ConvReLU(conv) for conv in convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.block_input(x)
        for conv in self.convs[:-1]:
            out = conv(out)
        return self.convs[-1](out, shortcut)


def fusable(model: nn.Module) -> bool:
    """Whether ``fuse_relu_add`` can run ``model``: float32 parameters on a CPU with oneDNN."""
    params = list(model.parameters())
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")  # builds without it exist
        and bool(params)
        and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params)
    )


def _chain(block: nn.Module) -> list[_ConvNd] | None:
    """The residual convs of a folded ``BasicBlock`` / ``Bottleneck`` in order, else None."""
    # exactly these classes: a subclass may have another forward
    if not isinstance(block, (BasicBlock, Bottleneck)) or type(block) not in (BasicBlock, Bottleneck):
        return None
    convs = [getattr(block, conv) for conv, _ in block.conv_bn_pairs]
    folded = all(isinstance(getattr(block, bn), nn.Identity) for _, bn in block.conv_bn_pairs)
    plain = all(isinstance(c, _CONVS) and c.padding_mode == "zeros" for c in convs)
    return convs if folded and plain else None


def fuse_relu_add(model: nn.Module) -> int:
    """Swap every folded ResNet block of ``model`` (and stem) for its fused form (module
    docstring); returns how many were fused. Call after ``fold_batchnorm``, for inference in
    float32 on a CPU (``fusable``)."""
    fused = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            convs = _chain(child)
            if convs is not None and isinstance(child, ResidualBlock):
                setattr(module, name, FusedResidualBlock(child, convs))
                fused += 1
        stem_folded = isinstance(getattr(module, "bn1", None), nn.Identity)
        if type(module) is ResNet and stem_folded and isinstance(module.conv1, _CONVS):
            # forward_features: maxpool(relu(bn1(conv1(x)))); relu is the stem's alone
            module.conv1 = ConvReLU(module.conv1)
            module.relu = nn.Identity()  # type: ignore[assignment]  # an nn.ReLU slot, now a no-op
            fused += 1
    return fused
