"""Training from video files: does the input pipeline keep up with the model step?

For TSN / TSM (8 segments x 1 frame, 224 crops, the training transform: multi-scale crop for
TSM, flip) on H.264 files (340x256, 25 fps, ``bench_e2e.make_videos``):

* clips/s decoded per worker: the training ``VideoClips`` items (open + decode + sample +
  crop/flip + normalise) in one process;
* the model step on pre-decoded tensors: forward + backward + SGD step on one batch already
  in memory (channels_last, as ``train`` runs it);
* the whole step: the same steps fed by the ``VideoSource`` with ``--workers`` DataLoader
  workers decoding real clips (worker start-up excluded: the first step is not timed).

Printed: the ratio whole step / model step (>= 0.9 means the loader keeps up) and how many
workers a GPU step of ``--gpu-step`` seconds would need at the measured decoding rate.

    python benchmarks/bench_train_input.py [--model tsm] [--batch-size 2] [--steps 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_e2e import make_videos

HERE = Path(__file__).resolve().parent


def training_source(videos, model: str, batch_size: int, workers: int):
    from videozoo.data.layouts.common import VideoRecord
    from videozoo.data.video_format import DEFAULTS, VideoClips, VideoSource

    cfg = {**DEFAULTS, "seg_num": 8, "multi_scale_crop": model == "tsm", "flip": True}
    records = [VideoRecord(str(v), i % 4, str(v)) for i, v in enumerate(videos)]
    clips = VideoClips(records, cfg, training=True, seed=0)
    return clips, VideoSource(
        clips, [str(i) for i in range(4)], batch_size=batch_size, seed=0, num_workers=workers
    )


def main(argv=None) -> None:
    from videozoo.registry import create_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tsn", "tsm"], default="tsm")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--gpu-step", type=float, default=0.1)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "videozoo_e2e"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    videos = make_videos(Path(args.workdir) / "videos_10s", args.videos, 10)
    clips, source = training_source(videos, args.model, args.batch_size, args.workers)
    t0 = time.perf_counter()
    decoded = [clips[(0, i)] for i in range(len(clips))]
    per_worker = len(decoded) / (time.perf_counter() - t0)

    torch.manual_seed(0)
    model = create_model(args.model, num_classes=4).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step(batch):
        optimizer.zero_grad(set_to_none=True)
        logits = model({"video": batch["video"].flatten(0, 1)})
        torch.nn.functional.cross_entropy(logits, batch["label"]).backward()
        optimizer.step()

    ready = {
        "video": torch.stack([d["video"] for d in decoded[: args.batch_size]]),
        "label": torch.tensor([d["label"] for d in decoded[: args.batch_size]]),
    }
    step(ready)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(ready)
    model_step = (time.perf_counter() - t0) / args.steps

    whole, epoch = [], 0
    while len(whole) < args.steps:
        batches = iter(source.batches(epoch))
        step(next(batches))  # worker start-up and the first batch: not timed
        t0 = time.perf_counter()
        for batch in batches:
            step(batch)
            whole.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            if len(whole) == args.steps:
                break
        epoch += 1
    whole_step = float(np.mean(whole))
    result = {
        "model": args.model,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": torch.get_num_threads(),
        "clips_per_s_per_worker": per_worker,
        "model_step_s": model_step,
        "whole_step_s": whole_step,
        "keeps_up_ratio": model_step / whole_step,
        "workers_for_gpu_step": args.batch_size / args.gpu_step / per_worker,
        "gpu_step_s": args.gpu_step,
    }
    print(json.dumps(result, indent=2))
    out = args.json or HERE / "results" / f"train_input_{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw results: {out}")


if __name__ == "__main__":
    main()
