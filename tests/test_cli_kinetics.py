"""The Kinetics track from the command line: four models, eval/predict, TSM vs TSN, bad videos."""

import csv
import json

import numpy as np
import pytest
from support import KIN_CLASSES, kinetics_overrides, train_argv

from videozoo.cli import main
from videozoo.data.synth_kinetics import encode_video

pytestmark = pytest.mark.slow  # the CLI end to end: trains small models on encoded videos


@pytest.mark.parametrize("model", ["tsn", "tsm", "stnet", "nonlocal"])
def test_model_trains_evaluates_and_predicts_from_cli(model, kinetics_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(train_argv(model, kinetics_dir, run, "--epochs", "1", overrides=kinetics_overrides(model))) == 0
    )
    weights = run / "best.pt"
    assert weights.exists()
    out = tmp_path / "m.json"
    assert main(["eval", model, "--weights", str(weights), "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["num_videos"] == 16 and metrics["num_invalid"] == 0
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                model,
                "--weights",
                str(weights),
                str(kinetics_dir / "test"),
                "--topk",
                "2",
                "--output",
                str(tmp_path / "p.jsonl"),
            ]
        )
        == 0
    )
    rows = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and all(len(r["class_names"]) == 2 for r in rows)
    names = (kinetics_dir / "classes.txt").read_text().split()
    assert rows[0]["class_names"][0] in names
    assert "predictions and 0 failures written" in capsys.readouterr().out


def test_tsm_learns_motion_that_tsn_cannot(kinetics_dir, tmp_path):
    """Classes differ only by motion direction: frame averaging (TSN) stays near chance."""
    top1 = {}
    for model in ("tsm", "tsn"):
        run = tmp_path / model
        over = kinetics_overrides(
            model, ["train.optimizer.lr=0.005", "data.flip=false", "data.seg_num=8", "data.test_seg_num=8"]
        )
        assert main(train_argv(model, kinetics_dir, run, "--epochs", "6", overrides=over)) == 0
        best = json.loads(
            json.dumps(
                __import__("torch").load(run / "best.pt", weights_only=False)["progress"]["best_metrics"]
            )
        )
        top1[model] = best["top1"]
    assert top1["tsn"] <= 0.5, top1  # chance is 0.25
    assert top1["tsm"] >= top1["tsn"] + 0.3, top1


@pytest.fixture(scope="module")
def tsm_weights(kinetics_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("tsm")
    assert (
        main(train_argv("tsm", kinetics_dir, run, "--epochs", "1", overrides=kinetics_overrides("tsm"))) == 0
    )
    return run / "best.pt"


def test_predict_on_real_world_files_and_broken_ones(tsm_weights, tmp_path, capsys):
    rng = np.random.default_rng(0)
    good = [
        encode_video(tmp_path / "phone.mp4", rng.integers(0, 255, (50, 120, 90, 3), np.uint8), 30),
        encode_video(
            tmp_path / "old.avi", rng.integers(0, 255, (12, 48, 64, 3), np.uint8), 10, codec="mpeg4"
        ),
        encode_video(tmp_path / "web.webm", rng.integers(0, 255, (20, 36, 64, 3), np.uint8), 25, codec="vp9"),
    ]
    (tmp_path / "empty.mp4").write_bytes(b"")
    data = good[0].read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (tmp_path / "notes.txt").write_text("not a video")
    out = tmp_path / "pred.csv"
    assert main(["predict", "tsm", "--weights", str(tsm_weights), str(tmp_path), "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    by_id = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    ok = [k for k, v in by_id.items() if not v[0]["error"]]
    bad = [k for k, v in by_id.items() if v[0]["error"]]
    assert sorted(p.split("/")[-1] for p in ok) == ["old.avi", "phone.mp4", "web.webm"]
    assert sorted(p.split("/")[-1] for p in bad) == ["empty.mp4", "truncated.mp4"]
    assert all(len(by_id[k]) == min(5, KIN_CLASSES) for k in ok)
    assert "FAILED (empty file (0 bytes))" in capsys.readouterr().out


def test_eval_report_confusion_matrix_and_tables(tsm_weights, tmp_path):
    assert main(["eval", "tsm", "--weights", str(tsm_weights), "--report", str(tmp_path)]) == 0
    png = (tmp_path / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    per_class = list(csv.DictReader((tmp_path / "per_class_accuracy.csv").open()))
    assert len(per_class) == KIN_CLASSES
    assert sum(int(r["videos"]) for r in per_class) == 16
    assert (tmp_path / "confused_pairs.csv").read_text().startswith("true_class,predicted_class")


def test_info_matches_reference_parameter_counts(capsys):
    expected = {"tsn": 24.33e6, "tsm": 24.33e6, "stnet": 33.16e6, "nonlocal": 31.69e6}
    for model, params in expected.items():
        assert main(["info", model]) == 0
        info = json.loads(capsys.readouterr().out)
        assert abs(info["parameters"] - params) / params < 0.005, (model, info["parameters"])
