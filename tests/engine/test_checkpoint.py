"""Atomic checkpoint writes, pruning, --resume auto and fine-tuning loads."""

import os

import pytest
import torch

from videozoo.errors import CheckpointError
from videozoo.serialization.checkpoint import read_checkpoint, save_checkpoint
from videozoo.serialization.format import FORMAT
from videozoo.serialization.loading import load_weights
from videozoo.serialization.runs import checkpoint_path, list_checkpoints, prune_checkpoints, resolve_resume


def _state(value):
    return {"format": FORMAT, "model_name": "toy", "model": {"w": torch.full((2,), value)}}


def test_atomic_save_leaves_previous_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt-00000001.pt"
    save_checkpoint(_state(1.0), path)

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(path)["model"]["w"], torch.full((2,), 1.0))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_prune_and_resume_auto_pick_newest(tmp_path):
    for step in (3, 12, 7, 20):
        save_checkpoint(_state(float(step)), checkpoint_path(tmp_path, step))
    prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00000012.pt", "ckpt-00000020.pt"]
    with pytest.raises(CheckpointError, match="none of the 2 checkpoint"):
        resolve_resume("auto", tmp_path)  # none of them holds training state
    assert resolve_resume("auto", tmp_path / "empty") is None


def test_load_rejects_non_checkpoints_and_other_models(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(64))
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"something": 1}, other)
    with pytest.raises(CheckpointError, match="not a videozoo checkpoint"):
        read_checkpoint(other)
    good = save_checkpoint(_state(0.0), tmp_path / "toy.pt")
    with pytest.raises(CheckpointError, match="'toy' checkpoint, not 'tsm'"):
        read_checkpoint(good, expect_model="tsm")


def test_load_weights_reinitialises_mismatched_classifier(tmp_path):
    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 5))
    path = save_checkpoint(
        {"format": FORMAT, "model_name": "toy", "model": src.state_dict()}, tmp_path / "src.pt"
    )
    dst = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 3))
    fresh_head = dst[1].weight.clone()
    report = load_weights(dst, path, "toy")
    assert torch.equal(dst[0].weight, src[0].weight)
    assert torch.equal(dst[1].weight, fresh_head)
    assert sorted(report["loaded"]) == ["0.bias", "0.weight"]
    assert len(report["mismatched"]) == 2
