"""Helpers shared by the tests: tiny model sizes (one home), CLI runners."""

import os
import subprocess
import sys

#: Tiny but complete variants of every model (real layer names and code paths), as builder
#: keyword arguments: the one home of the test-model sizes (CLI tests train them in seconds).
TINY_MODELS = {
    "nextvlad": dict(cluster_size=8, hidden_size=32, groups=4, gating_reduction=4),
    "attention_lstm": dict(embedding_size=16, lstm_size=16, fusion_relu_size=32, fusion_tanh_size=16),
    "attention_cluster": dict(rgb_clusters=4, audio_clusters=4, seg_num=20, fc_size=32, fc2_size=32),
    "tsn": dict(depth=18),
    "tsm": dict(depth=18),
    "stnet": dict(depth=18, seglen=2),
    "nonlocal": dict(depth=18),
}
#: Feature sizes for feature models fed random tensors (YouTube-8M data is 1024 + 128).
SMALL_FEATURES = dict(rgb_size=64, audio_size=16)
FEATURE_MODELS = ("nextvlad", "attention_lstm", "attention_cluster")


def tiny_kwargs(name: str, small_features: bool = True, **extra) -> dict:
    """Builder kwargs of the tiny `name` (with SMALL_FEATURES for a feature model), `extra` last."""
    features = SMALL_FEATURES if small_features and name in FEATURE_MODELS else {}
    return {**TINY_MODELS[name], **features, **extra}


def as_overrides(kwargs: dict) -> list[str]:
    """dict(depth=18) -> ["model.depth=18"] (for --set and build_config)."""
    return [f"model.{key}={value}" for key, value in kwargs.items()]


# The feature models at tiny size for the CLI (real 1024 + 128 features).
TINY = {name: as_overrides(TINY_MODELS[name]) for name in FEATURE_MODELS}
YT8M_CLASSES = 8
FAST_TRAIN = [
    "train.batch_size=16",
    "train.num_workers=0",
    "eval.batch_size=32",
    "train.log_interval=5",
    "train.schedule.name=constant",
]


def yt8m_overrides(model, extra=()):
    return TINY[model] + FAST_TRAIN + [f"model.num_classes={YT8M_CLASSES}", *extra]


def run_videozoo(*args, timeout=300, env=None, check=True):
    """Run the CLI in a subprocess (for signals, torchrun and exit codes)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "videozoo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"videozoo {' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def sets(overrides):
    """['a=1', 'b=2'] -> ['--set', 'a=1', '--set', 'b=2']."""
    out = []
    for item in overrides:
        out += ["--set", item]
    return out


def train_argv(model, data, output, *options, overrides=()):
    """argv of ``videozoo train MODEL --data DATA --output OUTPUT``: each of `overrides` as a
    ``--set``, then `options` (a ``--set`` among them wins over `overrides`)."""
    return ["train", model, "--data", str(data), "--output", str(output), *sets(overrides), *options]


# Kinetics: small depth and resolution through --set, as a user on a laptop would.
KIN_CLASSES = 4
KIN_COMMON = [
    "model.depth=18",
    f"model.num_classes={KIN_CLASSES}",
    "data.short_side=40",
    "data.crop_size=32",
    "data.test_crop_size=32",
    "data.multi_scale_crop=false",
    "data.short_side_range=null",
    "train.batch_size=8",
    "train.num_workers=0",
    "eval.batch_size=8",
    "train.schedule.name=constant",
    "train.log_interval=5",
]
KIN_TINY = {
    "tsn": ["data.seg_num=3", "data.test_seg_num=3"],
    "tsm": ["data.seg_num=4", "data.test_seg_num=4"],
    "stnet": ["data.seg_num=3", "data.test_seg_num=3", "model.seglen=5"],
    "nonlocal": ["data.clip_len=4", "data.frame_interval=2", "data.test_num_clips=2", "data.test_crops=3"],
}


def kinetics_overrides(model, extra=()):
    return KIN_COMMON + KIN_TINY[model] + list(extra)
