"""Reference logits of MMAction2 1.2.0's TSN / TSM (run in a throwaway venv, not videozoo's).

Builds the recognizer from the config in the mmaction2 repository with random weights, saves
them as MMAction2 publishes checkpoints (``{"meta": ..., "state_dict": ...}``) and writes the
logits of ``extract_feat`` + ``cls_head`` (the scores before ``average_clips``) on a fixed
normalised input. ``resnet2d.py compare`` then converts and compares in videozoo's venv::

    python3.11 -m venv /tmp/mmvenv
    /tmp/mmvenv/bin/pip install torch==2.13.0 mmaction2==1.2.0 mmcv-lite==2.1.0 \\
        mmengine==0.10.7 importlib_metadata
    # the 1.2.0 wheel lacks mmaction/models/localizers/drn: comment out `from .drn.drn import
    # DRN` and 'DRN' in __all__ of mmaction/models/localizers/__init__.py in that venv
    git clone --branch v1.2.0 https://github.com/open-mmlab/mmaction2 /tmp/mmaction2-src
    /tmp/mmvenv/bin/python tools/parity/mmaction2_resnet2d.py --model tsm --out /tmp/mm-tsm \\
        --configs /tmp/mmaction2-src/configs
    PYTHONPATH=src python tools/parity/resnet2d.py compare /tmp/mm-tsm --from mmaction2 --model tsm

Frames: TSN 25 (its test protocol), TSM 8; batch 2; 224 x 224.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

CONFIGS = {
    "tsn": "recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py",
    "tsm": "recognition/tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py",
    # variants (compare with the table entry's --set items, e.g. --set model.depth=101)
    "tsn_r101": "recognition/tsn/tsn_imagenet-pretrained-r101_8xb32-1x1x8-100e_kinetics400-rgb.py",
    "tsm_r101_sthv2": "recognition/tsm/tsm_imagenet-pretrained-r101_8xb16-1x1x8-50e_sthv2-rgb.py",
    "tsm_nl_dot_product": "recognition/tsm/tsm_imagenet-pretrained-r50-nl-dot-product"
    "_8xb16-1x1x8-50e_kinetics400-rgb.py",
    "tsm_nl_embedded_gaussian": "recognition/tsm/tsm_imagenet-pretrained-r50-nl-embedded-gaussian"
    "_8xb16-1x1x8-50e_kinetics400-rgb.py",
}
FRAMES = {
    "tsn": 25,
    "tsm": 8,
    "tsn_r101": 25,
    "tsm_r101_sthv2": 8,
    "tsm_nl_dot_product": 8,
    "tsm_nl_embedded_gaussian": 8,
}


def randomise(model: torch.nn.Module, seed: int) -> None:
    """He-normal convs, BN scale ~U(0.5, 1), shift/mean ~N(0, 0.1), variance ~U(0.5, 1.5),
    fc ~N(0, 1/in): activations stay finite and the logits spread. The 3D convs and BNs of
    non-local blocks too (their zero-initialised output BN would make them the identity)."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv3d) and module.bias is not None:
            module.bias.data = torch.randn(module.bias.shape, generator=gen) * 0.1
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
            fan_in = module.weight[0].numel()
            gain = 2.0 if isinstance(module, torch.nn.Conv2d) else 0.25  # NL: keep theta^T phi finite
            module.weight.data = torch.randn(module.weight.shape, generator=gen) * (gain / fan_in) ** 0.5
        elif isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            c = module.num_features
            module.weight.data = torch.rand(c, generator=gen) * 0.5 + 0.5
            module.bias.data = torch.randn(c, generator=gen) * 0.1
            module.running_mean = torch.randn(c, generator=gen) * 0.1
            module.running_var = torch.rand(c, generator=gen) + 0.5
        elif isinstance(module, torch.nn.Linear):
            module.weight.data = torch.randn(module.weight.shape, generator=gen) * module.in_features**-0.5
            module.bias.data = torch.randn(module.bias.shape, generator=gen) * 0.1


@torch.no_grad()
def calibrate(model: torch.nn.Module, video: torch.Tensor) -> None:
    """Running BN statistics := those of one forward pass on ``video`` (then eval mode)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 1.0
    model.train()
    model.extract_feat(video, test_mode=True)
    model.eval()


def main() -> None:
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    from mmengine.config import Config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=list(CONFIGS), required=True)
    parser.add_argument("--configs", type=Path, required=True, help="mmaction2's configs/ folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="BN statistics from a forward pass on the input (keeps the dot-product "
        "non-local products finite)",
    )
    args = parser.parse_args()

    register_all_modules()
    cfg = Config.fromfile(str(args.configs / CONFIGS[args.model]))
    cfg.model.backbone.pretrained = None  # no download: the weights are random anyway
    model = MODELS.build(cfg.model)
    randomise(model, args.seed)
    model.eval()
    mean = np.asarray(cfg.model.data_preprocessor.mean) / 255
    std = np.asarray(cfg.model.data_preprocessor.std) / 255
    print(f"data_preprocessor mean/std on 0..1: {mean.round(6).tolist()} {std.round(6).tolist()}")

    video = (
        np.random.default_rng(args.seed)
        .standard_normal((2, FRAMES[args.model], 3, 224, 224))
        .astype(np.float32)
    )
    if args.calibrate:
        calibrate(model, torch.from_numpy(video))
    with torch.no_grad():
        feats, kwargs = model.extract_feat(torch.from_numpy(video), test_mode=True)
        logits = model.cls_head(feats, **kwargs)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "mmengine_version": "0.10.7",
        "epoch": 50,
        "seed": np.int64(args.seed),
        "dataset_meta": {"num_classes": int(cfg.model.cls_head.num_classes)},
    }
    torch.save({"meta": meta, "state_dict": model.state_dict()}, args.out / "weights.pth")
    np.save(args.out / "input.npy", video)
    np.save(args.out / "logits.npy", logits.double().numpy())
    print(f"{args.model}: logits {tuple(logits.shape)} |max| {logits.abs().max():.3g} -> {args.out}")


if __name__ == "__main__":
    main()
