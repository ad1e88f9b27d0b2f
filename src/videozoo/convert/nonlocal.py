"""Non-local weights: PaddleVideo v1.5 (C2D-R50, embedded Gaussian) and MMAction2 1.x (I3D-R50,
dot product) -> the ``nonlocal`` model.

PaddleVideo v1.5 ``nonlocal_kinetics.tar.gz`` (``fluid.io.save_persistables``; names from
``models/nonlocal_model/resnet_video.py``, ``resnet_helper.py``, ``nonlocal_helper.py``):

* ``conv1_weights`` ``[64, 3, 1, 7, 7]`` + BN ``bn_conv1_{scale,offset,mean,variance}``;
* blocks ``res{2..5}{a,b,...}_branch2{a,b,c}_weights`` + ``bn{2..5}{a,...}_branch2{a,b,c}_*``,
  shortcut ``res{s}a_branch1_weights`` + ``bn{s}a_branch1_*``;
* non-local ``nonlocal_conv{3,4}_{block}_{theta,phi,g,out}_{w,b}`` + ``..._bn_*``;
* ``pred_w`` ``[2048, 400]`` (fc, ``[in, out]``: transposed) and ``pred_b``. v1.5 dropout is
  ``downgrade_in_infer`` (x0.5 at inference), folded into ``pred_w``.
* Momentum's ``*_velocity_0``, ``learning_rate_0``, ... are optimizer state (ignored).

The converted model uses v1.5's test head (per-window softmax, ``model.head=window_softmax``),
mean/std 114.75/57.375 on 0..255 and test clips at k*N/10 (wrapping).

MMAction2 1.x ``i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb``
``.pth`` (``{"meta", "state_dict"}``; ``mmaction/models/backbones/resnet3d.py``, mmcv's
``NonLocal3d``): ``backbone.conv1.{conv,bn}``, ``backbone.layer{1..4}.{i}.conv{1,2,3}.{conv,bn}``,
``...downsample.{conv,bn}``, ``...non_local_block.{theta.conv, phi.0.conv, g.0.conv,
conv_out.conv, conv_out.bn}`` (phi/g: conv then max-pool; conv_out without bias) and
``cls_head.fc_cls``: renamed, values unchanged. Its embedded-Gaussian sibling has the same
names: convert it with ``--set model.nonlocal_mode=embedded_gaussian``; the plain I3D R50
(no ``non_local_block``) with ``--set model.nonlocal_blocks=false``.
"""

from __future__ import annotations

from videozoo.convert.mapping import Mapping, TensorMapper, register_mapping
from videozoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from videozoo.models.nonlocal_net import has_non_local
from videozoo.models.resnet import STAGE_BLOCKS

#: v1.5 trained with dropout 0.5 (``downgrade_in_infer``): its inference scales by 0.5
PADDLE_DROPOUT = 0.5

PADDLE_BN = (("scale", "weight"), ("offset", "bias"), ("mean", "running_mean"), ("variance", "running_var"))
TORCH_BN = ("weight", "bias", "running_mean", "running_var")


def shape_hint(target: str, file_shape, model_shape, model_width: int = 64) -> str:
    """The ``--set`` most likely to make ``model_shape`` equal ``file_shape`` (both in the
    model's layout); ``model_width``: the model's ``base_width``."""
    file_shape, model_shape = tuple(file_shape), tuple(model_shape)
    if target.startswith("classifier"):  # shapes in PyTorch layout: [classes(, features)]
        return f"--set model.num_classes={file_shape[0]} (the file's class count)"
    if (
        len(file_shape) == len(model_shape) == 5
        and file_shape[:2] == model_shape[:2]
        and file_shape[3:] == model_shape[3:]
    ):
        arch = "i3d" if file_shape[2] > model_shape[2] else "c2d"
        return (
            f"--set model.arch={arch} (the file has temporal kernel {file_shape[2]}, "
            f"the model {model_shape[2]})"
        )
    if file_shape and model_shape and file_shape[0] != model_shape[0]:
        width = model_width * file_shape[0] // model_shape[0]
        return f"--set model.base_width={width} or model.depth=... (the file's channel counts differ)"
    return "--set model.depth / model.arch to the file's network"


def copy_tensor(m: TensorMapper, src: str, target: str) -> None:
    """``m.copy`` with a shape hint that names the likely ``--set``."""
    hint = ""
    if m.has(src) and target in m.target:
        hint = shape_hint(
            target, m.source[src].shape, m.target[target].shape, m.target["backbone.conv1.weight"].shape[0]
        )
    m.copy(src, target, hint=hint)


def _blocks(cfg: dict):
    """(stage 1..4, block index) of the model's trunk, in order."""
    for stage, count in enumerate(STAGE_BLOCKS[cfg["model"]["depth"]], start=1):
        for block in range(count):
            yield stage, block


# ----------------------------------------------------------------------------- PaddleVideo v1.5
def _paddle_bn(m: TensorMapper, prefix: str, target: str) -> None:
    for suffix, field in PADDLE_BN:
        copy_tensor(m, f"{prefix}_{suffix}", f"{target}.{field}")


def convert_paddle(m: TensorMapper, cfg: dict) -> None:
    copy_tensor(m, "conv1_weights", "backbone.conv1.weight")
    _paddle_bn(m, "bn_conv1", "backbone.bn1")
    for stage, block in _blocks(cfg):
        name = f"{stage + 1}{chr(ord('a') + block)}"  # res2a, res2b, ...
        ours = f"backbone.layer{stage}.{block}"
        for branch, index in (("2a", 1), ("2b", 2), ("2c", 3)):
            copy_tensor(m, f"res{name}_branch{branch}_weights", f"{ours}.conv{index}.weight")
            _paddle_bn(m, f"bn{name}_branch{branch}", f"{ours}.bn{index}")
        if block == 0:
            copy_tensor(m, f"res{name}_branch1_weights", f"{ours}.downsample.0.weight")
            _paddle_bn(m, f"bn{name}_branch1", f"{ours}.downsample.1")
        if cfg["model"]["nonlocal_blocks"] and has_non_local(stage, block):
            prefix = f"nonlocal_conv{stage + 1}_{block}"
            after = f"backbone.layer{stage}.after{block}"
            for part in ("theta", "phi", "g", "out"):
                copy_tensor(m, f"{prefix}_{part}_w", f"{after}.{part}.weight")
                copy_tensor(m, f"{prefix}_{part}_b", f"{after}.{part}.bias")
            _paddle_bn(m, f"{prefix}_bn", f"{after}.bn")
    weight = m.get("pred_w")
    if weight.ndim == 5:  # saved after load_test_weights: [out, in, 1, 1, 1], a 1x1x1 conv
        weight, how = weight.reshape(weight.shape[:2]), "1x1x1 conv -> linear"
    else:  # fc: [in, out]
        weight, how = weight.T, "transposed"
    m.put(
        "classifier.weight",
        weight * (1 - PADDLE_DROPOUT),
        src="pred_w",
        how=f"{how}, dropout-folded x{1 - PADDLE_DROPOUT:g}",
        hint=shape_hint("classifier.weight", weight.shape, m.target["classifier.weight"].shape),
    )
    copy_tensor(m, "pred_b", "classifier.bias")


register_mapping(
    Mapping(
        source="paddle-v1.5",
        model="nonlocal",
        signature=("nonlocal_conv3_1_theta_w", "pred_w"),
        convert=convert_paddle,
        config={
            "model": {
                "arch": "c2d",
                "stem_pool_padding": 0,
                "nonlocal_mode": "embedded_gaussian",
                "nonlocal_pool": "before_conv",
                "nonlocal_scale": True,
                "nonlocal_out_bias": True,
                "head": "window_softmax",
                "head_window": 7,
                "dropout": 0.5,
            },
            "data": {
                "sampling": "dense",
                "clip_len": 8,
                "frame_interval": 8,
                "short_side": 256,
                "short_side_range": [256, 320],
                "crop_size": 224,
                "test_crop_size": 256,
                "test_crops": 3,
                "test_num_clips": 10,
                "test_clip_positions": "wrap",
                "mean": [0.45, 0.45, 0.45],
                "std": [0.225, 0.225, 0.225],
            },
        },
        description="PaddleVideo v1.5 Non-local: C2D ResNet-50 + 5 embedded-Gaussian blocks, "
        "8x8 clips, Kinetics-400",
    )
)


# ----------------------------------------------------------------------------- MMAction2 1.x
def _torch_bn(m: TensorMapper, prefix: str, target: str) -> None:
    for field in TORCH_BN:
        copy_tensor(m, f"{prefix}.{field}", f"{target}.{field}")
    if m.has(f"{prefix}.num_batches_tracked"):
        copy_tensor(m, f"{prefix}.num_batches_tracked", f"{target}.num_batches_tracked")


def convert_mmaction2(m: TensorMapper, cfg: dict) -> None:
    copy_tensor(m, "backbone.conv1.conv.weight", "backbone.conv1.weight")
    _torch_bn(m, "backbone.conv1.bn", "backbone.bn1")
    for stage, block in _blocks(cfg):
        theirs, ours = f"backbone.layer{stage}.{block}", f"backbone.layer{stage}.{block}"
        for index in (1, 2, 3):
            copy_tensor(m, f"{theirs}.conv{index}.conv.weight", f"{ours}.conv{index}.weight")
            _torch_bn(m, f"{theirs}.conv{index}.bn", f"{ours}.bn{index}")
        if block == 0:
            copy_tensor(m, f"{theirs}.downsample.conv.weight", f"{ours}.downsample.0.weight")
            _torch_bn(m, f"{theirs}.downsample.bn", f"{ours}.downsample.1")
        if cfg["model"]["nonlocal_blocks"] and has_non_local(stage, block):
            nl, after = f"{theirs}.non_local_block", f"backbone.layer{stage}.after{block}"
            for part, theirs_part in (("theta", "theta.conv"), ("phi", "phi.0.conv"), ("g", "g.0.conv")):
                copy_tensor(m, f"{nl}.{theirs_part}.weight", f"{after}.{part}.weight")
                copy_tensor(m, f"{nl}.{theirs_part}.bias", f"{after}.{part}.bias")
            copy_tensor(m, f"{nl}.conv_out.conv.weight", f"{after}.out.weight")
            _torch_bn(m, f"{nl}.conv_out.bn", f"{after}.bn")
    copy_tensor(m, "cls_head.fc_cls.weight", "classifier.weight")
    copy_tensor(m, "cls_head.fc_cls.bias", "classifier.bias")


register_mapping(
    Mapping(
        source="mmaction2",
        model="nonlocal",
        signature=(r"backbone\.conv1\.conv\.weight", r"cls_head\.fc_cls\.weight"),
        ndim={r"backbone\.conv1\.conv\.weight": 5},  # a 3D trunk (TSN / TSM files: 4-D)
        convert=convert_mmaction2,
        config={
            "model": {
                "arch": "i3d",
                "stem_temporal_stride": 2,
                "stem_pool_temporal_stride": 2,
                "stem_pool_padding": 1,
                "nonlocal_mode": "dot_product",
                "nonlocal_pool": "after_conv",
                "nonlocal_scale": False,
                "nonlocal_out_bias": False,
                "head": "average",
                "dropout": 0.5,
            },
            "data": {
                "sampling": "dense",
                "clip_len": 32,
                "frame_interval": 2,
                "short_side": 256,
                "short_side_range": None,
                "crop_size": 224,
                "multi_scale_crop": True,
                "scales": [1.0, 0.8],
                "test_crop_size": 256,
                "test_crops": 3,
                "test_num_clips": 10,
                "test_clip_positions": "spread",
                "mean": list(IMAGENET_MEAN),
                "std": list(IMAGENET_STD),
            },
        },
        description="MMAction2 1.x I3D ResNet-50 non-local (dot product), 32x2x1 clips, Kinetics-400",
    )
)
