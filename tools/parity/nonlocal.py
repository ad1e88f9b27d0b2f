"""Parity of converted Non-local weights with their reference implementations (full size).

paddle (PaddleVideo v1.5, no Paddle needed)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python tools/parity/nonlocal.py paddle

makes random C2D-ResNet-50 Non-local weights in v1.5's names and layouts (with Momentum's
``*_velocity_0`` accumulators and the learning-rate variables a ``save_persistables`` folder
holds), writes them as a fluid folder packed as ``.tar.gz``, converts that with
``videozoo convert``, and compares the converted model with ``paddle_forward``: a float64 numpy
rebuild of v1.5's inference graph (``models/nonlocal_model/resnet_video.py``,
``resnet_helper.py``, ``nonlocal_helper.py``) that reads the weights as the file stores them.
Two checks: the valid graph's logits on 8x224x224 clips (fc head; ours with the average head,
which equals the window head's single 7x7 window there), and the test graph's scores on an
8x256x256 clip (per-window softmax over the 2x2 map, averaged; ours: softmax of the
``window_softmax`` head's output).

mmaction2 (MMAction2 1.2.0, real code; two steps in two environments)::

    # 1. a throwaway venv under /tmp (see tools/parity/mmaction2_nonlocal_reference.py)
    /tmp/mmaction-venv/bin/python tools/parity/mmaction2_nonlocal_reference.py /tmp/nl-mma
    # 2. here
    OMP_NUM_THREADS=1 PYTHONPATH=src python tools/parity/nonlocal.py mmaction2 /tmp/nl-mma

step 1 builds the I3D-NL dot-product recognizer from the repo's config with random weights,
saves ``i3d_nl_dot_product.pth`` ({"meta", "state_dict"}) and its logits on fixed 32x2 clips
(224 and 256); step 2 converts the .pth and compares our logits on the same input.

Both print ``relative max error = max|ours - ref| / max|ref|`` and whether every row has the
same top-5 classes; the target is <= 1e-4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy_ops as ops  # noqa: E402

#: blocks per stage (res2..res5) of v1.5's ResNet-50
PADDLE_BLOCKS = (3, 4, 6, 3)
BN_EPS = 1e-5


# ----------------------------------------------------------------------------- v1.5 weights
def paddle_weight_shapes(num_classes: int = 400, width: int = 64) -> dict[str, tuple]:
    """Every parameter of v1.5's C2D ResNet-50 Non-local (``arc_type`` 1), name -> shape, in
    the order ``resnet_video.create_model`` creates them. ``width`` < 64 shrinks the channels
    (a test-size model with the real names)."""
    shapes: dict[str, tuple] = {}

    def conv_bn(prefix, c_in, c_out, kernel):
        shapes[f"{prefix}_weights"] = (c_out, c_in, *kernel)
        bn = "bn" + prefix[3:] if prefix != "conv1" else "bn_conv1"
        for suffix in ("scale", "offset", "mean", "variance"):
            shapes[f"{bn}_{suffix}"] = (c_out,)

    conv_bn("conv1", 3, width, (1, 7, 7))
    c_in = width
    for stage, blocks in enumerate(PADDLE_BLOCKS, start=2):
        inner, c_out = width * 2 ** (stage - 2), width * 4 * 2 ** (stage - 2)
        for idx in range(blocks):
            prefix = f"res{stage}{chr(97 + idx)}"
            conv_bn(f"{prefix}_branch2a", c_in, inner, (1, 1, 1))
            conv_bn(f"{prefix}_branch2b", inner, inner, (1, 3, 3))
            conv_bn(f"{prefix}_branch2c", inner, c_out, (1, 1, 1))
            if idx == 0:
                conv_bn(f"{prefix}_branch1", c_in, c_out, (1, 1, 1))
            c_in = c_out
            if stage in (3, 4) and idx % 2 == 1:
                nl = f"nonlocal_conv{stage}_{idx}"
                for part in ("theta", "phi", "g"):
                    shapes[f"{nl}_{part}_w"] = (c_out // 2, c_out, 1, 1, 1)
                    shapes[f"{nl}_{part}_b"] = (c_out // 2,)
                shapes[f"{nl}_out_w"] = (c_out, c_out // 2, 1, 1, 1)
                shapes[f"{nl}_out_b"] = (c_out,)
                for suffix in ("scale", "offset", "mean", "variance"):
                    shapes[f"{nl}_bn_{suffix}"] = (c_out,)
    shapes["pred_w"] = (c_in, num_classes)
    shapes["pred_b"] = (num_classes,)
    return shapes


def random_weights(shapes: dict[str, tuple], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-normal convs (g and the output conv too), theta/phi at 0.5/sqrt(fan_in) (attention
    that is not one-hot), BN scales and variances ~U(0.5, 1.5), small offsets and means,
    non-zero non-local BN gammas (so the blocks change the output). Calibrate the BN
    statistics and the fc scale with ``paddle_forward(..., calibrate=True)`` to keep the
    activations and logits in a trained network's range."""
    out = {}
    for name, shape in shapes.items():
        if name.endswith(("_scale", "_variance")):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("_offset", "_mean", "_b")):
            value = rng.normal(0.0, 0.1, shape)
        elif name == "pred_w":
            value = rng.normal(0.0, 0.01, shape)
        else:  # conv weights [out, in, kt, kh, kw]
            fan_in = int(np.prod(shape[1:]))
            gain = 0.25 if name.endswith(("_theta_w", "_phi_w")) else 2.0
            value = rng.normal(0.0, np.sqrt(gain / fan_in), shape)
        out[name] = value.astype(np.float32)
    return out


def optimizer_state(weights: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What ``save_persistables`` also writes for v1.5's Momentum optimizer: a velocity per
    trainable parameter (not for BN running statistics) and the learning-rate variables."""
    state = {
        f"{name}_velocity_0": rng.normal(0, 1e-3, w.shape).astype(np.float32)
        for name, w in weights.items()
        if not name.endswith(("_mean", "_variance"))
    }
    state["learning_rate_0"] = np.array([0.01], dtype=np.float32)
    state["@LR_DECAY_COUNTER@"] = np.array([400000], dtype=np.int64)
    return state


# ----------------------------------------------------------------------------- v1.5 graph
def _bn(x, w, bn, calibrate):
    """Inference BN with ``bn``'s statistics; ``calibrate`` first sets them to x's own (as
    training leaves them), so that random weights keep activations in a trained range. The
    variance is floored at a tenth of the layer's mean square: a random non-local block's
    output can be nearly constant over positions, and dividing by its tiny spread would
    blow up rounding noise (no trained network does that)."""
    if calibrate:
        axes = (0, 2, 3, 4)
        floor = 0.1 * (x**2).mean()
        w[f"{bn}_mean"] = x.mean(axis=axes).astype(np.float32)
        w[f"{bn}_variance"] = np.maximum(x.var(axis=axes), floor).astype(np.float32)
    return ops.batch_norm(
        x, w[f"{bn}_scale"], w[f"{bn}_offset"], w[f"{bn}_mean"], w[f"{bn}_variance"], eps=BN_EPS
    )


def _conv_bn(x, w, prefix, stride, padding, calibrate, relu=True):
    """``resnet_helper.Conv3dBN``: bias-free conv3d, then BN named ``bn`` + prefix[3:]."""
    y = ops.conv(x, w[f"{prefix}_weights"], stride=stride, padding=padding)
    y = _bn(y, w, "bn" + prefix[3:] if prefix != "conv1" else "bn_conv1", calibrate)
    return ops.relu(y) if relu else y


def _bottleneck(x, w, prefix, c_out, stride, calibrate):
    """``_generic_residual_block_3d`` with ``bottleneck_transformation_3d`` (C2D: no temporal
    kernels, temporal strides 1)."""
    y = _conv_bn(x, w, f"{prefix}_branch2a", (1, 1, 1), (0, 0, 0), calibrate)
    y = _conv_bn(y, w, f"{prefix}_branch2b", (1, stride, stride), (0, 1, 1), calibrate)
    y = _conv_bn(y, w, f"{prefix}_branch2c", (1, 1, 1), (0, 0, 0), calibrate, relu=False)
    if x.shape[1] != c_out or stride != 1:
        x = _conv_bn(x, w, f"{prefix}_branch1", (1, stride, stride), (0, 0, 0), calibrate, relu=False)
    return ops.relu(y + x)


def _non_local(x, w, prefix, calibrate):
    """``nonlocal_helper.spacetime_nonlocal`` + ``add_nonlocal``: theta on x; phi, g on x
    max-pooled (1,2,2); softmax(theta^T phi / sqrt(C')); out conv; BN; residual add."""
    n, c = x.shape[:2]
    inner = c // 2
    theta = ops.conv(x, w[f"{prefix}_theta_w"], w[f"{prefix}_theta_b"])
    pooled = ops.max_pool(x, (1, 2, 2), (1, 2, 2))
    phi = ops.conv(pooled, w[f"{prefix}_phi_w"], w[f"{prefix}_phi_b"])
    g = ops.conv(pooled, w[f"{prefix}_g_w"], w[f"{prefix}_g_b"])
    theta_t = theta.reshape(n, inner, -1).transpose(0, 2, 1)  # [N, P, C']
    affinity = ops.softmax(theta_t @ phi.reshape(n, inner, -1) * inner**-0.5, axis=-1)
    y = (g.reshape(n, inner, -1) @ affinity.transpose(0, 2, 1)).reshape(theta.shape)
    y = ops.conv(y, w[f"{prefix}_out_w"], w[f"{prefix}_out_b"])
    return _bn(y, w, f"{prefix}_bn", calibrate) + x


def paddle_forward(
    w: dict[str, np.ndarray], clip: np.ndarray, test_head: bool, calibrate: bool = False
) -> np.ndarray:
    """v1.5's inference graph on ``clip`` ``[N, 3, T, H, W]`` (normalised).

    ``test_head=False``: the valid graph's fc logits ``[N, classes]``; True: the test graph's
    scores (1x1x1 conv on the pooled map, softmax per position, mean over positions).
    ``calibrate``: set every BN's statistics in ``w`` from this clip on the way, and scale
    ``pred_w`` so that its logits have a standard deviation of 2."""
    x = _conv_bn(clip, w, "conv1", (1, 2, 2), (0, 3, 3), calibrate)
    x = ops.max_pool(x, (1, 3, 3), (1, 2, 2), 0)  # pool1: no padding
    for stage, blocks in enumerate(PADDLE_BLOCKS, start=2):
        c_out = w[f"res{stage}a_branch2c_weights"].shape[0]
        for idx in range(blocks):
            x = _bottleneck(
                x, w, f"res{stage}{chr(97 + idx)}", c_out, 2 if idx == 0 and stage > 2 else 1, calibrate
            )
            if stage in (3, 4) and idx % 2 == 1:  # layer_mod 2
                x = _non_local(x, w, f"nonlocal_conv{stage}_{idx}", calibrate)
        if stage == 2:
            x = ops.max_pool(x, (2, 1, 1), (2, 1, 1))  # pool2
    pool_stride = clip.shape[2] // 2  # int(video_length / 2)
    x = ops.avg_pool(x, (pool_stride, 7, 7), 1)  # pool5
    x = x * (1 - 0.5)  # dropout, downgrade_in_infer
    if calibrate:  # logits spread over a few units, as a trained classifier's
        logits = ops.linear(x.reshape(x.shape[0], -1), w["pred_w"], w_in_out=True)
        w["pred_w"] = (w["pred_w"] * (2.0 / logits.std())).astype(np.float32)
    if not test_head:
        return ops.linear(x.reshape(x.shape[0], -1), w["pred_w"], w["pred_b"], w_in_out=True)
    pred = ops.conv(x, ops.as64(w["pred_w"]).T[:, :, None, None, None], w["pred_b"])
    scores = ops.softmax(pred.transpose(0, 2, 3, 4, 1), axis=-1)  # pred_tr, softmax_conv
    return scores.mean(axis=(1, 2, 3))


def paddle_clip(rng: np.random.Generator, n: int, frames: int, size: int) -> np.ndarray:
    """Random RGB frames normalised as v1.5 does: (x - 114.75) / 57.375; ``[N, 3, T, H, W]``."""
    pixels = rng.integers(0, 256, (n, 3, frames, size, size)).astype(np.float64)
    return (pixels - 114.75) / 57.375


# ----------------------------------------------------------------------------- comparison
def compare(label: str, ours, reference) -> tuple[float, bool]:
    error = ops.relative_max_error(ours, reference)
    same = ops.same_top_k(ours, reference, 5)
    print(
        f"{label}: relative max error {error:.2e}, same top-5: {same} "
        f"(reference range {np.min(reference):.4g} .. {np.max(reference):.4g})"
    )
    return error, same


def run_ours(
    checkpoint: Path, clip_ncthw: np.ndarray, head: str | None = None, float64: bool = False
) -> np.ndarray:
    """Our converted model on the clip (``[N, 3, T, H, W]`` -> ``[N, T, 3, H, W]``)."""
    import torch

    from videozoo.serialization.loading import load_checkpoint_model

    model = load_checkpoint_model(checkpoint, "nonlocal").model
    if head is not None:
        model.head = head
    dtype = torch.float64 if float64 else torch.float32
    video = torch.from_numpy(np.ascontiguousarray(clip_ncthw.transpose(0, 2, 1, 3, 4)))
    with torch.no_grad():
        return model.to(dtype)({"video": video.to(dtype)}).double().numpy()


def check_paddle(
    workdir: Path, width: int = 64, num_classes: int = 400, seed: int = 0, batch: int = 2, quiet: bool = False
) -> dict[str, tuple[float, bool]]:
    """Write, convert and compare (see the module docstring); returns {check: (error, top5)}."""
    from videozoo.convert import convert_weights
    from videozoo.convert.sources import tar_directory, write_fluid_dir

    rng = np.random.default_rng(seed)
    weights = random_weights(paddle_weight_shapes(num_classes, width), rng)
    paddle_forward(weights, paddle_clip(rng, 2, 8, 224), test_head=False, calibrate=True)
    folder = write_fluid_dir(workdir / "nonlocal_kinetics", {**weights, **optimizer_state(weights, rng)})
    archive = tar_directory(folder, workdir / "nonlocal_kinetics.tar.gz")
    checkpoint = workdir / "nonlocal_v15.pt"
    overrides = [f"model.base_width={width}", f"model.num_classes={num_classes}"]
    convert_weights(archive, "nonlocal", checkpoint, overrides=overrides, verbose=not quiet)
    results = {}
    clip = paddle_clip(rng, batch, 8, 224)
    results["valid graph, 8x224 logits"] = compare(
        "valid graph, 8x224 logits",
        run_ours(checkpoint, clip, head="average"),
        paddle_forward(weights, clip, test_head=False),
    )
    clip = paddle_clip(rng, 1, 8, 256)
    results["test graph, 8x256 scores"] = compare(
        "test graph, 8x256 scores (2x2 windows)",
        np.exp(run_ours(checkpoint, clip)),
        paddle_forward(weights, clip, test_head=True),
    )
    return results


def check_mmaction2(folder: Path, overrides: list[str] | None = None) -> dict[str, tuple[float, bool]]:
    """Convert step 1's .pth (``overrides``: the table entry's ``--set`` items, e.g.
    ``model.nonlocal_blocks=false`` for the plain I3D) and compare with its saved logits."""
    from videozoo.convert import convert_weights

    checkpoint = folder / "nonlocal_mmaction2.pt"
    convert_weights(
        folder / "i3d_nl_dot_product.pth", "nonlocal", checkpoint, overrides=overrides, verbose=False
    )
    results = {}
    for size in (224, 256):
        data = np.load(folder / f"clip{size}.npz")
        label = f"I3D {' '.join(overrides or []) or 'NL dot product'}, 32x{size} logits"
        results[label] = compare(label, run_ours(checkpoint, data["inputs"]), data["logits"])
        if "logits64" in data:  # both graphs in float64: float32 rounding taken out
            compare(
                label + " (float64)", run_ours(checkpoint, data["inputs"], float64=True), data["logits64"]
            )
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="source", required=True)
    paddle = sub.add_parser("paddle", help="PaddleVideo v1.5 against the numpy reference")
    paddle.add_argument("--width", type=int, default=64, help="base width (64: full size)")
    paddle.add_argument("--workdir", type=Path, default=None)
    mma = sub.add_parser("mmaction2", help="MMAction2 against step 1's saved logits")
    mma.add_argument("folder", type=Path)
    mma.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="conversion overrides of the variant (e.g. model.nonlocal_blocks=false)",
    )
    args = parser.parse_args(argv)
    if args.source == "paddle":
        with tempfile.TemporaryDirectory() as tmp:
            results = check_paddle(args.workdir or Path(tmp), args.width, quiet=True)
    else:
        results = check_mmaction2(args.folder, args.overrides)
    ok = all(error <= 1e-4 and same for error, same in results.values())
    print("PASS" if ok else "FAIL", "(target: relative max error <= 1e-4, same top-5)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
