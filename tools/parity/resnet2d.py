"""Parity of converted TSN / TSM / StNet checkpoints with the graphs that published them.

Paddle sources need no Paddle: the inference graphs of PaddleVideo v1.5 (``TSN_ResNet``,
``TSM_ResNet``, ``StNet_ResNet`` in ``models/{tsn,tsm,stnet}/*_res_model.py``) and of
PaddleVideo 2.x (``Recognizer2D`` with ``ResNet`` + ``TSNHead``, ``ResNetTSM`` + ``TSMHead``)
are re-stated below in float64 numpy, reading the weights by the names and in the layouts
the reference stores them. ``main`` draws full-size random weights (ResNet-50, 400 classes),
writes them in the published format (a v1.5 ``.tar.gz`` with Momentum accumulators, a 2.x
``.pdparams``), converts them with ``videozoo convert``, runs the converted checkpoint on the
same normalised input and prints the relative max error of the logits and whether the top-5
classes agree::

    OMP_NUM_THREADS=1 PYTHONPATH=src python tools/parity/resnet2d.py paddle
    OMP_NUM_THREADS=1 PYTHONPATH=src python tools/parity/resnet2d.py paddle --pairs v1.5-stnet

MMAction2 and MIT run their own code in a throwaway virtualenv (``mmaction2_resnet2d.py``,
``mit_tsm.py`` in this folder write ``DIR/weights.pth``, ``input.npy`` and ``logits.npy``);
this script then converts and compares (in videozoo's environment)::

    PYTHONPATH=src python tools/parity/resnet2d.py compare DIR --from mmaction2 --model tsm

Logits are compared before the softmax the v1.5 graphs end with (``fc(..., act='softmax')``).
Shapes: inputs ``[N, T, 3, H, W]`` (v1.5 StNet: ``[N, segments, 3 * seglen, H, W]``, the 5
frames of a segment stacked frame by frame along channels).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from numpy_ops import (
    as64,
    batch_norm,
    conv,
    global_avg_pool,
    linear,
    max_pool,  # noqa: E402
    relative_max_error,
    relu,
    same_top_k,
)

#: blocks per stage of the reference ResNets
LAYOUT = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
WIDTHS = (64, 128, 256, 512)


# ----------------------------------------------------------------------------- the trunk
def block_names(depth: int):
    """(stage index 0..3, block index, name) in building order, as ``net()`` names them."""
    for stage, count in enumerate(LAYOUT[depth]):
        for i in range(count):
            if depth in (101, 152) and stage == 2:
                name = f"res{stage + 2}a" if i == 0 else f"res{stage + 2}b{i}"
            else:
                name = f"res{stage + 2}{chr(97 + i)}"
            yield stage, i, name


def conv_layers(depth: int, in_channels: int = 3):
    """(ConvBNLayer name, [out, in, k, k]) of every conv_bn_layer, in building order."""
    yield "conv1", (64, in_channels, 7, 7)
    channels = 64
    for stage, i, name in block_names(depth):
        width = WIDTHS[stage]
        yield f"{name}_branch2a", (width, channels, 1, 1)
        yield f"{name}_branch2b", (width, width, 3, 3)
        yield f"{name}_branch2c", (4 * width, width, 1, 1)
        if i == 0:
            yield f"{name}_branch1", (4 * width, channels, 1, 1)
        channels = 4 * width


def fluid_conv_bn_names(layer: str) -> tuple[str, tuple[str, str, str, str]]:
    """v1.5 ``conv_bn_layer``: ParamAttr names of the conv and of its BN."""
    bn = "bn_" + layer if layer == "conv1" else "bn" + layer[3:]
    return f"{layer}_weights", tuple(f"{bn}_{p}" for p in ("scale", "offset", "mean", "variance"))


def paddle2_conv_bn_names(layer: str) -> tuple[str, tuple[str, str, str, str]]:
    """2.x ``ConvBNLayer``: structured names (``backbone.res2a.conv0._conv.weight``)."""
    if layer == "conv1":
        path = "backbone.conv"
    else:
        block, branch = layer.split("_", 1)
        sub = {"branch2a": "conv0", "branch2b": "conv1", "branch2c": "conv2", "branch1": "short"}
        path = f"backbone.{block}.{sub[branch]}"
    bn = f"{path}._batch_norm"
    return f"{path}._conv.weight", (f"{bn}.weight", f"{bn}.bias", f"{bn}._mean", f"{bn}._variance")


def conv_bn(w, names, x, layer, stride=1, act=True):
    weight, (scale, offset, mean, variance) = names(layer)
    kernel = w[weight]
    y = conv(x, kernel, stride=stride, padding=(kernel.shape[-1] - 1) // 2)
    y = batch_norm(y, w[scale], w[offset], w[mean], w[variance], eps=1e-5)
    return relu(y) if act else y


def temporal_shift(x, seg_num: int, shift_ratio: float):
    """fluid / paddle ``temporal_shift``: pad T by one zero frame each side, then channels
    [0, C*r) take frame t-1, [C*r, 2C*r) frame t+1, the rest frame t."""
    nt, c, h, w = x.shape
    padded = np.pad(x.reshape(-1, seg_num, c, h, w), [(0, 0), (1, 1), (0, 0), (0, 0), (0, 0)])
    c1, c2 = int(c * shift_ratio), int(c * 2 * shift_ratio)
    out = np.concatenate(
        [padded[:, :seg_num, :c1], padded[:, 2 : seg_num + 2, c1:c2], padded[:, 1 : seg_num + 1, c2:]], axis=2
    )
    return out.reshape(nt, c, h, w)


def paddle_resnet(w, names, x, depth, shift=None, after_stage=None):
    """``net()``'s trunk up to the last block: ``[N*T, C, H, W] -> [N*T, 2048, H/32, W/32]``.
    ``shift(x)``: applied to each bottleneck's input (TSM); ``after_stage(stage, x)``: StNet's
    temporal blocks."""
    y = max_pool(conv_bn(w, names, x, "conv1", stride=2), 3, 2, 1)
    for stage, i, name in block_names(depth):
        stride = 2 if i == 0 and stage != 0 else 1
        branch = shift(y) if shift else y
        branch = conv_bn(w, names, branch, f"{name}_branch2a")
        branch = conv_bn(w, names, branch, f"{name}_branch2b", stride)
        branch = conv_bn(w, names, branch, f"{name}_branch2c", act=False)
        short = conv_bn(w, names, y, f"{name}_branch1", stride, act=False) if i == 0 else y
        y = relu(short + branch)
        if after_stage and i == LAYOUT[depth][stage] - 1:
            y = after_stage(stage, y)
    return y


# ----------------------------------------------------------------------------- v1.5 graphs
def fluid_fc(w, x, name="fc_0"):
    return linear(x, w[f"{name}.w_0"], w[f"{name}.b_0"], w_in_out=True)


def v15_tsn(w, video, depth=50):
    """TSN_ResNet.net: frames -> trunk -> avg pool -> mean over segments -> fc."""
    n, seg = video.shape[:2]
    feature = global_avg_pool(
        paddle_resnet(w, fluid_conv_bn_names, as64(video).reshape(-1, *video.shape[2:]), depth)
    )
    return fluid_fc(w, feature.reshape(n, seg, -1).mean(axis=1))


def v15_tsm(w, video, depth=50):
    """TSM_ResNet.net: shift(1/8) before every bottleneck; dropout(0.5) at inference is
    fluid's downgrade_in_infer, x * (1 - 0.5), before the segment mean and fc."""
    n, seg = video.shape[:2]
    trunk = paddle_resnet(
        w,
        fluid_conv_bn_names,
        as64(video).reshape(-1, *video.shape[2:]),
        depth,
        shift=lambda x: temporal_shift(x, seg, 1.0 / 8),
    )
    dropped = global_avg_pool(trunk) * (1 - 0.5)
    return fluid_fc(w, dropped.reshape(n, seg, -1).mean(axis=1))


def fluid_bn(w, x, name):
    return batch_norm(x, w[f"{name}.w_0"], w[f"{name}.b_0"], w[f"{name}.w_1"], w[f"{name}.w_2"])


def fluid_conv(w, x, name, padding=0, groups=1):
    return conv(x, w[f"{name}.w_0"], w[f"{name}.b_0"], padding=padding, groups=groups)


def stnet_temporal_bn_names(depth: int) -> tuple[str, str]:
    """The auto names of the two temporal-block BNs: count every batch_norm call built before
    them (stem 1; per block 3, +1 for the shortcut of each stage's first block)."""
    layout = LAYOUT[depth]
    first = 1 + sum(3 * n + 1 for n in layout[:2])
    return f"batch_norm_{first}", f"batch_norm_{first + 1 + 3 * layout[2] + 1}"


def v15_stnet(w, video, depth=50):
    """StNet_ResNet.net on ``[N, seg, 3*seglen, H, W]``: trunk with temporal_conv_bn after res3
    and res4 (conv3d 3x1x1 + relu -> BN -> + input), avg pool, temporal Xception, max over
    segments, fc."""
    n, seg = video.shape[:2]
    bn_names = stnet_temporal_bn_names(depth)

    def temporal_block(stage, x):
        if stage not in (1, 2):
            return x
        clip = x.reshape(-1, seg, *x.shape[1:]).transpose(0, 2, 1, 3, 4)  # [N, C, T, H, W]
        out = relu(fluid_conv(w, clip, f"conv3d_{stage - 1}", padding=(1, 0, 0)))
        out = fluid_bn(w, out, bn_names[stage - 1]) + clip
        return out.transpose(0, 2, 1, 3, 4).reshape(x.shape)

    trunk = paddle_resnet(
        w, fluid_conv_bn_names, as64(video).reshape(-1, *video.shape[2:]), depth, after_stage=temporal_block
    )
    feature = global_avg_pool(trunk).reshape(n, seg, -1, 1).transpose(0, 2, 1, 3)  # [N, C, T, 1]
    bn = fluid_bn(w, feature, "xception_bn")
    att = fluid_conv(w, bn, "xception_att_conv", padding=(1, 0), groups=bn.shape[1])
    att = relu(fluid_bn(w, fluid_conv(w, att, "xception_att_2"), "xception_bndw"))
    att = fluid_conv(w, att, "xception_att1", padding=(1, 0), groups=att.shape[1])
    att = fluid_conv(w, att, "xception_att1_2")
    xfeat = relu(fluid_bn(w, fluid_conv(w, bn, "xception_dw") + att, "xception_bn2"))
    return fluid_fc(w, xfeat.max(axis=(2, 3)))


# ----------------------------------------------------------------------------- 2.x graphs
def paddle2_tsn(w, video, depth=50):
    """Recognizer2D + ResNet + TSNHead: avg pool, mean over segments, dropout (identity at
    inference: upscale_in_train), Linear ([in, out])."""
    n, seg = video.shape[:2]
    feature = global_avg_pool(
        paddle_resnet(w, paddle2_conv_bn_names, as64(video).reshape(-1, *video.shape[2:]), depth)
    )
    return linear(
        feature.reshape(n, seg, -1).mean(axis=1), w["head.fc.weight"], w["head.fc.bias"], w_in_out=True
    )


def paddle2_tsm(w, video, depth=50, num_seg=8):
    """ResNetTSM(num_seg) (``F.temporal_shift(x, num_seg, 1.0 / num_seg)``: the shift ratio is
    tied to the configured segment count, 8 for the Kinetics model) + TSMHead: avg pool,
    dropout (identity), Linear per frame, then the mean over segments. Takes T = num_seg."""
    n, seg = video.shape[:2]
    assert seg == num_seg, f"PaddleVideo 2.x TSM built for {num_seg} segments takes T={num_seg}"
    trunk = paddle_resnet(
        w,
        paddle2_conv_bn_names,
        as64(video).reshape(-1, *video.shape[2:]),
        depth,
        shift=lambda x: temporal_shift(x, num_seg, 1.0 / num_seg),
    )
    scores = linear(global_avg_pool(trunk), w["head.fc.weight"], w["head.fc.bias"], w_in_out=True)
    return scores.reshape(n, seg, -1).mean(axis=1)


# ----------------------------------------------------------------------------- random weights
def he_normal(rng, shape):
    fan_in = int(np.prod(shape[1:]))
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))


def bn_values(rng, channels):
    """scale, offset, mean, variance (variance ~U(0.5, 1.5) keeps activations finite)."""
    return (
        rng.uniform(0.5, 1.0, channels).astype(np.float32),
        rng.normal(0.0, 0.1, channels).astype(np.float32),
        rng.normal(0.0, 0.1, channels).astype(np.float32),
        rng.uniform(0.5, 1.5, channels).astype(np.float32),
    )


def resnet_weights(rng, names, depth, in_channels=3) -> dict[str, np.ndarray]:
    out = {}
    for layer, shape in conv_layers(depth, in_channels):
        weight, bn = names(layer)
        out[weight] = he_normal(rng, shape)
        out.update(zip(bn, bn_values(rng, shape[0])))
    return out


def fc_weights(rng, n_in, n_out):
    """``[in, out]`` (Paddle's layout) and the bias."""
    return (
        rng.standard_normal((n_in, n_out), dtype=np.float32) * np.float32(n_in**-0.5),
        rng.normal(0, 0.1, n_out).astype(np.float32),
    )


def fluid_auto_bn(rng, name, channels):
    return dict(zip((f"{name}.w_0", f"{name}.b_0", f"{name}.w_1", f"{name}.w_2"), bn_values(rng, channels)))


def v15_weights(model: str, rng, depth=50, num_classes=400, seglen=5) -> dict[str, np.ndarray]:
    w = resnet_weights(rng, fluid_conv_bn_names, depth, 3 * seglen if model == "stnet" else 3)
    if model == "stnet":
        for index, (channels, bn) in enumerate(zip((512, 1024), stnet_temporal_bn_names(depth))):
            w[f"conv3d_{index}.w_0"] = he_normal(rng, (channels, channels, 3, 1, 1)) * 0.5
            w[f"conv3d_{index}.b_0"] = rng.normal(0, 0.1, channels).astype(np.float32)
            w.update(fluid_auto_bn(rng, bn, channels))
        for name, shape in (
            ("xception_att_conv", (2048, 1, 3, 1)),
            ("xception_att_2", (1024, 2048, 1, 1)),
            ("xception_att1", (1024, 1, 3, 1)),
            ("xception_att1_2", (1024, 1024, 1, 1)),
            ("xception_dw", (1024, 2048, 1, 1)),
        ):
            w[f"{name}.w_0"] = he_normal(rng, shape)
            w[f"{name}.b_0"] = rng.normal(0, 0.1, shape[0]).astype(np.float32)
        for name, channels in (("xception_bn", 2048), ("xception_bndw", 1024), ("xception_bn2", 1024)):
            w.update(fluid_auto_bn(rng, name, channels))
        w["fc_0.w_0"], w["fc_0.b_0"] = fc_weights(rng, 1024, num_classes)
    else:
        w["fc_0.w_0"], w["fc_0.b_0"] = fc_weights(rng, 2048, num_classes)
    return w


def momentum_state(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What fluid.io.save_persistables adds for Momentum + piecewise_decay: a velocity per
    trainable parameter (BN statistics are not trainable), the learning rate and its counter."""
    statistics = ("_mean", "_variance", ".w_1", ".w_2")
    state = {
        f"{name}_velocity_0": np.zeros_like(array)
        for name, array in weights.items()
        if not name.endswith(statistics)
    }
    state["learning_rate_0"] = np.array([0.01], np.float32)
    state["@LR_DECAY_COUNTER@"] = np.array([1000], np.int64)
    return state


def paddle2_weights(rng, depth=50, num_classes=400) -> dict:
    w = resnet_weights(rng, paddle2_conv_bn_names, depth)
    w["head.fc.weight"], w["head.fc.bias"] = fc_weights(rng, 2048, num_classes)
    return w


def write_v15(folder: Path, weights: dict, archive: Path | None = None) -> Path:
    """The published layout: one LoDTensor file per persistable in a folder (optimizer state
    included), optionally packed as ``.tar.gz``."""
    from videozoo.convert.sources import tar_directory, write_fluid_dir

    write_fluid_dir(folder, {**weights, **momentum_state(weights)})
    return tar_directory(folder, archive) if archive else folder


def write_pdparams(path: Path, weights: dict) -> Path:
    """``paddle.save(layer.state_dict())``: a pickle of {structured name: ndarray} plus the
    structured -> parameter name table."""
    table = {name: f"param_{i}" for i, name in enumerate(weights)}
    with open(path, "wb") as fh:
        pickle.dump({**weights, "StructuredToParameterName@@": table}, fh, protocol=4)
    return path


# ----------------------------------------------------------------------------- comparing
def our_logits(checkpoint: Path, model: str, video: np.ndarray) -> np.ndarray:
    """Logits of the converted checkpoint on ``video`` ``[N, T, 3, H, W]`` (float32)."""
    import torch

    from videozoo.serialization.loading import load_checkpoint_model

    loaded = load_checkpoint_model(checkpoint, model)
    with torch.no_grad():
        return loaded.model({"video": torch.from_numpy(video.astype(np.float32))}).double().numpy()


def report(label: str, ours: np.ndarray, reference: np.ndarray, seconds: float) -> bool:
    error = relative_max_error(ours, reference)
    top5 = same_top_k(ours, reference, 5)
    ok = error <= 1e-4 and top5
    print(
        f"{label:<22} relative max error {error:.2e}  top-5 same: {top5}  "
        f"|ref| max {np.abs(reference).max():.3g}  ({seconds:.0f} s)  {'OK' if ok else 'FAIL'}",
        flush=True,
    )
    return ok


#: pair -> (format, model, weights maker, reference forward, frames T)
PADDLE_PAIRS = {
    "v1.5-tsn": ("paddle-v1.5", "tsn", lambda rng: v15_weights("tsn", rng), v15_tsn, 7),
    "v1.5-tsm": ("paddle-v1.5", "tsm", lambda rng: v15_weights("tsm", rng), v15_tsm, 8),
    "v1.5-stnet": ("paddle-v1.5", "stnet", lambda rng: v15_weights("stnet", rng), v15_stnet, 7),
    "2.x-tsn": ("paddlevideo", "tsn", paddle2_weights, paddle2_tsn, 3),
    "2.x-tsm": ("paddlevideo", "tsm", paddle2_weights, paddle2_tsm, 8),
}


def run_paddle(pair: str, batch: int, size: int, seed: int, workdir: Path) -> bool:
    from videozoo.convert import convert_weights

    fmt, model, make_weights, reference, frames = PADDLE_PAIRS[pair]
    rng = np.random.default_rng(seed)
    weights = make_weights(rng)
    if fmt == "paddle-v1.5":
        source = write_v15(workdir / f"{model}_kinetics", weights, workdir / f"{model}_kinetics.tar.gz")
    else:
        source = write_pdparams(workdir / f"{model.upper()}_k400.pdparams", weights)
    checkpoint = workdir / f"{pair}.pt"
    convert_weights(source, model, checkpoint, verbose=False)

    start = time.time()
    if model == "stnet":  # the reference's [N, seg, 15, H, W]; ours the same frames in order
        video = rng.standard_normal((batch, frames, 15, size, size)).astype(np.float32)
        ref = reference(weights, video)
        ours = our_logits(checkpoint, model, video.reshape(batch, frames * 5, 3, size, size))
    else:
        video = rng.standard_normal((batch, frames, 3, size, size)).astype(np.float32)
        ref = reference(weights, video)
        ours = our_logits(checkpoint, model, video)
    return report(f"{pair} (T={frames})", ours, ref, time.time() - start)


def compare(folder: Path, fmt: str, model: str, overrides: list[str] | None = None) -> bool:
    """Convert ``folder/weights.pth`` (``overrides``: the variant's ``--set`` items, e.g.
    ``model.depth=101``) and compare with the reference's ``logits.npy`` on ``input.npy``
    (written by the reference runner)."""
    from videozoo.convert import convert_weights

    checkpoint = folder / f"videozoo-{model}.pt"
    convert_weights(folder / "weights.pth", model, checkpoint, fmt=fmt, overrides=overrides, verbose=False)
    video = np.load(folder / "input.npy")
    start = time.time()
    ours = our_logits(checkpoint, model, video)
    return report(
        f"{fmt}-{model} (T={video.shape[1]})", ours, np.load(folder / "logits.npy"), time.time() - start
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    paddle = sub.add_parser("paddle", help="numpy references of the PaddleVideo graphs")
    paddle.add_argument("--pairs", nargs="+", default=list(PADDLE_PAIRS), choices=list(PADDLE_PAIRS))
    paddle.add_argument("--batch", type=int, default=2)
    paddle.add_argument("--size", type=int, default=224)
    paddle.add_argument("--seed", type=int, default=0)
    cmp = sub.add_parser("compare", help="a reference runner's output folder")
    cmp.add_argument("folder", type=Path)
    cmp.add_argument("--from", dest="fmt", required=True, choices=["mmaction2", "mit-tsm"])
    cmp.add_argument("--model", required=True, choices=["tsn", "tsm"])
    cmp.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="conversion overrides of the variant (e.g. model.depth=101)",
    )
    args = parser.parse_args(argv)

    if args.command == "compare":
        return 0 if compare(args.folder, args.fmt, args.model, args.overrides) else 1
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for pair in args.pairs:
            ok &= run_paddle(pair, args.batch, args.size, args.seed, Path(tmp))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
