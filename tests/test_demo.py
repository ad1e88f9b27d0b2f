"""`videozoo demo` does what the README promises: GAP >= 0.8 and the outputs it lists."""

import json

import pytest

from videozoo.cli import main

pytestmark = pytest.mark.slow  # the README's demo


def test_youtube8m_demo_reaches_gap_08(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "run" / "demo_metrics.json").read_text())
    assert metrics["gap"] >= 0.8, metrics
    lines = (tmp_path / "run" / "predictions.csv").read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs" and len(lines) > 100
    out = capsys.readouterr().out
    assert "validation metrics" in out and "gap" in out


def test_demo_interrupted_while_training_exits_75_without_evaluating(tmp_path, monkeypatch, caplog):
    from videozoo import api, demo
    from videozoo.errors import EXIT_INTERRUPTED

    (tmp_path / "data").mkdir()  # reuse: no synthesis
    monkeypatch.setattr(api, "train", lambda *a, **k: {"interrupted": "SIGTERM", "last": "run/step_1.pt"})
    monkeypatch.setattr(api, "evaluate", lambda *a, **k: pytest.fail("evaluated after an interrupted run"))
    assert demo.run_demo("youtube8m", tmp_path) == EXIT_INTERRUPTED
    assert "stopped by SIGTERM" in caplog.text
