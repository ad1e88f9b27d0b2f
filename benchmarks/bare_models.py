"""Bare PyTorch twins of each videozoo model, for ``bench_speed.py``.

Plain PyTorch, written from the papers and torchvision's ResNet; nothing from videozoo.
Parameter names match ours so that our weights load (``bare_state_dict``;
tests/test_bench_speed.py checks that both give the same outputs). The bare feature models
ignore the mask (they cost what a model that does not handle padding costs); TSN and TSM are
one ResNet-50 classifying every frame; StNet and Non-local have their extra blocks.

Inputs as ours: feature models ``{"rgb" [B, T, 1024], "audio" [B, T, 128]}``, video models
``{"video" [N, T, 3, H, W]}``; outputs logits ``[B, num_classes]``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class BareNeXtVLADPool(nn.Module):
    """NeXtVLAD aggregation of ``x [B, T, N]`` -> ``[B, K * d]`` (no mask)."""

    def __init__(self, size, clusters, groups, expansion):
        super().__init__()
        self.K, self.G, self.d = clusters, groups, expansion * size // groups
        self.expand = nn.Linear(size, expansion * size)
        self.group_attention = nn.Linear(expansion * size, groups)
        self.assignment = nn.Linear(expansion * size, groups * clusters, bias=False)
        self.assignment_norm = nn.BatchNorm1d(groups * clusters)
        self.cluster_centers = nn.Parameter(torch.randn(clusters, self.d) * 0.1)
        self.output_norm = nn.BatchNorm1d(clusters * self.d)

    def forward(self, x):
        B, T = x.shape[:2]
        x = self.expand(x)
        alpha = torch.sigmoid(self.group_attention(x)).reshape(B, T * self.G, 1)
        a = self.assignment_norm(self.assignment(x).reshape(B * T, -1))
        a = torch.softmax(a.reshape(B, T * self.G, self.K), dim=-1) * alpha
        vlad = a.transpose(1, 2) @ x.reshape(B, T * self.G, self.d)
        vlad = vlad - a.sum(1).unsqueeze(-1) * self.cluster_centers
        vlad = F.normalize(vlad, dim=-1).transpose(1, 2).reshape(B, -1)
        return self.output_norm(vlad)


class BareGating(nn.Module):
    def __init__(self, dim, reduction):
        super().__init__()
        self.squeeze = nn.Linear(dim, dim // reduction, bias=False)
        self.norm = nn.BatchNorm1d(dim // reduction)
        self.excite = nn.Linear(dim // reduction, dim, bias=False)

    def forward(self, x):
        return x * torch.sigmoid(self.excite(F.relu(self.norm(self.squeeze(x)))))


class BareNeXtVLAD(nn.Module):
    def __init__(
        self,
        num_classes,
        rgb_size,
        audio_size,
        cluster_size,
        groups,
        expansion,
        hidden_size,
        gating_reduction,
        drop_rate,
        **_,
    ):
        super().__init__()
        self.register_buffer("rgb_scale", torch.ones(rgb_size))
        self.rgb_pool = BareNeXtVLADPool(rgb_size, cluster_size, groups, expansion)
        self.audio_pool = BareNeXtVLADPool(audio_size, cluster_size, groups, expansion)
        self.dropout = nn.Dropout(drop_rate)
        pooled = cluster_size * expansion * (rgb_size + audio_size) // groups
        self.hidden = nn.Linear(pooled, hidden_size, bias=False)
        self.hidden_norm = nn.BatchNorm1d(hidden_size)
        self.gating = BareGating(hidden_size, gating_reduction)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, batch):
        pooled = torch.cat(
            [self.rgb_pool(batch["rgb"] * self.rgb_scale), self.audio_pool(batch["audio"])], dim=1
        )
        return self.classifier(self.gating(self.hidden_norm(self.hidden(self.dropout(pooled)))))


class BareLSTMEncoder(nn.Module):
    """tanh embedding -> bidirectional LSTM -> dropout -> attention pooling (no mask)."""

    def __init__(self, size, embedding_size, lstm_size, drop_rate):
        super().__init__()
        self.embed = nn.Linear(size, embedding_size)
        self.lstm = nn.LSTM(embedding_size, lstm_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(drop_rate)
        self.attention = nn.Linear(2 * lstm_size, 1)

    def forward(self, x):
        states = self.dropout(self.lstm(torch.tanh(self.embed(x)))[0])
        return (torch.softmax(self.attention(states), dim=1) * states).sum(dim=1)


class BareAttentionLSTM(nn.Module):
    def __init__(
        self,
        num_classes,
        rgb_size,
        audio_size,
        embedding_size,
        lstm_size,
        drop_rate,
        fusion_relu_size,
        fusion_tanh_size,
        **_,
    ):
        super().__init__()
        self.rgb_encoder = BareLSTMEncoder(rgb_size, embedding_size, lstm_size, drop_rate)
        self.audio_encoder = BareLSTMEncoder(audio_size, embedding_size, lstm_size, drop_rate)
        self.fusion = nn.Sequential(
            nn.Linear(4 * lstm_size, fusion_relu_size),
            nn.ReLU(),
            nn.Linear(fusion_relu_size, fusion_tanh_size),
            nn.Tanh(),
        )
        self.classifier = nn.Linear(fusion_tanh_size, num_classes)

    def forward(self, batch):
        pooled = torch.cat([self.rgb_encoder(batch["rgb"]), self.audio_encoder(batch["audio"])], 1)
        return self.classifier(self.fusion(pooled))


class BareShiftingAttention(nn.Module):
    def __init__(self, size, units):
        super().__init__()
        self.units = units
        self.scores = nn.Linear(size, units)
        self.scale = nn.Parameter(torch.randn(units))
        self.shift = nn.Parameter(torch.randn(units))

    def forward(self, x):  # [B, S, F]
        pooled = torch.softmax(self.scores(x), dim=1).transpose(1, 2) @ x  # [B, C, F]
        pooled = pooled * self.scale[:, None] + self.shift[:, None]
        return (F.normalize(pooled, dim=-1) / self.units**0.5).flatten(1)


class BareAttentionCluster(nn.Module):
    """Samples ``seg_num`` frames (one per segment of all T frames: no mask), attention units."""

    def __init__(
        self,
        num_classes,
        rgb_size,
        audio_size,
        rgb_clusters,
        audio_clusters,
        seg_num,
        drop_rate,
        fc_size,
        fc2_size,
        **_,
    ):
        super().__init__()
        self.seg_num = seg_num
        self.rgb_attention = BareShiftingAttention(rgb_size, rgb_clusters)
        self.audio_attention = BareShiftingAttention(audio_size, audio_clusters)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Sequential(
            nn.Linear(rgb_clusters * rgb_size + audio_clusters * audio_size, fc_size),
            nn.Tanh(),
            nn.Linear(fc_size, fc2_size),
            nn.Tanh(),
        )
        self.classifier = nn.Linear(fc2_size, num_classes)

    def forward(self, batch):
        rgb, audio = batch["rgb"], batch["audio"]
        B, T = rgb.shape[:2]
        shape = (B, self.seg_num)
        offsets = torch.rand(shape) if self.training else torch.full(shape, 0.5)
        index = ((torch.arange(self.seg_num) + offsets) * T / self.seg_num).long().clamp_max(T - 1)
        index = index.to(rgb.device).unsqueeze(-1)
        rgb = rgb.gather(1, index.expand(-1, -1, rgb.shape[-1]))
        audio = audio.gather(1, index.expand(-1, -1, audio.shape[-1]))
        units = torch.cat([self.rgb_attention(rgb), self.audio_attention(audio)], dim=1)
        return self.classifier(self.fc(self.dropout(units)))


def bare_conv(dims, cin, cout, k, stride=1):
    """kxk conv (dims 2) or the C2D 1xkxk conv (dims 3); bias-free, 'same' padding."""
    if dims == 2:
        return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
    return nn.Conv3d(cin, cout, (1, k, k), (1, stride, stride), (0, k // 2, k // 2), bias=False)


class BareBottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3x3 conv), 2D or C2D."""

    def __init__(self, dims, cin, width, stride):
        super().__init__()
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        self.conv1, self.bn1 = bare_conv(dims, cin, width, 1), norm(width)
        self.conv2, self.bn2 = bare_conv(dims, width, width, 3, stride), norm(width)
        self.conv3, self.bn3 = bare_conv(dims, width, 4 * width, 1), norm(4 * width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != 4 * width:
            self.downsample = nn.Sequential(bare_conv(dims, cin, 4 * width, 1, stride), norm(4 * width))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class BareResNet50(nn.Module):
    """torchvision's ResNet-50 trunk (2D, or C2D with 1xkxk kernels), global average pool.

    ``extras[(stage, block)]`` / ``extras[(stage, None)]``: a module run after that block /
    stage (Non-local blocks, StNet's temporal blocks), stored as ``after{block}`` / ``after``.
    """

    def __init__(self, dims=2, in_channels=3, pool_padding=1, extras=None):
        super().__init__()
        extras = extras or {}
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        self.conv1, self.bn1 = bare_conv(dims, in_channels, 64, 7, 2), norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (
            nn.MaxPool2d(3, 2, pool_padding)
            if dims == 2
            else nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, pool_padding, pool_padding))
        )
        cin = 64
        for stage, blocks in enumerate((3, 4, 6, 3), start=1):
            layers = OrderedDict()
            for index in range(blocks):
                layers[str(index)] = BareBottleneck(
                    dims, cin, 64 * 2 ** (stage - 1), 2 if index == 0 and stage > 1 else 1
                )
                cin = 256 * 2 ** (stage - 1)
                if (stage, index) in extras:
                    layers[f"after{index}"] = extras[(stage, index)]
            if (stage, None) in extras:
                layers["after"] = extras[(stage, None)]
            setattr(self, f"layer{stage}", nn.Sequential(layers))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=tuple(range(2, x.dim())))


class BareFrameResNet(nn.Module):
    """A bare ResNet-50 classifying each of the ``[N, T]`` frames; logits averaged over T."""

    def __init__(self, num_classes, **_):
        super().__init__()
        self.backbone = BareResNet50()
        self.classifier = nn.Linear(2048, num_classes)

    def forward(self, batch):
        video = batch["video"]  # [N, T, 3, H, W]
        logits = self.classifier(self.backbone(video.flatten(0, 1)))
        return logits.view(video.shape[0], video.shape[1], -1).mean(1)


class BareTemporalBlock(nn.Module):
    """StNet temporal modelling: ``x + BN(ReLU(conv 3x1 over [N, C, T, H*W]))``."""

    def __init__(self, channels, segments):
        super().__init__()
        self.segments = segments
        self.conv = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0))
        self.relu, self.bn = nn.ReLU(inplace=True), nn.BatchNorm2d(channels)

    def forward(self, x):  # [N*T, C, H, W]
        nt, c, h, w = x.shape
        clip = x.view(-1, self.segments, c, h * w).transpose(1, 2)  # [N, C, T, H*W]
        update = self.bn(self.relu(self.conv(clip)))
        return x + update.transpose(1, 2).reshape(nt, c, h, w)


class BareXceptionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn_in = nn.BatchNorm1d(c)
        self.depthwise1 = nn.Conv1d(c, c, 3, padding=1, groups=c)
        self.pointwise1 = nn.Conv1d(c, c // 2, 1)
        self.bn_mid = nn.BatchNorm1d(c // 2)
        self.depthwise2 = nn.Conv1d(c // 2, c // 2, 3, padding=1, groups=c // 2)
        self.pointwise2, self.shortcut = nn.Conv1d(c // 2, c // 2, 1), nn.Conv1d(c, c // 2, 1)
        self.bn_out = nn.BatchNorm1d(c // 2)

    def forward(self, x):  # [N, C, T]
        x = self.bn_in(x)
        main = F.relu(self.bn_mid(self.pointwise1(self.depthwise1(x))))
        main = self.pointwise2(self.depthwise2(main))
        return F.relu(self.bn_out(main + self.shortcut(x))).amax(dim=-1)


class BareStNet(nn.Module):
    def __init__(self, num_classes, seglen, segments, **_):
        super().__init__()
        self.seglen = seglen
        self.backbone = BareResNet50(
            in_channels=3 * seglen,
            extras={
                (2, None): BareTemporalBlock(512, segments),
                (3, None): BareTemporalBlock(1024, segments),
            },
        )
        self.head = BareXceptionHead(2048)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, batch):
        n, t, _, h, w = batch["video"].shape
        features = self.backbone(batch["video"].reshape(-1, 3 * self.seglen, h, w))
        return self.classifier(self.head(features.view(n, -1, 2048).transpose(1, 2)))


class BareNonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block, phi/g on the (1,2,2)-max-pooled input."""

    def __init__(self, c):
        super().__init__()
        self.theta, self.phi, self.g = (nn.Conv3d(c, c // 2, 1) for _ in range(3))
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.out, self.bn = nn.Conv3d(c // 2, c, 1), nn.BatchNorm3d(c)

    def forward(self, x):  # [N, C, T, H, W]
        pooled = self.pool(x)
        query, key = self.theta(x).flatten(2), self.phi(pooled).flatten(2)
        value = self.g(pooled).flatten(2)
        affinity = torch.softmax(query.transpose(1, 2) @ key * query.shape[1] ** -0.5, dim=-1)
        y = (value @ affinity.transpose(1, 2)).view(x.shape[0], -1, *x.shape[2:])
        return x + self.bn(self.out(y))


class BareNonLocal(nn.Module):
    """C2D ResNet-50 (stem pool padding 0, temporal max-pool after res2) + 5 non-local blocks."""

    def __init__(self, num_classes, dropout, **_):
        super().__init__()
        extras = {(1, None): nn.MaxPool3d((2, 1, 1), (2, 1, 1))}
        extras.update(
            {
                (stage, b): BareNonLocalBlock(256 * 2 ** (stage - 1))
                for stage, blocks in ((2, (1, 3)), (3, (1, 3, 5)))
                for b in blocks
            }
        )
        self.backbone = BareResNet50(dims=3, pool_padding=0, extras=extras)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2048, num_classes)

    def forward(self, batch):
        return self.classifier(self.dropout(self.backbone(batch["video"].transpose(1, 2))))


BARE_MODELS = {
    "nextvlad": BareNeXtVLAD,
    "attention_lstm": BareAttentionLSTM,
    "attention_cluster": BareAttentionCluster,
    "tsn": BareFrameResNet,
    "tsm": BareFrameResNet,
    "stnet": BareStNet,
    "nonlocal": BareNonLocal,
}


def bare_name(name: str, key: str) -> str:
    """Our parameter name in the bare model (only the LSTMs are stored differently)."""
    if name == "attention_lstm" and "lstm_backward." in key:
        return key.replace("lstm_backward.", "lstm.") + "_reverse"
    return key.replace("lstm_forward.", "lstm.") if name == "attention_lstm" else key


def bare_state_dict(name: str, ours: dict) -> dict:
    return {bare_name(name, key): value for key, value in ours.items()}
