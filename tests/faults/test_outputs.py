"""Outputs that keep the data as it is: ids verbatim in every machine-readable output,
``check`` reporting what predict would otherwise pass over (empty shards, duplicate and
non-UTF-8 ids, rgb/audio length mismatches, FIFOs named like videos), and the Python API
refusing inputs it cannot score instead of returning NaN or a raw traceback."""

import csv
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from support import TINY

from videozoo.api import Predictor
from videozoo.cli import main
from videozoo.config import build_config
from videozoo.data.tfrecord import TFRecordWriter
from videozoo.data.video import VideoReader, VideoReadError
from videozoo.data.youtube8m_records import encode_frame_example
from videozoo.engine.predict import format_predictions
from videozoo.errors import EXIT_NOTHING_USABLE, EXIT_USAGE, DataError
from videozoo.registry import build_model
from videozoo.serialization.checkpoint import save_checkpoint
from videozoo.serialization.format import model_checkpoint

MODEL = "attention_cluster"
CLASSES = 4
IDS = ["-abc", "=SUM(A1)", "+1", "@x", "plain"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """An untrained tiny checkpoint (prediction needs weights, not good ones)."""
    cfg = build_config(MODEL, overrides=TINY[MODEL] + [f"model.num_classes={CLASSES}", "train.amp=false"])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_checkpoint(
        model_checkpoint(MODEL, build_model(cfg).state_dict(), cfg, [f"c{i}" for i in range(CLASSES)]), path
    )
    return path


def _frames(count, audio_count=None):
    rng = np.random.default_rng(count)
    return (
        rng.integers(0, 255, (count, 1024), dtype=np.uint8),
        rng.integers(0, 255, (count if audio_count is None else audio_count, 128), dtype=np.uint8),
    )


def _shard(path, records):
    with TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


# ----------------------------------------------------------------------------- ids verbatim
@pytest.mark.parametrize("fmt", ["kaggle", "csv"])
def test_predictions_keep_ids_verbatim(weights, tmp_path, fmt):
    shard = _shard(
        tmp_path / "test0000.tfrecord", [encode_frame_example(vid, None, *_frames(5)) for vid in IDS]
    )
    out = tmp_path / f"p.{fmt}"
    assert (
        main(["predict", MODEL, str(shard), "--weights", str(weights), "--output", str(out), "--format", fmt])
        == 0
    )
    rows = list(csv.reader(out.open(newline="")))[1:]
    assert list(dict.fromkeys(row[0] for row in rows)) == IDS


def test_spreadsheet_escape_is_an_explicit_csv_option(weights, tmp_path, capsys):
    rows = [{"id": vid, "class_ids": [1], "class_names": ["=c1"], "scores": [0.5]} for vid in IDS]
    escaped = list(csv.reader(format_predictions(rows, "csv", csv_escape=True).splitlines()))
    assert [row[0] for row in escaped[1:]] == ["'-abc", "'=SUM(A1)", "'+1", "'@x", "plain"]
    assert escaped[1][3] == "'=c1"
    capsys.readouterr()
    assert (
        main(
            ["predict", MODEL, "x.tfrecord", "--weights", str(weights), "--format", "kaggle", "--csv-escape"]
        )
        == EXIT_USAGE
    )
    assert "--csv-escape is for --format csv" in capsys.readouterr().err


# ----------------------------------------------------------------------------- check
def _non_utf8_record():
    record = encode_frame_example("@@@@", None, *_frames(4))
    return record.replace(b"@@@@", b"\xff\xfeab")


def _check(tmp_path, *inputs):
    """Run ``check`` with an alarm: a FIFO opened by mistake would block forever."""
    report = tmp_path / "report.csv"
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("check blocked on a FIFO"))
    signal.alarm(60)
    try:
        code = main(["check", *map(str, inputs), "--output", str(report), "--workers", "1"])
    finally:
        signal.alarm(0)
    return code, list(csv.DictReader(report.open(newline="", encoding="utf-8")))


def test_check_reports_what_predict_would_pass_over(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "empty0000.tfrecord").write_bytes(b"")
    _shard(
        data / "a0000.tfrecord",
        [
            encode_frame_example("-dup", None, *_frames(4)),
            encode_frame_example("ok", None, *_frames(4)),
            encode_frame_example("-dup", None, *_frames(3)),
            _non_utf8_record(),
            encode_frame_example("short", None, *_frames(6, 4)),
        ],
    )
    _shard(data / "b0000.tfrecord", [encode_frame_example("ok", None, *_frames(2))])
    code, rows = _check(tmp_path, data)
    assert code == EXIT_NOTHING_USABLE
    found = {(Path(r["path"]).name, r["record"], r["video_id"]): r["reason"] for r in rows}
    assert "no records" in found[("empty0000.tfrecord", "", "")]
    assert "duplicate video id" in found[("a0000.tfrecord", "2", "-dup")]
    assert "a0000.tfrecord" in found[("b0000.tfrecord", "0", "ok")]
    non_utf8 = [reason for (name, index, _), reason in found.items() if index == "3"]
    assert len(non_utf8) == 1 and "not UTF-8" in non_utf8[0]
    assert "rgb has 6 frames but audio 4" in found[("a0000.tfrecord", "4", "short")]
    assert len(rows) == 5


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_check_reports_a_fifo_or_device_named_like_a_video_without_opening_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "stuck.mp4")
    (data / "null.mp4").symlink_to("/dev/null")
    os.mkfifo(tmp_path / "direct.tfrecord")
    code, rows = _check(tmp_path, data, tmp_path / "direct.tfrecord")
    assert code == EXIT_NOTHING_USABLE
    reasons = {Path(r["path"]).name: r["reason"] for r in rows}
    assert set(reasons) == {"stuck.mp4", "null.mp4", "direct.tfrecord"}
    assert all("not a regular file" in reason for reason in reasons.values())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_predict_names_a_fifo_named_like_an_input_without_opening_it(weights, tmp_path, capsys):
    """Opening a FIFO blocks until a writer comes; the reader and predict stat it first."""
    os.mkfifo(tmp_path / "stuck.mp4")
    with pytest.raises(VideoReadError, match="not a regular file"):
        VideoReader(tmp_path / "stuck.mp4")
    os.mkfifo(tmp_path / "stuck.tfrecord")
    good = _shard(tmp_path / "test0000.tfrecord", [encode_frame_example("ok", None, *_frames(5))])
    out = tmp_path / "p.jsonl"
    argv = ["predict", MODEL, str(tmp_path / "stuck.tfrecord"), str(good), "--weights", str(weights)]
    assert main([*argv, "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows if "error" not in row] == ["ok"]
    assert any("not a regular file" in row.get("error", "") for row in rows)


# ----------------------------------------------------------------------------- Python API
@pytest.fixture(scope="module")
def predictor(weights):
    return Predictor(weights, device="cpu")


@pytest.mark.parametrize(
    "features, message",
    [
        (
            {"rgb": np.full((4, 1024), np.nan, np.float32), "audio": np.zeros((4, 128), np.float32)},
            "rgb holds NaN/Inf",
        ),
        ({"rgb": np.zeros((0, 1024), np.uint8), "audio": np.zeros((0, 128), np.uint8)}, "T >= 1"),
        ({"rgb": np.zeros((4, 512), np.uint8), "audio": np.zeros((4, 128), np.uint8)}, r"\[T, 1024\]"),
    ],
    ids=["nan", "no-frames", "width"],
)
def test_api_refuses_features_it_cannot_score(predictor, features, message):
    with pytest.raises(DataError, match=message):
        predictor.predict(features)


def test_api_never_returns_nan_scores(weights, tmp_path):
    predictor = Predictor(weights, device="cpu")
    with torch.no_grad():
        for parameter in predictor.model.parameters():
            parameter.fill_(float("nan"))
    row = predictor.predict({"rgb": np.zeros((4, 1024), np.uint8), "audio": np.zeros((4, 128), np.uint8)})[0]
    assert "scores" not in row and "NaN/Inf" in row["error"]


def test_api_refuses_a_video_without_frames():
    from videozoo.data.video_format import batch_from_decoded

    with pytest.raises(DataError, match=r"\[F, H, W, 3\]"):
        batch_from_decoded({}, np.zeros((0, 32, 32, 3), np.uint8))
