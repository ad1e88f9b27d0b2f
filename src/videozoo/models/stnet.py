"""StNet (He et al., AAAI 2019): super-image ResNet + temporal blocks + temporal Xception head.

``batch["video"]`` ``[N, T, 3, H, W]`` with ``T = segments * seglen`` frames in time order is
grouped into ``segments`` super-images of ``3 * seglen`` channels (5 consecutive RGB frames
-> 15 channels) -> 2D ResNet with ``TemporalModelingBlock`` s after res3 and res4
(``forward_features``: maps ``[N, segments, 2048, h, w]``) -> pooled ``[N, 2048, segments]`` ->
``TemporalXceptionHead`` -> max over segments (the consensus) -> dropout (``pre_logits``:
``[N, 1024]``) -> linear ``classifier`` -> logits ``[N, num_classes]``. The segment count is
read from the input (7 in training, 25 at test).
"""

from __future__ import annotations

import torch
from torch import nn

from videozoo.errors import ConfigError
from videozoo.models.base import VideozooModel
from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet, global_average, read_video
from videozoo.models.temporal import TemporalModelingBlock, set_num_segments
from videozoo.registry import register_model


class TemporalXceptionHead(nn.Module):
    """``[N, C, T] -> [N, C/2]``: separable temporal convs + 1x1 shortcut, then max over T.

    BN(x) -> (depthwise k3 -> 1x1 C->C/2 -> BN+ReLU -> depthwise k3 -> 1x1 C/2->C/2)
    + (1x1 C->C/2) -> BN -> ReLU -> max over T. All convs have a bias (as PaddleVideo).
    """

    conv_bn_pairs = (("pointwise1", "bn_mid"),)  # forward: bn_mid(pointwise1(...)) (models/fuse.py)

    def __init__(self, channels: int):
        super().__init__()
        out = channels // 2
        self.bn_in = nn.BatchNorm1d(channels)
        self.depthwise1 = nn.Conv1d(channels, channels, 3, padding=1, groups=channels)
        self.pointwise1 = nn.Conv1d(channels, out, 1)
        self.bn_mid = nn.BatchNorm1d(out)
        self.depthwise2 = nn.Conv1d(out, out, 3, padding=1, groups=out)
        self.pointwise2 = nn.Conv1d(out, out, 1)
        self.shortcut = nn.Conv1d(channels, out, 1)
        self.bn_out = nn.BatchNorm1d(out)
        self.relu = nn.ReLU(inplace=True)
        self.num_features = out
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn_in(x)
        main = self.relu(self.bn_mid(self.pointwise1(self.depthwise1(x))))
        main = self.pointwise2(self.depthwise2(main))
        return self.relu(self.bn_out(main + self.shortcut(x))).amax(dim=-1)


#: Segments of the reference training clip (7 x 5 frames): those of ``default_input()`` and
#: the default ``data.seg_num`` of this model (config.py).
DEFAULT_SEGMENTS = 7


@register_model("stnet")
class StNet(VideozooModel):
    """StNet (see the module docstring). Defaults: the PaddleVideo v1.5 configuration.

    ``seglen`` (frames per super-image) is architectural: conv1 takes ``3 * seglen`` channels,
    and the data section's ``seglen`` must agree. ``pretrained``: a local torchvision
    ImageNet state_dict (conv1 adapted to the super-image channels).
    """

    def __init__(
        self,
        num_classes: int = 400,
        depth: int = 50,
        seglen: int = 5,
        dropout: float = 0.0,
        pretrained: str | None = None,
    ):
        super().__init__()
        self.seglen = seglen
        self.backbone = ResNet(
            depth,
            in_channels=3 * seglen,
            after_stage=lambda stage, channels: (
                TemporalModelingBlock(channels, DEFAULT_SEGMENTS) if stage in (2, 3) else None
            ),
        )
        self.head = TemporalXceptionHead(self.backbone.num_features)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.head.num_features, num_classes)
        if pretrained:
            load_imagenet_resnet(self, pretrained)

    def forward_features(self, batch: dict) -> torch.Tensor:
        """The maps of the super-images: ``[N, segments, C, h, w]``."""
        video = read_video(batch)
        n, t, _, h, w = video.shape
        if not torch.jit.is_tracing() and t % self.seglen:
            raise ConfigError(
                f"StNet takes T = segments x seglen frames; T={t} is not a multiple of seglen={self.seglen}"
            )
        set_num_segments(self.backbone, t // self.seglen)
        super_images = video.reshape(-1, self.seglen * 3, h, w)  # [N*segments, 15, H, W]
        maps = self.backbone.forward_features(super_images)  # [N*segments, C, h, w]
        return maps.view(n, -1, *maps.shape[1:])

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = global_average(features.flatten(0, 1))  # [N*segments, C]
        segments = pooled.view(features.shape[0], -1, pooled.shape[1]).transpose(1, 2)  # [N, C, segments]
        vector = self.dropout(self.head(segments))
        return vector if pre_logits else self.classifier(vector)

    def default_input(
        self, batch_size: int = 1, num_frames: int | None = None, image_size: int = 224
    ) -> dict:
        frames = num_frames or DEFAULT_SEGMENTS * self.seglen
        return {"video": torch.randn(batch_size, frames, 3, image_size, image_size)}
