"""Files written before the data format ``kinetics`` was renamed ``video`` keep working: an
old-style config trains and evaluates, and a checkpoint whose stored config says ``kinetics``
evaluates, predicts and exports."""

import json

import pytest
import torch
import yaml
from support import kinetics_overrides, sets

from videozoo.cli import main
from videozoo.data.synth_kinetics import synth_kinetics

pytestmark = pytest.mark.slow  # trains a tiny model from the command line


def test_old_config_and_old_checkpoint_with_format_kinetics(tmp_path):
    data = synth_kinetics(tmp_path / "data", videos=8, eval_videos=4, classes=4, size=32, frames=16)
    old_config = tmp_path / "old.yaml"
    old_config.write_text(yaml.safe_dump({"data": {"format": "kinetics"}}))
    run = tmp_path / "run"
    tiny = sets(kinetics_overrides("tsn", ["train.batch_size=4", "eval.batch_size=4"]))
    command = ["train", "tsn", "--data", str(data), "--config", str(old_config), "--output", str(run)]
    assert main([*command, "--epochs", "1", *tiny]) == 0
    saved = torch.load(run / "best.pt", weights_only=True)
    assert saved["config"]["data"]["format"] == "video"  # written under the current name

    saved["config"]["data"]["format"] = "kinetics"  # as a checkpoint of an older videozoo
    old_weights = tmp_path / "old.pt"
    torch.save(saved, old_weights)
    metrics = tmp_path / "metrics.json"
    assert main(["eval", "tsn", "--weights", str(old_weights), "--output", str(metrics)]) == 0
    assert json.loads(metrics.read_text())["num_videos"] == 4
    predictions = tmp_path / "p.jsonl"
    videos = str(data / "test")
    assert main(["predict", "tsn", "--weights", str(old_weights), videos, "--output", str(predictions)]) == 0
    assert len(predictions.read_text().splitlines()) == 4
    bundle = tmp_path / "bundle"
    assert (
        main(["export", "tsn", "--weights", str(old_weights), "--format", "bundle", "--output", str(bundle)])
        == 0
    )
    assert main(["eval", "--weights", str(bundle), "--output", str(metrics)]) == 0
