"""Speed and logging options run end to end: bf16 AMP, accumulation, clipping, CSV logs."""
import csv

import pytest

from support import yt8m_overrides
from videozoo.config import build_config
from videozoo.engine.train import train


def test_amp_accumulation_and_clipping_train_and_log(yt8m_dir, tmp_path):
    cfg = build_config("nextvlad", overrides=yt8m_overrides("nextvlad", [
        "train.amp=true", "train.grad_accum=2", "train.clip_grad_norm=1.0",
        "train.log_interval=1", "train.epochs=1", f"data.root={yt8m_dir}"]))
    result = train(cfg, output_dir=tmp_path, device="cpu")
    # 168 training videos, global batch 16 as 2 micro-batches of 8 -> 10 full steps (+1 partial)
    assert result["steps"] in (10, 11) and result["samples"] >= 160
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert len(rows) == result["steps"]
    assert all(float(r["loss"]) > 0 and float(r["samples_per_s"]) > 0 for r in rows)
    assert float(rows[0]["lr"]) == pytest.approx(cfg["train"]["optimizer"]["lr"])
    valid = list(csv.DictReader((tmp_path / "valid_log.csv").open()))
    assert len(valid) == 1 and 0 <= float(valid[0]["gap"]) <= 1
    assert (tmp_path / "config.yaml").exists() and result["best"]


def test_tensorboard_logs_when_installed(yt8m_dir, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = build_config("attention_cluster", overrides=yt8m_overrides("attention_cluster", [
        "train.tensorboard=true", "train.epochs=1", "train.valid_interval=0",
        f"data.root={yt8m_dir}"]))
    train(cfg, output_dir=tmp_path, device="cpu")
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
