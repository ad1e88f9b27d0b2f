"""NeXtVLAD (Lin, Xiao, Fan 2018, arXiv:1811.05014) for YouTube-8M frame features.

Input batch: ``rgb [B, T, 1024]``, ``audio [B, T, 128]`` (dequantized), ``mask [B, T]`` bool.
Output: logits ``[B, num_classes]``.

``forward_features``: one NeXtVLAD branch per modality turns the frame sequence into
``[B, K * d]`` (d = lambda * N / G), concatenated: ``[B, K * (d_rgb + d_audio)]``.
``forward_head``: dropout, a bias-free hidden linear, BatchNorm, SE context gating (the
``pre_logits`` vector, ``[B, hidden_size]``) and the logistic ``classifier``. Padded frames
enter neither the assignment BatchNorm statistics nor the aggregation: the frame-wise layers run
on the real frames only (``feature_layers.RealFrames``), which also makes padding cost nothing.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videozoo.errors import ConfigError
from videozoo.models.base import VideozooModel
from videozoo.models.feature_layers import (
    ContextGating,
    MaskedBatchNorm1d,
    RealFrames,
    feature_sequence_input,
    init_msra_,
)
from videozoo.registry import register_model

PCA_EIGENVALS_ASSET = "yt8m_pca_eigenvals.npy"


def pca_unwhitening_scale(size: int = 1024) -> torch.Tensor:
    """``sqrt(eigenvals[:size]) + 1e-4`` from the shipped YouTube-8M PCA eigenvalues ``[size]``.

    Multiplying dequantized rgb by it undoes the PCA whitening (reference NeXtVLAD does this).
    """
    with resources.as_file(resources.files("videozoo") / "assets" / PCA_EIGENVALS_ASSET) as path:
        eigenvals = np.load(path).reshape(-1)
    if eigenvals.shape[0] < size:
        raise ConfigError(
            f"{PCA_EIGENVALS_ASSET} holds {eigenvals.shape[0]} eigenvalues, "
            f"fewer than rgb_size={size}; set rgb_size <= {eigenvals.shape[0]}"
        )
    return torch.from_numpy(np.sqrt(eigenvals[:size]) + 1e-4).float()


class NeXtVLADPooling(nn.Module):
    """One modality: ``x [B, T, N]`` and ``RealFrames`` of the batch -> VLAD ``[B, d * K]``.

    Flattened in ``[d, K]`` order (index ``j * K + k``) like the reference, then BatchNorm.
    """

    def __init__(self, feature_size: int, cluster_size: int, groups: int, expansion: int):
        super().__init__()
        expanded = expansion * feature_size
        if expanded % groups:
            raise ConfigError(
                f"expansion * feature_size ({expanded}) must be divisible by "
                f"groups ({groups}); change groups or expansion"
            )
        self.cluster_size = cluster_size
        self.groups = groups
        self.group_dim = expanded // groups
        self.expand = nn.Linear(feature_size, expanded)
        self.group_attention = nn.Linear(expanded, groups)
        self.assignment = nn.Linear(expanded, groups * cluster_size, bias=False)
        self.assignment_norm = MaskedBatchNorm1d(groups * cluster_size)
        self.cluster_centers = nn.Parameter(torch.empty(cluster_size, self.group_dim))
        self.output_norm = nn.BatchNorm1d(cluster_size * self.group_dim)

    @property
    def output_size(self) -> int:
        return self.cluster_size * self.group_dim

    def forward(self, x: torch.Tensor, frames: RealFrames) -> torch.Tensor:
        """``x [B, T, N]`` and its ``RealFrames`` -> ``[B, d * K]``."""
        batch, length = frames.mask.shape
        rows = self.expand(frames.pack(x))  # [R, lambda*N]
        alpha = torch.sigmoid(self.group_attention(rows))  # [R, G]
        if frames.row_mask is not None:  # padded rows must add nothing to the aggregation
            alpha = alpha * frames.row_mask.unsqueeze(-1).to(alpha.dtype)
        logits = self.assignment_norm(self.assignment(rows), frames.row_mask)  # [R, G*K]
        assign = torch.softmax(logits.view(-1, self.groups, self.cluster_size), dim=-1)
        assign = (assign * alpha.unsqueeze(-1)).to(rows.dtype)  # [R, G, K]
        # Back to videos (zeros on padded frames) for the per-video sums over T*G rows.
        assign = frames.unpack(assign).view(batch, length * self.groups, self.cluster_size)
        groups = frames.unpack(rows).view(batch, length * self.groups, self.group_dim)
        vlad = torch.bmm(assign.transpose(1, 2), groups)  # [B, K, d]
        vlad = vlad - assign.sum(dim=1).unsqueeze(-1) * self.cluster_centers.to(vlad.dtype)
        vlad = F.normalize(vlad, dim=-1)  # intra-normalisation
        vlad = vlad.transpose(1, 2).reshape(batch, -1)  # [B, d*K]
        return self.output_norm(vlad)


@register_model("nextvlad")
class NeXtVLAD(VideozooModel):
    """NeXtVLAD video classifier over rgb + audio frame features (see module docstring).

    The defaults are the PaddleVideo v1.5 / paper configuration (89.09M trainable parameters).
    """

    def __init__(
        self,
        num_classes: int = 3862,
        rgb_size: int = 1024,
        audio_size: int = 128,
        cluster_size: int = 128,
        groups: int = 8,
        expansion: int = 2,
        hidden_size: int = 2048,
        gating_reduction: int = 8,
        drop_rate: float = 0.5,
        pca_scale_rgb: bool = True,
    ):
        super().__init__()
        self.rgb_size = rgb_size
        self.audio_size = audio_size
        scale = pca_unwhitening_scale(rgb_size) if pca_scale_rgb else torch.ones(rgb_size)
        self.register_buffer("rgb_scale", scale)
        self.rgb_pool = NeXtVLADPooling(rgb_size, cluster_size, groups, expansion)
        self.audio_pool = NeXtVLADPooling(audio_size, cluster_size, groups, expansion)
        self.dropout = nn.Dropout(drop_rate)
        self.hidden = nn.Linear(
            self.rgb_pool.output_size + self.audio_pool.output_size, hidden_size, bias=False
        )
        self.hidden_norm = nn.BatchNorm1d(hidden_size)
        self.gating = ContextGating(hidden_size, gating_reduction)
        self.classifier = nn.Linear(hidden_size, num_classes)
        init_msra_(self)
        for pool in (self.rgb_pool, self.audio_pool):
            # PaddleVideo draws MSRA for its [K, d] centres, and fluid takes fan_in = K.
            nn.init.normal_(pool.cluster_centers, std=(2.0 / pool.cluster_size) ** 0.5)

    def init_classifier(self, layer: nn.Linear) -> None:
        init_msra_(layer)

    def forward_features(self, batch: dict) -> torch.Tensor:
        """The two VLAD descriptors, concatenated: ``[B, K * (d_rgb + d_audio)]``."""
        frames = RealFrames(batch["mask"])
        rgb = self.rgb_pool(batch["rgb"] * self.rgb_scale, frames)
        audio = self.audio_pool(batch["audio"], frames)
        return torch.cat([rgb, audio], dim=1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        gated = self.gating(self.hidden_norm(self.hidden(self.dropout(features))))
        return gated if pre_logits else self.classifier(gated)

    def default_input(self, batch_size: int = 1, num_frames: int = 300) -> dict:
        return feature_sequence_input(batch_size, num_frames, self.rgb_size, self.audio_size)
