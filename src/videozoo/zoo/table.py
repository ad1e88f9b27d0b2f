"""The weights table: one entry per published weight file, the one home of facts about them.

Each ``Weight`` says what a published file is (zoo, URL exactly as the zoo lists it, file
name, checksum), what it is for (model, architecture options on top of the converter's, the
classes, the preprocessing and test protocol its reference metric was measured with, the
metric) and whether videozoo loads it (``status``):

* ``parity``: the network this file converts to was measured against the source's own graph
  (tools/parity; figures in ``PARITY`` per converter pair, where ``overrides`` change only
  inputs, test protocol or class count; or the entry's own ``parity`` figure for a network
  variant): the file loads exactly;
* ``converts``: the converter with other network options in ``overrides`` (depth, non-local
  blocks); no parity figure yet;
* ``not-loadable``: published for an architecture variant videozoo cannot build yet
  (``note`` says which option is missing);
* ``auxiliary``: a file that is not a video model (class names, ImageNet trunks, the
  YouTube-8M feature extractor's Inception and PCA, VGGish).

Checksums: ``sha256`` where known in full; otherwise the files that follow torch.hub's naming
(MMAction2, torchvision, pytorch-fid, torchvggish: ``name-<first hex digits of the
sha256>.ext``) are verified against that prefix (``checksum_prefix``); the rest are
unverified (``None``): the cache records the sha256 of the first download and holds later
downloads to it, and ``VIDEOZOO_SHA256_<TAG>`` pins one.

Everything that shows weights to people (``videozoo models``, docs/pretrained.md, README's
table, bundle model cards) is generated from this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Weight", "TABLE", "PARITY", "LEFT_OUT", "get", "entries", "tags", "STATUSES"]

STATUSES = ("parity", "converts", "not-loadable", "auxiliary")
_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z.]+$")

PADDLE_V15 = "https://github.com/PaddlePaddle/models/tree/v1.5.1/PaddleCV/PaddleVideo"
PADDLE_2X = "https://github.com/PaddlePaddle/PaddleVideo/blob/develop/docs/en/model_zoo"
MMACTION = "https://github.com/open-mmlab/mmaction2/tree/v1.2.0/configs/recognition"
MIT = "https://github.com/mit-han-lab/temporal-shift-module#pretrained-models"
PAPERS = {
    "tsn": "https://arxiv.org/abs/1608.00859",
    "tsm": "https://arxiv.org/abs/1811.08383",
    "stnet": "https://arxiv.org/abs/1811.01549",
    "nonlocal": "https://arxiv.org/abs/1711.07971",
    "nextvlad": "https://arxiv.org/abs/1811.05014",
    "attention_lstm": "https://arxiv.org/abs/1503.08909",
    "attention_cluster": "https://arxiv.org/abs/1711.09550",
}


@dataclass(frozen=True)
class Weight:
    """One published file (see the module docstring for ``status``)."""

    tag: str
    model: str | None  # videozoo model name; None for auxiliary files
    source: str  # converter format (paddle-v1.5, ...) or publisher of a file
    urls: tuple[str, ...]  # as the zoo publishes them; the first is tried first
    status: str
    dataset: str = ""
    classes: str = ""  # kinetics400 | youtube8m (vocabulary.csv) | sthv2 | sthv1 | ...
    overrides: tuple[str, ...] = ()  # --set items on top of the converter's own config
    protocol: str = ""  # sampling / test protocol of the reference metric
    metrics: dict = field(default_factory=dict)  # as published, with their protocol
    size: int | None = None  # bytes, where known
    sha256: str | None = None  # full digest, where known
    license: str = ""
    paper: str = ""
    zoo: str = ""  # the page that lists the file
    note: str = ""
    parity: str = ""  # this variant's own parity figure (tools/parity), if measured

    @property
    def parity_figure(self) -> str | None:
        """The measured parity that covers this file: its own, or its converter pair's when
        the network is that pair's (status ``parity``)."""
        if self.parity:
            return self.parity
        if self.status != "parity" or self.model is None:
            return None
        return PARITY.get((self.source, self.model))

    @property
    def file(self) -> str:
        """The published file name (the last part of the first URL)."""
        return self.urls[0].rsplit("/", 1)[-1]

    @property
    def checksum_prefix(self) -> str | None:
        """What the file must hash to: the full sha256, the hub-style prefix in its name, or
        None (unverified)."""
        if self.sha256:
            return self.sha256
        if self.source in ("mmaction2", "torchvision", "pytorch-fid", "torchvggish"):
            match = _HUB_HASH.search(self.file)
            return match.group(1) if match else None
        return None

    @property
    def loadable(self) -> bool:
        return self.status in ("parity", "converts")


# ----------------------------------------------------------------------------- helpers
def same_network(overrides) -> bool:
    """Whether ``overrides`` leave the converter's network as measured (only input / test
    settings and the class count change)."""
    return all(item.startswith(("data.", "eval.", "model.num_classes=")) for item in overrides)


def _status(status: str | None, overrides, parity: str) -> str:
    if status is not None:
        return status
    return "parity" if parity or same_network(overrides) else "converts"


def _mm(
    model: str,
    folder: str,
    name: str,
    stamp: str,
    top1: float,
    top5: float,
    protocol: str,
    *,
    status: str | None = None,
    overrides=(),
    dataset="Kinetics-400",
    classes="kinetics400",
    note="",
    parity="",
    tag: str,
) -> Weight:
    url = f"https://download.openmmlab.com/mmaction/v1.0/recognition/{folder}/{name}/{name}_{stamp}.pth"
    return Weight(
        tag,
        model,
        "mmaction2",
        (url,),
        _status(status, overrides, parity),
        dataset,
        classes,
        tuple(overrides),
        protocol,
        {"top1": top1, "top5": top5},
        license="Apache-2.0",
        paper=PAPERS.get(model or folder, ""),
        zoo=f"{MMACTION}/{folder}",
        note=note,
        parity=parity,
    )


def _mit(
    model: str,
    name: str,
    metrics: dict,
    protocol: str,
    *,
    status=None,
    overrides=(),
    dataset="Kinetics-400",
    classes="kinetics400",
    note="",
    parity="",
    tag: str,
) -> Weight:
    url = f"https://file.lzhu.me/projects/tsm/models/{name}"
    return Weight(
        tag,
        model,
        "mit-tsm",
        (url,),
        _status(status, overrides, parity),
        dataset,
        classes,
        tuple(overrides),
        protocol,
        metrics,
        license="MIT",
        paper=PAPERS["tsm"],
        zoo=MIT,
        note=note,
        parity=parity,
    )


def _v15(
    model: str,
    name: str,
    metrics: dict,
    protocol: str,
    *,
    dataset="Kinetics-400",
    classes="kinetics400",
    tag: str,
) -> Weight:
    url = f"https://paddlemodels.bj.bcebos.com/video_classification/{name}"
    return Weight(
        tag,
        model,
        "paddle-v1.5",
        (url,),
        "parity",
        dataset,
        classes,
        (),
        protocol,
        metrics,
        license="Apache-2.0",
        paper=PAPERS[model],
        zoo=PADDLE_V15,
    )


def _pp2(
    model: str,
    url: str,
    metrics: dict,
    protocol: str,
    *,
    overrides=(),
    dataset="Kinetics-400",
    classes="kinetics400",
    tag: str,
) -> Weight:
    return Weight(
        tag,
        model,
        "paddlevideo",
        (url,),
        _status(None, overrides, ""),
        dataset,
        classes,
        tuple(overrides),
        protocol,
        metrics,
        license="Apache-2.0",
        paper=PAPERS[model],
        zoo=PADDLE_2X,
    )


_SSV2_CLASSES = ("model.num_classes=174",)
_R101_TSM = ("model.depth=101", "model.shift_every=2")
#: parity of network variants, measured with tools/parity against MMAction2 1.2.0 itself
_I3D_PLAIN = "8.6e-6 (32x224 logits), 9.8e-6 (32x256), real MMAction2 1.2.0"
_NO_GAUSSIAN = "the Gaussian non-local mode (no theta / phi convs) is not a `nonlocal_mode` yet"

TABLE: tuple[Weight, ...] = (
    # -- PaddleVideo v1.5 (PaddleCV/PaddleVideo README, model zoo): all seven
    _v15(
        "nextvlad",
        "nextvlad_youtube8m.tar.gz",
        {"gap": 0.8709, "hit@1": 0.8960, "perr": 0.8132},
        "all frames (at most 300), YouTube-8M validate",
        dataset="YouTube-8M",
        classes="youtube8m",
        tag="nextvlad_youtube8m.paddle15",
    ),
    _v15(
        "attention_lstm",
        "attention_lstm_youtube8m.tar.gz",
        {"gap": 0.8594, "hit@1": 0.8885, "perr": 0.8012},
        "all frames (at most 300), YouTube-8M validate",
        dataset="YouTube-8M",
        classes="youtube8m",
        tag="attention_lstm_youtube8m.paddle15",
    ),
    _v15(
        "attention_cluster",
        "attention_cluster_youtube8m.tar.gz",
        {"gap": 0.84, "hit@1": 0.87, "perr": 0.78},
        "100 frames drawn at random, YouTube-8M validate",
        dataset="YouTube-8M",
        classes="youtube8m",
        tag="attention_cluster_youtube8m.paddle15",
    ),
    _v15(
        "stnet",
        "stnet_kinetics.tar.gz",
        {"top1": 0.69},
        "25 segments x 5 frames, centre crop 256, frames resized to 341x256",
        tag="stnet_r50_k400.paddle15",
    ),
    _v15(
        "tsn",
        "tsn_kinetics.tar.gz",
        {"top1": 0.67},
        "7 segments, centre crop 224, frames resized to 341x256",
        tag="tsn_r50_k400.paddle15",
    ),
    _v15(
        "tsm",
        "tsm_kinetics.tar.gz",
        {"top1": 0.70},
        "8 segments, centre crop 224, frames resized to 341x256",
        tag="tsm_r50_k400.paddle15",
    ),
    _v15(
        "nonlocal",
        "nonlocal_kinetics.tar.gz",
        {"top1": 0.74},
        "C2D R50, 10 clips of 8x8 frames x 3 crops of 256, window-softmax head",
        tag="nonlocal_c2d_r50_k400.paddle15",
    ),
    # -- PaddleVideo 2.x (docs/en/model_zoo)
    _pp2(
        "tsn",
        "https://videotag.bj.bcebos.com/PaddleVideo-release2.2/TSN_k400.pdparams",
        {"top1": 69.81},
        "25 segments x 10 crops (TenCrop), short side 256",
        tag="tsn_r50_k400.paddlevideo",
    ),
    _pp2(
        "tsn",
        "https://videotag.bj.bcebos.com/PaddleVideo-release2.2/TSN_k400_8.pdparams",
        {"top1": 71.70},
        "trained on 8 segments; 25 segments x 10 crops (TenCrop)",
        overrides=("data.seg_num=8",),
        tag="tsn_r50_1x1x8_k400.paddlevideo",
    ),
    _pp2(
        "tsm",
        "https://videotag.bj.bcebos.com/PaddleVideo-release2.1/TSM/TSM_k400.pdparams",
        {"top1": 71.06},
        "8 segments, centre crop 224",
        tag="tsm_r50_k400.paddlevideo",
    ),
    _pp2(
        "attention_lstm",
        "https://videotag.bj.bcebos.com/PaddleVideo-release2.2/AttentionLSTM_yt8.pdparams",
        {"gap": 0.8630, "hit@1": 0.8905, "perr": 0.8049},
        "all frames (at most 300), YouTube-8M validate",
        dataset="YouTube-8M",
        classes="youtube8m",
        tag="attention_lstm_youtube8m.paddlevideo",
    ),
    # -- MMAction2 1.2.0 (configs/recognition/{tsn,tsm,i3d}/metafile.yml)
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb",
        "20220906-cd10898e",
        72.83,
        90.65,
        "25 clips x 10 crops",
        tag="tsn_r50_1x1x3_k400.mmaction2",
    ),
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r50_8xb32-1x1x5-100e_kinetics400-rgb",
        "20220906-65d68713",
        73.80,
        91.21,
        "25 clips x 10 crops",
        overrides=("data.seg_num=5",),
        tag="tsn_r50_1x1x5_k400.mmaction2",
    ),
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb",
        "20220906-2692d16c",
        74.12,
        91.34,
        "25 clips x 10 crops",
        overrides=("data.seg_num=8",),
        tag="tsn_r50_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r50_8xb32-dense-1x1x5-100e_kinetics400-rgb",
        "20220906-dcbc6e01",
        71.37,
        89.67,
        "trained on dense 1x1x5 samples; 25 clips x 10 crops",
        overrides=("data.seg_num=5",),
        note="dense training sampling is not reproduced by `train`; inference is the 1x1x3 network",
        tag="tsn_r50_dense_1x1x5_k400.mmaction2",
    ),
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r101_8xb32-1x1x8-100e_kinetics400-rgb",
        "20220906-23cff032",
        75.89,
        92.07,
        "25 clips x 10 crops",
        overrides=("model.depth=101", "data.seg_num=8"),
        parity="0, bit-identical (real MMAction2 1.2.0, 25 frames)",
        tag="tsn_r101_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r50_8xb32-1x1x8-50e_sthv2-rgb",
        "20230313-06ad7d03",
        35.51,
        67.09,
        "25 clips x 10 crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + ("data.seg_num=8",),
        tag="tsn_r50_1x1x8_sthv2.mmaction2",
    ),
    _mm(
        "tsn",
        "tsn",
        "tsn_imagenet-pretrained-r50_8xb32-1x1x16-50e_sthv2-rgb",
        "20230221-85bcc1c3",
        36.91,
        68.77,
        "25 clips x 10 crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + ("data.seg_num=16",),
        tag="tsn_r50_1x1x16_sthv2.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-64d69186",
        73.18,
        90.56,
        "8 clips x 10 crops",
        tag="tsm_r50_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50_8xb16-1x1x8-100e_kinetics400-rgb",
        "20220831-a6db1e5d",
        73.22,
        90.22,
        "8 clips x 10 crops",
        tag="tsm_r50_1x1x8_100e_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_kinetics400-rgb",
        "20220831-042b1748",
        75.12,
        91.55,
        "16 clips x 10 crops",
        overrides=("data.seg_num=16", "data.test_seg_num=16"),
        tag="tsm_r50_1x1x16_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50_8xb16-dense-1x1x8-50e_kinetics400-rgb",
        "20220831-f55d3c2b",
        73.38,
        90.78,
        "dense 1x1x8 samples, 8 clips x 10 crops",
        note="dense sampling is approximated by segment sampling (same network)",
        tag="tsm_r50_dense_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50-nl-embedded-gaussian_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-35eddb57",
        74.34,
        91.23,
        "8 clips x 10 crops",
        overrides=("model.nonlocal_mode=embedded_gaussian",),
        parity="3.8e-7 (8 frames), real MMAction2 1.2.0",
        tag="tsm_r50_nl_embedded_gaussian_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50-nl-dot-product_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-108bfde5",
        74.49,
        91.15,
        "8 clips x 10 crops",
        overrides=("model.nonlocal_mode=dot_product",),
        parity="6.1e-7 (8 frames), real MMAction2 1.2.0",
        tag="tsm_r50_nl_dot_product_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50-nl-gaussian_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-7e54dacf",
        73.66,
        90.99,
        "8 clips x 10 crops",
        status="not-loadable",
        note=_NO_GAUSSIAN,
        tag="tsm_r50_nl_gaussian_1x1x8_k400.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb",
        "20230317-be0fc26e",
        62.72,
        87.70,
        "8 clips x 3 crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + ("data.test_crops=3",),
        tag="tsm_r50_1x1x8_sthv2.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_sthv2-rgb",
        "20230317-ec6696ad",
        64.16,
        88.61,
        "16 clips x 3 crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + ("data.seg_num=16", "data.test_seg_num=16", "data.test_crops=3"),
        tag="tsm_r50_1x1x16_sthv2.mmaction2",
    ),
    _mm(
        "tsm",
        "tsm",
        "tsm_imagenet-pretrained-r101_8xb16-1x1x8-50e_sthv2-rgb",
        "20230320-efcc0d1b",
        63.70,
        88.28,
        "8 clips x 3 crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + _R101_TSM + ("data.test_crops=3",),
        parity="4.3e-7 (real MMAction2 1.2.0, 8 frames)",
        tag="tsm_r101_1x1x8_sthv2.mmaction2",
    ),
    _mm(
        "nonlocal",
        "i3d",
        "i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb",
        "20220812-8e1f2148",
        74.80,
        92.07,
        "32x2 clips, 10 clips x 3 crops",
        tag="i3d_r50_nl_dot_product_32x2x1_k400.mmaction2",
    ),
    _mm(
        "nonlocal",
        "i3d",
        "i3d_imagenet-pretrained-r50-nl-embedded-gaussian_8xb8-32x2x1-100e_kinetics400-rgb",
        "20220812-afd8f562",
        74.73,
        91.80,
        "32x2 clips, 10 clips x 3 crops",
        overrides=("model.nonlocal_mode=embedded_gaussian",),
        parity="1.9e-13 with both graphs in float64 (real MMAction2 1.2.0, 32x224); in "
        "float32 1.1e-3, while MMAction2's own float32 run is 2.1e-3 from its float64 one",
        tag="i3d_r50_nl_embedded_gaussian_32x2x1_k400.mmaction2",
    ),
    _mm(
        "nonlocal",
        "i3d",
        "i3d_imagenet-pretrained-r50-nl-gaussian_8xb8-32x2x1-100e_kinetics400-rgb",
        "20220812-0c5cbf5a",
        73.97,
        91.33,
        "32x2 clips, 10 clips x 3 crops",
        status="not-loadable",
        note=_NO_GAUSSIAN,
        tag="i3d_r50_nl_gaussian_32x2x1_k400.mmaction2",
    ),
    _mm(
        "nonlocal",
        "i3d",
        "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb",
        "20220812-e213c223",
        73.47,
        91.27,
        "32x2 clips, 10 clips x 3 crops",
        overrides=("model.nonlocal_blocks=false",),
        parity=_I3D_PLAIN,
        tag="i3d_r50_32x2x1_k400.mmaction2",
    ),
    _mm(
        "nonlocal",
        "i3d",
        "i3d_imagenet-pretrained-r50_8xb8-dense-32x2x1-100e_kinetics400-rgb",
        "20220812-9f46003f",
        73.77,
        91.35,
        "dense 32x2 clips, 10 clips x 3 crops",
        overrides=("model.nonlocal_blocks=false",),
        parity=_I3D_PLAIN,
        note="MMAction2's dense test clip positions are approximated by spread clips (same network)",
        tag="i3d_r50_dense_32x2x1_k400.mmaction2",
    ),
    # -- MIT temporal-shift-module (README, Pretrained Models)
    _mit(
        "tsn",
        "TSM_kinetics_RGB_resnet50_avg_segment5_e50.pth",
        {"top1": 68.8, "top1_10crop": 69.9, "top1_dense_8x10clips": 70.6},
        "8 segments, centre crop 224 (1 clip); also 10 crops, and dense 8 x 10 clips "
        "x 3 full-resolution crops",
        tag="tsn_r50_k400.mit",
    ),
    _mit(
        "tsm",
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth",
        {"top1": 71.2, "top1_10crop": 72.8},
        "8 segments, centre crop 224 (1 clip)",
        status="parity",
        tag="tsm_r50_1x1x8_k400.mit",
    ),
    _mit(
        "tsm",
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50.pth",
        {"top1": 72.6, "top1_10crop": 73.7},
        "16 segments, centre crop 224 (1 clip)",
        overrides=("data.seg_num=16", "data.test_seg_num=16"),
        tag="tsm_r50_1x1x16_k400.mit",
    ),
    _mit(
        "tsm",
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense.pth",
        {"top1_dense_8x10clips": 74.1},
        "dense 8 frames x 10 clips x 3 full-resolution crops",
        note="dense sampling is approximated by segment sampling (same network)",
        tag="tsm_r50_dense_1x1x8_k400.mit",
    ),
    _mit(
        "tsm",
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl.pth",
        {"top1_dense_8x10clips": 75.6},
        "dense 8 frames x 10 clips x 3 full-resolution crops",
        overrides=("model.nonlocal_mode=embedded_gaussian", "model.nonlocal_out_bias=true"),
        note="dense sampling is approximated by segment sampling (same network)",
        tag="tsm_r50_nl_dense_1x1x8_k400.mit",
    ),
    _mit(
        "tsm",
        "TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth",
        {"top1": 45.6, "top1_full_res_2clip": 47.2},
        "8 segments, centre crop (1 clip)",
        dataset="Something-Something V1",
        classes="sthv1",
        overrides=_SSV2_CLASSES,
        tag="tsm_r50_1x1x8_sthv1.mit",
    ),
    _mit(
        "tsm",
        "TSM_something_RGB_resnet50_shift8_blockres_avg_segment16_e45.pth",
        {"top1": 47.2, "top1_full_res_2clip": 48.4},
        "16 segments, centre crop (1 clip)",
        dataset="Something-Something V1",
        classes="sthv1",
        overrides=_SSV2_CLASSES + ("data.seg_num=16", "data.test_seg_num=16"),
        tag="tsm_r50_1x1x16_sthv1.mit",
    ),
    _mit(
        "tsm",
        "TSM_something_RGB_resnet101_shift8_blockres_avg_segment8_e45.pth",
        {"top1": 46.9, "top1_full_res_2clip": 48.7},
        "8 segments, centre crop (1 clip)",
        dataset="Something-Something V1",
        classes="sthv1",
        overrides=_SSV2_CLASSES + _R101_TSM,
        note="no MIT reference run; the same network from MMAction2's R101 file: 4.3e-7",
        tag="tsm_r101_1x1x8_sthv1.mit",
    ),
    _mit(
        "tsm",
        "TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth",
        {"top1_full_res_2clip": 61.2},
        "8 segments x 2 clips x 3 full-resolution crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES,
        tag="tsm_r50_1x1x8_sthv2.mit",
    ),
    _mit(
        "tsm",
        "TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment16_e45.pth",
        {"top1_full_res_2clip": 63.1},
        "16 segments x 2 clips x 3 full-resolution crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + ("data.seg_num=16", "data.test_seg_num=16"),
        tag="tsm_r50_1x1x16_sthv2.mit",
    ),
    _mit(
        "tsm",
        "TSM_somethingv2_RGB_resnet101_shift8_blockres_avg_segment8_e45.pth",
        {"top1_full_res_2clip": 63.3},
        "8 segments x 2 clips x 3 full-resolution crops",
        dataset="Something-Something V2",
        classes="sthv2",
        overrides=_SSV2_CLASSES + _R101_TSM,
        note="no MIT reference run; the same network from MMAction2's R101 file: 4.3e-7",
        tag="tsm_r101_1x1x8_sthv2.mit",
    ),
    # -- auxiliary files
    Weight(
        "vocabulary.youtube8m",
        None,
        "youtube8m",
        ("https://research.google.com/youtube8m/csv/2/vocabulary.csv",),
        "auxiliary",
        "YouTube-8M",
        "youtube8m",
        protocol="3862 class names (Index, Name, ...)",
        license="CC BY 4.0",
        zoo="https://research.google.com/youtube8m/download.html",
    ),
    Weight(
        "resnet50_imagenet.torchvision",
        None,
        "torchvision",
        ("https://download.pytorch.org/models/resnet50-0676ba61.pth",),
        "auxiliary",
        "ImageNet-1k",
        "imagenet",
        protocol="torchvision IMAGENET1K_V1 (for model.pretrained)",
        metrics={"top1": 76.13, "top5": 92.862},
        license="BSD-3-Clause",
        paper="https://arxiv.org/abs/1512.03385",
        zoo="https://pytorch.org/vision/stable/models/resnet.html",
    ),
    Weight(
        "resnet50_imagenet_v2.torchvision",
        None,
        "torchvision",
        ("https://download.pytorch.org/models/resnet50-11ad3fa6.pth",),
        "auxiliary",
        "ImageNet-1k",
        "imagenet",
        protocol="torchvision IMAGENET1K_V2 (for model.pretrained)",
        metrics={"top1": 80.858, "top5": 95.434},
        license="BSD-3-Clause",
        paper="https://arxiv.org/abs/1512.03385",
        zoo="https://pytorch.org/vision/stable/models/resnet.html",
    ),
    Weight(
        "resnet101_imagenet.torchvision",
        None,
        "torchvision",
        ("https://download.pytorch.org/models/resnet101-63fe2227.pth",),
        "auxiliary",
        "ImageNet-1k",
        "imagenet",
        protocol="torchvision IMAGENET1K_V1 (for model.pretrained)",
        metrics={"top1": 77.374, "top5": 93.546},
        license="BSD-3-Clause",
        paper="https://arxiv.org/abs/1512.03385",
        zoo="https://pytorch.org/vision/stable/models/resnet.html",
    ),
    Weight(
        "resnet101_imagenet_v2.torchvision",
        None,
        "torchvision",
        ("https://download.pytorch.org/models/resnet101-cd907fc2.pth",),
        "auxiliary",
        "ImageNet-1k",
        "imagenet",
        protocol="torchvision IMAGENET1K_V2 (for model.pretrained)",
        metrics={"top1": 81.886, "top5": 95.78},
        license="BSD-3-Clause",
        paper="https://arxiv.org/abs/1512.03385",
        zoo="https://pytorch.org/vision/stable/models/resnet.html",
    ),
    Weight(
        "inception_2015_12_05.google",
        None,
        "google",
        ("http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",),
        "auxiliary",
        "ImageNet-1k",
        protocol="Inception-v3 GraphDef of the YouTube-8M feature extractor (pool_3, 2048-d)",
        license="Apache-2.0",
        zoo="https://github.com/google/youtube-8m/tree/master/feature_extractor",
    ),
    Weight(
        "yt8m_pca.google",
        None,
        "google",
        ("http://data.yt8m.org/yt8m_pca.tgz",),
        "auxiliary",
        "YouTube-8M",
        protocol="PCA (mean, eigenvalues, eigenvectors) of the YouTube-8M feature extractor, 2048 -> 1024",
        license="Apache-2.0",
        zoo="https://github.com/google/youtube-8m/tree/master/feature_extractor",
    ),
    Weight(
        "pt_inception_2015_12_05.pytorch-fid",
        None,
        "pytorch-fid",
        (
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
        ),
        "auxiliary",
        "ImageNet-1k",
        protocol="the 2015-12-05 Inception-v3 as a PyTorch state_dict",
        license="Apache-2.0",
        zoo="https://github.com/mseitzer/pytorch-fid",
    ),
    Weight(
        "vggish.torchvggish",
        None,
        "torchvggish",
        ("https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",),
        "auxiliary",
        "AudioSet",
        protocol="VGGish audio embedding network (128-d per 0.96 s)",
        license="Apache-2.0",
        zoo="https://github.com/harritaylor/torchvggish",
    ),
    Weight(
        "vggish_pca.torchvggish",
        None,
        "torchvggish",
        ("https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth",),
        "auxiliary",
        "AudioSet",
        protocol="VGGish PCA whitening (the YouTube-8M audio features' post-processing)",
        license="Apache-2.0",
        zoo="https://github.com/harritaylor/torchvggish",
    ),
)

#: parity figures (relative max error of the logits against the source's own graph), by the
#: converter pair they were measured for (tools/parity; docs/pretrained.md says how)
PARITY = {
    ("paddle-v1.5", "nextvlad"): "1.8e-6 (uint8 videos of 299, 120, 37, 5 frames)",
    ("paddle-v1.5", "attention_lstm"): "4.0e-7 (same videos)",
    ("paddle-v1.5", "attention_cluster"): "4.2e-7 (same videos)",
    ("paddlevideo", "attention_lstm"): "5.3e-7; 1.2e-6 against Paddle 3.3.1 running 2.x's head",
    ("paddle-v1.5", "tsn"): "5.8e-7 (7 frames)",
    ("paddle-v1.5", "tsm"): "5.3e-7 (8 frames)",
    ("paddle-v1.5", "stnet"): "1.1e-6 (7 x 5 frames)",
    ("paddlevideo", "tsn"): "4.9e-7 (3 frames)",
    ("paddlevideo", "tsm"): "5.5e-7 (8 frames)",
    ("mmaction2", "tsn"): "0, bit-identical (real MMAction2 1.2.0, 25 frames)",
    ("mmaction2", "tsm"): "5.0e-7 (real MMAction2 1.2.0, 8 frames)",
    ("mit-tsm", "tsn"): "5.3e-7 (real MIT code, 8 frames)",
    ("mit-tsm", "tsm"): "5.0e-7 (real MIT code, 8 frames)",
    ("paddle-v1.5", "nonlocal"): "9.4e-6 (8x224 logits), 7.7e-6 (8x256 test-head scores)",
    ("mmaction2", "nonlocal"): "0, bit-identical (real MMAction2 1.2.0, 32x224 and 32x256)",
}

#: files the zoos publish that are not in the table, and why
LEFT_OUT = (
    (
        "MMAction2 TSN with ResNeXt-101, DenseNet-161, Swin, MobileOne-S4 trunks; TSM "
        "MobileNetV2 / MobileOne-S4; I3D R50 heavy",
        "other trunks than videozoo's ResNets",
    ),
    ("MIT TSM MobileNetV2 (Kinetics) and the optical-flow TSM", "other trunk / two-channel flow input"),
    (
        "PaddleVideo 2.x PP-TSM / PP-TSN and other 2.x models",
        "ResNet-vd trunks and distillation heads: not our seven architectures",
    ),
    ("MMAction2 and MIT optimizer/log files", "not weights"),
)


_BY_TAG = {entry.tag: entry for entry in TABLE}
if len(_BY_TAG) != len(TABLE):  # pragma: no cover - a table edit error
    raise RuntimeError("weights table: duplicate tag")


def get(tag: str) -> Weight | None:
    return _BY_TAG.get(tag)


def tags() -> list[str]:
    return list(_BY_TAG)


def entries(model: str | None = None, pretrained_only: bool = False) -> list[Weight]:
    """Entries of ``model`` (all when None); ``pretrained_only``: model weights only."""
    return [
        e
        for e in TABLE
        if (model is None or e.model == model) and (not pretrained_only or e.model is not None)
    ]
