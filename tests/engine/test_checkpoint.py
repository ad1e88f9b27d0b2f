"""Atomic checkpoint writes, pruning, --resume auto and fine-tuning loads."""

import os

import pytest
import torch

from videozoo.engine import checkpoint as ck


def _state(value):
    return {"format": ck.FORMAT, "model_name": "toy", "model": {"w": torch.full((2,), value)}}


def test_atomic_save_leaves_previous_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt-00000001.pt"
    ck.save_checkpoint(_state(1.0), path)

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    assert torch.equal(ck.read_checkpoint(path)["model"]["w"], torch.full((2,), 1.0))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_prune_and_resume_auto_pick_newest(tmp_path):
    for step in (3, 12, 7, 20):
        ck.save_checkpoint(_state(float(step)), ck.checkpoint_path(tmp_path, step))
    ck.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["ckpt-00000012.pt", "ckpt-00000020.pt"]
    with pytest.raises(ck.CheckpointError, match="none of the 2 checkpoint"):
        ck.resolve_resume("auto", tmp_path)  # none of them holds training state
    assert ck.resolve_resume("auto", tmp_path / "empty") is None


def test_load_rejects_non_checkpoints_and_other_models(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(64))
    with pytest.raises(ck.CheckpointError, match="not a readable PyTorch file"):
        ck.read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"something": 1}, other)
    with pytest.raises(ck.CheckpointError, match="not a videozoo checkpoint"):
        ck.read_checkpoint(other)
    good = ck.save_checkpoint(_state(0.0), tmp_path / "toy.pt")
    with pytest.raises(ck.CheckpointError, match="'toy' checkpoint, not 'tsm'"):
        ck.read_checkpoint(good, expect_model="tsm")


def test_load_weights_reinitialises_mismatched_classifier(tmp_path):
    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 5))
    path = ck.save_checkpoint(
        {"format": ck.FORMAT, "model_name": "toy", "model": src.state_dict()}, tmp_path / "src.pt"
    )
    dst = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 3))
    fresh_head = dst[1].weight.clone()
    report = ck.load_weights(dst, path, "toy")
    assert torch.equal(dst[0].weight, src[0].weight)
    assert torch.equal(dst[1].weight, fresh_head)
    assert sorted(report["loaded"]) == ["0.bias", "0.weight"]
    assert len(report["mismatched"]) == 2
