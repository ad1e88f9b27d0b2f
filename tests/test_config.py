"""Config loading: packaged defaults, --config files, --set overrides, and clear errors."""

import pytest
import yaml

from videozoo.config import ConfigError, build_config, parse_overrides
from videozoo.registry import list_models


@pytest.mark.parametrize("model", list_models())
def test_every_model_has_a_valid_packaged_config(model):
    cfg = build_config(model)
    assert cfg["model"]["name"] == model
    assert set(cfg) == {"model", "data", "train", "eval"}
    assert cfg["train"]["epochs"] >= 1 and cfg["train"]["optimizer"]["lr"] > 0


def test_set_overrides_nested_keys_and_coerces_numbers():
    cfg = build_config(
        "nextvlad", overrides=["train.optimizer.lr=1e-3", "train.epochs=3", "model.num_classes=7"]
    )
    assert cfg["train"]["optimizer"]["lr"] == pytest.approx(1e-3)
    assert isinstance(cfg["train"]["optimizer"]["lr"], float)
    assert cfg["train"]["epochs"] == 3 and cfg["model"]["num_classes"] == 7


def test_unknown_key_names_the_key_and_lists_valid_ones():
    with pytest.raises(ConfigError) as err:
        build_config("nextvlad", overrides=["train.optimiser.lr=0.1"])
    msg = str(err.value)
    assert "train.optimiser" in msg and "optimizer" in msg and "epochs" in msg


def test_unknown_model_key_lists_builder_arguments():
    with pytest.raises(ConfigError) as err:
        build_config("nextvlad", overrides=["model.clusters=3"])
    assert "model.clusters" in str(err.value) and "num_classes" in str(err.value)


def test_wrong_type_is_rejected_with_key_and_expected_type():
    with pytest.raises(ConfigError) as err:
        build_config("nextvlad", overrides=["train.epochs=many"])
    assert "train.epochs" in str(err.value) and "int" in str(err.value)
    with pytest.raises(ConfigError):
        build_config("nextvlad", overrides=["train.amp=3"])


def test_config_file_layer_and_unknown_section(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"train": {"batch_size": 8}, "data": {"max_frames": 50}}))
    cfg = build_config("nextvlad", str(path))
    assert cfg["train"]["batch_size"] == 8 and cfg["data"]["max_frames"] == 50
    path.write_text(yaml.safe_dump({"training": {"batch_size": 8}}))
    with pytest.raises(ConfigError, match="unknown section 'training'"):
        build_config("nextvlad", str(path))


def test_parse_overrides_requires_equals():
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}
    with pytest.raises(ConfigError):
        parse_overrides(["train.epochs"])


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'resnext'"):
        build_config("resnext")


def test_yaml_aliases_within_the_bound_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "train:\n  optimizer:\n    betas: &b [0.8, 0.9]\n"
        "    lr_mult: {x: 2.0}\n  schedule:\n    milestones: *b\n"
    )
    cfg = build_config("attention_cluster", str(path))
    assert cfg["train"]["schedule"]["milestones"] == [0.8, 0.9]


def test_old_data_format_name_kinetics_reads_as_video(tmp_path, monkeypatch, caplog):
    """Configs written before the rename say ``format: kinetics``: same format, logged once."""
    from videozoo import registry
    from videozoo.data import video_format

    monkeypatch.setattr(registry, "_ALIASES_SEEN", set())
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"data": {"format": "kinetics", "seg_num": 5}}))
    with caplog.at_level("INFO", logger="videozoo"):
        cfg = build_config("tsn", str(path))
        again = build_config("tsn", overrides=["data.format=kinetics"])
    assert cfg["data"]["format"] == again["data"]["format"] == "video" and cfg["data"]["seg_num"] == 5
    assert registry.dataset_module("kinetics") is video_format
    notes = [r.getMessage() for r in caplog.records if "old name" in r.getMessage()]
    assert notes == ["data format 'kinetics' is the old name of 'video'; reading it as 'video'"]
    with pytest.raises(ConfigError, match="unknown data format 'kinetic'; available: video, youtube8m"):
        build_config("tsn", overrides=["data.format=kinetic"])
