"""Step 1 of the MMAction2 Non-local parity check: the real MMAction2 1.2.0 I3D-NL dot-product
model with random weights -> a .pth in the published layout and its logits on fixed clips.

Runs in a throwaway venv (never the project's). Python 3.11::

    python3.11 -m venv /tmp/mmaction-venv
    /tmp/mmaction-venv/bin/pip install torch==2.13.0 mmaction2==1.2.0 mmcv-lite==2.1.0 \\
        mmengine==0.10.7 importlib_metadata
    # the 1.2.0 wheel lacks mmaction/models/localizers/drn: in that venv, comment out
    # `from .drn.drn import DRN` and remove 'DRN' from __all__ in
    # mmaction/models/localizers/__init__.py
    /tmp/mmaction-venv/bin/python tools/parity/mmaction2_nonlocal_reference.py /tmp/nl-mma

(To save the torch download, a ``.pth`` file in that venv's site-packages may point at an
existing torch 2.13 CPU install.) mmcv-lite's ``NonLocal3d`` is pure PyTorch: nothing compiled
is needed. The model is built from the config the wheel ships
(``mmaction/.mim/configs/recognition/i3d/<CONFIG>.py``; ``--config`` takes another path, e.g.
from a clone of the repository).

Writes to OUT: ``i3d_nl_dot_product.pth`` (``{"meta": ..., "state_dict": ...}`` as MMAction2
saves) and ``clip224.npz`` / ``clip256.npz`` (``inputs`` ``[2, 3, 32, S, S]`` normalised as the
config's data preprocessor does, ``logits`` from ``recognizer(inputs, mode="tensor",
stage="head")``). Step 2: ``python tools/parity/nonlocal.py mmaction2 OUT`` in the project.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

CONFIG = "i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb"


def build(config_path: str) -> tuple[nn.Module, dict]:
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    cfg = Config.fromfile(config_path)
    cfg.model.backbone.pretrained = None  # no torchvision download; weights set below
    return MODELS.build(cfg.model), cfg


@torch.no_grad()
def randomise(model: nn.Module, calibration: torch.Tensor) -> None:
    """He-normal convs (theta/phi at 0.5/sqrt(fan_in)), BN gammas ~U(0.5, 1.5) (the non-local
    output BN too, so the blocks matter), BN statistics from a forward pass on
    ``calibration`` (variances floored at a tenth of the mean square, as in
    ``nonlocal.py``), and an fc scaled to logits with a standard deviation of 2."""
    generator = torch.Generator().manual_seed(0)
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d):
            fan_in = module.weight[0].numel()
            gain = 0.25 if name.endswith(("theta.conv", "phi.0.conv")) else 2.0
            module.weight.normal_(0, (gain / fan_in) ** 0.5, generator=generator)
            if module.bias is not None:
                module.bias.normal_(0, 0.1, generator=generator)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.weight.uniform_(0.5, 1.5, generator=generator)
            module.bias.normal_(0, 0.1, generator=generator)
            module.momentum = 1.0  # running stats = this batch's
        elif isinstance(module, nn.Linear):
            module.weight.normal_(0, 0.01, generator=generator)
            module.bias.normal_(0, 0.1, generator=generator)
    model.train()
    model.backbone(calibration)
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            mean_square = (module.running_var + module.running_mean**2).mean()
            module.running_var.clamp_(min=0.1 * float(mean_square))
    logits = logits_of(model, calibration)
    model.cls_head.fc_cls.weight.mul_(2.0 / logits.std())


def logits_of(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``inputs`` ``[N, 3, T, H, W]`` -> ``[N, classes]`` through the recognizer (one view)."""
    with torch.no_grad():
        return model(inputs[:, None], mode="tensor", stage="head")


def clips(cfg, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random uint8 RGB frames normalised with the config's data-preprocessor mean/std."""
    pre = cfg.model.data_preprocessor
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1, 1)
    pixels = torch.randint(0, 256, (n, 3, 32, size, size), generator=generator).float()
    return (pixels - mean) / std


def main(argv=None) -> int:
    import mmaction

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--config",
        default=os.path.join(
            os.path.dirname(mmaction.__file__), ".mim", "configs", "recognition", "i3d", f"{CONFIG}.py"
        ),
    )
    parser.add_argument(
        "--float64",
        action="store_true",
        help="also save the logits of the same model run in float64 "
        "(`logits64`), to tell float32 rounding from a real difference",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    model, cfg = build(args.config)
    generator = torch.Generator().manual_seed(1)
    randomise(model, clips(cfg, 2, 224, generator))
    meta = {
        "mmaction_version": mmaction.__version__,
        "epoch": np.int64(100),
        "iter": np.int64(0),
        "config": cfg.pretty_text,
        "experiment_name": CONFIG,
    }
    torch.save({"meta": meta, "state_dict": model.state_dict()}, args.out / "i3d_nl_dot_product.pth")
    for size in (224, 256):
        inputs = clips(cfg, 2, size, generator)
        logits = logits_of(model, inputs)
        extra = {}
        if args.float64:
            extra["logits64"] = logits_of(model.double(), inputs.double()).numpy()
            model.float()
        np.savez(args.out / f"clip{size}.npz", inputs=inputs.numpy(), logits=logits.numpy(), **extra)
        print(f"{size}: logits {tuple(logits.shape)}, std {float(logits.std()):.3f}")
    print(f"wrote {args.out}; now run: python tools/parity/nonlocal.py mmaction2 {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
