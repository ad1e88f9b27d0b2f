"""`videozoo demo`: the whole workflow on synthetic data in the real formats, in minutes on a CPU.

youtube8m track: synthesise frame-level TFRecord shards + vocabulary.csv, train a NeXtVLAD
(reference architecture, demo-sized width) for a few epochs, evaluate on the validate split
(Hit@1, PERR, GAP, mAP) and predict the test split as a Kaggle submission.
kinetics track: synthesise motion-defined H.264 clips, train TSM on a small ResNet, evaluate
and predict the raw video files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from videozoo import api
from videozoo.engine.evaluate import write_metrics
from videozoo.engine.predict import write_predictions
from videozoo.engine.runlog import format_metrics
from videozoo.errors import EXIT_INTERRUPTED

log = logging.getLogger("videozoo")

# Demo-sized settings: the same code paths as the reference configs, smaller widths.
DEMO: dict[str, dict[str, Any]] = {
    "youtube8m": {
        "model": "nextvlad",
        "synth": {"videos": 1000, "classes": 20, "max_frames": 150},
        "overrides": [
            "model.cluster_size=32",
            "model.hidden_size=256",
            "model.groups=8",
            "train.epochs=4",
            "train.batch_size=32",
            "train.optimizer.lr=1e-3",
            "train.schedule.name=constant",
            "train.log_interval=20",
            "train.num_workers=1",
            "eval.batch_size=64",
        ],
        "predict_glob": "test*.tfrecord",
        "predict_format": "kaggle",
    },
    "kinetics": {
        "model": "tsm",
        "synth": {"videos": 240, "classes": 4},
        "overrides": [
            "model.depth=18",
            "data.seg_num=8",
            "data.short_side=64",
            "data.crop_size=56",
            "data.multi_scale_crop=false",
            "data.flip=false",
            "train.epochs=6",
            "train.batch_size=16",
            "train.optimizer.lr=0.01",
            "train.schedule.name=constant",
            "train.log_interval=5",
            "train.num_workers=1",
            "eval.batch_size=16",
        ],
        "predict_glob": "test/*",
        "predict_format": "jsonl",
    },
}


def run_demo(track: str, output: str | Path, seed: int = 0) -> int:
    """Synthesise (or reuse) the track's data set in ``output/data``, then train, evaluate
    and predict in ``output/run`` through ``videozoo.api``, on the CPU; prints a summary."""
    spec = DEMO[track]
    output = Path(output)
    data_dir, run_dir = output / "data", output / "run"
    start = time.time()
    if not data_dir.exists():
        log.info("[1/4] synthesising a %s-format dataset in %s", track, data_dir)
        api.synth_dataset(track, data_dir, seed=seed, **spec["synth"])
    else:
        log.info("[1/4] reusing the dataset in %s", data_dir)
    settings = spec["overrides"] + [f"model.num_classes={spec['synth']['classes']}"]

    log.info("[2/4] training %s -> %s", spec["model"], run_dir)
    result = api.train(spec["model"], data_dir, run_dir, device="cpu", seed=seed, set=settings)
    if result.get("interrupted"):
        log.warning(
            "demo stopped by %s while training (%s kept); run it again to redo it",
            result["interrupted"],
            result["last"],
        )
        return EXIT_INTERRUPTED
    weights = result["best"] or result["last"]

    log.info("[3/4] evaluating %s on the validate split", weights)
    metrics = api.evaluate(weights, split="validate", model=spec["model"], device="cpu")
    metrics_path = write_metrics(run_dir / "demo_metrics.json", metrics)

    log.info("[4/4] predicting the test split")
    with api.Predictor(weights, device="cpu", model=spec["model"]) as predictor:
        rows = predictor.predict([str(data_dir / spec["predict_glob"])], topk=5)
    ext = "csv" if spec["predict_format"] == "kaggle" else "jsonl"
    pred_path = write_predictions(rows, run_dir / f"predictions.{ext}", spec["predict_format"])

    print()
    print(f"videozoo demo ({track}) finished in {time.time() - start:.0f} s")
    print(f"  validation metrics: {format_metrics(metrics)}")
    print(f"  checkpoint:   {weights}")
    print(f"  metrics:      {metrics_path}")
    print(f"  predictions:  {pred_path} ({len(rows)} videos)")
    print(f"  training log: {run_dir / 'train_log.csv'}")
    return 0
