"""Shared by the run and failure fault tests: tiny checkpoints written without training."""

from dataclasses import asdict
from pathlib import Path

from support import YT8M_CLASSES, train_argv, yt8m_overrides

from videozoo.config import build_config
from videozoo.engine.optim import build_optimizer
from videozoo.engine.train import TrainState
from videozoo.registry import build_model
from videozoo.serialization.checkpoint import save_checkpoint
from videozoo.serialization.format import model_checkpoint, training_checkpoint

MODEL = "attention_cluster"
CLASS_NAMES = [f"class {i}" for i in range(YT8M_CLASSES)]


def tiny_overrides(extra=()):
    return yt8m_overrides(MODEL, ["train.valid_interval=0", *extra])


def tiny_train_argv(data, out, *options, extra=()):
    """argv of a tiny CPU training run of MODEL (no validation) on `data` into `out`; `extra`:
    more ``--set`` items, `options`: more command-line options (after the ``--set`` items)."""
    return train_argv(MODEL, data, out, "--device", "cpu", *options, overrides=tiny_overrides(extra))


def tiny_predict_argv(data, weights, *options):
    """argv of ``videozoo predict`` of MODEL with `weights` on the test shard of `data`."""
    return ["predict", MODEL, str(Path(data) / "test0000.tfrecord"), "--weights", str(weights), *options]


def tiny_checkpoint(path, data_dir, *, extra=(), training=False, epoch=0) -> Path:
    """A checkpoint of the tiny model (random weights) for ``data_dir``; ``training``: with
    optimizer, progress (``epoch`` epochs done) and RNG state, as `train` writes it."""
    cfg = build_config(MODEL, overrides=tiny_overrides(extra) + [f"data.root={data_dir}"])
    model = build_model(cfg)
    if training:
        optimizer = build_optimizer(model, cfg["train"]["optimizer"])
        state = training_checkpoint(
            cfg, model.state_dict(), optimizer, None, asdict(TrainState(epoch=epoch)), CLASS_NAMES, "epoch"
        )
    else:
        state = model_checkpoint(MODEL, model.state_dict(), cfg, CLASS_NAMES)
    return save_checkpoint(state, path)
