"""Attention LSTM (Ng et al. 2015 "Beyond Short Snippets" + attention pooling) for YouTube-8M.

Input batch: ``rgb [B, T, 1024]``, ``audio [B, T, 128]``, ``mask [B, T]`` bool (real frames
first, padding at the end). Output: logits ``[B, num_classes]``.

``forward_features``, per modality: linear + tanh embedding -> bidirectional LSTM -> dropout
-> attention pooling over the video's real frames (``[B, 2 * lstm_size]``); the two pooled
vectors concatenated: ``[B, 4 * lstm_size]``. ``forward_head``: linear+ReLU, linear+tanh (the
``pre_logits`` vector, ``[B, fusion_tanh_size]``) and the ``classifier``.

The backward direction must start at each video's last REAL frame. Rather than packing
sequences (lengths on the host, awkward to export), each video is reversed within its own
length with a gather, run through a forward LSTM, and reversed back; padded frames then come
after the real ones in both directions and cannot influence them.

``peepholes=True`` replaces ``nn.LSTM`` by ``PeepholeLSTM``, the LSTM of PaddleVideo v1.5
(fluid ``dynamic_lstm``): its gates also see the cell state. Converted v1.5 weights need it;
the default ``nn.LSTM`` (PaddleVideo 2.x's LSTM) is much faster.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from videozoo.models.base import VideozooModel
from videozoo.models.feature_layers import feature_sequence_input, masked_softmax, zero_padding
from videozoo.registry import register_model


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[b]`` steps of each ``x[b]`` (``[B, T, F]``); keep the rest."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # [1, T]
    last = lengths.unsqueeze(1) - 1  # [B, 1]
    index = torch.where(steps <= last, last - steps, steps)  # [B, T], an involution
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def peephole_recurrence(
    gates_x: torch.Tensor, weight_hh: torch.Tensor, peephole: torch.Tensor
) -> torch.Tensor:
    """Run ``PeepholeLSTM``'s recurrence: ``gates_x [B, T, 4H]`` (input projection plus both
    biases, gates (i, f, g, o)), ``weight_hh [4H, H]``, ``peephole [3, H]`` -> ``h [B, T, H]``."""
    batch, hidden = gates_x.shape[0], weight_hh.shape[1]
    h = gates_x.new_zeros(batch, hidden)
    c = gates_x.new_zeros(batch, hidden)
    outputs = []
    for t in range(gates_x.shape[1]):
        i, f, g, o = (gates_x[:, t] + F.linear(h, weight_hh)).chunk(4, 1)
        i = torch.sigmoid(i + peephole[0] * c)  # input and forget gates see c_{t-1}
        f = torch.sigmoid(f + peephole[1] * c)
        c = f * c + i * torch.tanh(g)
        o = torch.sigmoid(o + peephole[2] * c)  # the output gate sees c_t
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1)


@functools.cache
def _scripted_recurrence():
    # Scripted only for tracing (export), so the exported loop keeps a dynamic frame count.
    return torch.jit.script(peephole_recurrence)


class PeepholeLSTM(nn.Module):
    """One-layer LSTM with peephole connections, batch first: ``x [B, T, F]`` -> ``[B, T, H]``.

    Same parameters as ``nn.LSTM`` (``weight_ih_l0 [4H, F]``, ``weight_hh_l0 [4H, H]``,
    ``bias_ih_l0``, ``bias_hh_l0``, gates (i, f, g, o)) plus ``peephole_l0 [3, H]``: the
    cell-state weights of the input, forget and output gates, zero at init (an ``nn.LSTM``).
    ``forward`` returns ``(output, None)`` (no final state) so it can stand in for ``nn.LSTM``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        self.peephole_l0 = nn.Parameter(torch.zeros(3, hidden_size))
        bound = hidden_size**-0.5  # nn.LSTM's init
        for weight in (self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0):
            nn.init.uniform_(weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        gates_x = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        recurrence = _scripted_recurrence() if torch.jit.is_tracing() else peephole_recurrence
        return recurrence(gates_x, self.weight_hh_l0, self.peephole_l0), None


class AttentionLSTMEncoder(nn.Module):
    """One modality: ``x [B, T, F]``, ``mask [B, T]`` -> attention-pooled ``[B, 2 * lstm_size]``."""

    def __init__(
        self,
        feature_size: int,
        embedding_size: int,
        lstm_size: int,
        drop_rate: float,
        peepholes: bool = False,
    ):
        super().__init__()
        self.embed = nn.Linear(feature_size, embedding_size)
        self.lstm_forward: nn.Module
        self.lstm_backward: nn.Module
        if peepholes:
            self.lstm_forward = PeepholeLSTM(embedding_size, lstm_size)
            self.lstm_backward = PeepholeLSTM(embedding_size, lstm_size)
        else:
            self.lstm_forward = nn.LSTM(embedding_size, lstm_size, batch_first=True)
            self.lstm_backward = nn.LSTM(embedding_size, lstm_size, batch_first=True)
        self.dropout = nn.Dropout(drop_rate)
        self.attention = nn.Linear(2 * lstm_size, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1)
        embedded = torch.tanh(self.embed(zero_padding(x, mask)))
        forward_states, _ = self.lstm_forward(embedded)
        backward_states, _ = self.lstm_backward(reverse_within_length(embedded, lengths))
        backward_states = reverse_within_length(backward_states, lengths)
        states = self.dropout(torch.cat([forward_states, backward_states], dim=-1))  # [B,T,2H]
        weights = masked_softmax(self.attention(states), mask)  # [B,T,1]
        return (weights * states).sum(dim=1)


def init_fc_(layer: nn.Linear) -> None:
    """Xavier weights and zero biases, as the reference's (Paddle Fluid) fc layers."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


@register_model("attention_lstm")
class AttentionLSTM(VideozooModel):
    """Bidirectional-LSTM + attention pooling classifier (see module docstring).

    The defaults are the PaddleVideo v1.5 configuration (about 108.7M parameters), except
    ``peepholes`` (v1.5: on; 2.x: off, our default).
    """

    def __init__(
        self,
        num_classes: int = 3862,
        rgb_size: int = 1024,
        audio_size: int = 128,
        embedding_size: int = 512,
        lstm_size: int = 1024,
        drop_rate: float = 0.5,
        fusion_relu_size: int = 8192,
        fusion_tanh_size: int = 4096,
        peepholes: bool = False,
    ):
        super().__init__()
        self.rgb_size = rgb_size
        self.audio_size = audio_size
        self.rgb_encoder = AttentionLSTMEncoder(rgb_size, embedding_size, lstm_size, drop_rate, peepholes)
        self.audio_encoder = AttentionLSTMEncoder(audio_size, embedding_size, lstm_size, drop_rate, peepholes)
        self.fusion = nn.Sequential(
            nn.Linear(4 * lstm_size, fusion_relu_size),
            nn.ReLU(),
            nn.Linear(fusion_relu_size, fusion_tanh_size),
            nn.Tanh(),
        )
        self.classifier = nn.Linear(fusion_tanh_size, num_classes)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_fc_(layer)

    def init_classifier(self, layer: nn.Linear) -> None:
        init_fc_(layer)

    def forward_features(self, batch: dict) -> torch.Tensor:
        """Both modalities attention-pooled, concatenated: ``[B, 4 * lstm_size]``."""
        mask = batch["mask"]
        return torch.cat(
            [self.rgb_encoder(batch["rgb"], mask), self.audio_encoder(batch["audio"], mask)], dim=1
        )

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        fused = self.fusion(features)
        return fused if pre_logits else self.classifier(fused)

    def default_input(self, batch_size: int = 1, num_frames: int = 300) -> dict:
        return feature_sequence_input(batch_size, num_frames, self.rgb_size, self.audio_size)
