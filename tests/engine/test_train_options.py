"""Speed and logging options run end to end: bf16 AMP, accumulation, clipping, CSV logs."""

import csv

import pytest
import torch
from support import yt8m_overrides

from videozoo.config import build_config
from videozoo.engine.train import train

pytestmark = pytest.mark.slow  # trains with accumulation, bf16 and clipping


def test_amp_accumulation_and_clipping_take_effect(yt8m_dir, tmp_path, monkeypatch):
    from videozoo.engine import train as train_mod

    dtypes, norms = [], []
    real_build, real_clip = train_mod.build_model, torch.nn.utils.clip_grad_norm_

    def build(cfg):  # record the dtype the classifier computes in (bf16 under autocast)
        model = real_build(cfg)
        model.classifier.register_forward_hook(lambda m, args, out: dtypes.append(out.dtype))
        return model

    def clip(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        before = real_clip(parameters, max_norm, *args, **kwargs)
        after = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters if p.grad is not None])
        )
        norms.append((float(before), float(after), max_norm))
        return before

    monkeypatch.setattr(train_mod, "build_model", build)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    cfg = build_config(
        "nextvlad",
        overrides=yt8m_overrides(
            "nextvlad",
            [
                "train.amp=true",
                "train.grad_accum=2",
                "train.clip_grad_norm=0.05",
                "train.log_interval=1",
                "train.epochs=1",
                f"data.root={yt8m_dir}",
            ],
        ),
    )
    result = train(cfg, output_dir=tmp_path, device="cpu")
    # 168 training videos, global batch 16 as micro-batches of 8: 21 micro-batches, grouped in
    # pairs -> 11 steps and all 168 videos (without accumulation: 10 steps, 160 videos).
    assert result["steps"] == 11 and result["samples"] == 168
    assert torch.bfloat16 in dtypes  # AMP ran
    assert len(norms) == 11 and all(max_norm == 0.05 for *_, max_norm in norms)
    assert all(after <= 0.05 * 1.001 for _, after, _ in norms)  # clipping held...
    assert any(before > 0.05 * 2 for before, _, _ in norms)  # ...and had work to do
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 12))
    assert all(float(r["loss"]) > 0 and float(r["samples_per_s"]) > 0 for r in rows)
    assert float(rows[0]["lr"]) == pytest.approx(cfg["train"]["optimizer"]["lr"])
    valid = list(csv.DictReader((tmp_path / "valid_log.csv").open()))
    assert len(valid) == 1 and 0 <= float(valid[0]["gap"]) <= 1
    assert (tmp_path / "config.yaml").exists() and result["best"]


def test_tensorboard_logs_when_installed(yt8m_dir, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = build_config(
        "attention_cluster",
        overrides=yt8m_overrides(
            "attention_cluster",
            ["train.tensorboard=true", "train.epochs=1", "train.valid_interval=0", f"data.root={yt8m_dir}"],
        ),
    )
    train(cfg, output_dir=tmp_path, device="cpu")
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
