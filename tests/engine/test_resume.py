"""Never lose a run: SIGKILL + --resume auto is exact, SIGTERM checkpoints, NaN guard, fine-tune."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from support import run_videozoo, sets, yt8m_overrides

from videozoo.config import build_config
from videozoo.engine import train as train_mod
from videozoo.errors import EXIT_INTERRUPTED, TrainingStopped
from videozoo.serialization.checkpoint import read_checkpoint
from videozoo.serialization.runs import checkpoint_path, list_checkpoints

pytestmark = pytest.mark.slow  # trains, kills and resumes runs

# attention_cluster samples frames randomly and uses dropout: the strictest replay check.
MODEL = "attention_cluster"


def _overrides(extra=()):
    return yt8m_overrides(
        MODEL,
        [
            "train.batch_size=8",
            "train.valid_interval=0",
            "train.save_every_steps=2",
            "train.keep_checkpoints=50",
            "train.optimizer.lr=3e-3",
            *extra,
        ],
    )


def _train_cmd(data, out, extra=()):
    return [
        sys.executable,
        "-m",
        "videozoo",
        "train",
        MODEL,
        "--data",
        str(data),
        "--output",
        str(out),
        "--epochs",
        "2",
        "--seed",
        "3",
        "--device",
        "cpu",
        *sets(_overrides(extra)),
    ]


def _final_params(run_dir):
    last = list_checkpoints(run_dir)[-1]
    return read_checkpoint(last)["model"], last


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(yt8m_dir, tmp_path):
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    subprocess.run(_train_cmd(yt8m_dir, full_dir), check=True, capture_output=True, timeout=600)
    expected, expected_ckpt = _final_params(full_dir)

    proc = subprocess.Popen(
        _train_cmd(yt8m_dir, cut_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    target = checkpoint_path(cut_dir, 4)  # mid first epoch (about 24 steps per epoch)
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = list_checkpoints(cut_dir)[-1]
    assert read_checkpoint(killed_at)["progress"]["step_in_epoch"] > 0  # really mid-epoch

    subprocess.run(
        _train_cmd(yt8m_dir, cut_dir) + ["--resume", "auto"], check=True, capture_output=True, timeout=600
    )
    resumed, resumed_ckpt = _final_params(cut_dir)
    assert resumed_ckpt.name == expected_ckpt.name
    for name, value in expected.items():
        assert torch.equal(resumed[name], value), name


def test_sigterm_saves_a_checkpoint_and_exits_with_the_interrupted_code(yt8m_dir, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _train_cmd(yt8m_dir, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = checkpoint_path(out, 2)
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, stderr[-2000:]  # "preempted", not "finished"
    assert "stopped by SIGTERM" in stderr and "--resume auto" in stderr
    last = list_checkpoints(out)[-1]
    state = read_checkpoint(last)
    assert state["reason"] == "signal" and state["progress"]["global_step"] >= 2
    assert "Traceback" not in stderr


def test_nan_losses_skip_steps_then_stop_naming_last_checkpoint(yt8m_dir, tmp_path, monkeypatch):
    real_build = train_mod.build_model

    class NaNAfterFirstEpoch(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.poison = False

        def forward(self, batch):
            logits = self.inner(batch)
            return logits * float("nan") if self.poison else logits

    holder = {}

    def build(cfg):
        holder["model"] = NaNAfterFirstEpoch(real_build(cfg))
        return holder["model"]

    monkeypatch.setattr(train_mod, "build_model", build)
    cfg = build_config(
        MODEL,
        overrides=_overrides(["train.max_bad_steps=3", "train.save_every_steps=0"])
        + [f"data.root={yt8m_dir}", "train.epochs=1"],
    )
    train_mod.train(cfg, output_dir=tmp_path / "ok", device="cpu")
    good = list_checkpoints(tmp_path / "ok")[-1]
    before = {k: v.clone() for k, v in holder["model"].state_dict().items()}

    cfg["train"]["epochs"] = 2
    original_step = train_mod.train_step

    def poisoned_step(model, *args, **kwargs):
        holder["model"].poison = True
        return original_step(model, *args, **kwargs)

    monkeypatch.setattr(train_mod, "train_step", poisoned_step)
    with pytest.raises(TrainingStopped) as err:
        train_mod.train(cfg, output_dir=tmp_path / "ok", resume="auto", device="cpu")
    assert "3 consecutive non-finite losses" in str(err.value) and str(good) in str(err.value)
    for name, value in holder["model"].state_dict().items():  # skipped steps changed nothing
        assert torch.equal(value, before[name]), name


def test_finetune_with_other_class_count_and_clear_errors(yt8m_dir, tmp_path):
    src = tmp_path / "src"
    run_videozoo("train", MODEL, "--data", yt8m_dir, "--output", src, "--epochs", 1, *sets(_overrides()))
    weights = list_checkpoints(src)[-1]
    proc = run_videozoo(
        "train",
        MODEL,
        "--data",
        yt8m_dir,
        "--output",
        tmp_path / "ft",
        "--epochs",
        1,
        "--weights",
        weights,
        *sets(_overrides(["model.num_classes=12"])),
    )
    assert "shape-mismatched (re-initialised)" in proc.stderr and "classifier" in proc.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(100))
    proc = run_videozoo(
        "train",
        MODEL,
        "--data",
        yt8m_dir,
        "--output",
        tmp_path / "x",
        "--weights",
        junk,
        *sets(_overrides()),
        check=False,
    )
    assert proc.returncode == 2 and "not a readable PyTorch file" in proc.stderr
    proc = run_videozoo(
        "train",
        "nextvlad",
        "--data",
        yt8m_dir,
        "--output",
        tmp_path / "y",
        "--weights",
        weights,
        *sets(yt8m_overrides("nextvlad")),
        check=False,
    )
    assert proc.returncode == 2 and "'attention_cluster' checkpoint, not 'nextvlad'" in proc.stderr
