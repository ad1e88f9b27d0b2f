"""`videozoo train/eval/predict tsm --data DIR` on miniature published layouts: the class count
and the checkpoint's class names come from the data set, fine-tuning re-initialises the
classifier for another class count, SSv2 trains without horizontal flip."""

import json

import pytest
from layout_support import SSV2_TEMPLATES, UCF_CLASSES, make_folders, make_ssv2, make_ucf101, write_clip
from support import kinetics_overrides, sets

from videozoo.cli import main
from videozoo.serialization.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow  # train / eval / predict on every dataset layout


def _tiny(*extra):
    """Tiny TSM settings with the class count left to the data."""
    return sets([o for o in kinetics_overrides("tsm") if not o.startswith("model.num_classes")] + list(extra))


def _last_checkpoint(run):
    return max(run.glob("ckpt-*.pt"), key=lambda path: int(path.stem.split("-")[1]))


def _train_eval_predict(root, run, predict_input, capsys):
    """Train one epoch, evaluate the validate split, predict `predict_input`; returns
    (checkpoint dict, metrics dict, prediction rows, training log text)."""
    assert main(["train", "tsm", "--data", str(root), "--output", str(run), "--epochs", "1", *_tiny()]) == 0
    log = capsys.readouterr().err
    weights = run / "best.pt"
    metrics_file = run / "metrics.json"
    assert main(["eval", "tsm", "--weights", str(weights), "--output", str(metrics_file)]) == 0
    predictions = run / "predictions.jsonl"
    assert (
        main(
            [
                "predict",
                "tsm",
                "--weights",
                str(weights),
                str(predict_input),
                "--topk",
                "2",
                "--output",
                str(predictions),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    return read_checkpoint(weights), json.loads(metrics_file.read_text()), rows, log


def test_class_folders_train_eval_predict(tmp_path, capsys):
    root = make_folders(tmp_path / "mine")
    ckpt, metrics, rows, log = _train_eval_predict(root, tmp_path / "run", root / "test", capsys)
    assert ckpt["class_names"] == ["alpha", "beta", "gamma"]
    assert ckpt["config"]["model"]["num_classes"] == 3
    assert metrics["num_videos"] == 3 and metrics["num_invalid"] == 0
    assert len(rows) == 3 and all(set(r["class_names"]) <= {"alpha", "beta", "gamma"} for r in rows)
    assert "train split of" in log and "(folders layout): 9 videos, 3 classes; horizontal flip on" in log


def test_flat_class_folders_hold_out_a_split_that_eval_and_resume_keep(tmp_path, capsys):
    """my_videos/<class>/*.mp4, no split folders: training holds out a stratified validation
    split, writes it to the run folder, and eval / --resume use that split."""
    root = tmp_path / "my_videos"
    for label, name in enumerate(("alpha", "beta", "gamma")):
        for i in range(4):
            write_clip(root / name / f"clip{i}.mp4", label, 3, seed=label * 10 + i)
    run = tmp_path / "run"
    ckpt, metrics, rows, log = _train_eval_predict(root, run, root / "alpha", capsys)
    split = json.loads((run / "split.json").read_text())
    assert len(split["validate"]) == 3 and len(split["train"]) == 9
    assert "has no split folders: 3 of its 12 videos validate" in log
    assert "(flat layout): 9 videos, 3 classes" in log
    assert ckpt["config"]["data"]["split_file"] == str((run / "split.json").resolve())
    assert metrics["num_videos"] == 3 and ckpt["class_names"] == ["alpha", "beta", "gamma"]
    write_clip(root / "alpha" / "late.mp4", 0, 3, seed=99)  # a video added after the run
    assert (
        main(
            [
                "train",
                "tsm",
                "--data",
                str(root),
                "--output",
                str(run),
                "--epochs",
                "2",
                "--resume",
                "auto",
                *_tiny(),
            ]
        )
        == 0
    )
    assert json.loads((run / "split.json").read_text()) == split
    assert "(flat layout): 9 videos, 3 classes" in capsys.readouterr().err


def test_ucf101_train_eval_predict(tmp_path, capsys):
    root = make_ucf101(tmp_path / "ucf101")
    ckpt, metrics, rows, log = _train_eval_predict(root, tmp_path / "run", root / "UCF-101" / "YoYo", capsys)
    assert ckpt["class_names"] == list(UCF_CLASSES)
    assert metrics["num_videos"] == 4  # validate = the test list
    assert len(rows) == 4 and all(r["class_names"][0] in UCF_CLASSES for r in rows)
    assert "(ucf101 layout, split 1): 12 videos, 4 classes" in log


def test_ssv2_train_eval_predict_without_flip(tmp_path, capsys):
    root = make_ssv2(tmp_path / "ssv2")
    ckpt, metrics, rows, log = _train_eval_predict(
        root, tmp_path / "run", root / "20bn-something-something-v2" / "1013.webm", capsys
    )
    names = [t.replace("[", "").replace("]", "") for t in SSV2_TEMPLATES][::-1]
    assert ckpt["class_names"] == names
    assert metrics["num_videos"] == 3
    assert len(rows) == 1 and len(rows[0]["class_names"]) == 2
    assert "(ssv2 layout): 9 videos, 3 classes; horizontal flip off" in log


def test_fine_tune_to_another_class_count_and_explicit_mismatch(tmp_path, capsys):
    folders = make_folders(tmp_path / "mine")
    ucf = make_ucf101(tmp_path / "ucf101")
    assert (
        main(
            [
                "train",
                "tsm",
                "--data",
                str(folders),
                "--output",
                str(tmp_path / "a"),
                "--epochs",
                "1",
                *_tiny("train.valid_interval=0"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "tsm",
                "--data",
                str(ucf),
                "--output",
                str(tmp_path / "b"),
                "--epochs",
                "1",
                "--weights",
                str(_last_checkpoint(tmp_path / "a")),
                *_tiny("train.valid_interval=0"),
            ]
        )
        == 0
    )
    log = capsys.readouterr().err
    assert "2 shape-mismatched (re-initialised)" in log
    assert "classifier.weight (3, 512) -> (4, 512)" in log
    ckpt = read_checkpoint(_last_checkpoint(tmp_path / "b"))
    assert ckpt["class_names"] == list(UCF_CLASSES)
    assert (
        main(
            [
                "train",
                "tsm",
                "--data",
                str(ucf),
                "--output",
                str(tmp_path / "c"),
                "--epochs",
                "1",
                *_tiny("model.num_classes=5"),
            ]
        )
        == 2
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(
        "videozoo train: config error: model.num_classes=5 but the training data has 4 classes"
    )
