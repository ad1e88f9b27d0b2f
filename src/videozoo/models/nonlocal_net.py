"""Non-local network (Wang, Girshick, Gupta, He, CVPR 2018) on a C2D or I3D ResNet.

``batch["video"]`` ``[N, T, 3, H, W]`` (8 frames in the reference) is permuted to
``[N, 3, T, H, W]`` -> logits ``[N, num_classes]``. 3D trunk: stem 1x7x7 (C2D) or 5x7x7 (I3D),
a 1x3x3 max-pool (padding 0 as in the reference, so 224 -> 55x55), a (2,1,1) temporal max-pool
after res2, non-local blocks after every second block of res3 and res4 (blocks 1, 3 / 1, 3, 5
in ResNet-50), each block's last BN gamma 0. ``arch="i3d"`` gives the first conv of res2's
blocks, res3/res4's even blocks and res5's odd blocks a 3x1x1 temporal kernel (the I3D-ResNet
layout of both PaddleVideo v1.5 and MMAction2).

Options that reproduce published weights (defaults: PaddleVideo v1.5, the reference):

* stem: ``stem_temporal_stride``, ``stem_pool_temporal_stride`` (MMAction2's 32x2 I3D: 2, 2),
  ``stem_pool_padding`` (0; torchvision / MMAction2: 1);
* non-local blocks (``nonlocal_block.NonLocalBlock``): ``nonlocal_mode`` (``embedded_gaussian`` /
  ``dot_product``), ``nonlocal_pool`` (``before_conv``: phi/g see the max-pooled input, v1.5;
  ``after_conv``: their outputs are pooled, MMAction2), ``nonlocal_scale`` (theta^T phi times
  1/sqrt(C')), ``nonlocal_out_bias``;
* ``nonlocal_blocks``: False leaves them out (plain C2D / I3D, e.g. MMAction2's I3D R50);
* ``head``: ``average`` (global average pool -> dropout -> linear: logits) or
  ``window_softmax`` (v1.5's test head: average-pool the final map over all of time and
  ``head_window`` x ``head_window`` windows with stride 1, classify each window, softmax per
  window, average the probabilities). The window head returns the log of those averaged
  probabilities, so ``softmax`` of the output is exactly the reference's score; on a 224 crop
  (a 7x7 map: one window) it equals ``log_softmax`` of the average head's logits.

``base_width`` (64) scales every channel count (tiny test models keep the layer names).
Use ``memory_format=torch.channels_last_3d`` (the weights are 5-D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videozoo.errors import ConfigError
from videozoo.models.nonlocal_block import NONLOCAL_MODES, NonLocalBlock
from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet, ResNetVideoClassifier
from videozoo.registry import register_model

ARCHS = ("c2d", "i3d")
NONLOCAL_POOLS = ("before_conv", "after_conv")
HEADS = ("average", "window_softmax")


def i3d_temporal_kernel(stage: int, block: int) -> int:
    """3 where the I3D-ResNet puts a temporal kernel in a block's first conv, else 1."""
    inflated = {1: True, 2: block % 2 == 0, 3: block % 2 == 0, 4: block % 2 == 1}[stage]
    return 3 if inflated else 1


def has_non_local(stage: int, block: int) -> bool:
    """Blocks followed by a non-local block: 1, 3 of res3 and 1, 3, 5 of res4 (ResNet-50)."""
    return stage in (2, 3) and block % 2 == 1


def temporal_pool_after(stage: int, channels: int) -> nn.Module | None:
    return nn.MaxPool3d((2, 1, 1), (2, 1, 1)) if stage == 1 else None


#: Frames of the reference clip (8, one every 8): the T of ``default_input()`` and this model's
#: default ``data.clip_len`` (config.py); the model takes any T.
DEFAULT_CLIP_LEN = 8


class NonLocalClassifier(ResNetVideoClassifier):
    """``ResNetVideoClassifier`` with the choice of head described in the module docstring."""

    def __init__(self, backbone: ResNet, num_classes: int, dropout: float, head: str, head_window: int):
        super().__init__(backbone, num_classes, dropout, DEFAULT_CLIP_LEN, classifier_std=0.01)
        self.head = head
        self.head_window = head_window

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``features [N, C, T', h, w]``; the window head's ``pre_logits``: the mean of the
        window vectors its classifier sees."""
        if self.head == "average":
            return super().forward_head(features, pre_logits)
        # Sizes as plain ints: a traced export has a fixed input size anyway, and ONNX needs
        # a constant pooling kernel.
        t, h, w = (int(size) for size in features.shape[2:])
        windows = F.avg_pool3d(features, (t, min(self.head_window, h), min(self.head_window, w)), stride=1)
        windows = self.dropout(windows.flatten(2).transpose(1, 2))  # [N, P, C]
        if pre_logits:
            return windows.mean(1)
        log_probs = F.log_softmax(self.classifier(windows), dim=-1)
        # log of the mean over the windows of their softmax, shifted by the largest term so
        # that it cannot underflow to log(0)
        peak = log_probs.amax(dim=1, keepdim=True)
        return (peak + (log_probs - peak).exp().mean(dim=1, keepdim=True).log()).squeeze(1)

    def extra_repr(self) -> str:
        return f"head={self.head}, head_window={self.head_window}"


def _check_choice(name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"nonlocal {name} must be one of {choices}, got {value!r}")


@register_model("nonlocal")
def nonlocal_net(
    num_classes: int = 400,
    depth: int = 50,
    arch: str = "c2d",
    dropout: float = 0.5,
    pretrained: str | None = None,
    base_width: int = 64,
    stem_temporal_stride: int = 1,
    stem_pool_temporal_stride: int = 1,
    stem_pool_padding: int = 0,
    nonlocal_mode: str = "embedded_gaussian",
    nonlocal_pool: str = "before_conv",
    nonlocal_scale: bool = True,
    nonlocal_out_bias: bool = True,
    head: str = "average",
    head_window: int = 7,
    nonlocal_blocks: bool = True,
) -> NonLocalClassifier:
    """``pretrained``: local torchvision ImageNet state_dict (or a tag). T comes from the input
    (the data section's ``clip_len``). ``nonlocal_blocks=False``: the plain C2D / I3D trunk
    (MMAction2's I3D R50). The other options: see the module docstring."""
    _check_choice("arch", arch, ARCHS)
    _check_choice("nonlocal_mode", nonlocal_mode, NONLOCAL_MODES)
    _check_choice("nonlocal_pool", nonlocal_pool, NONLOCAL_POOLS)
    _check_choice("head", head, HEADS)
    i3d = arch == "i3d"

    def non_local_after(stage: int, block: int, channels: int) -> nn.Module | None:
        if not (nonlocal_blocks and has_non_local(stage, block)):
            return None
        return NonLocalBlock(
            channels,
            mode=nonlocal_mode,
            scale=nonlocal_scale,
            pool_after_conv=nonlocal_pool == "after_conv",
            out_bias=nonlocal_out_bias,
        )

    backbone = ResNet(
        depth,
        conv_dims=3,
        stem_temporal_kernel=5 if i3d else 1,
        temporal_kernel=i3d_temporal_kernel if i3d else None,
        after_block=non_local_after,
        after_stage=temporal_pool_after,
        zero_init_residual=True,
        base_width=base_width,
        stem_temporal_stride=stem_temporal_stride,
        stem_pool_temporal_stride=stem_pool_temporal_stride,
        stem_pool_padding=stem_pool_padding,
    )
    model = NonLocalClassifier(backbone, num_classes, dropout, head, head_window)
    if pretrained:
        load_imagenet_resnet(model, pretrained)
    return model
