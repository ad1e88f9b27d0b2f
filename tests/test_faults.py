"""A new user's bad day, as tests: crafted pickles, clashing file names, damaged bytes,
occupied folders, NaN runs, full disks, killed saves and bad options. Each one must end in a
clear one-line answer (and the documented exit code), never in lost work or run code."""

import csv
import errno
import io
import json
import logging
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from faults.runs_support import MODEL, tiny_overrides, tiny_predict_argv, tiny_train_argv
from support import train_argv, yt8m_overrides

from videozoo.cli import main
from videozoo.config import build_config
from videozoo.data.synth_kinetics import encode_video
from videozoo.data.tfrecord import TFRecordWriter, iter_records
from videozoo.data.youtube8m_records import encode_frame_example
from videozoo.errors import EXIT_NOTHING_USABLE, EXIT_USAGE, DiskFullError, TrainingStopped
from videozoo.fileio import atomic_write_text, remove_stale_temporaries
from videozoo.serialization.checkpoint import read_checkpoint, save_checkpoint
from videozoo.serialization.format import FORMAT
from videozoo.serialization.runs import checkpoint_path, list_checkpoints, resolve_resume

pytestmark = pytest.mark.slow  # each fault is a short training or CLI run


@pytest.fixture(scope="module")
def run_dir(yt8m_dir, tmp_path_factory):
    """A finished one-epoch tiny run: ckpt-*.pt, best.pt (validated), logs."""
    out = tmp_path_factory.mktemp("run")
    assert main(train_argv(MODEL, yt8m_dir, out, "--epochs", "1", overrides=yt8m_overrides(MODEL))) == 0
    return out


def _last(run):
    return list_checkpoints(run)[-1]


# ---------------------------------------------------------------- 1. loading never runs code
class _Payload:
    """Unpickling this creates the marker file (what an attacker's shell command would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _crafted(path, marker, ckpt=None):
    state = dict(ckpt or {"format": FORMAT, "model_name": MODEL})
    state["config"] = _Payload(marker)
    torch.save(state, path)
    return path


def test_crafted_checkpoint_runs_nothing_through_any_command(run_dir, yt8m_dir, tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = _crafted(tmp_path / "evil.pt", marker, read_checkpoint(_last(run_dir)))
    shard = str(yt8m_dir / "test0000.tfrecord")
    attempts = [
        ["eval", MODEL, "--weights", str(bad)],
        ["predict", MODEL, shard, "--weights", str(bad)],
        ["export", MODEL, "--weights", str(bad)],
        tiny_train_argv(yt8m_dir, tmp_path / "a", "--weights", str(bad)),
        tiny_train_argv(yt8m_dir, tmp_path / "b", "--resume", str(bad)),
        ["upgrade", str(bad), "--output", str(tmp_path / "up.pt")],
    ]
    dropped = tmp_path / "c"
    dropped.mkdir()
    _crafted(dropped / "ckpt-00000009.pt", marker)  # a file dropped into the run folder
    attempts.append(tiny_train_argv(yt8m_dir, dropped, "--resume", "auto"))
    for argv in attempts:
        assert main(argv) == EXIT_USAGE, argv
        err = capsys.readouterr().err
        assert "refused to load" in err and "system" in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
        assert not marker.exists(), argv


def test_checkpoints_are_plain_data_and_old_ones_still_load(run_dir, yt8m_dir, tmp_path):
    path = _last(run_dir)
    torch.load(path, weights_only=True)  # no allow-list needed: tensors and plain types only
    # A videozoo 0.1 checkpoint: numpy arrays in the RNG state, model keys that moved since.
    old = read_checkpoint(path)
    old["format"] = "videozoo-checkpoint-v1"
    old["rng"]["numpy"] = np.random.get_state()
    old["rng"]["python"] = tuple(old["rng"]["python"][:1]) + (tuple(old["rng"]["python"][1]), None)
    legacy = tmp_path / "legacy.pt"
    torch.save(old, legacy)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(legacy, weights_only=True)  # plain torch refuses the numpy arrays...
    assert (
        main(["eval", MODEL, "--weights", str(legacy), "--output", str(tmp_path / "m.json")]) == 0
    )  # ...we read them safely (numpy allowed)
    assert main(["upgrade", str(legacy), "--output", str(tmp_path / "new.pt")]) == 0
    new = torch.load(tmp_path / "new.pt", weights_only=True)
    assert new["format"] == FORMAT and isinstance(new["rng"]["numpy"]["key"], torch.Tensor)
    resumed = tiny_train_argv(yt8m_dir, tmp_path / "r", "--resume", str(tmp_path / "new.pt"), "--epochs", "2")
    assert main(resumed) == 0


def test_bare_state_dict_is_for_fine_tuning_only(run_dir, yt8m_dir, tmp_path, capsys):
    bare = tmp_path / "bare.pt"
    torch.save(read_checkpoint(_last(run_dir))["model"], bare)
    for argv in (
        ["eval", MODEL, "--weights", str(bare)],
        tiny_train_argv(yt8m_dir, tmp_path / "x", "--resume", str(bare)),
    ):
        assert main(argv) == EXIT_USAGE
        assert "bare weights (a state_dict)" in capsys.readouterr().err
    assert main(tiny_train_argv(yt8m_dir, tmp_path / "ft", "--weights", str(bare))) == 0


# ---------------------------------------------------------------- 2. nothing is lost silently
def test_occupied_run_folder_is_refused_unless_resumed_or_overwritten(run_dir, yt8m_dir, tmp_path, capsys):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    before = sorted(p.name for p in other.iterdir())
    argv = tiny_train_argv(yt8m_dir, other)
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "already holds a training run" in err and "--resume auto" in err and "--overwrite" in err
    assert sorted(p.name for p in other.iterdir()) == before  # nothing touched
    assert main(argv + ["--overwrite"]) == 0
    assert not (other / "best.pt").exists()  # the old run's best is gone, as asked


def test_resume_auto_skips_a_damaged_newest_checkpoint(run_dir, yt8m_dir, tmp_path, caplog):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    good = _last(run)
    damaged = checkpoint_path(run, 10_000)
    damaged.write_bytes(good.read_bytes()[:1000])  # a save cut short
    with caplog.at_level(logging.WARNING, logger="videozoo"):
        point = resolve_resume("auto", run, MODEL)
    assert point.path == good and damaged.name in caplog.text


def test_synth_refuses_to_overwrite_a_dataset(tmp_path, capsys):
    assert main(["synth", "youtube8m", str(tmp_path), "--videos", "20", "--classes", "3"]) == 0
    vocab = (tmp_path / "vocabulary.csv").read_text()
    assert main(["synth", "youtube8m", str(tmp_path), "--videos", "30", "--classes", "5"]) == EXIT_USAGE
    assert "already holds a dataset" in capsys.readouterr().err
    assert (tmp_path / "vocabulary.csv").read_text() == vocab
    assert main(["synth", "youtube8m", str(tmp_path), "--videos", "30", "--classes", "5", "--overwrite"]) == 0
    assert (tmp_path / "vocabulary.csv").read_text() != vocab


def test_weights_that_turn_nan_are_never_saved(yt8m_dir, tmp_path, monkeypatch):
    from videozoo.engine import train as train_mod

    cfg = build_config(
        MODEL,
        overrides=tiny_overrides(["train.epochs=1", "train.save_every_steps=1"]) + [f"data.root={yt8m_dir}"],
    )
    real_step = train_mod.train_step

    def step_then_poison(model, optimizer, *args, **kwargs):
        out = real_step(model, optimizer, *args, **kwargs)
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))  # a finite loss, then NaN weights
        return out

    monkeypatch.setattr(train_mod, "train_step", step_then_poison)
    with pytest.raises(TrainingStopped, match="became NaN/Inf.*nothing was saved"):
        train_mod.train(cfg, output_dir=tmp_path / "run", device="cpu")
    assert list_checkpoints(tmp_path / "run") == []


def test_nan_never_reaches_an_output_file(run_dir, yt8m_dir, tmp_path):
    state = read_checkpoint(_last(run_dir))
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))
    nan_ckpt = save_checkpoint(state, tmp_path / "nan.pt")
    out = tmp_path / "pred.jsonl"
    code = main(tiny_predict_argv(yt8m_dir, nan_ckpt, "--output", str(out)))
    assert code == EXIT_NOTHING_USABLE
    rows = [json.loads(line) for line in out.read_text().splitlines()]  # valid JSON throughout
    assert rows and all("non-finite" in row["error"] for row in rows)
    assert (
        main(["eval", MODEL, "--weights", str(nan_ckpt), "--output", str(tmp_path / "m.json")]) == EXIT_USAGE
    )  # said plainly, no file of NaNs
    assert not (tmp_path / "m.json").exists()


class _FullDisk(io.RawIOBase):
    """A file whose writes fail as on a full disk after ``room`` bytes."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def fileno(self):
        return self.real.fileno()

    def flush(self):
        self.real.flush()

    def close(self):
        self.real.close()
        super().close()


def test_full_disk_keeps_the_previous_file_and_says_so(run_dir, tmp_path, monkeypatch):
    import videozoo.fileio as fileio

    predictions = tmp_path / "pred.jsonl"
    atomic_write_text(predictions, "previous predictions\n")
    ckpt_path = save_checkpoint(read_checkpoint(_last(run_dir)), tmp_path / "ckpt.pt")
    ckpt_bytes = ckpt_path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        fileio.os, "fdopen", lambda fd, mode="r", *a, **k: _FullDisk(real_fdopen(fd, mode, *a, **k), 64)
    )
    with pytest.raises(DiskFullError, match=f"no space left on {tmp_path}"):
        atomic_write_text(predictions, "new predictions\n" * 1000)
    with pytest.raises(DiskFullError, match=f"no space left on {tmp_path} while writing ckpt.pt"):
        save_checkpoint(read_checkpoint(_last(run_dir)), ckpt_path)
    monkeypatch.undo()
    assert predictions.read_text() == "previous predictions\n"
    assert ckpt_path.read_bytes() == ckpt_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "pred.jsonl"]  # no leftovers


def test_stale_temporaries_of_killed_saves_are_removed_on_start(run_dir, yt8m_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    stale = run / ".ckpt-00000099.pt.x1y2z3ab.tmp"
    stale.write_bytes(b"\0" * 4096)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = run / ".best.pt.q9w8e7r6.tmp"  # another process may be saving right now: kept
    fresh.write_bytes(b"\0")
    mine = run / "notes.tmp"  # not ours: kept
    mine.write_text("x")
    assert remove_stale_temporaries(run) == 4096
    assert not stale.exists() and fresh.exists() and mine.exists()


def test_resumed_run_keeps_one_log_row_per_step(run_dir, yt8m_dir, tmp_path):
    import shutil

    from videozoo.engine.runlog import truncate_logs

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    rows = list(csv.DictReader((run / "train_log.csv").open()))
    cut = int(rows[0]["step"])
    assert truncate_logs(run, cut) >= len(rows) - 1
    kept = list(csv.DictReader((run / "train_log.csv").open()))
    assert [r["step"] for r in kept] == [str(cut)]
    assert all(int(r["step"]) <= cut for r in csv.DictReader((run / "valid_log.csv").open()))


# ---------------------------------------------------------------- 3. inputs get a clear answer
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "'train.epochs' must be >= 1"),
        (["--set", "train.log_interval=0"], "'train.log_interval' must be >= 1"),
        (["--set", "model.seg_num=-3"], "'model.seg_num' must be >= 1"),
    ],
)
def test_bad_training_options_are_one_line_errors(yt8m_dir, tmp_path, capsys, argv, message):
    assert main(tiny_train_argv(yt8m_dir, tmp_path, *argv)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_kinetics_crop_and_topk(run_dir, yt8m_dir, capsys):
    assert main(["info", "tsm", "--set", "data.crop_size=-4"]) == EXIT_USAGE
    assert "'data.crop_size' must be >= 1" in capsys.readouterr().err
    assert main(tiny_predict_argv(yt8m_dir, _last(run_dir), "--topk", "-2")) == EXIT_USAGE
    assert "--topk must be at least 1" in capsys.readouterr().err


def test_feature_model_given_videos_and_junk(run_dir, tmp_path, capsys):
    video = encode_video(tmp_path / "clip.mp4", np.zeros((4, 32, 32, 3), np.uint8), 4)
    junk = tmp_path / "junk.tfrecord"
    junk.write_bytes(os.urandom(3000))
    out = tmp_path / "p.jsonl"
    code = main(
        ["predict", MODEL, str(video), str(junk), "--weights", str(_last(run_dir)), "--output", str(out)]
    )
    assert code == EXIT_USAGE  # nothing usable among the inputs: said before any work
    err = capsys.readouterr().err
    assert "clip.mp4" in err and "a video file" in err and "CRC" not in err


def test_vocabulary_missing_warns_and_malformed_names_the_line(yt8m_dir, tmp_path, caplog):
    from videozoo.data.youtube8m_vocabulary import read_vocabulary
    from videozoo.errors import DataError

    with caplog.at_level(logging.WARNING, logger="videozoo.data"):
        names = read_vocabulary(str(tmp_path / "vocabulary.csv"), 3)
    assert names == ["class_0", "class_1", "class_2"] and "vocabulary.csv" in caplog.text
    bad = tmp_path / "vocabulary.csv"
    bad.write_text("Index,Name\n0,cat\nx,dog\n")
    with pytest.raises(DataError, match=r"vocabulary.csv, line 3: Index 'x'"):
        read_vocabulary(str(bad), None)


def test_csv_for_a_spreadsheet_does_not_carry_formulas(run_dir, tmp_path):
    rgb = np.zeros((3, 1024), np.uint8)
    audio = np.zeros((3, 128), np.uint8)
    shard = tmp_path / "test0000.tfrecord"
    with TFRecordWriter(shard) as writer:
        writer.write(encode_frame_example('=HYPERLINK("x")', None, rgb, audio))
        writer.write(encode_frame_example("@SUM(A1)", None, rgb, audio))
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "predict",
                MODEL,
                str(shard),
                "--weights",
                str(_last(run_dir)),
                "--output",
                str(out),
                "--csv-escape",
            ]
        )
        == 0
    )
    ids = {row["id"] for row in csv.DictReader(out.open())}
    assert ids == {'\'=HYPERLINK("x")', "'@SUM(A1)"}


def test_sigterm_during_validation_checkpoints_at_once(yt8m_dir, tmp_path, monkeypatch):
    from videozoo.engine import train as train_mod

    class SignalledFlag(train_mod._StopFlag):
        def __enter__(self):
            self.signal_name = None
            return self

    cfg = build_config(MODEL, overrides=yt8m_overrides(MODEL, ["train.epochs=2"]) + [f"data.root={yt8m_dir}"])
    real_validate = train_mod.validate_and_checkpoint

    def validate_with_signal(run, epoch, stop):
        stop.signal_name = "SIGTERM"  # arrives as validation starts
        return real_validate(run, epoch, stop)

    monkeypatch.setattr(train_mod, "_StopFlag", SignalledFlag)
    monkeypatch.setattr(train_mod, "validate_and_checkpoint", validate_with_signal)
    result = train_mod.train(cfg, output_dir=tmp_path / "run", device="cpu")
    assert result["interrupted"] == "SIGTERM"
    state = read_checkpoint(result["last"])
    assert state["reason"] == "signal" and state["progress"]["epoch"] == 1  # epoch 1 kept
    assert state["progress"]["best"] is None  # its validation did not finish


def test_check_lists_bad_videos_and_damaged_records(yt8m_dir, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    encode_video(data / "good.mp4", np.zeros((6, 32, 32, 3), np.uint8), 6)
    (data / "empty.mp4").write_bytes(b"")
    (data / "cut.mp4").write_bytes((data / "good.mp4").read_bytes()[:300])
    shard = data / "train0000.tfrecord"
    shard.write_bytes((yt8m_dir / "train0000.tfrecord").read_bytes())
    raw = bytearray(shard.read_bytes())
    first = len(bytes(next(iter_records(yt8m_dir / "train0000.tfrecord"))))
    raw[16 + first + 20] ^= 0xFF  # a data byte of the second record
    shard.write_bytes(bytes(raw))
    report = tmp_path / "bad.csv"
    assert main(["check", str(data), "--output", str(report), "--workers", "2"]) == EXIT_NOTHING_USABLE
    rows = list(csv.DictReader(report.open()))
    by_file = {Path(r["path"]).name: r["reason"] for r in rows}
    assert set(by_file) == {"empty.mp4", "cut.mp4", "train0000.tfrecord"}
    assert "data CRC mismatch" in by_file["train0000.tfrecord"]
    assert '"bad_files": 3' in capsys.readouterr().out
    assert main(["check", str(yt8m_dir), "--output", str(tmp_path / "ok.csv")]) == 0
    assert list(csv.DictReader((tmp_path / "ok.csv").open())) == []


def test_phone_video_with_rotation_is_decoded_upright(tmp_path):
    import av

    from videozoo.data.video import VideoReader

    path = tmp_path / "phone.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("h264", rate=8)
    stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
    stream.set_display_rotation(90)  # as a phone held upright records it
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :16] = 255  # a white band along the stored frame's left edge
    for _ in range(4):
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with VideoReader(path) as reader:
        frame = reader.read([0])[0]
    assert frame.shape[:2] == (64, 32)  # portrait, as shown by players
    # Turned 90 degrees counter-clockwise: the left edge is now the bottom edge.
    assert frame[-12:].mean() > 200 and frame[:40].mean() < 60
