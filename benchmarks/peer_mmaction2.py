"""MMAction2 1.2's side of bench_e2e.py; runs in MMAction2's own venv, never imports videozoo.

    PEER/bin/python peer_mmaction2.py init --model tsm --out DIR       # random weights.pth
    PEER/bin/python peer_mmaction2.py serve --model tsm --weights W    # JSON commands on stdin

Models: TSN and TSM ResNet-50 (8 segments) and I3D-NL ResNet-50 dot product (32x2).
``init`` builds MMAction2's recognizer with random weights (BatchNorm statistics and the
classifier spread so the scores are not near-uniform) and saves them as MMAction2 publishes
checkpoints (``{"meta", "state_dict"}``), which ``videozoo convert --from mmaction2`` reads.
``serve`` loads them with ``init_recognizer`` and answers one JSON line per command line:
``{"cmd": "run", "videos": [...]}`` -> each video's seconds, the seconds for the whole list
and each video's top-5 class ids, every video through ``inference_recognizer`` (its API takes
one video per call; decord decoding with ``num_threads=1``, MMAction2's setting).
Replies start with ``@@`` so library log lines on stdout are skipped by the driver.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
PREPROCESSOR = dict(type="ActionDataPreprocessor", mean=MEAN, std=STD, format_shape="NCHW")
HEADS = {
    "tsn": dict(
        type="TSNHead",
        num_classes=400,
        in_channels=2048,
        spatial_type="avg",
        consensus=dict(type="AvgConsensus", dim=1),
        dropout_ratio=0.4,
        init_std=0.01,
        average_clips="prob",
    ),
    "tsm": dict(
        type="TSMHead",
        num_classes=400,
        in_channels=2048,
        spatial_type="avg",
        consensus=dict(type="AvgConsensus", dim=1),
        dropout_ratio=0.5,
        init_std=0.001,
        is_shift=True,
        num_segments=8,
        average_clips="prob",
    ),
}
BACKBONES = {
    "tsn": dict(type="ResNet", pretrained=None, depth=50, norm_eval=False),
    "tsm": dict(type="ResNetTSM", pretrained=None, depth=50, norm_eval=False, shift_div=8, num_segments=8),
}


#: the I3D-NL config the wheel ships (mmaction/.mim/configs)
NONLOCAL_CONFIG = (
    "recognition/i3d/i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py"
)


def config(model: str, segments: int):
    """MMAction2's recognizer and test pipeline, 1 clip x centre crop 224: TSN / TSM
    ``segments`` frames; I3D-NL ("nonlocal") 32 frames every 2."""
    from mmengine.config import Config

    try:
        import decord  # noqa: F401

        init, decode = dict(type="DecordInit", num_threads=1), dict(type="DecordDecode")
    except ImportError:  # the recipe without decord: MMAction2's OpenCV reader
        init, decode = dict(type="OpenCVInit"), dict(type="OpenCVDecode")
    if model == "nonlocal":
        sample = dict(type="SampleFrames", clip_len=32, frame_interval=2, num_clips=1, test_mode=True)
    else:
        sample = dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=segments, test_mode=True)
    pipeline = [
        init,
        sample,
        decode,
        dict(type="Resize", scale=(-1, 256)),
        dict(type="CenterCrop", crop_size=224),
        dict(type="FormatShape", input_format="NCTHW" if model == "nonlocal" else "NCHW"),
        dict(type="PackActionInputs"),
    ]
    if model == "nonlocal":
        import mmaction

        cfg = Config.fromfile(str(Path(mmaction.__file__).parent / ".mim" / "configs" / NONLOCAL_CONFIG))
        cfg.model.backbone.pretrained = None  # no download: the weights are random anyway
        cfg.model.cls_head.average_clips = "prob"
        cfg.test_pipeline = pipeline
        cfg.test_dataloader.dataset.pipeline = pipeline
        return cfg
    return Config(
        dict(
            model=dict(
                type="Recognizer2D",
                backbone=BACKBONES[model],
                cls_head=HEADS[model],
                data_preprocessor=PREPROCESSOR,
            ),
            test_pipeline=pipeline,
            test_dataloader=dict(
                dataset=dict(
                    type="VideoDataset",
                    ann_file="",
                    data_prefix=dict(video=""),
                    pipeline=pipeline,
                    test_mode=True,
                )
            ),
        )
    )


def randomise(model: torch.nn.Module, seed: int) -> None:
    """He-normal convs, BN scale ~U(0.5, 1), shift/mean ~N(0, 0.1), variance ~U(0.5, 1.5),
    fc ~N(0, 4/in): finite activations, spread logits. Non-local blocks keep their small
    init (the dot product of two random projections would grow without bound)."""
    gen = torch.Generator().manual_seed(seed)
    for name, module in model.named_modules():
        nonlocal_inner = ".non_local_block" in name and not name.endswith("conv_out.bn")
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)) and not nonlocal_inner:
            fan_in = module.weight[0].numel()
            scale = (2 / fan_in) ** 0.5
            module.weight.data = torch.randn(module.weight.shape, generator=gen) * scale
        elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            c = module.num_features
            module.weight.data = torch.rand(c, generator=gen) * 0.5 + 0.5
            module.bias.data = torch.randn(c, generator=gen) * 0.1
            module.running_mean = torch.randn(c, generator=gen) * 0.1
            module.running_var = torch.rand(c, generator=gen) + 0.5
        elif isinstance(module, torch.nn.Linear):
            scale = 2 * module.in_features**-0.5
            module.weight.data = torch.randn(module.weight.shape, generator=gen) * scale
            module.bias.data = torch.randn(module.bias.shape, generator=gen) * 0.1


def init(args) -> None:
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules()
    model = MODELS.build(config(args.model, args.segments).model)
    randomise(model, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"mmengine_version": "0.10.7", "dataset_meta": {"num_classes": 400}}
    torch.save({"meta": meta, "state_dict": model.state_dict()}, args.out / "weights.pth")
    print(f"@@{json.dumps({'weights': str(args.out / 'weights.pth')})}", flush=True)


def top5(result) -> list[int]:
    return result.pred_score.topk(5).indices.tolist()


def serve(args) -> None:
    from mmaction.apis import inference_recognizer, init_recognizer
    from mmaction.utils import register_all_modules

    register_all_modules()
    torch.set_num_threads(args.threads)
    model = init_recognizer(config(args.model, args.segments), str(args.weights), device="cpu")
    print("@@" + json.dumps({"ready": True, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "quit":
            break
        times, tops = [], []
        start = time.perf_counter()
        for video in request["videos"]:
            t0 = time.perf_counter()
            tops.append(top5(inference_recognizer(model, video)))
            times.append(time.perf_counter() - t0)
        reply = {"times": times, "total": time.perf_counter() - start, "top5": tops}
        print("@@" + json.dumps(reply), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["init", "serve"])
    parser.add_argument("--model", choices=[*sorted(HEADS), "nonlocal"], required=True)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    init(args) if args.action == "init" else serve(args)


if __name__ == "__main__":
    main()
