"""TSN (Wang et al., ECCV 2016): per-frame ResNet, features averaged over segments, linear.

``batch["video"]`` ``[N, T, 3, H, W]`` (one frame per segment) -> logits ``[N, num_classes]``.
Defaults are the PaddleVideo reference: ResNet-50, no dropout (peers use 0.4-0.5, after the
segment average; MIT's TSN code drops each frame's features: ``dropout_per_frame``). T is read
from the input: the data section's ``seg_num`` (3 in training) and ``test_seg_num`` (7).
"""

from __future__ import annotations

from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet, ResNetVideoClassifier
from videozoo.registry import register_model

#: Segments (one frame each) of the reference training clip: the T of ``default_input()``
#: and the default ``data.seg_num`` of this model (config.py); the model takes any T.
DEFAULT_SEGMENTS = 3


@register_model("tsn")
def tsn(
    num_classes: int = 400,
    depth: int = 50,
    dropout: float = 0.0,
    dropout_per_frame: bool = False,
    pretrained: str | None = None,
) -> ResNetVideoClassifier:
    """``pretrained``: path to a local torchvision ImageNet ResNet state_dict, or None."""
    model = ResNetVideoClassifier(
        ResNet(depth), num_classes, dropout, DEFAULT_SEGMENTS, dropout_per_frame=dropout_per_frame
    )
    if pretrained:
        load_imagenet_resnet(model, pretrained)
    return model
