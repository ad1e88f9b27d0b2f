"""The YouTube-8M track from the command line: train, eval, predict, info, and bad input."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from support import YT8M_CLASSES, run_videozoo, sets, train_argv, yt8m_overrides

from videozoo.cli import main
from videozoo.config import build_config
from videozoo.data import build_source
from videozoo.metrics.youtube8m import global_average_precision

pytestmark = pytest.mark.slow  # the CLI end to end: trains small models


def _label_frequency_gap(data_dir) -> float:
    """GAP of the trivial baseline: every video scored with the training label frequencies."""
    cfg = build_config(
        "nextvlad",
        overrides=[f"data.root={data_dir}", f"model.num_classes={YT8M_CLASSES}", "train.num_workers=0"],
    )

    def labels(split):
        src = build_source(cfg, split, training=False, batch_size=64)
        return torch.cat([b["labels"] for b in src.batches(0) if len(b["ids"])])

    freq = labels("train").mean(0)
    valid = labels("validate")
    return global_average_precision(freq.expand_as(valid).clone(), valid, top_k=20)


@pytest.mark.parametrize("model", ["nextvlad", "attention_lstm", "attention_cluster"])
def test_feature_model_trains_from_cli_and_beats_label_frequency(model, yt8m_dir, tmp_path):
    run = tmp_path / "run"
    extra = [
        "train.optimizer.lr=3e-3",
        "train.optimizer.name=adam",
        "train.optimizer.weight_decay=0.0",
        "train.schedule.name=constant",
    ]
    assert (
        main(train_argv(model, yt8m_dir, run, "--epochs", "4", overrides=yt8m_overrides(model, extra))) == 0
    )
    assert (run / "best.pt").exists() and (run / "train_log.csv").exists()
    out = tmp_path / "metrics.json"
    assert main(["eval", model, "--weights", str(run / "best.pt"), "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())
    baseline = _label_frequency_gap(yt8m_dir)
    assert metrics["num_videos"] == 36  # 15% of 240: nothing dropped, last batch kept
    assert metrics["gap"] > baseline + 0.1, (metrics, baseline)
    assert 0 <= metrics["hit_at_one"] <= 1 and 0 <= metrics["perr"] <= 1


@pytest.fixture(scope="module")
def trained(yt8m_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert (
        main(train_argv("nextvlad", yt8m_dir, run, "--epochs", "1", overrides=yt8m_overrides("nextvlad")))
        == 0
    )
    return run / "best.pt"


def test_predict_writes_jsonl_csv_and_kaggle(trained, yt8m_dir, tmp_path):
    glob = str(yt8m_dir / "test*.tfrecord")
    assert (
        main(
            [
                "predict",
                "nextvlad",
                "--weights",
                str(trained),
                glob,
                "--topk",
                "3",
                "--output",
                str(tmp_path / "p.jsonl"),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 36 and len({r["id"] for r in rows}) == 36
    assert all(len(r["class_ids"]) == 3 and r["scores"] == sorted(r["scores"], reverse=True) for r in rows)
    vocab = list(csv.DictReader((yt8m_dir / "vocabulary.csv").open()))
    assert rows[0]["class_names"][0] == vocab[rows[0]["class_ids"][0]]["Name"]

    assert (
        main(
            [
                "predict",
                "nextvlad",
                "--weights",
                str(trained),
                glob,
                "--format",
                "kaggle",
                "--output",
                str(tmp_path / "sub.csv"),
            ]
        )
        == 0
    )
    lines = (tmp_path / "sub.csv").read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs" and len(lines) == 37
    pairs = lines[1].split(",")[1].split()
    assert len(pairs) == 2 * YT8M_CLASSES  # top 20 capped at the class count
    scores = [float(s) for s in pairs[1::2]]
    assert scores == sorted(scores, reverse=True)

    assert (
        main(["predict", "nextvlad", "--weights", str(trained), glob, "--output", str(tmp_path / "p.csv")])
        == 0
    )
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert header == "id,rank,class_id,class_name,score,error"


def test_eval_report_writes_pr_curve_and_per_class_table(trained, tmp_path):
    assert main(["eval", "nextvlad", "--weights", str(trained), "--report", str(tmp_path / "rep")]) == 0
    png = (tmp_path / "rep" / "pr_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    rows = list(csv.DictReader((tmp_path / "rep" / "per_class_ap.csv").open()))
    assert len(rows) == YT8M_CLASSES and rows[0]["class_name"]
    assert (trained.parent / "best_validate_metrics.json").exists()


def test_plot_draws_training_curves(trained, tmp_path):
    assert main(["plot", str(trained.parent), "--output", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_info_reports_parameters_and_macs(capsys):
    assert main(["info", "nextvlad"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert abs(info["parameters"] - 89.09e6) / 89.09e6 < 0.005
    assert info["macs"] > 1e9 and info["input"]["rgb"] == [1, 300, 1024]


def test_bad_config_is_one_clear_line(yt8m_dir):
    proc = run_videozoo("train", "nextvlad", "--data", yt8m_dir, "--set", "train.lr=0.1", check=False)
    assert proc.returncode == 2
    assert "unknown config key 'train.lr'" in proc.stderr and "optimizer" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_truncated_shard_is_skipped_with_count_and_training_goes_on(yt8m_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(yt8m_dir, data)
    shard = data / "train0001.tfrecord"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    proc = run_videozoo(
        "train",
        "nextvlad",
        "--data",
        data,
        "--output",
        tmp_path / "run",
        "--epochs",
        1,
        *sets(yt8m_overrides("nextvlad", ["train.valid_interval=0"])),
    )
    assert "train0001.tfrecord" in proc.stderr
    assert "bad records skipped" in proc.stderr
    assert list((tmp_path / "run").glob("ckpt-*.pt"))


def test_video_level_shards_get_a_clear_error(tmp_path):
    from videozoo.data.tfrecord import TFRecordWriter
    from videozoo.data.youtube8m_records import encode_video_example

    with TFRecordWriter(tmp_path / "train0000.tfrecord") as writer:
        writer.write(encode_video_example("abcd", [1], np.zeros(1024, np.float32), np.zeros(128, np.float32)))
    proc = run_videozoo(
        "train",
        "nextvlad",
        "--data",
        tmp_path,
        "--output",
        tmp_path / "run",
        *sets(yt8m_overrides("nextvlad", ["train.valid_interval=0"])),
        check=False,
    )
    assert proc.returncode == 2 and "video-level" in proc.stderr and "Traceback" not in proc.stderr
