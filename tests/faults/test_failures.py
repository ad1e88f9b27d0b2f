"""Every failure one clear line with the documented exit code (README, "What happens when
things go wrong"): each case here ended in "internal error" (exit 1), in exit 0 although
something was wrong, or in an unclear message. Each is a direct CLI call that fails before
(or without) a training step, so the file runs in seconds."""

import errno
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from faults.runs_support import MODEL, tiny_checkpoint, tiny_predict_argv, tiny_train_argv
from support import kinetics_overrides, train_argv

from videozoo.cli import main
from videozoo.data import tfrecord
from videozoo.engine import train as train_mod
from videozoo.errors import EXIT_NOTHING_USABLE, EXIT_USAGE
from videozoo.serialization.runs import checkpoint_path, list_checkpoints


def error_line(capsys, command: str) -> str:
    """The one error line of ``videozoo COMMAND`` (log lines above it are fine)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith(f"videozoo {command}:")]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


@pytest.fixture()
def checkpoint(yt8m_dir, tmp_path):
    return tiny_checkpoint(tmp_path / "model.pt", yt8m_dir)


@pytest.fixture()
def resumable(yt8m_dir, tmp_path):
    """A run folder holding one training checkpoint (epoch 1 of 1 done: resuming trains no step)."""
    run = tmp_path / "run"
    tiny_checkpoint(checkpoint_path(run, 5), yt8m_dir, training=True, epoch=1)
    return run


# ---------------------------------------------------------------- files that are not what they say
def test_sparse_tensor_in_a_pth(tmp_path, capsys):
    torch.save({"conv.weight": torch.eye(3).to_sparse()}, tmp_path / "w.pth")
    assert (
        main(
            [
                "convert",
                str(tmp_path / "w.pth"),
                "--model",
                "tsm",
                "--from",
                "mit-tsm",
                "--output",
                str(tmp_path / "o.pt"),
            ]
        )
        == EXIT_USAGE
    )
    assert "conv.weight is sparse_coo, not dense" in error_line(capsys, "convert")


def test_checkpoint_whose_rng_is_an_object_array(resumable, yt8m_dir, capsys):
    path = list_checkpoints(resumable)[-1]
    state = torch.load(path, weights_only=False)
    state["rng"]["numpy"] = np.array([1, "a", None], dtype=object)
    torch.save(state, path)
    assert main(tiny_train_argv(yt8m_dir, resumable, "--resume", "auto")) == EXIT_USAGE
    assert "random-number state ('rng') is damaged" in error_line(capsys, "train")


def test_binary_yaml_and_binary_vocabulary(yt8m_dir, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe\x00\x81binary")
    assert (
        main(tiny_train_argv(yt8m_dir, tmp_path / "a", "--config", str(tmp_path / "bad.yaml"))) == EXIT_USAGE
    )
    assert "bad.yaml is not a UTF-8 text file" in error_line(capsys, "train")
    data = tmp_path / "data"
    shutil.copytree(yt8m_dir, data)
    (data / "vocabulary.csv").write_bytes(b"\xff\xfe\x00\x81binary\n1,2\n")
    assert main(tiny_train_argv(data, tmp_path / "b")) == EXIT_USAGE
    assert "vocabulary.csv: not a readable UTF-8 CSV" in error_line(capsys, "train")


def test_kinetics_train_csv_without_a_label_column(tmp_path, capsys):
    from videozoo.data.synth_kinetics import synth_kinetics

    data = synth_kinetics(tmp_path / "k", videos=2, eval_videos=0, classes=2, size=32, frames=8)
    rows = (data / "train.csv").read_text().splitlines()
    (data / "train.csv").write_text("\n".join(",".join(r.split(",")[1:]) for r in rows) + "\n")
    overrides = kinetics_overrides("tsn", ["model.num_classes=null"])
    assert (
        main(train_argv("tsn", data, tmp_path / "run", "--device", "cpu", overrides=overrides)) == EXIT_USAGE
    )
    assert "2 of the 2 training videos of split 'train' have no label" in error_line(capsys, "train")


def test_bundle_with_fewer_class_names_than_classes(checkpoint, yt8m_dir, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    assert (
        main(["export", MODEL, "--weights", str(checkpoint), "--format", "bundle", "--output", str(bundle)])
        == 0
    )
    meta = json.loads((bundle / "config.json").read_text())
    meta["class_names"] = meta["class_names"][:5]
    (bundle / "config.json").write_text(json.dumps(meta))
    assert main(tiny_predict_argv(yt8m_dir, bundle, "--output", str(tmp_path / "p.jsonl"))) == EXIT_USAGE
    assert "5 class names for a model with 8 classes" in error_line(capsys, "predict")


# ---------------------------------------------------------------- settings no run can use
@pytest.mark.parametrize(
    "extra, expected",
    [
        (["train.optimizer.lr=.nan"], "'train.optimizer.lr' must be a finite number"),
        (["model.num_classes=5"], "model.num_classes=5 but"),
        (["train.batch_size=4096"], "no step could be taken"),
    ],
    ids=["lr-nan", "num-classes-vs-vocabulary", "batch-larger-than-data"],
)
def test_training_settings_refused_before_any_step(extra, expected, yt8m_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_train_argv(yt8m_dir, out, extra=extra)) == EXIT_USAGE
    assert expected in error_line(capsys, "train")
    assert not list_checkpoints(out)  # no step-less checkpoint


def test_alias_list_in_decay_only(yt8m_dir, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(
        "train:\n  optimizer:\n    decay_only: &names [classifier]\n    no_decay: [*names]\n"
    )
    assert (
        main(tiny_train_argv(yt8m_dir, tmp_path / "run", "--config", str(tmp_path / "c.yaml"))) == EXIT_USAGE
    )
    assert "train.optimizer.no_decay lists parameter-name substrings" in error_line(capsys, "train")


@pytest.mark.parametrize("dataset", ["youtube8m", "kinetics"])
@pytest.mark.parametrize("option", [["--videos", "0"], ["--videos", "-5"], ["--classes", "0"]])
def test_synth_counts_below_one(dataset, option, tmp_path, capsys):
    assert main(["synth", dataset, str(tmp_path / "d"), *option]) == EXIT_USAGE
    assert f"must be at least 1, got {option[1]}" in error_line(capsys, "synth")
    assert not (tmp_path / "d").exists()


def test_predict_topk_0_and_an_empty_shard(checkpoint, yt8m_dir, tmp_path, capsys):
    argv = tiny_predict_argv(yt8m_dir, checkpoint, "--output", str(tmp_path / "p.jsonl"))
    assert main(argv + ["--topk", "0"]) == EXIT_USAGE
    assert "--topk must be at least 1, got 0" in error_line(capsys, "predict")
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    argv[2] = str(tmp_path / "empty.tfrecord")
    assert main(argv) == EXIT_NOTHING_USABLE
    assert "nothing to process" in error_line(capsys, "predict")


# ---------------------------------------------------------------- outputs the OS refuses
@pytest.fixture()
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = os.geteuid() == 0  # root writes through permissions: make it immutable
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr: cannot make a read-only folder")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def _write_commands(data, checkpoint, target):
    return {
        "train": tiny_train_argv(data, target),
        "predict": tiny_predict_argv(data, checkpoint, "--output", str(target / "p.jsonl")),
        "synth": ["synth", "youtube8m", str(target / "d"), "--videos", "6", "--classes", "2"],
        "export": [
            "export",
            MODEL,
            "--weights",
            str(checkpoint),
            "--format",
            "bundle",
            "--output",
            str(target / "b"),
        ],
    }


@pytest.mark.parametrize("command", ["train", "predict", "synth", "export"])
def test_read_only_output_folder(command, read_only_dir, checkpoint, yt8m_dir, capsys):
    argv = _write_commands(yt8m_dir, checkpoint, read_only_dir)[command]
    if command == "train":
        argv[argv.index("--output") + 1] = str(read_only_dir)
    assert main(argv) == EXIT_USAGE
    line = error_line(capsys, command)
    assert "permission denied" in line and ".tmp" not in line


@pytest.mark.parametrize("command", ["train", "predict", "synth", "export"])
def test_output_whose_parent_is_a_file(command, checkpoint, yt8m_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(_write_commands(yt8m_dir, checkpoint, blocker)[command]) == EXIT_USAGE
    assert f"{blocker} is a file, not a folder" in error_line(capsys, command)


def test_full_disk_during_synth(tmp_path, monkeypatch, capsys):
    real_fdopen = os.fdopen

    def onto_full_disk(fd, mode="r", *args, **kwargs):  # every write fails with ENOSPC
        if "w" not in mode:
            return real_fdopen(fd, mode, *args, **kwargs)
        os.close(fd)
        return open("/dev/full", "wb")

    monkeypatch.setattr(tfrecord.os, "fdopen", onto_full_disk)
    out = tmp_path / "d"
    assert main(["synth", "youtube8m", str(out), "--videos", "20", "--classes", "2"]) == EXIT_USAGE
    line = error_line(capsys, "synth")
    assert f"no space left on {out} while writing train0000.tfrecord" in line
    assert not out.exists() or not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_errno_names_the_target_not_the_temporary(checkpoint, yt8m_dir, tmp_path, capsys):
    (tmp_path / "p.jsonl").mkdir()  # the output exists, as a folder
    assert main(tiny_predict_argv(yt8m_dir, checkpoint, "--output", str(tmp_path / "p.jsonl"))) == EXIT_USAGE
    line = error_line(capsys, "predict")
    assert f"cannot write {tmp_path / 'p.jsonl'}" in line and ".tmp" not in line


# ---------------------------------------------------------------- resuming
def test_resume_with_another_architecture_is_one_line(resumable, yt8m_dir, capsys):
    assert (
        main(
            tiny_train_argv(
                yt8m_dir, resumable, "--resume", "auto", "--epochs", "2", extra=["model.fc_size=16"]
            )
        )
        == EXIT_USAGE
    )
    line = error_line(capsys, "train")
    assert "its weights do not fit the model built for this run (size mismatch" in line


def test_resume_with_changed_settings_says_what_changed_and_which_wins(
    resumable, yt8m_dir, monkeypatch, capsys
):
    seen = {}

    def record(run):
        seen["base_lr"] = run.optimizer.param_groups[0]["base_lr"]
        return {}

    monkeypatch.setattr(train_mod, "_run_epochs", record)
    assert (
        main(
            tiny_train_argv(
                yt8m_dir,
                resumable,
                "--resume",
                "auto",
                extra=["train.optimizer.lr=0.5", "train.batch_size=8"],
            )
        )
        == 0
    )
    log = capsys.readouterr().err  # the CLI logs to stderr
    assert re.search(r"train\.optimizer\.lr [0-9.e-]+ -> 0\.5", log), log
    assert "train.batch_size 16 -> 8" in log and "the values given now are used" in log
    assert seen["base_lr"] == 0.5  # the optimizer really uses the new value


def test_resume_class_count_mismatch_names_the_checkpoint(yt8m_dir, tmp_path, capsys):
    run = tmp_path / "run"
    path = tiny_checkpoint(checkpoint_path(run, 5), yt8m_dir, training=True, extra=["model.num_classes=5"])
    assert main(train_argv(MODEL, yt8m_dir, run, "--device", "cpu", "--resume", "auto")) == EXIT_USAGE
    line = error_line(capsys, "train")
    assert f"the checkpoint {path} was trained for 5 classes but the training data has 8" in line
    assert "--set" not in line  # the user set nothing


def test_resume_auto_over_only_damaged_checkpoints_says_so(yt8m_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    checkpoint_path(run, 4).write_bytes(b"PK\x03\x04 cut short")
    assert main(tiny_train_argv(yt8m_dir, run, "--resume", "auto")) == EXIT_USAGE
    line = error_line(capsys, "train")
    assert "none of the 1 checkpoint(s)" in line and "damaged" in line


def test_os_error_line_never_names_a_temporary(tmp_path):
    from videozoo.fileio import describe_os_error

    err = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".ckpt.pt.ab12cd34.tmp"))
    text = describe_os_error(err)
    assert str(tmp_path / "ckpt.pt") in text and ".tmp" not in text
