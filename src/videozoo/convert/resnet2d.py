"""Converters for the 2D-ResNet video models (TSN, TSM, StNet) from every zoo that publishes them.

Pairs (``--from`` -> ``--model``): ``paddle-v1.5`` -> tsn, tsm, stnet; ``paddlevideo`` (2.x)
-> tsn, tsm; ``mmaction2`` -> tsn, tsm; ``mit-tsm`` -> tsn, tsm.

The trunk is the same ResNet in every zoo; only the names differ (``ours`` is relative to
``backbone.``, S = stage 1..4, B = block 0.., K = conv 1..3):

==========================  ====================================  =========================  ==========
ours                        PaddleVideo v1.5 / 2.x                MMAction2                  MIT
==========================  ====================================  =========================  ==========
conv1 / bn1                 conv1_weights, bn_conv1_* /           conv1.conv / conv1.bn      conv1, bn1
                            conv._conv, conv._batch_norm
layerS.B.convK / bnK        res{S+1}{a,b,..}_branch2{a,b,c}_* /   layerS.B.convK.conv / .bn  as ours
                            res{S+1}{..}.conv{K-1}._conv / ...
layerS.B.downsample.0 / .1  res{S+1}a_branch1_* / ...short.*      downsample.conv / .bn      as ours
==========================  ====================================  =========================  ==========

(ResNet-101 names res4's blocks ``res4a, res4b1 .. res4b22`` in Paddle.) MMAction2's and MIT's
shifted convs are wrapped (``conv1.conv.net.weight`` / ``conv1.net.weight``). BatchNorm
statistics are ``_mean/_variance`` (Paddle) or ``running_mean/var``; unnamed fluid BNs are
``batch_norm_<n>.w_0`` (scale), ``.b_0`` (offset), ``.w_1`` (mean), ``.w_2`` (variance).

What else the sources need, besides renaming:

* Paddle stores fc weights ``[in, out]``: transposed.
* v1.5 TSM: fluid's dropout scales by ``1 - p`` = 0.5 at inference ("downgrade_in_infer");
  ours is the identity there, so the fc weight is multiplied by 0.5. (2.x, MMAction2 and MIT
  scale in training: nothing to fold.)
* TSM's shift direction: ``previous_first`` (Paddle), ``next_first`` (MMAction2, MIT); which
  blocks are shifted (MIT and MMAction2 shift every other block from ResNet-101 on) is read
  from the file and must match ``model.shift_every``.
* StNet (v1.5 only): temporal blocks ``conv3d_0`` (after res3) and ``conv3d_1`` (after res4),
  ``[C, C, 3, 1, 1]`` -> our ``[C, C, 3, 1]``, with the unnamed BNs numbered by their place
  among all ``batch_norm`` calls (24 and 44 in ResNet-50); the Xception head's ``[C, 1|C, k,
  1]`` convs -> our Conv1d ``[C, 1|C, k]``.

Each mapping's ``config`` carries the architecture options and the preprocessing the source
used (resize rule, mean/std, segments, test sampling and crops), so ``videozoo eval`` and
``predict`` on the converted checkpoint see what the source saw.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np

from videozoo.convert.mapping import Mapping, TensorMapper, register_mapping
from videozoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from videozoo.errors import ConvertError
from videozoo.models.resnet import STAGE_BLOCKS

log = logging.getLogger("videozoo")

#: one trunk tensor of ours: backbone.conv1.weight, backbone.layer2.0.downsample.1.bias, ...
_TRUNK_KEY = re.compile(
    r"backbone\.(?:(conv1|bn1)|layer([1-4])\.(\d+)\.(conv\d|bn\d|downsample\.[01]))"
    r"\.(weight|bias|running_mean|running_var)"
)

#: names a source gives a trunk tensor: (stage 0 = stem | 1..4, block, our part, our param)
SourceName = Callable[[int, int, str, str], str]

_FLUID_BN = {"weight": "scale", "bias": "offset", "running_mean": "mean", "running_var": "variance"}
_PADDLE_BN = {"weight": "weight", "bias": "bias", "running_mean": "_mean", "running_var": "_variance"}
_AUTO_BN = {"weight": "w_0", "bias": "b_0", "running_mean": "w_1", "running_var": "w_2"}
_BN_PARAMS = tuple(_AUTO_BN)

IMAGENET = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


# ----------------------------------------------------------------------------- source names
def paddle_block(stage: int, block: int, depth: int) -> str:
    """PaddleVideo's block name: res2a, res2b, ..., and res4a, res4b1, res4b2 in ResNet-101."""
    if depth >= 101 and stage == 3:
        return "res4a" if block == 0 else f"res4b{block}"
    return f"res{stage + 1}{chr(ord('a') + block)}"


def _is_conv(part: str) -> bool:
    return part.startswith("conv") or part == "downsample.0"


def _paddle_branch(part: str) -> str:
    """conv2/bn2 -> branch2b, downsample.* -> branch1."""
    return "branch1" if part.startswith("downsample") else "branch2" + "abc"[int(part[-1]) - 1]


def fluid_names(depth: int) -> SourceName:
    """PaddleVideo v1.5 (explicit ParamAttr names)."""

    def name(stage, block, part, param):
        if stage == 0:
            return "conv1_weights" if part == "conv1" else f"bn_conv1_{_FLUID_BN[param]}"
        layer = f"{paddle_block(stage, block, depth)}_{_paddle_branch(part)}"
        return f"{layer}_weights" if _is_conv(part) else f"bn{layer[3:]}_{_FLUID_BN[param]}"

    return name


def paddle2_names(depth: int) -> SourceName:
    """PaddleVideo 2.x (structured names of ``ResNet`` / ``ResNetTSM`` under ``backbone``)."""

    def name(stage, block, part, param):
        if stage == 0:
            layer = "backbone.conv"
        else:
            sub = "short" if part.startswith("downsample") else f"conv{int(part[-1]) - 1}"
            layer = f"backbone.{paddle_block(stage, block, depth)}.{sub}"
        return f"{layer}._conv.weight" if _is_conv(part) else f"{layer}._batch_norm.{_PADDLE_BN[param]}"

    return name


def mmaction_names(
    shifted: set[tuple[int, int]], wrapped: Collection[tuple[int, int]] = frozenset()
) -> SourceName:
    """MMAction2 (mmcv ConvModules: ``.conv`` / ``.bn``; shifted ones ``.conv.net``; blocks
    followed by a non-local block (``wrapped``) sit under ``.block``)."""

    def name(stage, block, part, param):
        prefix = f"backbone.layer{stage}.{block}" + (".block" if (stage, block) in wrapped else "")
        if stage == 0:
            layer = "backbone.conv1"
        elif part.startswith("downsample"):
            layer = f"{prefix}.downsample"
        else:
            layer = f"{prefix}.conv{part[-1]}"
        if not _is_conv(part):
            return f"{layer}.bn.{param}"
        shift = part == "conv1" and (stage, block) in shifted
        return f"{layer}.conv.net.weight" if shift else f"{layer}.conv.weight"

    return name


def mit_names(
    prefix: str, shifted: set[tuple[int, int]], wrapped: Collection[tuple[int, int]] = frozenset()
) -> SourceName:
    """MIT temporal-shift-module (torchvision names under ``[module.]base_model.``; blocks
    followed by a non-local block (``wrapped``) sit under ``.block``)."""

    def name(stage, block, part, param):
        if stage == 0:
            return f"{prefix}{part}.{param}"
        net = ".net" if part == "conv1" and (stage, block) in shifted else ""
        inner = ".block" if (stage, block) in wrapped else ""
        return f"{prefix}layer{stage}.{block}{inner}.{part}{net}.{param}"

    return name


# ----------------------------------------------------------------------------- trunk checks
def _file_depth(m: TensorMapper, block_pattern: str, bottleneck_pattern: str) -> int:
    """The ResNet depth of the file, from its block names; ``block_pattern`` captures (stage
    number, block id) of each block's first conv."""
    blocks: dict[int, set[str]] = {}
    for match in m.matches(block_pattern):
        stage, block = match.groups()
        blocks.setdefault(int(stage), set()).add(block)
    counts = tuple(len(blocks[stage]) for stage in sorted(blocks))
    bottleneck = bool(m.names(bottleneck_pattern))
    for depth, layout in STAGE_BLOCKS.items():
        if layout == counts and (depth >= 50) == bottleneck:
            return depth
    raise ConvertError(
        f"{m.label}: the file's ResNet trunk has {list(counts)} blocks per stage, "
        f"which is no depth videozoo builds ({', '.join(map(str, STAGE_BLOCKS))})"
    )


def _check_depth(m: TensorMapper, cfg: dict, depth: int, extra: str = "") -> None:
    if cfg["model"]["depth"] != depth:
        raise ConvertError(
            f"{m.label}: the file holds a ResNet-{depth} trunk, the model is "
            f"ResNet-{cfg['model']['depth']}; likely fix: --set model.depth={depth}" + extra
        )


def _check_shifted_blocks(m: TensorMapper, cfg: dict, shifted: set[tuple[int, int]]) -> None:
    """The file's shifted blocks must be the model's (every ``shift_every``-th of a stage)."""
    layout = STAGE_BLOCKS[cfg["model"]["depth"]]
    for every in (cfg["model"]["shift_every"], 1, 2):
        ours = {(s, b) for s in (1, 2, 3, 4) for b in range(layout[s - 1]) if b % every == 0}
        if ours == shifted:
            if every != cfg["model"]["shift_every"]:
                raise ConvertError(
                    f"{m.label}: the file shifts every {every} block(s) of a stage, "
                    f"the model every {cfg['model']['shift_every']}; likely fix: "
                    f"--set model.shift_every={every}"
                )
            return
    raise ConvertError(
        f"{m.label}: the file shifts blocks {sorted(shifted)[:6]}..., a pattern "
        "videozoo's TSM cannot place (model.shift_every shifts every k-th block)"
    )


def map_trunk(m: TensorMapper, source_name: SourceName, stem_hint: str = "") -> None:
    """Copy every trunk tensor of the model from the source's name for it."""
    for target in m.target:
        match = _TRUNK_KEY.fullmatch(target)
        if match is None:
            continue
        stem, stage, block, part, param = match.groups()
        if stem:
            name = source_name(0, 0, stem, param)
        else:
            name = source_name(int(stage), int(block), part, param)
        m.copy(name, target, hint=stem_hint if stem else "")


def ignore_bn_counters(m: TensorMapper) -> None:
    m.ignore(m.names(r"num_batches_tracked$"), "BatchNorm update counter (not used at inference)")


# ----------------------------------------------------------------------------- heads
def put_classifier(
    m: TensorMapper, weight: str, bias: str, *, in_out: bool, dropout_fold: float = 1.0
) -> None:
    """The final fc -> ``classifier``; ``in_out``: stored ``[in, out]`` (Paddle)."""
    array = m.get(weight)
    how = []
    if in_out:
        array = array.T
        how.append("transposed [in, out] -> [out, in]")
    if dropout_fold != 1.0:
        array = array * np.float32(dropout_fold)
        how.append(f"x{dropout_fold:g}: fluid dropout scales by (1 - p) at inference")
    hint = f"--set model.num_classes={array.shape[0]} (the file's class count)"
    m.put("classifier.weight", array, src=weight, how=", ".join(how), hint=hint)
    m.put("classifier.bias", m.get(bias).reshape(-1), src=bias, hint=hint)


def _drop_unit_dims(array: np.ndarray, ndim: int) -> np.ndarray:
    """Trailing size-1 dims removed down to ``ndim`` dims ([C, C, 3, 1, 1] -> [C, C, 3, 1])."""
    while array.ndim > ndim and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def put_squeezed(m: TensorMapper, target: str, name: str) -> None:
    array = m.get(name)
    ndim = len(m.target[target].shape)
    squeezed = _drop_unit_dims(array, ndim)
    how = (
        f"{'x'.join(map(str, array.shape))} -> {'x'.join(map(str, squeezed.shape))}"
        if squeezed.shape != array.shape
        else ""
    )
    m.put(target, squeezed, src=name, how=how)


def put_fluid_bn(m: TensorMapper, layer: str, target: str) -> None:
    """An unnamed / name= fluid batch_norm (``<layer>.w_0`` ...) -> our BatchNorm ``target``."""
    for param, suffix in _AUTO_BN.items():
        m.copy(f"{layer}.{suffix}", f"{target}.{param}")


def stnet_batch_norm_numbers(depth: int) -> tuple[int, int]:
    """Numbers of StNet's unnamed temporal-block BNs (after res3 and res4) in v1.5.

    Every ``batch_norm`` call takes the next number, named or not: the stem's, 3 per block
    (branch2a/b/c), 1 per downsample (first block of each stage), in building order.
    """
    layout = STAGE_BLOCKS[depth]
    after_res3 = 1 + sum(3 * n + 1 for n in layout[:2])
    after_res4 = after_res3 + 1 + 3 * layout[2] + 1
    return after_res3, after_res4


_XCEPTION = (
    ("bn_in", "xception_bn"),
    ("depthwise1", "xception_att_conv"),
    ("pointwise1", "xception_att_2"),
    ("bn_mid", "xception_bndw"),
    ("depthwise2", "xception_att1"),
    ("pointwise2", "xception_att1_2"),
    ("shortcut", "xception_dw"),
    ("bn_out", "xception_bn2"),
)


# ----------------------------------------------------------------------------- converters
def _warn_if_named_for(m: TensorMapper, model: str, other: str) -> None:
    """Paddle's TSN and TSM files hold the same tensor names (the shift has no weights):
    only the published file name (tsm_kinetics.tar.gz, TSM_k400.pdparams) tells them apart."""
    name = Path(m.label.rsplit(" (", 1)[0]).name.lower()

    def said(word: str) -> bool:
        return re.search(rf"(^|[^a-z]){word}([^a-z]|$)", name) is not None

    if said(other) and not said(model):
        log.warning(
            "%s: the file name says '%s' but it is converted as '%s' (Paddle's TSN and TSM "
            "files hold the same tensors); use --model %s if it is a %s checkpoint",
            m.label,
            other,
            model,
            other,
            other.upper(),
        )


def _fluid_trunk(m: TensorMapper, cfg: dict, stem_hint: str = "") -> None:
    depth = _file_depth(m, r"res([2-5])([a-z]\d*)_branch2a_weights", r"_branch2c_weights$")
    _check_depth(m, cfg, depth)
    map_trunk(m, fluid_names(depth), stem_hint)


def convert_fluid_tsn(m: TensorMapper, cfg: dict) -> None:
    _warn_if_named_for(m, "tsn", "tsm")
    _fluid_trunk(m, cfg)
    put_classifier(m, "fc_0.w_0", "fc_0.b_0", in_out=True)


def convert_fluid_tsm(m: TensorMapper, cfg: dict) -> None:
    _warn_if_named_for(m, "tsm", "tsn")
    _fluid_trunk(m, cfg)
    put_classifier(m, "fc_0.w_0", "fc_0.b_0", in_out=True, dropout_fold=0.5)


def convert_fluid_stnet(m: TensorMapper, cfg: dict) -> None:
    channels = m.get("conv1_weights").shape[1]
    _fluid_trunk(m, cfg, stem_hint=f"--set model.seglen={channels // 3} (the file's frames per super-image)")
    for (number, conv), stage in zip(
        zip(stnet_batch_norm_numbers(cfg["model"]["depth"]), ("conv3d_0", "conv3d_1")), (2, 3)
    ):
        block = f"backbone.layer{stage}.after"
        put_squeezed(m, f"{block}.conv.weight", f"{conv}.w_0")
        m.copy(f"{conv}.b_0", f"{block}.conv.bias")
        put_fluid_bn(m, f"batch_norm_{number}", f"{block}.bn")
    for ours, theirs in _XCEPTION:
        if ours.startswith("bn"):
            put_fluid_bn(m, theirs, f"head.{ours}")
        else:
            put_squeezed(m, f"head.{ours}.weight", f"{theirs}.w_0")
            m.copy(f"{theirs}.b_0", f"head.{ours}.bias")
    put_classifier(m, "fc_0.w_0", "fc_0.b_0", in_out=True)


def _paddle2(model: str, other: str) -> Callable[[TensorMapper, dict], None]:
    def convert(m: TensorMapper, cfg: dict) -> None:
        _warn_if_named_for(m, model, other)
        depth = _file_depth(
            m, r"backbone\.res([2-5])([a-z]\d*)\.conv0\._conv\.weight", r"\.conv2\._conv\.weight$"
        )
        _check_depth(m, cfg, depth)
        map_trunk(m, paddle2_names(depth))
        put_classifier(m, "head.fc.weight", "head.fc.bias", in_out=True)

    return convert


def _shifted_blocks(m: TensorMapper, pattern: str) -> set[tuple[int, int]]:
    return {(int(match[1]), int(match[2])) for match in m.matches(pattern)}


#: a non-local block's tensors: ours (under ``after<b>.block``) -> MMAction2's / MIT's
_NL_PARTS = {
    "mmaction2": (
        ("theta", "theta.conv"),
        ("phi", "phi.0.conv"),
        ("g", "g.0.conv"),
        ("out", "conv_out.conv"),
        ("bn", "conv_out.bn"),
    ),
    "mit-tsm": (("theta", "theta"), ("phi", "phi.0"), ("g", "g.0"), ("out", "W.0"), ("bn", "W.1")),
}


def _check_non_local(m: TensorMapper, cfg: dict, blocks: set[tuple[int, int]]) -> None:
    """The file's non-local blocks must be where the model puts them (``tsm.has_non_local``)."""
    from videozoo.models.tsm import has_non_local

    if blocks and cfg["model"]["nonlocal_mode"] is None:
        raise ConvertError(
            f"{m.label}: the file has non-local blocks (after {sorted(blocks)}); "
            "likely fix: --set model.nonlocal_mode=dot_product (or "
            "embedded_gaussian, as the file was trained)"
        )
    layout = STAGE_BLOCKS[cfg["model"]["depth"]]
    ours = {(s, b) for s in (1, 2, 3, 4) for b in range(layout[s - 1]) if has_non_local(s, b)}
    if blocks and blocks != ours:
        raise ConvertError(
            f"{m.label}: the file's non-local blocks follow blocks "
            f"{sorted(blocks)}, a placement videozoo's TSM does not build"
        )


def map_non_local(m: TensorMapper, zoo: str, prefix: str, blocks: set[tuple[int, int]]) -> None:
    """Each non-local block of the file -> ``backbone.layer<s>.after<b>.block``."""
    for stage, block in sorted(blocks):
        theirs = f"{prefix}layer{stage}.{block}.{'non_local_block' if zoo == 'mmaction2' else 'nl'}"
        ours = f"backbone.layer{stage}.after{block}.block"
        for part, their_part in _NL_PARTS[zoo]:
            params = ("weight", "bias", "running_mean", "running_var") if part == "bn" else ("weight", "bias")
            for param in params:
                if f"{ours}.{part}.{param}" in m.target:
                    m.copy(f"{theirs}.{their_part}.{param}", f"{ours}.{part}.{param}")


def _mmaction(model: str) -> Callable[[TensorMapper, dict], None]:
    def convert(m: TensorMapper, cfg: dict) -> None:
        depth = _file_depth(
            m,
            r"backbone\.layer([1-4])\.(\d+)\.(?:block\.)?conv1\.conv"
            r"(?:\.net)?\.weight",
            r"\.conv3\.conv\.weight$",
        )
        _check_depth(m, cfg, depth)
        shifted = _shifted_blocks(m, r"backbone\.layer([1-4])\.(\d+)\.(?:block\.)?conv1\.conv\.net\.weight")
        wrapped = _shifted_blocks(m, r"backbone\.layer([1-4])\.(\d+)\.non_local_block\.theta\.conv\.weight")
        if model == "tsm":
            _check_shifted_blocks(m, cfg, shifted)
            _check_non_local(m, cfg, wrapped)
        ignore_bn_counters(m)
        map_trunk(m, mmaction_names(shifted, wrapped))
        map_non_local(m, "mmaction2", "backbone.", wrapped)
        put_classifier(m, "cls_head.fc_cls.weight", "cls_head.fc_cls.bias", in_out=False)

    return convert


def _mit(model: str) -> Callable[[TensorMapper, dict], None]:
    def convert(m: TensorMapper, cfg: dict) -> None:
        prefix = "module.base_model." if m.names(r"^module\.base_model\.") else "base_model."
        p = re.escape(prefix)
        depth = _file_depth(
            m, p + r"layer([1-4])\.(\d+)\.(?:block\.)?conv1(?:\.net)?\.weight", r"\.conv3\.weight$"
        )
        _check_depth(m, cfg, depth)
        shifted = _shifted_blocks(m, p + r"layer([1-4])\.(\d+)\.(?:block\.)?conv1\.net\.weight")
        wrapped = _shifted_blocks(m, p + r"layer([1-4])\.(\d+)\.nl\.theta\.weight")
        if model == "tsm":
            _check_shifted_blocks(m, cfg, shifted)
            _check_non_local(m, cfg, wrapped)
        ignore_bn_counters(m)
        map_trunk(m, mit_names(prefix, shifted, wrapped))
        map_non_local(m, "mit-tsm", prefix, wrapped)
        # Trained with dropout > 0 the fc is `new_fc`; with dropout 0 it stays `base_model.fc`.
        module = prefix[: -len("base_model.")]  # "module." or ""
        head = f"{module}new_fc" if m.has(f"{module}new_fc.weight") else f"{prefix}fc"
        put_classifier(m, f"{head}.weight", f"{head}.bias", in_out=False)

    return convert


# ----------------------------------------------------------------------------- registrations
#: PaddleVideo v1.5 reads Kinetics from frames resized to 341x256 (unless the short side is
#: already 256) and tests on the middle snippet of int(N / segments)-frame segments.
_V15_DATA = {**IMAGENET, "short_side": 256, "long_side": 341, "test_segment_positions": "paddle-v1.5"}
#: MMAction2, MIT and PaddleVideo 2.x: short side 256 (aspect kept), frame int(tick/2 + i*tick).
_TSN_CODEBASE_DATA = {
    **IMAGENET,
    "short_side": 256,
    "long_side": None,
    "test_segment_positions": "tsn",
    "multi_scale_crop": True,
}
_FLUID_ABSENT = (r"conv3d_\d+\.w_0", r"xception_.*", r"nonlocal_.*")

register_mapping(
    Mapping(
        "paddle-v1.5",
        "tsn",
        ("conv1_weights", "res2a_branch2a_weights", r"fc_0\.w_0"),
        convert_fluid_tsn,
        absent=_FLUID_ABSENT,
        config={
            "model": {"dropout": 0.0, "dropout_per_frame": False},
            "data": {
                **_V15_DATA,
                "seg_num": 3,
                "test_seg_num": 7,
                "crop_size": 224,
                "multi_scale_crop": False,
            },
        },
        description="PaddleVideo v1.5 TSN ResNet-50 (tsn_kinetics.tar.gz), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "paddle-v1.5",
        "tsm",
        ("conv1_weights", "res2a_branch2a_weights", r"fc_0\.w_0"),
        convert_fluid_tsm,
        absent=_FLUID_ABSENT,
        config={
            "model": {
                "shift_div": 8,
                "shift_direction": "previous_first",
                "shift_every": 1,
                "dropout": 0.5,
                "dropout_per_frame": True,
            },
            "data": {
                **_V15_DATA,
                "seg_num": 8,
                "test_seg_num": 8,
                "crop_size": 224,
                "multi_scale_crop": True,
                "multi_scale_resize": 256,
            },
        },
        description="PaddleVideo v1.5 TSM ResNet-50 (tsm_kinetics.tar.gz), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "paddle-v1.5",
        "stnet",
        ("conv1_weights", r"conv3d_0\.w_0", r"xception_bn2\.w_0", r"fc_0\.w_0"),
        convert_fluid_stnet,
        config={
            "model": {"seglen": 5, "dropout": 0.0},
            "data": {**_V15_DATA, "seg_num": 7, "test_seg_num": 25, "crop_size": 224, "test_crop_size": 256},
        },
        description="PaddleVideo v1.5 StNet ResNet-50 (stnet_kinetics.tar.gz), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "paddlevideo",
        "tsn",
        (r"backbone\.conv\._conv\.weight", r"head\.fc\.weight"),
        _paddle2("tsn", "tsm"),
        config={
            "model": {"dropout": 0.4, "dropout_per_frame": False},
            "data": {**_TSN_CODEBASE_DATA, "seg_num": 3, "test_seg_num": 25, "test_crops": 10},
            "eval": {"batch_size": 1},
        },
        description="PaddleVideo 2.x TSN ResNet-50 (TSN_k400.pdparams), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "paddlevideo",
        "tsm",
        (r"backbone\.conv\._conv\.weight", r"head\.fc\.weight"),
        _paddle2("tsm", "tsn"),
        config={
            "model": {
                "shift_div": 8,
                "shift_direction": "previous_first",
                "shift_every": 1,
                "dropout": 0.5,
                "dropout_per_frame": True,
            },
            "data": {**_TSN_CODEBASE_DATA, "seg_num": 8, "test_seg_num": 8, "test_crops": 1},
        },
        description="PaddleVideo 2.x TSM ResNet-50 (TSM_k400.pdparams), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "mmaction2",
        "tsn",
        (r"backbone\.conv1\.conv\.weight", r"cls_head\.fc_cls\.weight"),
        _mmaction("tsn"),
        absent=(r".*\.conv\.net\.weight", r".*non_local.*"),
        ndim={r"backbone\.conv1\.conv\.weight": 4},
        config={
            "model": {"dropout": 0.4, "dropout_per_frame": False},
            "data": {**_TSN_CODEBASE_DATA, "seg_num": 3, "test_seg_num": 25, "test_crops": 10},
            "eval": {"batch_size": 1},
        },
        description="MMAction2 TSN ResNet-50 (tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_"
        "kinetics400-rgb), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "mmaction2",
        "tsm",
        (r"backbone\.layer1\.0\.conv1\.conv\.net\.weight", r"cls_head\.fc_cls\.weight"),
        _mmaction("tsm"),
        config={
            "model": {
                "shift_div": 8,
                "shift_direction": "next_first",
                "shift_every": 1,
                "dropout": 0.5,
                "dropout_per_frame": True,
            },
            "data": {**_TSN_CODEBASE_DATA, "seg_num": 8, "test_seg_num": 8, "test_crops": 10},
            "eval": {"batch_size": 2},
        },
        description="MMAction2 TSM ResNet-50 (tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_"
        "kinetics400-rgb), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "mit-tsm",
        "tsn",
        (r"(module\.)?base_model\.conv1\.weight",),
        _mit("tsn"),
        absent=(r".*\.conv1\.net\.weight", r".*\.nl\..*"),
        config={
            "model": {"dropout": 0.5, "dropout_per_frame": True},
            "data": {**_TSN_CODEBASE_DATA, "seg_num": 5, "test_seg_num": 8, "test_crops": 1},
        },
        description="MIT temporal-shift-module TSN ResNet-50 (TSM_kinetics_RGB_resnet50_avg_"
        "segment5_e50.pth), Kinetics-400",
    )
)

register_mapping(
    Mapping(
        "mit-tsm",
        "tsm",
        (r"(module\.)?base_model\.layer1\.0\.conv1\.net\.weight",),
        _mit("tsm"),
        config={
            "model": {
                "shift_div": 8,
                "shift_direction": "next_first",
                "shift_every": 1,
                "dropout": 0.5,
                "dropout_per_frame": True,
            },
            "data": {**_TSN_CODEBASE_DATA, "seg_num": 8, "test_seg_num": 8, "test_crops": 1},
        },
        description="MIT temporal-shift-module TSM ResNet-50 (TSM_kinetics_RGB_resnet50_shift8_"
        "blockres_avg_segment8_e50.pth), Kinetics-400",
    )
)
