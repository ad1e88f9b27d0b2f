"""Runs that cannot be lost: one writer per output folder (a lock with pid and host), a
SIGTERM to the whole process group checkpoints and exits 75 (also under torchrun), occupied
export/embed outputs are refused, atomic writes keep file modes. Processes are synchronised
through files and pipes (a checkpoint appearing, a "ready" line), never by sleeping."""

import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults.runs_support import MODEL, tiny_checkpoint, tiny_train_argv

from videozoo.cli import main
from videozoo.data.tfrecord import TFRecordWriter
from videozoo.errors import EXIT_INTERRUPTED, EXIT_USAGE, OutputBusyError
from videozoo.fileio import atomic_write_text
from videozoo.runlock import LOCK_NAME, hold_output
from videozoo.serialization.runs import checkpoint_path, resolve_resume

SIGNAL_RUN = ["train.batch_size=4", "train.num_workers=2", "train.save_every_steps=2"]


def _train_argv(data, out, extra=()):
    return tiny_train_argv(data, out, "--epochs", "50", extra=[*SIGNAL_RUN, *extra])


def _start_group(argv: list[str]) -> subprocess.Popen:
    """`argv` started as the leader of a new process group (signalled as a whole), its output
    captured as text."""
    return subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(path: Path, proc: subprocess.Popen, limit_s: float = 300) -> None:
    """Poll for a file the process writes (the handshake); fail if the process ends first."""
    deadline = time.monotonic() + limit_s
    while not path.exists():
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name} after {limit_s} s"
        time.sleep(0.01)


# ---------------------------------------------------------------- the lock
HOLDER = """
import sys
from videozoo.runlock import hold_output
with hold_output(sys.argv[1], "train"):
    print("ready", flush=True)
    sys.stdin.read()
"""


def _start_holder(folder):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_locked_folder_refuses_a_second_writer_and_a_dead_holder_is_named(tmp_path, caplog):
    logging.getLogger("videozoo").addHandler(caplog.handler)  # the CLI stops propagation
    folder = tmp_path / "run"
    holder = _start_holder(folder)
    try:
        with pytest.raises(OutputBusyError, match=rf"in use by videozoo train \(pid {holder.pid} on "):
            with hold_output(folder, "train"):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup, the lock file stays with the dead holder's pid
        holder.wait()
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="videozoo"):
        with hold_output(folder, "train"):
            assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    logging.getLogger("videozoo").removeHandler(caplog.handler)
    assert f"stale lock of videozoo train (pid {holder.pid}" in caplog.text
    assert "no longer running" in caplog.text
    assert not (folder / LOCK_NAME).exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "youtube8m", "{out}", "--videos", "10", "--classes", "3"],
        ["extract", "{data}/test0000.tfrecord", "--output", "{out}"],
        ["embed", MODEL, "{data}/test0000.tfrecord", "--weights", "{ckpt}", "--output", "{out}"],
        ["export", MODEL, "--weights", "{ckpt}", "--format", "bundle", "--output", "{out}"],
        ["export", MODEL, "--weights", "{ckpt}", "--format", "onnx", "--output", "{out}/m.onnx"],
    ],
    ids=["synth", "extract", "embed", "export-bundle", "export-onnx"],
)
def test_every_command_writing_a_folder_refuses_a_locked_one(argv, yt8m_dir, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pt", yt8m_dir)
    out = tmp_path / "out"
    argv = [a.format(out=out, data=yt8m_dir, ckpt=ckpt) for a in argv]
    target = Path(argv[argv.index("--output") + 1]) if "--output" in argv else out
    folder = target.suffix != ".onnx"
    with hold_output(target, "train", folder=folder):
        assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"in use by videozoo train (pid {os.getpid()}" in err[0]
    assert not out.exists() or sorted(os.listdir(out)) == []  # nothing written


@pytest.mark.slow  # a training process, killed
def test_group_sigterm_checkpoints_and_exits_75_while_a_second_train_is_refused(yt8m_dir, tmp_path, capsys):
    out = tmp_path / "run"
    proc = _start_group([sys.executable, "-m", "videozoo", *_train_argv(yt8m_dir, out)])
    try:
        _wait_for(checkpoint_path(out, 2), proc)
        # two trains, or two --resume auto, into one folder: the second refuses in one line
        for extra in ([], ["--resume", "auto"]):
            assert main(_train_argv(yt8m_dir, out) + extra) == EXIT_USAGE
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"in use by videozoo train (pid {proc.pid} on " in err[0]
        os.killpg(proc.pid, signal.SIGTERM)  # what timeout, systemd and Slurm do
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == EXIT_INTERRUPTED, stderr[-2000:]
    assert "stopped by SIGTERM" in stderr and "internal error" not in stderr
    point = resolve_resume("auto", out, MODEL)
    assert point.state["reason"] == "signal" and point.state["progress"]["global_step"] >= 2
    assert not (out / LOCK_NAME).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # a torchrun process group, killed
def test_torchrun_group_sigterm_every_rank_checkpoints_and_exits_75(yt8m_dir, tmp_path):
    out = tmp_path / "run"
    train = " ".join(
        f"'{a}'"
        for a in [sys.executable, "-m", "videozoo", *_train_argv(yt8m_dir, out, ["train.num_workers=1"])]
    )
    # Each rank runs in a shell that survives the signal (the trap runs after the rank ends)
    # only to record the rank's own exit code.
    rank_cmd = f"trap : TERM INT; {train}; echo $? > '{tmp_path}'/rc.$RANK"
    proc = _start_group(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_addr=127.0.0.1",
            f"--master_port={_free_port()}",
            "--no-python",
            "sh",
            "-c",
            rank_cmd,
        ]
    )
    try:
        _wait_for(checkpoint_path(out, 2), proc)
        os.killpg(proc.pid, signal.SIGTERM)  # what torchrun's agent and Slurm preemption send
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    codes = [(tmp_path / f"rc.{rank}").read_text().strip() for rank in (0, 1)]
    assert codes == [str(EXIT_INTERRUPTED)] * 2, stderr[-3000:]
    assert "killed by signal" not in stderr and "internal error" not in stderr
    assert resolve_resume("auto", out, MODEL).state["reason"] == "signal"


# ---------------------------------------------------------------- occupied outputs
def test_bundle_export_refuses_an_occupied_folder_and_overwrite_keeps_other_files(yt8m_dir, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pt", yt8m_dir)
    out = tmp_path / "share"
    out.mkdir()
    (out / "README.md").write_text("my notes")
    (out / "config.json").write_text("{}")
    (out / "notes.txt").write_text("keep me")
    argv = ["export", MODEL, "--weights", str(ckpt), "--format", "bundle", "--output", str(out)]
    assert main(argv) == EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "my notes"  # untouched
    assert main(argv + ["--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["README.md", "config.json", "model.safetensors", "notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_embed_refuses_an_occupied_folder_and_overwrite_removes_only_its_stale_files(
    yt8m_dir, tmp_path, capsys
):
    ckpt = tiny_checkpoint(tmp_path / "m.pt", yt8m_dir)
    out = tmp_path / "emb"
    shards = sorted(str(p) for p in Path(yt8m_dir).glob("test*.tfrecord"))
    base = ["embed", MODEL, "--weights", str(ckpt), "--output", str(out)]
    assert main(base[:2] + shards + base[2:]) == 0
    first = sorted(os.listdir(out))
    assert len(first) > 3 and "index.csv" in first
    (out / "mine.txt").write_text("not embed's")
    assert main(base[:2] + shards[:1] + base[2:]) == EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err and sorted(os.listdir(out)) == sorted(
        first + ["mine.txt"]
    )
    assert main(base[:2] + shards[:1] + base[2:] + ["--format", "npz", "--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["embeddings.npz", "index.csv", "mine.txt"]


# ---------------------------------------------------------------- file modes
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask_and_rewrites_keep_the_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "a.json", "{}")
        with TFRecordWriter(tmp_path / "s.tfrecord") as writer:
            writer.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "s.tfrecord").stat().st_mode) == mode
    text.chmod(0o640)
    atomic_write_text(text, "{1}")
    assert stat.S_IMODE(text.stat().st_mode) == 0o640 and text.read_text() == "{1}"
