"""Parity of converted YouTube-8M feature-model weights with PaddleVideo's inference graphs.

    OMP_NUM_THREADS=1 PYTHONPATH=src python tools/parity/paddle_features.py [PAIR ...]

PAIR: ``nextvlad``, ``attention_lstm``, ``attention_cluster`` (PaddleVideo v1.5 tarballs) and
``attention_lstm_2x`` (a PaddleVideo 2.x ``.pdparams``); all four by default. No Paddle needed.

For each pair: random weights at FULL size in the source's names and layouts (``*_shapes``),
written as the source publishes them (a ``save_persistables`` folder packed as ``.tar.gz``,
with the optimizer's accumulators and learning-rate variables; or a ``paddle.save`` pickle of
numpy arrays), converted with ``videozoo convert``; then our model and a float64 numpy rebuild
of the source's inference graph (``*_forward``, written from PaddleVideo v1.5's
``models/<model>/*.py`` and ``datareader/feature_reader.py``, and 2.x's
``modeling/heads/attention_lstm_head.py`` and ``loader/pipelines/decode.py``) run on the same
uint8 videos of different lengths (< 300 frames). The reference reads the weights exactly as
the file stores them and dequantises as the source does; ours gets our reader's batch
(official dequantisation, zero padding, mask). Printed: ``relative max error =
max|ours - ref| / max|ref|`` and whether every video has the same top-5; the target is 1e-4.

Attention Cluster samples 100 frames per video, at random in the v1.5 reader; the reference
here takes the frames our eval mode takes (u = 0.5 in the reader's formula).

``--paddle-reference DIR`` compares with real Paddle instead: the logits of PaddleVideo 2.x's
own head written by ``paddle_reference.py head`` (see there), for ours and for the numpy graph.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy_ops as ops  # noqa: E402

BN_EPS = 1e-5
DROPOUT_KEEP = 0.5  # v1.5 dropout (downgrade_in_infer) at inference
PAIRS = ("nextvlad", "attention_lstm", "attention_cluster", "attention_lstm_2x")


# ----------------------------------------------------------------------------- dequantisation
def reader_dequantize(x: np.ndarray) -> np.ndarray:
    """v1.5 ``feature_reader.dequantize`` / 2.x ``FeatureDecoder.dequantize`` (float64)."""
    return ops.as64(x) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)


def nextvlad_dequantize(x: np.ndarray, modality: str) -> np.ndarray:
    """v1.5 NeXtVLAD dequantises in its graph, rgb without the ``+4/512``."""
    return ops.as64(x) * (4.0 / 255.0) + (-2.0 if modality == "rgb" else 4.0 / 512.0 - 2.0)


# ----------------------------------------------------------------------------- name tables
def nextvlad_v15_shapes(
    num_classes=3862,
    rgb_size=1024,
    audio_size=128,
    cluster_size=128,
    groups=8,
    expansion=2,
    hidden_size=2048,
    gating_reduction=8,
) -> dict:
    """Every persistable parameter of v1.5 NeXtVLAD, name -> shape, in creation order."""
    shapes = {"eigen_param": (rgb_size,)}
    bn = iter(range(6))

    def batch_norm(size):
        index = next(bn)
        for suffix in ("w_0", "b_0", "w_1", "w_2"):
            shapes[f"batch_norm_{index}.{suffix}"] = (size,)

    outputs = 0
    for prefix, size in (("video", rgb_size), ("audio", audio_size)):
        wide = expansion * size
        shapes[f"{prefix}_fc_expansion_w"] = (size, wide)
        shapes[f"{prefix}_fc_expansion_b"] = (wide,)
        shapes[f"{prefix}_fc_group_attention_w"] = (wide, groups)
        shapes[f"{prefix}_fc_group_attention_b"] = (groups,)
        shapes[f"{prefix}_cluster_weights"] = (wide, groups * cluster_size)
        batch_norm(groups * cluster_size)
        shapes[f"{prefix}_cluster_weights2"] = (cluster_size, wide // groups)
        batch_norm(cluster_size * wide // groups)
        outputs += cluster_size * wide // groups
    shapes["hidden1_fc_weights"] = (outputs, hidden_size)
    batch_norm(hidden_size)
    shapes["gating_fc1_weights"] = (hidden_size, hidden_size // gating_reduction)
    batch_norm(hidden_size // gating_reduction)
    shapes["gating_fc2_weights"] = (hidden_size // gating_reduction, hidden_size)
    shapes["logits_clf_weights"] = (hidden_size, num_classes)
    shapes["logits_clf_bias"] = (num_classes,)
    return shapes


def attention_lstm_v15_shapes(
    num_classes=3862,
    rgb_size=1024,
    audio_size=128,
    embedding_size=512,
    lstm_size=1024,
    fusion_relu_size=8192,
    fusion_tanh_size=4096,
) -> dict:
    """v1.5 Attention LSTM's parameters (auto-named ``fc_<n>``, ``lstm_<n>``), creation order."""
    shapes, hidden = {}, lstm_size
    fc, lstm = iter(range(11)), iter(range(4))

    def add_fc(size_in, size_out):
        n = next(fc)
        shapes[f"fc_{n}.w_0"], shapes[f"fc_{n}.b_0"] = (size_in, size_out), (size_out,)

    for size in (rgb_size, audio_size):
        add_fc(size, embedding_size)
        for _ in ("forward", "backward"):
            add_fc(embedding_size, 4 * hidden)
            n = next(lstm)
            shapes[f"lstm_{n}.w_0"], shapes[f"lstm_{n}.b_0"] = (hidden, 4 * hidden), (1, 7 * hidden)
        add_fc(2 * hidden, 1)
    add_fc(4 * hidden, fusion_relu_size)
    add_fc(fusion_relu_size, fusion_tanh_size)
    add_fc(fusion_tanh_size, num_classes)
    return shapes


def attention_lstm_2x_shapes(
    num_classes=3862,
    rgb_size=1024,
    audio_size=128,
    embedding_size=512,
    lstm_size=1024,
    fusion_relu_size=8192,
    fusion_tanh_size=4096,
) -> dict:
    """2.x ``AttentionLstmHead``'s ``state_dict`` (under ``head.``), without the LSTM
    parameters' second names (``write_pdparams`` adds them)."""
    shapes, hidden = {}, lstm_size
    for k, size in enumerate((rgb_size, audio_size)):
        shapes[f"head.fc_feature{k}.weight"] = (size, embedding_size)
        shapes[f"head.fc_feature{k}.bias"] = (embedding_size,)
        for suffix in ("", "_reverse"):
            shapes[f"head.bi_lstm{k}.weight_ih_l0{suffix}"] = (4 * hidden, embedding_size)
            shapes[f"head.bi_lstm{k}.weight_hh_l0{suffix}"] = (4 * hidden, hidden)
            shapes[f"head.bi_lstm{k}.bias_ih_l0{suffix}"] = (4 * hidden,)
            shapes[f"head.bi_lstm{k}.bias_hh_l0{suffix}"] = (4 * hidden,)
        shapes[f"head.att_fc{k}.weight"] = (2 * hidden, 1)
        shapes[f"head.att_fc{k}.bias"] = (1,)
    for name, size_in, size_out in (
        ("fc_out1", 4 * hidden, fusion_relu_size),
        ("fc_out2", fusion_relu_size, fusion_tanh_size),
        ("fc_logit", fusion_tanh_size, num_classes),
    ):
        shapes[f"head.{name}.weight"] = (size_in, size_out)
        shapes[f"head.{name}.bias"] = (size_out,)
    return shapes


def attention_cluster_v15_shapes(
    num_classes=3862,
    rgb_size=1024,
    audio_size=128,
    rgb_clusters=32,
    audio_clusters=32,
    fc_size=1024,
    fc2_size=4096,
) -> dict:
    shapes = {}
    for k, (size, clusters) in enumerate(((rgb_size, rgb_clusters), (audio_size, audio_clusters))):
        shapes[f"satt{k}.conv.weight"] = (clusters, size, 1, 1)
        shapes[f"satt{k}.conv.bias"] = (clusters,)
        shapes[f"satt{k}.shift_w"] = (clusters,)
        shapes[f"satt{k}.shift_b"] = (clusters,)
    width = rgb_size * rgb_clusters + audio_size * audio_clusters
    for name, size_in, size_out in (
        ("fc1", width, fc_size),
        ("fc2", fc_size, fc2_size),
        ("logistic", fc2_size, num_classes),
    ):
        shapes[f"{name}.weights"], shapes[f"{name}.bias"] = (size_in, size_out), (size_out,)
    return shapes


# ----------------------------------------------------------------------------- random weights
def random_weights(shapes: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Weights at their init scale: He-normal matrices (fan_in: the rows of ``[in, out]``, the
    input channels of a conv), LSTM matrices U(+-1/sqrt(H)), biases, LSTM biases and peepholes
    N(0, 0.1), shift scalars N(0, C^-1/4), BN scales and variances U(0.5, 1.5), the real PCA
    scale. NeXtVLAD's BN statistics are best set from data (``nextvlad_v15_forward(...,
    calibrate=True)``)."""
    out = {}
    for name, shape in shapes.items():
        if name == "eigen_param":
            from videozoo.models.nextvlad import pca_unwhitening_scale

            value = pca_unwhitening_scale(shape[0]).numpy()
        elif name.startswith("batch_norm_"):
            value = (
                rng.uniform(0.5, 1.5, shape)
                if name.endswith((".w_0", ".w_2"))
                else rng.normal(0.0, 0.1, shape)
            )
        elif name.startswith("lstm_") or ".bi_lstm" in name:
            hidden = shape[0] if name.startswith("lstm_") else shape[0] // 4
            matrix = name.endswith(".w_0") or ".weight_" in name
            value = (
                rng.uniform(-(hidden**-0.5), hidden**-0.5, shape) if matrix else rng.normal(0.0, 0.1, shape)
            )
        elif ".shift_" in name:
            value = rng.normal(0.0, shape[0] ** -0.25, shape)
        elif len(shape) == 1:
            value = rng.normal(0.0, 0.1, shape)
        else:  # [in, out] fc weights, [C, F, 1, 1] convs, NeXtVLAD centres [K, d]
            fan_in = shape[1] if len(shape) == 4 else shape[0]
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        out[name] = np.asarray(value, dtype=np.float32)
    return out


def adam_state(weights: dict) -> dict[str, np.ndarray]:
    """What ``save_persistables`` adds for fluid's Adam: per trainable parameter two moments and
    two beta powers (zeros here: they are only read for their names and shapes)."""
    state = {}
    for name, w in weights.items():
        if name == "eigen_param" or name.endswith((".w_1", ".w_2")):  # not trainable
            continue
        state[f"{name}_moment1_0"] = np.zeros_like(w)
        state[f"{name}_moment2_0"] = np.zeros_like(w)
        state[f"{name}_beta1_pow_acc_0"] = np.full((1,), 0.9**1000, np.float32)
        state[f"{name}_beta2_pow_acc_0"] = np.full((1,), 0.999**1000, np.float32)
    return state


def rmsprop_state(weights: dict) -> dict[str, np.ndarray]:
    """fluid's centred RMSProp: ``_momentum_0``, ``_mean_square_0``, ``_mean_grad_0``."""
    return {
        f"{name}_{acc}_0": np.zeros_like(w)
        for name, w in weights.items()
        for acc in ("momentum", "mean_square", "mean_grad")
    }


def write_v15_tarball(folder: Path, weights: dict, optimizer: str, piecewise_lr: bool) -> Path:
    """A v1.5 weights folder as ``train.py``'s ``save_persistables`` leaves it, packed as
    ``<folder>.tar.gz``: the weights, the optimizer state, the learning rate
    (``learning_rate`` from ``piecewise_decay``, else ``learning_rate_0``) and step counter."""
    from videozoo.convert.sources import tar_directory, write_fluid_dir

    state = adam_state(weights) if optimizer == "adam" else rmsprop_state(weights)
    if piecewise_lr:
        state["learning_rate"] = np.array([1e-4], np.float32)
        state["@LR_DECAY_COUNTER@"] = np.array([60000], np.int64)
    else:
        state["learning_rate_0"] = np.array([1e-3], np.float32)
    write_fluid_dir(folder, {**weights, **state})
    return tar_directory(folder, folder.with_name(folder.name + ".tar.gz"))


def write_pdparams(path: Path, weights: dict) -> Path:
    """A 2.x ``.pdparams`` as ``paddle.save(model.state_dict())`` writes it: numpy arrays, each
    LSTM parameter a second time under its cell's name, and the name-table entry."""
    saved = dict(weights)
    for name, value in weights.items():
        lstm = re.fullmatch(r"(.+\.bi_lstm\d+)\.(\w+)_l0(_reverse)?", name)
        if lstm:
            layer, param, reverse = lstm.groups()
            saved[f"{layer}.0.cell_{'bw' if reverse else 'fw'}.{param}"] = value
    saved["StructuredToParameterName@@"] = {name: f"param_{i}" for i, name in enumerate(saved)}
    with open(path, "wb") as fh:
        pickle.dump(saved, fh, protocol=4)
    return path


# ----------------------------------------------------------------------------- reference graphs
def segment_sum(x: np.ndarray, lengths) -> np.ndarray:
    """fluid ``sequence_pool(x, 'sum')`` over sequences of ``lengths`` stacked along axis 0."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    return np.add.reduceat(x, starts, axis=0)


def _bn(x, w, index: int, calibrate: bool) -> np.ndarray:
    """Inference ``batch_norm_<index>`` over axis 1 of ``x [rows, C]``; ``calibrate`` first
    sets its statistics to x's own (variance floored at a tenth of the mean square, so
    channels that barely vary do not blow up rounding noise)."""
    prefix = f"batch_norm_{index}"
    if calibrate:
        w[f"{prefix}.w_1"] = x.mean(axis=0).astype(np.float32)
        w[f"{prefix}.w_2"] = np.maximum(x.var(axis=0), 0.1 * (x**2).mean()).astype(np.float32)
    return ops.batch_norm(
        x, w[f"{prefix}.w_0"], w[f"{prefix}.b_0"], w[f"{prefix}.w_1"], w[f"{prefix}.w_2"], eps=BN_EPS
    )


def _nextvlad_branch(w, prefix: str, frames, lengths, bn: int, calibrate: bool) -> np.ndarray:
    """``nextvlad_model.NeXtVLAD.forward`` on the frames of all videos ``[sum T, N]``."""
    x = ops.linear(
        frames, w[f"{prefix}_fc_expansion_w"], w[f"{prefix}_fc_expansion_b"], w_in_out=True
    )  # [F, 2N]
    attention = ops.sigmoid(
        ops.linear(x, w[f"{prefix}_fc_group_attention_w"], w[f"{prefix}_fc_group_attention_b"], w_in_out=True)
    )
    centres = ops.as64(w[f"{prefix}_cluster_weights2"])  # [K, d]
    clusters, dim = centres.shape
    groups = attention.shape[1]
    activation = _bn(ops.linear(x, w[f"{prefix}_cluster_weights"], w_in_out=True), w, bn, calibrate)
    activation = ops.softmax(activation.reshape(-1, groups, clusters)) * attention[:, :, None]
    a_sum = segment_sum(activation, lengths).sum(axis=1)  # [B, K]
    vlad = segment_sum(activation.transpose(0, 2, 1) @ x.reshape(-1, groups, dim), lengths)
    vlad = vlad - a_sum[:, :, None] * centres  # [B, K, d]
    vlad = ops.l2_normalize(vlad.transpose(0, 2, 1), axis=1)  # [B, d, K]
    return _bn(vlad.reshape(len(lengths), -1), w, bn + 1, calibrate)


def nextvlad_v15_forward(w: dict, rgb: list, audio: list, calibrate: bool = False) -> np.ndarray:
    """v1.5 NeXtVLAD's inference logits ``[B, classes]`` for uint8 videos ``rgb[b] [T_b,
    1024]``, ``audio[b] [T_b, 128]``. ``calibrate`` sets the BN statistics in ``w`` from
    these videos first (see ``_bn``)."""
    lengths = [len(v) for v in rgb]
    video = nextvlad_dequantize(np.concatenate(rgb), "rgb") * ops.as64(w["eigen_param"])
    sound = nextvlad_dequantize(np.concatenate(audio), "audio")
    vlad = np.concatenate(
        [
            _nextvlad_branch(w, "video", video, lengths, 0, calibrate),
            _nextvlad_branch(w, "audio", sound, lengths, 2, calibrate),
        ],
        axis=1,
    )
    hidden = _bn(ops.linear(vlad * DROPOUT_KEEP, w["hidden1_fc_weights"], w_in_out=True), w, 4, calibrate)
    gates = ops.relu(_bn(ops.linear(hidden, w["gating_fc1_weights"], w_in_out=True), w, 5, calibrate))
    gates = ops.sigmoid(ops.linear(gates, w["gating_fc2_weights"], w_in_out=True))
    return ops.linear(hidden * gates, w["logits_clf_weights"], w["logits_clf_bias"], w_in_out=True)


def lstm_sequence(gates_x, weight_hh, *, fluid: bool, peepholes=None, reverse: bool = False) -> np.ndarray:
    """One sequence through an LSTM: ``gates_x [T, 4H]`` (input projection + gate biases),
    ``weight_hh`` (``[H, 4H]`` fluid, used as ``h @ W``; ``[4H, H]`` Paddle 2.x / PyTorch).
    Gate blocks: fluid (c, i, f, o), 2.x (i, f, g, o). ``peepholes`` (w_ic, w_fc, w_oc): fluid
    ``dynamic_lstm`` (i, f see c_{t-1}, o sees c_t). ``reverse``: from the last step back."""
    gates_x, weight = ops.as64(gates_x), ops.as64(weight_hh)
    weight = weight if fluid else weight.T
    hidden = weight.shape[0]
    w_ic, w_fc, w_oc = (np.zeros(hidden),) * 3 if peepholes is None else map(ops.as64, peepholes)
    h, c = np.zeros(hidden), np.zeros(hidden)
    out = np.zeros((len(gates_x), hidden))
    for t in reversed(range(len(gates_x))) if reverse else range(len(gates_x)):
        gates = np.split(gates_x[t] + h @ weight, 4)
        cand, i, f, o = gates if fluid else (gates[2], gates[0], gates[1], gates[3])
        i = ops.sigmoid(i + c * w_ic)
        f = ops.sigmoid(f + c * w_fc)
        c = ops.tanh(cand) * i + c * f
        o = ops.sigmoid(o + c * w_oc)
        h = o * ops.tanh(c)
        out[t] = h
    return out


def _fluid_lstm(w, x, projection: int, lstm: int, reverse: bool) -> np.ndarray:
    """``fc`` (size 4H) + ``dynamic_lstm`` (peepholes on, default activations)."""
    gates_x = ops.linear(x, w[f"fc_{projection}.w_0"], w[f"fc_{projection}.b_0"], w_in_out=True)
    bias = ops.as64(w[f"lstm_{lstm}.b_0"]).reshape(-1)
    hidden = bias.shape[0] // 7
    return lstm_sequence(
        gates_x + bias[: 4 * hidden],
        w[f"lstm_{lstm}.w_0"],
        fluid=True,
        peepholes=np.split(bias[4 * hidden :], 3),
        reverse=reverse,
    )


def attention_lstm_v15_forward(w: dict, rgb: list, audio: list) -> np.ndarray:
    """v1.5 ``lstm_attention.LSTMAttentionModel`` + head, per video (LoD sequences)."""
    logits = []
    for video in zip(rgb, audio):
        pooled = []
        for k, frames in enumerate(video):
            fc = 4 * k
            x = ops.tanh(
                ops.linear(reader_dequantize(frames), w[f"fc_{fc}.w_0"], w[f"fc_{fc}.b_0"], w_in_out=True)
            )
            states = np.concatenate(
                [
                    _fluid_lstm(w, x, fc + 1, 2 * k, reverse=False),
                    _fluid_lstm(w, x, fc + 2, 2 * k + 1, reverse=True),
                ],
                axis=1,
            )
            states = states * DROPOUT_KEEP
            scores = ops.linear(states, w[f"fc_{fc + 3}.w_0"], w[f"fc_{fc + 3}.b_0"], w_in_out=True)
            pooled.append((ops.softmax(scores, axis=0) * states).sum(axis=0))  # sequence_softmax
        x = ops.relu(ops.linear(np.concatenate(pooled), w["fc_8.w_0"], w["fc_8.b_0"], w_in_out=True))
        x = ops.tanh(ops.linear(x, w["fc_9.w_0"], w["fc_9.b_0"], w_in_out=True))
        logits.append(ops.linear(x, w["fc_10.w_0"], w["fc_10.b_0"], w_in_out=True))
    return np.stack(logits)


def attention_lstm_2x_forward(w: dict, rgb: list, audio: list, max_len: int = 512) -> np.ndarray:
    """2.x ``AttentionLstmHead.forward`` on ``FeatureDecoder``'s zero-padded (``max_len``)
    features with lengths and masks; ``paddle.nn.LSTM`` with ``sequence_length`` runs each
    direction over the real frames only and outputs zeros at padded steps."""
    logits = []
    for video in zip(rgb, audio):
        pooled = []
        for k, frames in enumerate(video):
            length = len(frames)
            padded = np.zeros((max_len, frames.shape[1]))
            padded[:length] = reader_dequantize(frames)
            mask = (np.arange(max_len) < length).astype(np.float64)[:, None]
            x = ops.tanh(
                ops.linear(
                    padded, w[f"head.fc_feature{k}.weight"], w[f"head.fc_feature{k}.bias"], w_in_out=True
                )
            )
            states = np.zeros((max_len, 2 * w[f"head.bi_lstm{k}.weight_hh_l0"].shape[1]))
            for d, suffix in enumerate(("", "_reverse")):
                lstm = f"head.bi_lstm{k}"
                gates_x = ops.linear(
                    x[:length], w[f"{lstm}.weight_ih_l0{suffix}"], w[f"{lstm}.bias_ih_l0{suffix}"]
                ) + ops.as64(w[f"{lstm}.bias_hh_l0{suffix}"])
                out = lstm_sequence(gates_x, w[f"{lstm}.weight_hh_l0{suffix}"], fluid=False, reverse=d == 1)
                states[:length, d * out.shape[1] : (d + 1) * out.shape[1]] = out
            scores = ops.linear(states, w[f"head.att_fc{k}.weight"], w[f"head.att_fc{k}.bias"], w_in_out=True)
            weights = np.exp(scores) * mask / (np.exp(scores) * mask).sum(axis=0)
            pooled.append((states * weights * mask).sum(axis=0))
        x = ops.relu(
            ops.linear(
                np.concatenate(pooled), w["head.fc_out1.weight"], w["head.fc_out1.bias"], w_in_out=True
            )
        )
        x = ops.tanh(ops.linear(x, w["head.fc_out2.weight"], w["head.fc_out2.bias"], w_in_out=True))
        logits.append(ops.linear(x, w["head.fc_logit.weight"], w["head.fc_logit.bias"], w_in_out=True))
    return np.stack(logits)


def cluster_frame_index(length: int, seg_num: int, offset: float = 0.5) -> list[int]:
    """v1.5 ``feature_reader.generate_random_idx`` with its ``np.random.random()`` fixed to
    ``offset`` (our eval mode's choice)."""
    stride = float(length) / seg_num
    return [min(length - 1, int((i + offset) * stride)) for i in range(seg_num)]


def _shifting_attention(w, unit: str, x) -> np.ndarray:
    """``shifting_attention.ShiftingAttentionModel.forward``: ``x [N, L, F]`` -> ``[N, C*F]``."""
    conv = ops.as64(w[f"{unit}.conv.weight"])
    clusters = conv.shape[0]
    scores = (
        np.einsum("nlf,cf->ncl", x, conv[:, :, 0, 0]) + ops.as64(w[f"{unit}.conv.bias"])[:, None]
    )  # [N, C, L]
    weights = ops.softmax(scores, axis=-1)  # over L
    outs = []
    for i in range(clusters):
        shift = (x * weights[:, i, :, None]).sum(axis=1) * ops.as64(w[f"{unit}.shift_w"])[i] + ops.as64(
            w[f"{unit}.shift_b"]
        )[i]
        outs.append(ops.l2_normalize(shift, axis=-1) / np.sqrt(clusters))
    return np.concatenate(outs, axis=1)


def attention_cluster_v15_forward(w: dict, rgb: list, audio: list, seg_num: int = 100) -> np.ndarray:
    """v1.5 Attention Cluster on ``seg_num`` frames per video (``cluster_frame_index``)."""
    units = []
    for k, videos in enumerate((rgb, audio)):
        sampled = np.stack([reader_dequantize(v[cluster_frame_index(len(v), seg_num)]) for v in videos])
        units.append(_shifting_attention(w, f"satt{k}", sampled))
    x = np.concatenate(units, axis=1) * DROPOUT_KEEP
    x = ops.tanh(ops.linear(x, w["fc1.weights"], w["fc1.bias"], w_in_out=True))
    x = ops.tanh(ops.linear(x, w["fc2.weights"], w["fc2.bias"], w_in_out=True))
    return ops.linear(x, w["logistic.weights"], w["logistic.bias"], w_in_out=True)


# ----------------------------------------------------------------------------- comparison
def random_videos(rng: np.random.Generator, lengths, rgb_size=1024, audio_size=128):
    """uint8 features around the middle of the range, like real (whitened) ones."""

    def frames(length, size):
        return np.clip(rng.normal(128, 40, (length, size)), 0, 255).astype(np.uint8)

    return [frames(n, rgb_size) for n in lengths], [frames(n, audio_size) for n in lengths]


def our_batch(rgb: list, audio: list) -> dict:
    """Our reader's batch of these videos: official dequantisation, zero padding, mask."""
    import torch

    from videozoo.data.youtube8m_records import dequantize

    frames = max(len(v) for v in rgb)
    batch = {"mask": torch.zeros(len(rgb), frames, dtype=torch.bool)}
    for key, videos in (("rgb", rgb), ("audio", audio)):
        batch[key] = torch.zeros(len(videos), frames, videos[0].shape[1])
        for i, v in enumerate(videos):
            batch[key][i, : len(v)] = torch.from_numpy(dequantize(v))
    for i, v in enumerate(rgb):
        batch["mask"][i, : len(v)] = True
    return batch


def run_converted(checkpoint: Path, model: str, rgb: list, audio: list) -> np.ndarray:
    import torch

    from videozoo.serialization.loading import load_checkpoint_model

    loaded = load_checkpoint_model(checkpoint, model)
    with torch.no_grad():
        return loaded.model(our_batch(rgb, audio)).double().numpy()


def compare(label: str, ours, reference) -> tuple[float, bool]:
    error = ops.relative_max_error(ours, reference)
    same = ops.same_top_k(ours, reference, 5)
    print(
        f"{label}: relative max error {error:.2e}, same top-5: {same} "
        f"(reference logits {np.min(reference):.3g} .. {np.max(reference):.3g})",
        flush=True,
    )
    return error, same


def check_pair(
    pair: str, workdir: Path, lengths, seed: int = 0, sizes: dict | None = None, seg_num: int = 100
) -> dict:
    """Write ``pair``'s weights (full size, or ``sizes``: keywords of its ``*_shapes``, which
    are also the model's options), convert them (``--set`` of those sizes), compare. Returns
    ``{"error", "same_top5", "summary" (convert_weights'), "source", "checkpoint"}``."""
    from videozoo.convert import convert_weights

    rng = np.random.default_rng(seed)
    sizes = dict(sizes or {})
    overrides = [f"model.{key}={value}" for key, value in sizes.items()]
    rgb, audio = random_videos(rng, lengths, sizes.get("rgb_size", 1024), sizes.get("audio_size", 128))
    model = "attention_lstm" if pair == "attention_lstm_2x" else pair
    if pair == "nextvlad":
        weights = random_weights(nextvlad_v15_shapes(**sizes), rng)
        nextvlad_v15_forward(weights, rgb, audio, calibrate=True)
        source = write_v15_tarball(workdir / "nextvlad_youtube8m", weights, "adam", True)
        reference = nextvlad_v15_forward(weights, rgb, audio)
    elif pair == "attention_lstm":
        weights = random_weights(attention_lstm_v15_shapes(**sizes), rng)
        source = write_v15_tarball(workdir / "attention_lstm_youtube8m", weights, "rmsprop", True)
        reference = attention_lstm_v15_forward(weights, rgb, audio)
    elif pair == "attention_cluster":
        weights = random_weights(attention_cluster_v15_shapes(**sizes), rng)
        source = write_v15_tarball(workdir / "attention_cluster_youtube8m", weights, "adam", False)
        reference = attention_cluster_v15_forward(weights, rgb, audio, seg_num)
        overrides.append(f"model.seg_num={seg_num}")
    elif pair == "attention_lstm_2x":
        weights = random_weights(attention_lstm_2x_shapes(**sizes), rng)
        source = write_pdparams(workdir / "AttentionLSTM_yt8.pdparams", weights)
        reference = attention_lstm_2x_forward(weights, rgb, audio)
    else:
        raise ValueError(f"unknown pair {pair!r}; use one of {PAIRS}")
    output = workdir / f"{pair}.pt"
    summary = convert_weights(source, model, output, overrides=overrides, verbose=False)
    error, same = compare(
        f"{pair} ({Path(source).name})", run_converted(output, model, rgb, audio), reference
    )
    return {"error": error, "same_top5": same, "summary": summary, "source": source, "checkpoint": output}


def check_paddle_reference(folder: Path, workdir: Path) -> float:
    """Step 2 of ``paddle_reference.py head``: convert its ``.pdparams`` and
    compare ours, and the numpy graph above, with Paddle's own logits. Returns the worse error."""
    from videozoo.convert import convert_weights
    from videozoo.fileio import load_numpy_pickle

    videos = np.load(folder / "videos.npz")
    count = sum(name.startswith("rgb_") for name in videos.files)
    rgb = [videos[f"rgb_{i}"] for i in range(count)]
    audio = [videos[f"audio_{i}"] for i in range(count)]
    paddle_logits = np.load(folder / "logits.npy")
    source = folder / "AttentionLSTM_yt8.pdparams"
    convert_weights(source, "attention_lstm", workdir / "al2x.pt", verbose=False)
    ours, _ = compare(
        "attention_lstm_2x, ours vs Paddle's AttentionLstmHead",
        run_converted(workdir / "al2x.pt", "attention_lstm", rgb, audio),
        paddle_logits,
    )
    weights = {k: v for k, v in load_numpy_pickle(source).items() if isinstance(v, np.ndarray)}
    numpy_graph, _ = compare(
        "attention_lstm_2x, numpy graph vs Paddle's AttentionLstmHead",
        attention_lstm_2x_forward(weights, rgb, audio),
        paddle_logits,
    )
    return max(ours, numpy_graph)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="*", metavar="PAIR", help=f"of {PAIRS} (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[299, 120, 37, 5],
        help="frames of each test video (padded to the longest in our batch)",
    )
    parser.add_argument(
        "--paddle-reference",
        type=Path,
        metavar="DIR",
        help="instead: compare with real Paddle's output written to DIR by paddle_reference.py head",
    )
    args = parser.parse_args(argv)
    if set(args.pairs) - set(PAIRS):
        parser.error(f"unknown pair(s) {sorted(set(args.pairs) - set(PAIRS))}; use {PAIRS}")
    logging.getLogger("videozoo").setLevel(logging.ERROR)  # no "--classes" warnings
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="videozoo-parity-") as tmp:
        if args.paddle_reference:
            worst = check_paddle_reference(args.paddle_reference, Path(tmp))
        for pair in [] if args.paddle_reference else args.pairs or PAIRS:
            result = check_pair(pair, Path(tmp), args.lengths, args.seed)
            worst = max(worst, result["error"] if result["same_top5"] else float("inf"))
    print(f"worst relative max error {worst:.2e} (target 1e-4)")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
