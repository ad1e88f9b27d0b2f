"""Distributed training and evaluation on 2 CPU processes (gloo) equal one process."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_support import OPT_CFG, global_batch, make_model, slice_batch
from support import run_videozoo, sets, yt8m_overrides

from videozoo.engine.distributed import DistContext
from videozoo.engine.optim import build_optimizer
from videozoo.engine.tasks import MultiLabelTask
from videozoo.engine.train import train_step

pytestmark = pytest.mark.slow  # spawns torchrun process groups

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args, nproc=2):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        *map(str, args),
    ]


def _single_step(micro_batches):
    model = make_model()
    optimizer = build_optimizer(model, OPT_CFG)
    task = MultiLabelTask(10, [str(i) for i in range(10)])
    out = train_step(model, optimizer, task, micro_batches, DistContext())
    return model.state_dict(), out


def test_ddp_step_equals_single_process_step(tmp_path):
    out_file = tmp_path / "ddp.pt"
    proc = subprocess.run(
        _torchrun(HERE / "ddp_step_worker.py", out_file, HERE.parent),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_params = torch.load(out_file)
    single_params, out = _single_step([global_batch()])
    assert out["samples"] == 8 and out["finite"]
    untouched = make_model().state_dict()
    moved = 0
    for name, value in single_params.items():
        torch.testing.assert_close(ddp_params[name], value, rtol=1e-5, atol=1e-6)
        moved += not torch.equal(value, untouched[name])
    assert moved > 0  # the step really changed the parameters


def test_gradient_accumulation_equals_full_batch():
    batch = global_batch()
    full, _ = _single_step([batch])
    # Uneven micro-batches: the loss is weighted by samples, not averaged per micro-batch.
    accumulated, out = _single_step([slice_batch(batch, 0, 3), slice_batch(batch, 3, 8)])
    assert out["samples"] == 8
    for name, value in full.items():
        torch.testing.assert_close(accumulated[name], value, rtol=1e-5, atol=1e-6)


def test_torchrun_training_and_distributed_eval_equal_single_process(yt8m_dir, tmp_path):
    over = sets(yt8m_overrides("nextvlad", ["train.valid_interval=0"]))
    run = tmp_path / "run"
    proc = subprocess.run(
        _torchrun(
            "-m",
            "videozoo",
            "train",
            "nextvlad",
            "--data",
            yt8m_dir,
            "--output",
            run,
            "--epochs",
            1,
            "--device",
            "cpu",
            *over,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = sorted(run.glob("ckpt-*.pt"))
    assert len(ckpts) == 1  # rank 0 alone writes checkpoints
    weights = ckpts[0]
    run_videozoo("eval", "nextvlad", "--weights", weights, "--output", tmp_path / "one.json")
    proc = subprocess.run(
        _torchrun(
            "-m",
            "videozoo",
            "eval",
            "nextvlad",
            "--weights",
            weights,
            "--device",
            "cpu",
            "--output",
            tmp_path / "two.json",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    assert one["num_videos"] == two["num_videos"] > 0
    for key in ("hit_at_one", "perr", "gap", "map"):
        assert two[key] == pytest.approx(one[key], abs=1e-12), key
