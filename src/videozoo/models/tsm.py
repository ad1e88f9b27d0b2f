"""TSM (Lin, Gan, Han, ICCV 2019): TSN with a temporal shift at the input of every block.

``batch["video"]`` ``[N, T, 3, H, W]`` -> logits ``[N, num_classes]``. The shift ("residual
shift") sits on each block's residual branch before its first conv; the shortcut keeps the
unshifted input. It adds no parameters and no multiply-adds. ``shift_direction`` picks which
channel group looks back: "previous_first" (PaddleVideo, the reference) or "next_first" (MIT,
MMAction2); it matters only when porting weights. ``shift_every`` = 2 shifts only blocks
0, 2, 4, ... of each stage (what MIT and MMAction2 do for ResNet-101 and deeper). Dropout
acts on each frame's features before the segment average (``dropout_per_frame``, the
reference). T is read from the input (the data section's ``seg_num``, 8 in the reference).

``nonlocal_mode`` (``embedded_gaussian`` / ``dot_product``; None: none) adds non-local
blocks after blocks 0, 2 of res3 and 0, 2, 4 of res4 (every even block of the two stages), on
the T frames of each clip: the non-local TSMs of MMAction2 (no bias on the block's output
conv) and MIT (``nonlocal_out_bias=True``); phi and g are max-pooled after their 1x1 convs,
without the 1/sqrt(C') scale, as in both.
"""

from __future__ import annotations

from videozoo.errors import ConfigError
from videozoo.models.nonlocal_block import NONLOCAL_MODES, FramesNonLocal
from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet, ResNetVideoClassifier
from videozoo.models.temporal import TemporalShift
from videozoo.registry import register_model

#: Segments (one frame each) of the reference training clip: the T of ``default_input()``
#: and the default ``data.seg_num`` of this model (config.py); the model takes any T.
DEFAULT_SEGMENTS = 8


def has_non_local(stage: int, block: int) -> bool:
    """Blocks a non-local TSM follows with a non-local block: even blocks of res3 and res4."""
    return stage in (2, 3) and block % 2 == 0


@register_model("tsm")
def tsm(
    num_classes: int = 400,
    depth: int = 50,
    shift_div: int = 8,
    shift_direction: str = "previous_first",
    shift_every: int = 1,
    dropout: float = 0.5,
    dropout_per_frame: bool = True,
    pretrained: str | None = None,
    nonlocal_mode: str | None = None,
    nonlocal_out_bias: bool = False,
) -> ResNetVideoClassifier:
    """``pretrained``: a local torchvision ImageNet ResNet state_dict (or a tag), or None."""
    if shift_every < 1:
        raise ConfigError(f"shift_every must be >= 1, got {shift_every}")
    if nonlocal_mode is not None and nonlocal_mode not in NONLOCAL_MODES:
        raise ConfigError(f"tsm nonlocal_mode must be null or one of {NONLOCAL_MODES}, got {nonlocal_mode!r}")

    def non_local(stage: int, block: int, channels: int) -> FramesNonLocal | None:
        if nonlocal_mode is None or not has_non_local(stage, block):
            return None
        return FramesNonLocal(
            channels,
            DEFAULT_SEGMENTS,
            mode=nonlocal_mode,
            scale=False,
            pool_after_conv=True,
            out_bias=nonlocal_out_bias,
        )

    def shift(stage: int, block: int, channels: int) -> TemporalShift | None:
        if block % shift_every:
            return None
        return TemporalShift(channels, DEFAULT_SEGMENTS, shift_div, shift_direction)

    model = ResNetVideoClassifier(
        ResNet(depth, block_input=shift, after_block=non_local),
        num_classes,
        dropout,
        DEFAULT_SEGMENTS,
        dropout_per_frame=dropout_per_frame,
    )
    if pretrained:
        load_imagenet_resnet(model, pretrained)
    return model
