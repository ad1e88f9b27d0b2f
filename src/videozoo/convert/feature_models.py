"""Converters for the YouTube-8M feature models: NeXtVLAD, Attention LSTM, Attention Cluster.

Pairs (``--from`` -> ``--model``): ``paddle-v1.5`` -> nextvlad, attention_lstm,
attention_cluster (``<model>_youtube8m.tar.gz``: ``fluid.io.save_persistables`` folders, with
the optimizer state and, possibly, tensors ``train.py`` marked persistable, ``*.tmp_<n>``);
``paddlevideo`` (2.x) -> attention_lstm (``AttentionLSTM_yt8.pdparams``).

Names, from PaddleVideo v1.5's ``models/<model>/*.py`` (fc weights ``[in, out]``: transposed)
and 2.x's ``modeling/heads/attention_lstm_head.py``:

* NeXtVLAD: ``{video,audio}_fc_expansion_w/_b``, ``..._fc_group_attention_w/_b``,
  ``..._cluster_weights`` ``[2N, G*K]``, ``..._cluster_weights2`` (centres ``[K, d]``), the
  unnamed BNs ``batch_norm_0..5`` (video assignment, video output, audio assignment, audio
  output, hidden, gating; ``w_0`` scale, ``b_0`` offset, ``w_1`` mean, ``w_2`` variance),
  ``hidden1_fc_weights``, ``gating_fc1/2_weights``, ``logits_clf_weights/_bias`` and the
  untrainable PCA scale ``eigen_param``.
* Attention LSTM v1.5, unnamed, in creation order per modality (rgb k=0, audio k=1):
  ``fc_{4k}`` embedding, ``fc_{4k+1}`` forward input projection, ``lstm_{2k}``,
  ``fc_{4k+2}`` backward projection, ``lstm_{2k+1}``, ``fc_{4k+3}`` attention; head ``fc_8``
  (ReLU), ``fc_9`` (tanh), ``fc_10``. ``lstm_n.w_0`` is ``[H, 4H]`` with gates (c, i, f, o);
  ``lstm_n.b_0`` ``[1, 7H]`` holds the four gate biases, then the peephole weights of the
  i, f and o gates. The projection's bias becomes our ``bias_ih``, the LSTM's ``bias_hh``.
* Attention LSTM 2.x: ``head.fc_feature{k}``, ``head.bi_lstm{k}.{weight,bias}_{ih,hh}_l0``
  (+ ``_reverse``; gates (i, f, g, o) as PyTorch; ``paddle.nn.LSTM`` saves each again as
  ``head.bi_lstm{k}.0.cell_{fw,bw}.*``: either name is read, the other ignored),
  ``head.att_fc{k}``, ``head.fc_out1/2``, ``head.fc_logit``.
* Attention Cluster: ``satt{k}.conv.weight`` ``[C, F, 1, 1]`` / ``.bias`` (attention scores),
  ``satt{k}.shift_w/_b``, ``fc1.weights/.bias``, ``fc2.*``, ``logistic.weights/.bias``.

What else the sources need, besides renaming:

* v1.5 dropout is ``downgrade_in_infer`` (x(1-p) at inference; ours is the identity there):
  the first linear after each dropout is scaled by 0.5 (NeXtVLAD ``hidden1_fc_weights``,
  Attention LSTM's attention fc and ``fc_8``, Attention Cluster ``fc1``). 2.x: nothing to fold.
* v1.5 NeXtVLAD dequantises rgb as ``x*4/255 - 2``; our reader adds the official ``4/512``.
  ``expand(e * (x + 4/512)) = expand(e * x) + (4/512) * (e @ W)`` with ``e`` the PCA scale, so
  ``(4/512) * (e @ W)`` is taken off the rgb expansion bias.
* v1.5 Attention LSTM's LSTM has peepholes: converted with ``model.peepholes=true``.

YouTube-8M files carry no class names: pass ``--classes vocabulary.csv`` (or a list). A file
whose sizes differ from the defaults (3862 classes, K=128, ...) fails with the ``--set`` items
read off its tensor shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from videozoo.convert.mapping import Mapping, TensorMapper, register_mapping

#: v1.5 trained with dropout 0.5 (``downgrade_in_infer``): its inference scales by 0.5
PADDLE_DROPOUT = 0.5
#: ``4/512``: what our dequantisation adds to v1.5 NeXtVLAD's rgb (``x*4/255 - 2``)
RGB_DEQUANTIZE_OFFSET = 4.0 / 512.0
#: fluid ``dynamic_lstm`` gate blocks (c, i, f, o) in PyTorch's order (i, f, g, o)
FLUID_TO_TORCH_GATES = (1, 2, 0, 3)
MODALITIES = ("rgb", "audio")
#: the unnamed fluid BatchNorm variables -> ours
FLUID_BN = (("w_0", "weight"), ("b_0", "bias"), ("w_1", "running_mean"), ("w_2", "running_var"))
#: op outputs a v1.5 ``train.py`` marks persistable (label, predictions, loss): not weights
TRAINING_OUTPUTS = r"\.tmp_\d+$"

SizeRule = Callable[[dict], int]


# ----------------------------------------------------------------------------- helpers
def size_hint(m: TensorMapper, cfg: dict, rules: dict[str, SizeRule]) -> str:
    """The ``--set`` items that make the model's sizes those of the file (read off its tensor
    shapes with ``rules``: model option -> function of the source tensors), or ""."""
    sets = []
    for option, rule in rules.items():
        try:
            value = int(rule(m.source))
        except (KeyError, IndexError, ZeroDivisionError):
            continue  # that tensor is missing: the mapping will say so
        if value != cfg["model"][option]:
            sets.append(f"--set model.{option}={value}")
    return " ".join(sets)


def put_fc(
    m: TensorMapper, weight: str, bias: str | None, target: str, hint: str, scale: float = 1.0
) -> None:
    """A Paddle fc (``[in, out]`` weight, ``[out]`` bias) -> ``target``.weight/.bias; the
    weight is multiplied by ``scale`` (a folded v1.5 dropout)."""
    how = "transposed" + (f", dropout-folded x{scale:g}" if scale != 1.0 else "")
    m.put(f"{target}.weight", m.get(weight).T * np.float32(scale), src=weight, how=how, hint=hint)
    if bias is not None:
        m.put(f"{target}.bias", m.get(bias).reshape(-1), src=bias, hint=hint)


def put_fluid_bn(m: TensorMapper, index: int, target: str, hint: str) -> None:
    for suffix, ours in FLUID_BN:
        m.copy(f"batch_norm_{index}.{suffix}", f"{target}.{ours}", hint=hint)


def fluid_gates_to_torch(array: np.ndarray) -> np.ndarray:
    """Reorder the four gate blocks of ``array`` (along axis 0) from fluid's (c, i, f, o) to
    PyTorch's (i, f, g, o)."""
    blocks = np.split(array, 4)
    return np.concatenate([blocks[i] for i in FLUID_TO_TORCH_GATES])


def ignore_training_outputs(m: TensorMapper) -> None:
    m.ignore(m.names(TRAINING_OUTPUTS), "an activation or label train.py saved, not a weight")


# ----------------------------------------------------------------------------- NeXtVLAD v1.5
NEXTVLAD_SIZES: dict[str, SizeRule] = {
    "rgb_size": lambda s: s["video_fc_expansion_w"].shape[0],
    "audio_size": lambda s: s["audio_fc_expansion_w"].shape[0],
    "expansion": lambda s: s["video_fc_expansion_w"].shape[1] // s["video_fc_expansion_w"].shape[0],
    "groups": lambda s: s["video_fc_group_attention_w"].shape[1],
    "cluster_size": lambda s: s["video_cluster_weights2"].shape[0],
    "hidden_size": lambda s: s["hidden1_fc_weights"].shape[1],
    "gating_reduction": lambda s: s["hidden1_fc_weights"].shape[1] // s["gating_fc1_weights"].shape[1],
    "num_classes": lambda s: s["logits_clf_weights"].shape[1],
}


def convert_nextvlad_v15(m: TensorMapper, cfg: dict) -> None:
    hint = size_hint(m, cfg, NEXTVLAD_SIZES)
    if m.has("eigen_param"):
        m.copy("eigen_param", "rgb_scale", hint=hint)
        pca_scale, scale_name = m.get("eigen_param").astype(np.float64), ["eigen_param"]
    else:  # ours is the same file (PaddleVideo's dataset/youtube8m/yt8m_pca/eigenvals.npy)
        m.fill_unchanged(["rgb_scale"], "not in the file; the shipped PCA eigenvalues")
        pca_scale, scale_name = m.target["rgb_scale"].double().numpy(), []
    for prefix, pool, bn in (("video", "rgb_pool", 0), ("audio", "audio_pool", 2)):
        expand_w, expand_b = f"{prefix}_fc_expansion_w", f"{prefix}_fc_expansion_b"
        if prefix == "video":
            weight = m.get(expand_w).astype(np.float64)
            bias = m.get(expand_b) - RGB_DEQUANTIZE_OFFSET * (pca_scale @ weight)
            m.put(f"{pool}.expand.weight", weight.T, src=expand_w, how="transposed", hint=hint)
            m.put(
                f"{pool}.expand.bias",
                bias,
                src=[expand_b, expand_w, *scale_name],
                how="minus (4/512) * (pca scale @ W): v1.5's rgb lacks the +4/512",
                hint=hint,
            )
        else:
            put_fc(m, expand_w, expand_b, f"{pool}.expand", hint)
        put_fc(
            m,
            f"{prefix}_fc_group_attention_w",
            f"{prefix}_fc_group_attention_b",
            f"{pool}.group_attention",
            hint,
        )
        put_fc(m, f"{prefix}_cluster_weights", None, f"{pool}.assignment", hint)
        put_fluid_bn(m, bn, f"{pool}.assignment_norm", hint)
        m.copy(f"{prefix}_cluster_weights2", f"{pool}.cluster_centers", hint=hint)
        put_fluid_bn(m, bn + 1, f"{pool}.output_norm", hint)
    put_fc(m, "hidden1_fc_weights", None, "hidden", hint, scale=1.0 - PADDLE_DROPOUT)
    put_fluid_bn(m, 4, "hidden_norm", hint)
    put_fc(m, "gating_fc1_weights", None, "gating.squeeze", hint)
    put_fluid_bn(m, 5, "gating.norm", hint)
    put_fc(m, "gating_fc2_weights", None, "gating.excite", hint)
    put_fc(m, "logits_clf_weights", "logits_clf_bias", "classifier", hint)
    ignore_training_outputs(m)


register_mapping(
    Mapping(
        source="paddle-v1.5",
        model="nextvlad",
        signature=("video_cluster_weights2", "hidden1_fc_weights"),
        convert=convert_nextvlad_v15,
        config={"model": {"pca_scale_rgb": True}},
        classes="file",
        description="PaddleVideo v1.5 NeXtVLAD (YouTube-8M)",
    )
)


# ----------------------------------------------------------------------------- Attention LSTM
ATTENTION_LSTM_V15_SIZES: dict[str, SizeRule] = {
    "rgb_size": lambda s: s["fc_0.w_0"].shape[0],
    "embedding_size": lambda s: s["fc_0.w_0"].shape[1],
    "lstm_size": lambda s: s["lstm_0.w_0"].shape[0],
    "audio_size": lambda s: s["fc_4.w_0"].shape[0],
    "fusion_relu_size": lambda s: s["fc_8.w_0"].shape[1],
    "fusion_tanh_size": lambda s: s["fc_9.w_0"].shape[1],
    "num_classes": lambda s: s["fc_10.w_0"].shape[1],
}


def put_fluid_lstm(m: TensorMapper, projection: int, lstm: int, target: str, hint: str) -> None:
    """``fc_<projection>`` (input projection) + ``lstm_<lstm>`` -> our ``PeepholeLSTM``."""
    proj_w, proj_b = f"fc_{projection}.w_0", f"fc_{projection}.b_0"
    lstm_w, lstm_b = f"lstm_{lstm}.w_0", f"lstm_{lstm}.b_0"
    how = "transposed, gates (c,i,f,o) -> (i,f,g,o)"
    m.put(f"{target}.weight_ih_l0", fluid_gates_to_torch(m.get(proj_w).T), src=proj_w, how=how, hint=hint)
    m.put(
        f"{target}.bias_ih_l0",
        fluid_gates_to_torch(m.get(proj_b)),
        src=proj_b,
        how="gates (c,i,f,o) -> (i,f,g,o)",
        hint=hint,
    )
    m.put(f"{target}.weight_hh_l0", fluid_gates_to_torch(m.get(lstm_w).T), src=lstm_w, how=how, hint=hint)
    bias = m.get(lstm_b).reshape(-1)
    hidden = bias.shape[0] // 7
    m.put(
        f"{target}.bias_hh_l0",
        fluid_gates_to_torch(bias[: 4 * hidden]),
        src=lstm_b,
        how="first 4H, gates (c,i,f,o) -> (i,f,g,o)",
        hint=hint,
    )
    m.put(
        f"{target}.peephole_l0",
        bias[4 * hidden :].reshape(3, hidden),
        src=lstm_b,
        how="last 3H: peepholes (i, f, o)",
        hint=hint,
    )


def convert_attention_lstm_v15(m: TensorMapper, cfg: dict) -> None:
    hint = size_hint(m, cfg, ATTENTION_LSTM_V15_SIZES)
    for k, modality in enumerate(MODALITIES):
        encoder, fc = f"{modality}_encoder", 4 * k
        put_fc(m, f"fc_{fc}.w_0", f"fc_{fc}.b_0", f"{encoder}.embed", hint)
        put_fluid_lstm(m, fc + 1, 2 * k, f"{encoder}.lstm_forward", hint)
        put_fluid_lstm(m, fc + 2, 2 * k + 1, f"{encoder}.lstm_backward", hint)
        put_fc(
            m,
            f"fc_{fc + 3}.w_0",
            f"fc_{fc + 3}.b_0",
            f"{encoder}.attention",
            hint,
            scale=1.0 - PADDLE_DROPOUT,
        )
    # The pooled vectors are sums of dropped-out states: the head's first fc takes the 0.5 too.
    put_fc(m, "fc_8.w_0", "fc_8.b_0", "fusion.0", hint, scale=1.0 - PADDLE_DROPOUT)
    put_fc(m, "fc_9.w_0", "fc_9.b_0", "fusion.2", hint)
    put_fc(m, "fc_10.w_0", "fc_10.b_0", "classifier", hint)
    ignore_training_outputs(m)


register_mapping(
    Mapping(
        source="paddle-v1.5",
        model="attention_lstm",
        signature=(r"lstm_0\.w_0", r"fc_10\.w_0"),
        convert=convert_attention_lstm_v15,
        config={"model": {"peepholes": True}},
        classes="file",
        description="PaddleVideo v1.5 Attention LSTM, peephole LSTMs (YouTube-8M)",
    )
)

ATTENTION_LSTM_2X_SIZES: dict[str, SizeRule] = {
    "rgb_size": lambda s: s["head.fc_feature0.weight"].shape[0],
    "embedding_size": lambda s: s["head.fc_feature0.weight"].shape[1],
    "lstm_size": lambda s: s["head.bi_lstm0.weight_hh_l0"].shape[1],
    "audio_size": lambda s: s["head.fc_feature1.weight"].shape[0],
    "fusion_relu_size": lambda s: s["head.fc_out1.weight"].shape[1],
    "fusion_tanh_size": lambda s: s["head.fc_out2.weight"].shape[1],
    "num_classes": lambda s: s["head.fc_logit.weight"].shape[1],
}
#: (2.x suffix, the copy ``paddle.nn.LSTM`` saves again, our LSTM) per direction
PADDLE_LSTM_DIRECTIONS = (("", "0.cell_fw", "lstm_forward"), ("_reverse", "0.cell_bw", "lstm_backward"))


def convert_attention_lstm_2x(m: TensorMapper, cfg: dict) -> None:
    hint = size_hint(m, cfg, ATTENTION_LSTM_2X_SIZES)
    for k, modality in enumerate(MODALITIES):
        encoder, lstm = f"{modality}_encoder", f"head.bi_lstm{k}"
        put_fc(m, f"head.fc_feature{k}.weight", f"head.fc_feature{k}.bias", f"{encoder}.embed", hint)
        for suffix, cell, ours in PADDLE_LSTM_DIRECTIONS:
            for param in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                names = [f"{lstm}.{param}_l0{suffix}", f"{lstm}.{cell}.{param}"]
                if not m.has(names[0]) and m.has(names[1]):  # a file with the cells' names only
                    names.reverse()
                m.copy(names[0], f"{encoder}.{ours}.{param}_l0", hint=hint)
                m.ignore(names[1], f"the same parameter as {names[0]}")
        put_fc(m, f"head.att_fc{k}.weight", f"head.att_fc{k}.bias", f"{encoder}.attention", hint)
    put_fc(m, "head.fc_out1.weight", "head.fc_out1.bias", "fusion.0", hint)
    put_fc(m, "head.fc_out2.weight", "head.fc_out2.bias", "fusion.2", hint)
    put_fc(m, "head.fc_logit.weight", "head.fc_logit.bias", "classifier", hint)


register_mapping(
    Mapping(
        source="paddlevideo",
        model="attention_lstm",
        signature=(r"head\.bi_lstm0\..+", r"head\.fc_logit\.weight"),
        convert=convert_attention_lstm_2x,
        config={"model": {"peepholes": False}},
        classes="file",
        description="PaddleVideo 2.x AttentionLSTM (YouTube-8M)",
    )
)


# ----------------------------------------------------------------------------- Attention Cluster
ATTENTION_CLUSTER_SIZES: dict[str, SizeRule] = {
    "rgb_size": lambda s: s["satt0.conv.weight"].shape[1],
    "rgb_clusters": lambda s: s["satt0.conv.weight"].shape[0],
    "audio_size": lambda s: s["satt1.conv.weight"].shape[1],
    "audio_clusters": lambda s: s["satt1.conv.weight"].shape[0],
    "fc_size": lambda s: s["fc1.weights"].shape[1],
    "fc2_size": lambda s: s["fc2.weights"].shape[1],
    "num_classes": lambda s: s["logistic.weights"].shape[1],
}


def convert_attention_cluster_v15(m: TensorMapper, cfg: dict) -> None:
    hint = size_hint(m, cfg, ATTENTION_CLUSTER_SIZES)
    for k, modality in enumerate(MODALITIES):
        unit, ours = f"satt{k}", f"{modality}_attention"
        conv = m.get(f"{unit}.conv.weight")
        m.put(
            f"{ours}.scores.weight",
            conv.reshape(conv.shape[0], -1),
            src=f"{unit}.conv.weight",
            how="1x1 conv -> linear",
            hint=hint,
        )
        m.copy(f"{unit}.conv.bias", f"{ours}.scores.bias", hint=hint)
        m.copy(f"{unit}.shift_w", f"{ours}.scale", hint=hint)
        m.copy(f"{unit}.shift_b", f"{ours}.shift", hint=hint)
    put_fc(m, "fc1.weights", "fc1.bias", "fc.0", hint, scale=1.0 - PADDLE_DROPOUT)
    put_fc(m, "fc2.weights", "fc2.bias", "fc.2", hint)
    put_fc(m, "logistic.weights", "logistic.bias", "classifier", hint)
    ignore_training_outputs(m)


register_mapping(
    Mapping(
        source="paddle-v1.5",
        model="attention_cluster",
        signature=(r"satt0\.shift_w", r"logistic\.weights"),
        convert=convert_attention_cluster_v15,
        classes="file",
        description="PaddleVideo v1.5 Attention Cluster (YouTube-8M)",
    )
)
