"""Non-local network (Wang, Girshick, Gupta, He, CVPR 2018) on a C2D or I3D ResNet.

``batch["video"]`` ``[N, T, 3, H, W]`` (8 frames in the reference) is permuted to
``[N, 3, T, H, W]`` -> logits ``[N, num_classes]``. 3D trunk: stem 1x7x7 (C2D) or 5x7x7 (I3D),
spatial-only max-pool, a (2,1,1) temporal max-pool after res2, embedded-Gaussian non-local
blocks after every second block of res3 and res4 (blocks 1, 3 / 1, 3, 5 in ResNet-50), each
block's last BN gamma 0. ``arch="i3d"`` gives the first conv of res2's blocks, res3/res4's
even blocks and res5's odd blocks a 3x1x1 temporal kernel (the original I3D-ResNet layout).
Head: global average pool, dropout 0.5, linear initialised N(0, 0.01).
Use ``memory_format=torch.channels_last_3d`` (the weights are 5-D).
"""
from __future__ import annotations

from torch import nn

from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet, ResNetVideoClassifier
from videozoo.models.temporal import NonLocalBlock
from videozoo.registry import register_model

ARCHS = ("c2d", "i3d")


def i3d_temporal_kernel(stage: int, block: int) -> int:
    """3 where the I3D-ResNet puts a temporal kernel in a block's first conv, else 1."""
    inflated = {1: True, 2: block % 2 == 0, 3: block % 2 == 0, 4: block % 2 == 1}[stage]
    return 3 if inflated else 1


def non_local_after(stage: int, block: int, channels: int) -> nn.Module | None:
    return NonLocalBlock(channels) if stage in (2, 3) and block % 2 == 1 else None


def temporal_pool_after(stage: int, channels: int) -> nn.Module | None:
    return nn.MaxPool3d((2, 1, 1), (2, 1, 1)) if stage == 1 else None


#: T of ``default_input()`` (the reference clip: 8 frames); the model takes any T.
DEFAULT_FRAMES = 8


@register_model("nonlocal")
def nonlocal_net(num_classes: int = 400, depth: int = 50, arch: str = "c2d",
                 dropout: float = 0.5, pretrained: str | None = None) -> ResNetVideoClassifier:
    """``pretrained``: local torchvision ImageNet state_dict. T comes from the input (the data
    section's ``clip_len``)."""
    if arch not in ARCHS:
        raise ValueError(f"nonlocal arch must be one of {ARCHS}, got {arch!r}")
    i3d = arch == "i3d"
    backbone = ResNet(depth, conv_dims=3, stem_temporal_kernel=5 if i3d else 1,
                      temporal_kernel=i3d_temporal_kernel if i3d else None,
                      after_block=non_local_after, after_stage=temporal_pool_after,
                      zero_init_residual=True)
    model = ResNetVideoClassifier(backbone, num_classes, dropout, DEFAULT_FRAMES,
                                  classifier_std=0.01)
    if pretrained:
        load_imagenet_resnet(model, pretrained)
    return model
