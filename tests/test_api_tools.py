"""The API functions behind info, export, convert, upgrade, synth, check, extract and plot:
each returns what its command prints, checked against the files it wrote."""

import csv
import json
import random
import re

import numpy as np
import pytest
import torch
from extract_support import FAST, write_video
from support import TINY_MODELS, as_overrides

import videozoo
from videozoo.api import (
    check_data,
    convert_weights,
    embed_videos,
    export_weights,
    extract_features,
    model_info,
    plot_run,
    synth_dataset,
    upgrade_checkpoint,
)
from videozoo.config import build_config
from videozoo.data.tfrecord import iter_records
from videozoo.errors import CheckpointError, ConfigError, DataNotFoundError
from videozoo.registry import build_model
from videozoo.serialization.checkpoint import read_checkpoint, save_checkpoint
from videozoo.serialization.format import model_checkpoint

MODEL = "attention_cluster"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny attention_cluster checkpoint with named classes."""
    cfg = build_config(MODEL, overrides=as_overrides(TINY_MODELS[MODEL]) + ["model.num_classes=5"])
    torch.manual_seed(0)
    model = build_model(cfg)
    path = tmp_path_factory.mktemp("ckpt") / "ac.pt"
    names = [f"c{i}" for i in range(5)]
    return save_checkpoint(model_checkpoint(MODEL, model.state_dict(), cfg, names), path)


def test_model_info_counts_the_built_model():
    info = model_info(MODEL, set=as_overrides(TINY_MODELS[MODEL]), num_classes=7)
    model = videozoo.create_model(MODEL, num_classes=7, **TINY_MODELS[MODEL])
    assert info["parameters"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert info["input"]["rgb"][0] == 1 and info["input"]["rgb"][2] == 1024
    assert info["macs"] > info["parameters"] and info["gmacs"] == round(info["macs"] / 1e9, 3)


def test_export_weights_to_onnx_and_bundle(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    result = export_weights(checkpoint, "onnx", tmp_path / "m.onnx")
    assert result["path"] == str(tmp_path / "m.onnx") and result["max_abs_diff"] < 1e-4
    sidecar = json.loads((tmp_path / "m.onnx.json").read_text())
    assert sidecar["class_names"] == [f"c{i}" for i in range(5)] and result["sidecar"].endswith(".json")
    bundle = export_weights(checkpoint, "bundle", tmp_path / "b")
    assert bundle == {"path": str(tmp_path / "b"), "format": "bundle"}
    from_ckpt, from_bundle = videozoo.load_model(checkpoint), videozoo.load_model(tmp_path / "b")
    batch = from_ckpt.default_input(2, num_frames=20)
    with torch.no_grad():
        assert torch.equal(from_ckpt(batch), from_bundle(batch))


def _mit_tsm_file(path):
    """A tiny TSM in MIT TSM's names (torchvision ResNet under module.base_model.)."""
    torch.manual_seed(0)
    model = videozoo.create_model("tsm", depth=18, num_classes=3)
    state = {}
    for name, tensor in model.state_dict().items():
        name = re.sub(r"\.conv1\.weight$", ".conv1.net.weight", name)
        name = name.replace("backbone.conv1.net.weight", "module.base_model.conv1.weight")
        name = name.replace("backbone.", "module.base_model.").replace("classifier.", "module.new_fc.")
        state[name] = tensor.clone()
    torch.save({"epoch": 1, "state_dict": state}, path)
    return state


def test_convert_weights_writes_a_checkpoint_that_loads(tmp_path):
    state = _mit_tsm_file(tmp_path / "tsm.pth")
    summary = convert_weights(
        tmp_path / "tsm.pth",
        "tsm",
        tmp_path / "tsm.pt",
        source_format="mit-tsm",
        set={"model.depth": 18, "model.num_classes": 3},
    )
    assert summary["format"] == "mit-tsm"
    model = videozoo.load_model(tmp_path / "tsm.pt")
    assert torch.equal(model.classifier.weight, state["module.new_fc.weight"])
    assert model.class_names == ["class_0", "class_1", "class_2"]


def test_upgrade_checkpoint_refuses_bare_weights_and_rewrites_old_ones(checkpoint, tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(read_checkpoint(checkpoint)["model"], bare)
    with pytest.raises(CheckpointError, match="nothing to upgrade"):
        upgrade_checkpoint(bare, tmp_path / "x.pt")
    old = read_checkpoint(checkpoint)
    # videozoo 0.1 stored the generators' states as they come: numpy arrays, python tuples
    old["rng"] = {"numpy": np.random.get_state(), "python": random.getstate(), "torch": torch.get_rng_state()}
    torch.save(old, tmp_path / "old.pt")
    new = upgrade_checkpoint(tmp_path / "old.pt", tmp_path / "new.pt")
    assert isinstance(torch.load(new, weights_only=True)["rng"]["numpy"]["key"], torch.Tensor)


def test_synth_check_and_plot(tmp_path):
    summary = synth_dataset("youtube8m", tmp_path / "d", videos=30, classes=3, max_frames=20)
    shards = sorted((tmp_path / "d").glob("*.tfrecord"))
    assert sum(1 for s in shards for _ in iter_records(s)) == 30 and summary
    clean = check_data(tmp_path / "d", tmp_path / "ok.csv", workers=1)
    assert clean["problems"] == 0 and clean["shards"] == len(shards)
    raw = bytearray(shards[0].read_bytes())
    raw[40] ^= 0xFF  # inside the first record: its CRC no longer matches
    shards[0].write_bytes(bytes(raw))
    damaged = check_data([tmp_path / "d"], tmp_path / "bad.csv", workers=1)
    with open(damaged["report"], newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert damaged["problems"] == len(rows) > 0 and damaged["bad_files"] == 1
    with pytest.raises(ConfigError, match="youtube8m or kinetics"):
        synth_dataset("ucf101", tmp_path / "u")
    with pytest.raises(DataNotFoundError, match="train_log.csv"):
        plot_run(tmp_path)
    (tmp_path / "train_log.csv").write_text("step,loss,lr\n1,2.0,0.1\n2,1.5,0.1\n")
    png = plot_run(tmp_path)
    assert png == tmp_path / "curves.png" and png.read_bytes()[:4] == b"\x89PNG"


def test_extract_features_writes_records_with_labels(tmp_path):
    write_video(tmp_path / "a.mp4", 2)
    write_video(tmp_path / "b.mp4", 3, shade=1)
    (tmp_path / "labels.csv").write_text("a,1\nb,0;2\n")
    summary = extract_features(
        [tmp_path / "a.mp4", tmp_path / "b.mp4"],
        tmp_path / "out",
        labels=tmp_path / "labels.csv",
        device="cpu",
        features="resnet50",
        fit_pca=True,
        **{**FAST, "pca_dims": 2},
    )
    assert summary["written"] == 2 and (tmp_path / "out" / "pca.npz").is_file()
    records = [r for s in sorted((tmp_path / "out").glob("train*.tfrecord")) for r in iter_records(s)]
    assert len(records) == 2


def test_embed_videos_writes_one_vector_per_record(checkpoint, tmp_path):
    synth_dataset("youtube8m", tmp_path / "d", videos=12, classes=5, max_frames=20, shards=1)
    shards = sorted((tmp_path / "d").glob("test*.tfrecord"))
    expected = sum(1 for s in shards for _ in iter_records(s))
    result = embed_videos(checkpoint, shards, tmp_path / "e", format="npz", device="cpu")
    assert result["index"] == str(tmp_path / "e" / "index.csv") and len(result["rows"]) == expected
    vectors = np.load(tmp_path / "e" / "embeddings.npz")
    assert vectors["embeddings"].shape == (expected, result["dims"])
