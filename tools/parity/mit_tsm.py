"""Reference logits of MIT temporal-shift-module's TSN / TSM ResNet-50 (a throwaway venv).

Builds ``ops.models.TSN`` from a checkout of mit-han-lab/temporal-shift-module (torchvision's
``resnet50`` + its ``make_temporal_shift``), gives it random weights, saves them the way its
``main.py`` does (``{"epoch", "arch", "state_dict": {"module.base_model...."}, "best_prec1"}``,
DataParallel's ``module.`` prefix) and writes its logits on a fixed normalised input
(``TSN.forward``: per-frame ``new_fc``, then the average over segments)::

    python3.11 -m venv /tmp/mitvenv
    /tmp/mitvenv/bin/pip install torch==2.13.0
    /tmp/mitvenv/bin/pip install --no-deps torchvision==0.28.0 pillow
    git clone https://github.com/mit-han-lab/temporal-shift-module /tmp/mit-tsm
    /tmp/mitvenv/bin/python tools/parity/mit_tsm.py --model tsm --repo /tmp/mit-tsm --out /tmp/mit-out
    PYTHONPATH=src python tools/parity/resnet2d.py compare /tmp/mit-out --from mit-tsm --model tsm

torchvision's C++ ops may not load against a CPU-only torch; its import then fails while
registering fake kernels for ``torchvision::nms`` / ``qnms``. A ResNet uses no such op, so the
script declares those two schemas first when they are missing.

Frames: 8 (MIT's Kinetics test setting for both); batch 2; 224 x 224.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mmaction2_resnet2d import randomise  # noqa: E402  (same random-weight recipe)

FRAMES = 8


def import_torchvision() -> None:
    try:
        import torchvision  # noqa: F401
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
        for name in list(sys.modules):
            if name.startswith("torchvision"):
                del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.library = library  # keep the definitions alive
        import torchvision  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tsn", "tsm"], required=True)
    parser.add_argument("--repo", type=Path, required=True, help="temporal-shift-module checkout")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import_torchvision()
    sys.path.insert(0, str(args.repo))
    from ops.models import TSN

    model = TSN(
        400,
        FRAMES,
        "RGB",
        base_model="resnet50",
        consensus_type="avg",
        dropout=0.5,
        pretrain="none",
        is_shift=args.model == "tsm",
        shift_div=8,
        shift_place="blockres",
        print_spec=False,
    )
    randomise(model, args.seed)
    model.eval()
    print(f"input mean/std on 0..1: {model.input_mean} {model.input_std}")

    video = np.random.default_rng(args.seed).standard_normal((2, FRAMES, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(video).view(2, FRAMES * 3, 224, 224))
    args.out.mkdir(parents=True, exist_ok=True)
    state = {f"module.{name}": tensor for name, tensor in model.state_dict().items()}
    torch.save(
        {"epoch": 50, "arch": "resnet50", "state_dict": state, "best_prec1": 71.2}, args.out / "weights.pth"
    )
    np.save(args.out / "input.npy", video)
    np.save(args.out / "logits.npy", logits.double().numpy())
    print(f"{args.model}: logits {tuple(logits.shape)} |max| {logits.abs().max():.3g} -> {args.out}")


if __name__ == "__main__":
    main()
