"""One ResNet (torchvision layout, "v1.5") that every end-to-end video model is built from.

Parameter names follow torchvision (``conv1``, ``bn1``, ``layer1``..``layer4`` with blocks
``0..n-1`` holding ``conv1/bn1/...`` and ``downsample.0/1``, ``fc``) so ImageNet state_dicts
load by name (see ``pretrained.py``). The stride of a bottleneck sits on its 3x3 conv.

What differs between TSN / TSM / StNet / Non-local is passed in, never forked:

* ``in_channels``: 3 (RGB) or 15 (StNet's 5-frame super-image).
* ``conv_dims``: 2 -> ``Conv2d`` on frames ``[N, C, H, W]``; 3 -> ``Conv3d`` on clips
  ``[N, C, T, H, W]`` (C2D / I3D). 3D stems are ``stem_temporal_kernel x 7 x 7`` with temporal
  stride ``stem_temporal_stride``; the 1x3x3 max-pool after the stem strides time by
  ``stem_pool_temporal_stride`` (1: time is not pooled; MMAction2's 32-frame I3D uses 2 and 2).
* ``stem_pool_padding``: spatial padding of that max-pool, 1 (torchvision) or 0 (the Caffe2 /
  PaddleVideo Non-local, whose 224 input then gives 55x55 after the stem instead of 56x56).
* ``base_width``: channels of the stem and of res2's blocks (64; stages double it). Smaller
  widths keep the layer names and make tiny models for tests.
* ``temporal_kernel(stage, block) -> int``: temporal size of a block's first conv (3D only;
  I3D uses 3 in alternate blocks).
* ``block_input(stage, block, channels) -> Module | None``: applied to a block's input on the
  residual branch only, before its first conv (TSM's temporal shift); the shortcut keeps the
  unchanged input.
* ``after_block(stage, block, channels)`` / ``after_stage(stage, channels) -> Module | None``:
  modules run after a block (non-local) or after a whole stage (StNet temporal modelling,
  C2D's temporal max-pool). They are stored inside the stage as ``layer3.after1`` /
  ``layer3.after`` so the torchvision names of the blocks do not move.

Stages are numbered 1..4 (= ``layer1``..``layer4`` = res2..res5); blocks from 0.

Shapes: ``forward_features`` maps ``[N, in_channels, (T,) H, W]`` to
``[N, num_features, (T'), H/32, W/32]``; ``forward`` global-average-pools that to
``[N, num_features]`` (2048 for depth 50/101, 512 for 18/34), then applies ``fc`` when
``num_classes > 0`` (e.g. 1000 to hold a full ImageNet checkpoint).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from videozoo.errors import ConfigError, DataError
from videozoo.models.base import VideozooModel
from videozoo.models.temporal import set_num_segments

__all__ = [
    "ResNet",
    "ResidualBlock",
    "BasicBlock",
    "Bottleneck",
    "ResNetVideoClassifier",
    "STAGE_BLOCKS",
    "BlockHook",
    "StageHook",
    "read_video",
    "global_average",
]

#: blocks per stage for each supported depth
STAGE_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

BlockHook = Callable[[int, int, int], nn.Module | None]  # (stage, block, channels)
StageHook = Callable[[int, int], nn.Module | None]  # (stage, channels)


def conv_nd(
    conv_dims: int,
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    temporal_kernel: int = 1,
    temporal_stride: int = 1,
) -> nn.Module:
    """Bias-free kxk conv (2D) or temporal_kernel x k x k conv (3D); ``stride`` is spatial."""
    if conv_dims == 2:
        return nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
    return nn.Conv3d(
        in_channels,
        out_channels,
        (temporal_kernel, kernel, kernel),
        (temporal_stride, stride, stride),
        (temporal_kernel // 2, kernel // 2, kernel // 2),
        bias=False,
    )


def batch_norm(conv_dims: int, channels: int) -> nn.BatchNorm2d | nn.BatchNorm3d:
    return nn.BatchNorm2d(channels) if conv_dims == 2 else nn.BatchNorm3d(channels)


class ResidualBlock(nn.Module):
    """relu(shortcut(x) + residual(block_input(x))); subclasses define ``residual``."""

    expansion = 1

    def __init__(self, downsample: nn.Module | None, block_input: nn.Module | None):
        super().__init__()
        self.downsample = downsample
        # Identity when unused; TSM's shift has no parameters, so state_dict names stay put.
        self.block_input = block_input if block_input is not None else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_bn(self) -> nn.BatchNorm2d | nn.BatchNorm3d:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(self.block_input(x)) + shortcut)


class BasicBlock(ResidualBlock):
    """Two 3x3 convs (ResNet-18/34). The first may carry a temporal kernel in 3D."""

    expansion = 1
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))  # BN right after its conv (models/fuse.py)

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        block_input: nn.Module | None = None,
        conv_dims: int = 2,
        temporal_kernel: int = 1,
    ):
        super().__init__(downsample, block_input)
        self.conv1 = conv_nd(conv_dims, in_channels, width, 3, stride, temporal_kernel)
        self.bn1 = batch_norm(conv_dims, width)
        self.conv2 = conv_nd(conv_dims, width, width, 3)
        self.bn2 = batch_norm(conv_dims, width)

    @property
    def last_bn(self) -> nn.BatchNorm2d | nn.BatchNorm3d:
        return self.bn2

    def residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))


class Bottleneck(ResidualBlock):
    """1x1 -> 3x3 (stride here, "v1.5") -> 1x1 x4. The first 1x1 may be 3x1x1 in 3D (I3D)."""

    expansion = 4
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        block_input: nn.Module | None = None,
        conv_dims: int = 2,
        temporal_kernel: int = 1,
    ):
        super().__init__(downsample, block_input)
        self.conv1 = conv_nd(conv_dims, in_channels, width, 1, 1, temporal_kernel)
        self.bn1 = batch_norm(conv_dims, width)
        self.conv2 = conv_nd(conv_dims, width, width, 3, stride)
        self.bn2 = batch_norm(conv_dims, width)
        self.conv3 = conv_nd(conv_dims, width, width * self.expansion, 1)
        self.bn3 = batch_norm(conv_dims, width * self.expansion)

    @property
    def last_bn(self) -> nn.BatchNorm2d | nn.BatchNorm3d:
        return self.bn3

    def residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class ResNet(nn.Module):
    """ResNet-18/34/50/101 trunk with plug-in points (see the module docstring)."""

    conv_bn_pairs = (("conv1", "bn1"),)  # the stem (models/fuse.py)
    layer1: nn.Sequential  # the four stages, added by name in __init__
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        depth: int = 50,
        in_channels: int = 3,
        num_classes: int = 0,
        conv_dims: int = 2,
        stem_temporal_kernel: int = 1,
        temporal_kernel: Callable[[int, int], int] | None = None,
        block_input: BlockHook | None = None,
        after_block: BlockHook | None = None,
        after_stage: StageHook | None = None,
        zero_init_residual: bool = False,
        base_width: int = 64,
        stem_temporal_stride: int = 1,
        stem_pool_temporal_stride: int = 1,
        stem_pool_padding: int = 1,
    ):
        super().__init__()
        if depth not in STAGE_BLOCKS:
            raise ConfigError(f"ResNet depth {depth} is not supported; use one of {sorted(STAGE_BLOCKS)}")
        if conv_dims not in (2, 3):
            raise ConfigError(f"conv_dims must be 2 or 3, got {conv_dims}")
        if conv_dims == 2 and (
            stem_temporal_kernel != 1
            or temporal_kernel is not None
            or stem_temporal_stride != 1
            or stem_pool_temporal_stride != 1
        ):
            raise ConfigError("temporal kernels and strides need conv_dims=3")
        block_cls = Bottleneck if depth >= 50 else BasicBlock
        self.depth = depth
        self.conv_dims = conv_dims
        self.num_features = 8 * base_width * block_cls.expansion

        self._build_stem(
            in_channels,
            base_width,
            stem_temporal_kernel,
            stem_temporal_stride,
            stem_pool_temporal_stride,
            stem_pool_padding,
        )
        blocks = self._build_stages(
            block_cls, base_width, temporal_kernel, block_input, after_block, after_stage
        )
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else None
        self._init_weights([self.conv1, self.bn1, *blocks], zero_init_residual)

    def _build_stem(
        self,
        in_channels: int,
        base_width: int,
        temporal_kernel: int,
        temporal_stride: int,
        pool_temporal_stride: int,
        pool_padding: int,
    ) -> None:
        """conv1 (7x7 stride 2) + bn1 + relu + maxpool (3x3 stride 2): /4 in space."""
        conv_dims = self.conv_dims
        self.conv1 = conv_nd(conv_dims, in_channels, base_width, 7, 2, temporal_kernel, temporal_stride)
        self.bn1 = batch_norm(conv_dims, base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module
        if conv_dims == 2:
            self.maxpool = nn.MaxPool2d(3, 2, pool_padding)
        else:
            self.maxpool = nn.MaxPool3d(
                (1, 3, 3), (pool_temporal_stride, 2, 2), (0, pool_padding, pool_padding)
            )

    def _build_stages(
        self,
        block_cls: type[BasicBlock] | type[Bottleneck],
        base_width: int,
        temporal_kernel: Callable[[int, int], int] | None,
        block_input: BlockHook | None,
        after_block: BlockHook | None,
        after_stage: StageHook | None,
    ) -> list[nn.Module]:
        """Adds layer1..layer4 with their plug-ins; returns the residual blocks (to initialise)."""
        blocks: list[nn.Module] = []
        channels = base_width
        for stage, num_blocks in enumerate(STAGE_BLOCKS[self.depth], start=1):
            width = base_width * 2 ** (stage - 1)
            out_channels = width * block_cls.expansion
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            for index in range(num_blocks):
                stride = 2 if index == 0 and stage > 1 else 1
                block = block_cls(
                    channels,
                    width,
                    stride,
                    self._downsample(channels, out_channels, stride),
                    block_input=block_input(stage, index, channels) if block_input else None,
                    conv_dims=self.conv_dims,
                    temporal_kernel=temporal_kernel(stage, index) if temporal_kernel else 1,
                )
                layers[str(index)] = block
                blocks.append(block)
                channels = out_channels
                extra = after_block(stage, index, channels) if after_block else None
                if extra is not None:
                    layers[f"after{index}"] = extra
            extra = after_stage(stage, channels) if after_stage else None
            if extra is not None:
                layers["after"] = extra
            self.add_module(f"layer{stage}", nn.Sequential(layers))
        return blocks

    def _downsample(self, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
        """1x1 conv + BN on the shortcut where the block changes shape, else None (identity)."""
        if stride == 1 and in_channels == out_channels:
            return None
        return nn.Sequential(
            conv_nd(self.conv_dims, in_channels, out_channels, 1, stride),
            batch_norm(self.conv_dims, out_channels),
        )

    @staticmethod
    def _init_weights(modules: list[nn.Module], zero_init_residual: bool) -> None:
        """The one place trunk weights are initialised. Inserted modules keep their own init."""
        for root in modules:
            for m in root.modules():
                if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            # Zero gamma makes each residual block start as the identity.
            if zero_init_residual and isinstance(root, ResidualBlock):
                nn.init.zeros_(root.last_bn.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = global_average(self.forward_features(x))
        return features if self.fc is None else self.fc(features)


def global_average(feature_map: torch.Tensor) -> torch.Tensor:
    """``[N, C, ...]`` -> ``[N, C]``: the mean over every position (space, and time in 3D)."""
    return feature_map.mean(dim=tuple(range(2, feature_map.dim())))


def read_video(batch: dict, channels: int = 3) -> torch.Tensor:
    """``batch["video"]`` checked to be ``[N, T, channels, H, W]``."""
    video = batch.get("video") if isinstance(batch, dict) else None
    # While tracing, sizes are tensors: comparing them would only add tracer warnings.
    if video is None or video.dim() != 5 or (not torch.jit.is_tracing() and video.shape[2] != channels):
        got = "no 'video' key" if video is None else f"shape {list(video.shape)}"
        raise DataError(
            f"end-to-end models take batch['video'] of shape [N, T, {channels}, H, "
            f"W] (normalised RGB frames in time order), got {got}"
        )
    return video


class ResNetVideoClassifier(VideozooModel):
    """ResNet trunk -> average over time -> dropout -> linear ``classifier`` (TSN, TSM, Non-local).

    ``batch["video"]`` ``[N, T, 3, H, W]`` -> logits ``[N, num_classes]``.
    ``forward_features``: a 2D trunk sees the frames as one batch ``[N*T, 3, H, W]`` and returns
    their maps as ``[N, T, C, h, w]``; a 3D trunk sees the clip ``[N, 3, T, H, W]`` and returns
    ``[N, C, T', h, w]``. ``forward_head``: 2D: each frame's map averaged to ``[N, T, C]``, then
    the T frames averaged (TSN's consensus); 3D: the mean over ``T', h, w``; then dropout (the
    ``pre_logits`` vector, ``[N, C]``) and the classifier. ``dropout_per_frame`` (2D only) drops
    each frame's features with its own mask before the average, as TSM's reference does; the
    two agree at inference, where dropout is the identity. A consensus after the classifier
    (MMAction2's and MIT's TSM) equals this one because the classifier is linear.
    ``classifier_std`` = None keeps PyTorch's default Linear init. ``default_frames`` is the T
    of ``default_input()`` when none is asked for (the reference training clip); the model
    itself takes any T.
    """

    def __init__(
        self,
        backbone: ResNet,
        num_classes: int,
        dropout: float,
        default_frames: int,
        classifier_std: float | None = None,
        dropout_per_frame: bool = False,
    ):
        super().__init__()
        if dropout_per_frame and backbone.conv_dims != 2:
            raise ConfigError("dropout_per_frame needs a 2D trunk (a 3D trunk has no per-frame features)")
        self.backbone = backbone
        self.default_frames = default_frames
        self.dropout_per_frame = dropout_per_frame
        self.classifier_std = classifier_std
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.num_features, num_classes)
        self.init_classifier(self.classifier)

    def init_classifier(self, layer: nn.Linear) -> None:
        if self.classifier_std is not None:
            nn.init.normal_(layer.weight, std=self.classifier_std)
            nn.init.zeros_(layer.bias)

    def forward_features(self, batch: dict) -> torch.Tensor:
        """``[N, T, C, h, w]`` per-frame maps (2D trunk) or ``[N, C, T', h, w]`` (3D trunk)."""
        video = read_video(batch)
        if self.backbone.conv_dims == 3:
            return self.backbone.forward_features(video.transpose(1, 2))
        set_num_segments(self.backbone, video.shape[1])
        maps = self.backbone.forward_features(video.flatten(0, 1))  # [N*T, C, h, w]
        return maps.view(video.shape[0], -1, *maps.shape[1:])

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.backbone.conv_dims == 3:
            pooled = self.dropout(global_average(features))
        else:
            frames = global_average(features.flatten(0, 1)).view(features.shape[0], -1, features.shape[2])
            if self.dropout_per_frame:
                pooled = self.dropout(frames).mean(1)
            else:
                pooled = self.dropout(frames.mean(1))
        return pooled if pre_logits else self.classifier(pooled)

    def default_input(
        self, batch_size: int = 1, num_frames: int | None = None, image_size: int = 224
    ) -> dict:
        frames = num_frames or self.default_frames
        return {"video": torch.randn(batch_size, frames, 3, image_size, image_size)}
