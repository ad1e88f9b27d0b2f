"""TSN (Wang et al., ECCV 2016): per-frame ResNet, features averaged over segments, linear.

``batch["video"]`` ``[N, T, 3, H, W]`` (one frame per segment) -> logits ``[N, num_classes]``.
Defaults are the PaddleVideo reference: ResNet-50, 3 training segments (7 at test: T is read
from the input), no dropout (peers use 0.4-0.5).
"""
from __future__ import annotations

from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet, ResNetVideoClassifier
from videozoo.registry import register_model


@register_model("tsn")
def tsn(num_classes: int = 400, depth: int = 50, seg_num: int = 3, dropout: float = 0.0,
        pretrained: str | None = None) -> ResNetVideoClassifier:
    """``pretrained``: path to a local torchvision ImageNet ResNet state_dict, or None."""
    model = ResNetVideoClassifier(ResNet(depth), num_classes, seg_num, dropout)
    if pretrained:
        load_imagenet_resnet(model, pretrained)
    return model
