"""Each model against a bare PyTorch implementation of the same network, side by side.

    python benchmarks/bench_speed.py [--models nextvlad,tsm] [--precision fp32,bf16]
        [--padding none,youtube8m] [--rounds 5] [--warmup 1] [--min-seconds 2] [--threads 1]
        [--clock wall|cpu]
        [--batch-size N] [--frames T] [--resolution PX] [--set [MODEL:]key=value ...]
        [--contiguous] [--no-shift] [--adam] [--json FILE]

Ours: the registered model built from its packaged config, with the engine's default speed
settings (``train.channels_last: auto``), trained with the engine's own ``train_step``
(forward, loss, backward, the configured fused optimizer) and run for inference in eval mode
under ``inference_mode``. Bare: the same network written below in plain PyTorch (no videozoo
code: torchvision's ResNet layout, the papers' formulas), with our parameter names and count,
so ``load_state_dict`` of our weights works (tests/test_bench_speed.py checks that both give
the same outputs), trained by a plain loop with the same optimizer class and settings and
put in the same memory format. The bare feature models ignore the mask (they cost what a
model that does not handle padding costs); the bare video models for TSN and TSM are one
ResNet-50 classifying every frame (the images/s a bare ResNet-50 gets on the same frames:
TSM's shift is the only difference), StNet and Non-local have bare equivalents with their
extra blocks (a ResNet-50 alone would do less work).

Cases: ``--precision`` fp32 and bf16 (autocast; default: bf16 only where it is native, CUDA
or a CPU with AVX512-BF16 / AMX: emulated bfloat16 is many times slower than fp32); feature
models with ``--padding`` none (every video ``--frames`` long) and youtube8m (lengths drawn
like YouTube-8M's: videos of 120-500 s at one frame per second, cut at 300 frames, scaled to
``--frames``). ``--contiguous`` adds ours without channels_last (what the default gains); ``--no-shift`` adds
our TSM with its shifts removed (what the shift costs inside a whole training step).

Each round times ours and bare back to back (alternating which goes first) after
``--warmup`` rounds; a round's ratio is bare seconds / our seconds, so > 1 means ours is
faster. The table shows samples/s (medians), the median ratio and its range over rounds, and
best/best: the bare model's fastest round over ours (other jobs only ever add time, so the
fastest rounds are the least disturbed).
On a shared machine run with ``--threads 1``: an OpenMP team waiting for a descheduled
thread made 2-thread steps up to 10x slower here.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import sys
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- bare models
# Plain PyTorch, written from the papers and torchvision's ResNet; nothing from videozoo.
# Parameter names match ours so that our weights load (the test compares the outputs).


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


# ----------------------------------------------------------------------------- inputs
def youtube8m_lengths(batch_size: int, frames: int, generator: torch.Generator) -> torch.Tensor:
    """Video lengths like YouTube-8M's: 120-500 s at 1 frame/s, cut at 300 (scaled to T)."""
    seconds = 120 + 380 * torch.rand(batch_size, generator=generator)
    return (seconds * frames / 300).long().clamp(1, frames)


def make_batch(
    model,
    data_format: str,
    num_classes: int,
    batch_size: int,
    frames: int | None,
    resolution: int | None,
    padding: str,
    seed: int = 0,
) -> dict:
    """Random inputs of ``model.default_input`` shape, wrapped as the data source would."""
    gen = torch.Generator().manual_seed(seed)
    ids = [f"video{i}" for i in range(batch_size)]
    if data_format == "youtube8m":
        shape = model.default_input(1, num_frames=frames)
        frames = shape["rgb"].shape[1]
        batch = {
            k: torch.randn(batch_size, frames, shape[k].shape[-1], generator=gen) for k in ("rgb", "audio")
        }
        lengths = (
            youtube8m_lengths(batch_size, frames, gen)
            if padding == "youtube8m"
            else torch.full((batch_size,), frames)
        )
        batch["mask"] = torch.arange(frames) < lengths.unsqueeze(1)
        for key in ("rgb", "audio"):  # padded frames are zeros, as the reader writes them
            batch[key] *= batch["mask"].unsqueeze(-1)
        labels = torch.zeros(batch_size, num_classes)
        classes = torch.randint(num_classes, (batch_size,), generator=gen)
        labels[torch.arange(batch_size), classes] = 1
        return {**batch, "labels": labels, "ids": ids}
    video = model.default_input(batch_size, num_frames=frames)["video"]
    if resolution:
        video = torch.randn(*video.shape[:3], resolution, resolution, generator=gen)
    return {
        "video": video.unsqueeze(1),
        "label": torch.randint(num_classes, (batch_size,)),
        "valid": torch.ones(batch_size, dtype=torch.bool),
        "ids": ids,
    }


# ----------------------------------------------------------------------------- contenders
def loss_of(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """The tasks' losses, written plainly: BCE summed over classes (multi-label), or CE."""
    if "labels" in batch:
        return (
            F.binary_cross_entropy_with_logits(logits.float(), batch["labels"], reduction="sum")
            / logits.shape[0]
        )
    return F.cross_entropy(logits.float(), batch["label"])


class Contender:
    """A model, its optimizer, and one training step / one inference pass on a fixed batch."""

    def __init__(self, label: str, train, infer):
        self.label, self.train, self.infer = label, train, infer


def ours_contender(label, model, cfg, batch, device, amp: bool) -> Contender:
    from videozoo.engine.distributed import DistContext
    from videozoo.engine.optim import build_optimizer
    from videozoo.engine.precision import autocast_context
    from videozoo.engine.tasks import make_task
    from videozoo.engine.train import train_step

    task = make_task(cfg, [str(i) for i in range(cfg["model"]["num_classes"])])
    optimizer = build_optimizer(model, cfg["train"]["optimizer"])
    ctx, inputs = DistContext(device=device), task.model_inputs(batch)

    def train():
        train_step(model, optimizer, task, [batch], ctx, amp=amp, amp_dtype="bfloat16")

    def infer():
        model.eval()
        with torch.inference_mode(), autocast_context(device, amp, "bfloat16"):
            model(inputs)

    contender = Contender(label, train, infer)
    contender.optimizer = optimizer
    return contender


def same_optimizer(optimizer_like, ours, bare, name: str) -> torch.optim.Optimizer:
    """``optimizer_like``'s class, settings and parameter groups (fused where ours is, weight
    decay where ours has it), on the bare model's parameters of the same names."""
    names = {id(p): n for n, p in ours.named_parameters()}
    params = dict(bare.named_parameters())
    groups = [
        {**group, "params": [params[bare_name(name, names[id(p)])] for p in group["params"]]}
        for group in optimizer_like.param_groups
    ]
    return type(optimizer_like)(groups, **optimizer_like.defaults)


def bare_contender(model, optimizer, inputs, batch, device, amp: bool) -> Contender:

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            logits = model(inputs)
        loss_of(logits, batch).backward()
        optimizer.step()

    def infer():
        model.eval()
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=amp):
            model(inputs)

    return Contender("bare", train, infer)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn, device: torch.device, clock=time.perf_counter) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = clock()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


def interleaved_seconds(
    contenders: list[Contender],
    phase: str,
    warmup: int,
    rounds: int,
    device,
    clock=time.perf_counter,
    min_seconds: float = 0.0,
) -> dict[str, list[float]]:
    """Seconds per ``phase`` ("train" / "infer") of each contender, round by round; the order
    is reversed every other round so that drifting machine load hits all alike. A round
    repeats short steps until it lasts ``min_seconds`` (the last warmup round sets how many)."""
    seconds: dict[str, list[float]] = {c.label: [] for c in contenders}
    warmup, repeats = max(warmup, 1), 1
    for round_index in range(warmup + rounds):
        order = contenders if round_index % 2 == 0 else contenders[::-1]
        for contender in order:
            fn = getattr(contender, phase)
            elapsed = sum(timed(fn, device, clock) for _ in range(repeats)) / repeats
            if round_index >= warmup:
                seconds[contender.label].append(elapsed)
            elif round_index == warmup - 1:
                repeats = max(repeats, math.ceil(min_seconds / max(elapsed, 1e-9)))
    return seconds


def summarise(seconds: dict[str, list[float]], batch_size: int) -> dict:
    """samples/s (median) per contender, and its per-round ratio to bare (median, min, max)."""
    rows = {}
    for label, values in seconds.items():
        row = {"samples_per_s": batch_size / statistics.median(values)}
        if label != "bare":
            ratios = [b / o for b, o in zip(seconds["bare"], values)]
            # best: fastest round against fastest round, the estimate least moved by other
            # jobs on a shared machine (interference only ever adds time)
            row.update(
                x_bare=statistics.median(ratios),
                x_bare_min=min(ratios),
                x_bare_max=max(ratios),
                x_bare_best=min(seconds["bare"]) / min(values),
            )
        rows[label] = row
    return rows


# ----------------------------------------------------------------------------- one case
DEFAULT_BATCH = {"nextvlad": 32, "attention_lstm": 8, "attention_cluster": 32}
DEFAULT_VIDEO_FRAMES = {"tsn": 8}  # TSN's default clip is 3 frames; 8 like TSM and Non-local


def model_config(name: str, args) -> dict:
    from videozoo.config import build_config

    # "--set key=value" applies to every model, "--set nextvlad:key=value" to one
    overrides = [
        item.partition(":")[2] if ":" in item.split("=")[0] else item
        for item in args.set
        if ":" not in item.split("=")[0] or item.split(":")[0] == name
    ]
    cfg = build_config(name, overrides=overrides)
    if cfg["model"]["num_classes"] is None:
        cfg["model"]["num_classes"] = 3862 if cfg["data"]["format"] == "youtube8m" else 400
    return cfg


def build_pair(name: str, cfg: dict, device, frames_per_clip: int | None):
    """(our model with the default memory format, bare model holding our weights)."""
    from videozoo.engine.precision import channels_last_format, resolve_channels_last
    from videozoo.registry import build_model

    torch.manual_seed(0)
    ours = build_model(cfg).to(device)
    kwargs = dict(cfg["model"])
    if name == "stnet":
        kwargs["segments"] = frames_per_clip // cfg["model"]["seglen"]
    bare = BARE_MODELS[name](**kwargs).to(device)
    bare.load_state_dict(bare_state_dict(name, ours.state_dict()))
    if resolve_channels_last(cfg["train"]["channels_last"], ours):
        memory_format = channels_last_format(ours)
        ours.to(memory_format=memory_format)
        bare.to(memory_format=memory_format)
    return ours, bare


def without_shift(model: nn.Module) -> nn.Module:
    """A copy of our TSM with every temporal shift replaced by the identity: TSN's network."""
    from videozoo.models.temporal import TemporalShift

    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(getattr(module, "block_input", None), TemporalShift):
            module.block_input = nn.Identity()
    return model


def bench_case(name: str, cfg: dict, args, device, precision: str, padding: str) -> dict:
    data_format = cfg["data"]["format"]
    video = data_format == "video"
    batch_size = args.batch_size or DEFAULT_BATCH.get(name, 1)
    frames = args.frames or (DEFAULT_VIDEO_FRAMES.get(name) if video else 300)
    torch.manual_seed(0)
    probe = None
    if video and frames is None:
        from videozoo.registry import build_model

        probe = build_model(cfg).default_input(1)["video"].shape[1]
    frames = frames or probe
    ours, bare = build_pair(name, cfg, device, frames)
    from videozoo.engine.tasks import make_task, to_device

    batch = make_batch(
        ours, data_format, cfg["model"]["num_classes"], batch_size, frames, args.resolution, padding
    )
    batch = to_device(batch, device)  # once, so that steps time compute, not the copy
    inputs = make_task(cfg, ["0"]).model_inputs(batch)
    amp = precision == "bf16"
    contenders = [ours_contender("ours", ours, cfg, batch, device, amp)]
    optimizer = same_optimizer(contenders[0].optimizer, ours, bare, name)
    contenders.append(bare_contender(bare, optimizer, inputs, batch, device, amp))
    if args.contiguous and video:
        contiguous = copy.deepcopy(ours).to(memory_format=torch.contiguous_format)
        contenders.append(ours_contender("ours contiguous", contiguous, cfg, batch, device, amp))
    if args.no_shift and name == "tsm":
        contenders.append(ours_contender("ours no shift", without_shift(ours), cfg, batch, device, amp))
    params = {
        label: sum(p.numel() for p in model.parameters()) for label, model in (("ours", ours), ("bare", bare))
    }
    shape = list((batch["video"] if video else batch["rgb"]).shape)
    real = None if video else round(float(batch["mask"].float().mean()), 3)
    print(
        f"\n{name} {precision}"
        + ("" if video else f" padding={padding} (real frames {real})")
        + f": input {shape}, params ours {params['ours'] / 1e6:.2f}M / bare "
        f"{params['bare'] / 1e6:.2f}M, optimizer {type(contenders[0].optimizer).__name__}",
        flush=True,
    )
    result = {"input_shape": shape, "params": params, "real_frame_fraction": real}
    for phase in ("train", "infer"):
        seconds = interleaved_seconds(
            contenders, phase, args.warmup, args.rounds, device, CLOCKS[args.clock], args.min_seconds
        )
        result[phase] = summarise(seconds, batch_size)
        for label, row in result[phase].items():
            ratio = (
                ""
                if label == "bare"
                else (
                    f"  x bare {row['x_bare']:.3f} ({row['x_bare_min']:.3f}-{row['x_bare_max']:.3f})"
                    f", best/best {row['x_bare_best']:.3f}"
                )
            )
            print(f"  {phase:<6}{label:<17}{row['samples_per_s']:>10.3f} samples/s{ratio}", flush=True)
    return result


def bench_adam_step(model, warmup: int, steps: int, device) -> dict:
    """Milliseconds per Adam step on the model's parameters: for-loop vs foreach vs fused."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    variants = {"for_loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}
    optimizers = {name: torch.optim.Adam(params, lr=1e-4, **kw) for name, kw in variants.items()}
    times = {name: [] for name in optimizers}
    for round_index in range(warmup + steps):
        for name, optimizer in optimizers.items():
            seconds = timed(optimizer.step, device)
            if round_index >= warmup:
                times[name].append(seconds)
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    print(
        f"\nAdam step on {sum(p.numel() for p in params) / 1e6:.1f}M params: "
        + ", ".join(f"{name} {value:.1f} ms" for name, value in ms.items())
        + f"  (foreach / fused = {ms['foreach'] / ms['fused']:.1f}x)",
        flush=True,
    )
    return {
        **{f"{name}_ms": value for name, value in ms.items()},
        "foreach_over_fused": ms["foreach"] / ms["fused"],
    }


# ----------------------------------------------------------------------------- main
def environment(device: torch.device) -> dict:
    from videozoo.engine.precision import native_bf16, resolve_amp

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(device.type, device.index)[0],
        "amp_auto": resolve_amp("auto", device)[1],
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def parse_args(argv=None):
    from videozoo import registry

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        default=",".join(registry.list_models()),
        help="comma-separated model names (default: all)",
    )
    parser.add_argument(
        "--precision", default=None, help="fp32,bf16 (default: fp32, plus bf16 where it is native)"
    )
    parser.add_argument(
        "--padding", default="none,youtube8m", help="feature models: none,youtube8m (default: both)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"default: {DEFAULT_BATCH} for feature models, 1 clip for video models",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="input T (default: 300 for feature models, the model's default "
        "clip for video models, 8 for TSN)",
    )
    parser.add_argument("--resolution", type=int, default=None, help="video models: H = W")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (at least 1)")
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="repeat shorter steps within a round until it lasts this long",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or the process's CPU time (with --threads 1 on a shared "
        "machine: time other processes take the core from us is not counted)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every model (model.depth=18) or for one (nextvlad:model.cluster_size=32)",
    )
    parser.add_argument(
        "--contiguous", action="store_true", help="video models: also time ours without channels_last"
    )
    parser.add_argument(
        "--no-shift",
        action="store_true",
        help="tsm: also time ours with the shifts removed (what the shift costs)",
    )
    parser.add_argument(
        "--adam",
        action="store_true",
        help="also time Adam for-loop / foreach / fused on NeXtVLAD's parameters",
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in registry.list_models()]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {registry.list_models()}")
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be >= 1 and --warmup >= 0")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment(device)
    print("  ".join(f"{k}={v}" for k, v in env.items() if v is not None))
    precisions = (args.precision or ("fp32,bf16" if env["native_bf16"] else "fp32")).split(",")
    print(
        f"rounds={args.rounds} warmup={args.warmup} precisions={precisions}; ratio = bare "
        "seconds / our seconds per round (> 1: ours faster), median (min-max)"
    )
    results = {"environment": env, "settings": vars(args), "models": {}}
    for name in args.models.split(","):
        cfg = model_config(name, args)
        video = cfg["data"]["format"] == "video"
        paddings = ["none"] if video else args.padding.split(",")
        results["models"][name] = {
            f"{precision}/{padding}": bench_case(name, cfg, args, device, precision, padding)
            for precision in precisions
            for padding in paddings
        }
    if args.adam:
        from videozoo.registry import build_model

        results["adam_step"] = bench_adam_step(
            build_model(model_config("nextvlad", args)), args.warmup, args.rounds, device
        )
    if args.json:
        from videozoo.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
