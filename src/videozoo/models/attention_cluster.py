"""Attention Cluster (Long et al. CVPR 2018, arXiv:1711.09550) for YouTube-8M frame features.

Input batch: ``rgb [B, T, 1024]``, ``audio [B, T, 128]``, ``mask [B, T]`` bool (real frames
first, padding at the end). Output: logits ``[B, num_classes]``.

The model samples ``seg_num`` frames per video itself: segment i takes frame
``min(L - 1, floor((i + u) * L / seg_num))`` of the video's L real frames, with u ~ U[0, 1)
drawn per video and segment in training and u = 0.5 in eval (deterministic; the reference
samples randomly at test time too). Short videos repeat frames; padding is never sampled.
``forward_features``: per modality, C attention units pool the sampled frames and apply the
shifting operation; the units concatenated: ``[B, C_rgb * 1024 + C_audio * 128]``.
``forward_head``: dropout, linear+tanh, linear+tanh (the ``pre_logits`` vector,
``[B, fc2_size]``) and the ``classifier``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videozoo.models.base import VideozooModel
from videozoo.models.feature_layers import feature_sequence_input, init_msra_
from videozoo.registry import register_model


def segment_indices(lengths: torch.Tensor, seg_num: int, training: bool) -> torch.Tensor:
    """Frame index ``[B, seg_num]`` per segment for videos of ``lengths [B]`` real frames."""
    segments = torch.arange(seg_num, device=lengths.device, dtype=torch.float32)
    if training:
        offsets = torch.rand(lengths.shape[0], seg_num, device=lengths.device)
    else:
        offsets = torch.full((lengths.shape[0], seg_num), 0.5, device=lengths.device)
    real = lengths.unsqueeze(1).to(torch.float32)
    index = torch.floor((segments + offsets) * real / seg_num).long()
    # clamp_min(0): a video with no real frame reads frame 0 rather than index -1.
    return torch.minimum(index, lengths.unsqueeze(1) - 1).clamp_min(0)


class ShiftingAttention(nn.Module):
    """C attention units with the shifting operation: ``x [B, S, F]`` -> ``[B, C * F]``.

    Unit i: ``a_i = softmax_t(w_i . x_t + b_i)``, ``v_i = sum_t a_{i,t} x_t``,
    ``o_i = L2normalise(scale_i * v_i + shift_i) / sqrt(C)``.
    """

    def __init__(self, feature_size: int, num_units: int):
        super().__init__()
        self.num_units = num_units
        self.scores = nn.Linear(feature_size, num_units)
        self.scale = nn.Parameter(torch.empty(num_units))
        self.shift = nn.Parameter(torch.empty(num_units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.scores(x), dim=1).to(x.dtype)  # [B, S, C]
        pooled = torch.bmm(weights.transpose(1, 2), x)  # [B, C, F]
        shifted = pooled * self.scale.unsqueeze(-1) + self.shift.unsqueeze(-1)
        units = F.normalize(shifted, dim=-1) / self.num_units**0.5
        return units.flatten(1)


@register_model("attention_cluster")
class AttentionCluster(VideozooModel):
    """Multimodal attention clusters with shifting operation (see module docstring).

    The defaults are the PaddleVideo v1.5 configuration (about 57.8M parameters).
    """

    def __init__(
        self,
        num_classes: int = 3862,
        rgb_size: int = 1024,
        audio_size: int = 128,
        rgb_clusters: int = 32,
        audio_clusters: int = 32,
        seg_num: int = 100,
        drop_rate: float = 0.5,
        fc_size: int = 1024,
        fc2_size: int = 4096,
    ):
        super().__init__()
        self.rgb_size = rgb_size
        self.audio_size = audio_size
        self.seg_num = seg_num
        self.rgb_attention = ShiftingAttention(rgb_size, rgb_clusters)
        self.audio_attention = ShiftingAttention(audio_size, audio_clusters)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Sequential(
            nn.Linear(rgb_clusters * rgb_size + audio_clusters * audio_size, fc_size),
            nn.Tanh(),
            nn.Linear(fc_size, fc2_size),
            nn.Tanh(),
        )
        self.classifier = nn.Linear(fc2_size, num_classes)
        init_msra_(self)
        for attention in (self.rgb_attention, self.audio_attention):
            std = attention.num_units**-0.25
            nn.init.normal_(attention.scale, std=std)
            nn.init.normal_(attention.shift, std=std)

    def init_classifier(self, layer: nn.Linear) -> None:
        init_msra_(layer)

    def forward_features(self, batch: dict) -> torch.Tensor:
        """The attention units of both modalities, concatenated: ``[B, C_rgb*F_rgb + C_audio*F_audio]``."""
        rgb, audio = batch["rgb"], batch["audio"]
        index = segment_indices(batch["mask"].sum(dim=1), self.seg_num, self.training)
        rgb = rgb.gather(1, index.unsqueeze(-1).expand(-1, -1, rgb.shape[-1]))
        audio = audio.gather(1, index.unsqueeze(-1).expand(-1, -1, audio.shape[-1]))
        return torch.cat([self.rgb_attention(rgb), self.audio_attention(audio)], dim=1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        hidden = self.fc(self.dropout(features))
        return hidden if pre_logits else self.classifier(hidden)

    def default_input(self, batch_size: int = 1, num_frames: int = 300) -> dict:
        return feature_sequence_input(batch_size, num_frames, self.rgb_size, self.audio_size)
