"""The Python API, model bundles and clip embeddings: what a notebook user does."""

import csv
import json
import struct

import numpy as np
import pytest
import torch
from support import KIN_CLASSES, kinetics_overrides, yt8m_overrides

import videozoo
from videozoo.cli import main
from videozoo.config import build_config
from videozoo.data.video import VideoReader
from videozoo.errors import ConfigError
from videozoo.registry import build_model
from videozoo.serialization.checkpoint import read_checkpoint, save_checkpoint
from videozoo.serialization.format import model_checkpoint

pytestmark = pytest.mark.slow  # the Python API end to end: trains small models

FEATURE_MODEL = "attention_cluster"


@pytest.fixture(scope="module")
def tsn_checkpoint(kinetics_dir, tmp_path_factory):
    """An untrained tiny TSN checkpoint with the data's class names (no training needed)."""
    cfg = build_config("tsn", overrides=kinetics_overrides("tsn") + [f"data.root={kinetics_dir}"])
    torch.manual_seed(0)
    model = build_model(cfg)
    names = (kinetics_dir / "classes.txt").read_text().split()
    path = tmp_path_factory.mktemp("tsn") / "tsn.pt"
    return save_checkpoint(model_checkpoint("tsn", model.state_dict(), cfg, names), path)


@pytest.fixture(scope="module")
def feature_run(yt8m_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("feature_run")
    summary = videozoo.train(
        FEATURE_MODEL, data=yt8m_dir, output=out, epochs=1, set=yt8m_overrides(FEATURE_MODEL)
    )
    return summary


def test_list_and_create_models():
    assert videozoo.list_models()[:3] == ["nextvlad", "attention_lstm", "attention_cluster"]
    model = videozoo.create_model("tsm", num_classes=7, depth=18)
    assert model.classifier.out_features == 7
    assert videozoo.__version__ and videozoo.__version__[0].isdigit()


def test_train_and_evaluate_return_what_the_cli_prints(feature_run, tmp_path, capsys):
    assert set(feature_run) >= {"best", "last", "best_metrics", "steps"}
    metrics = videozoo.evaluate(feature_run["best"])
    assert (
        main(["eval", FEATURE_MODEL, "--weights", feature_run["best"], "--output", str(tmp_path / "m.json")])
        == 0
    )
    assert json.loads((tmp_path / "m.json").read_text())["gap"] == pytest.approx(metrics["gap"])
    with pytest.raises(ConfigError, match="section__key"):
        videozoo.train(FEATURE_MODEL, data="x", output=tmp_path / "y", nonsense=1)


def test_load_model_attaches_classes_and_preprocessing(feature_run):
    model = videozoo.load_model(feature_run["best"])
    assert not model.training and len(model.class_names) == model.classifier.out_features
    assert model.preprocessing["max_frames"] == 300 and "dequantize" in model.preprocessing
    assert model.videozoo_config["model"]["name"] == FEATURE_MODEL


def test_predictor_on_files_and_on_decoded_videos(tsn_checkpoint, kinetics_dir):
    predictor = videozoo.Predictor(tsn_checkpoint, device="cpu")
    videos = sorted((kinetics_dir / "validate").glob("*.mp4"))[:3]
    rows = predictor.predict(videos, topk=2)
    assert [row["id"] for row in rows] == [str(v) for v in videos]
    assert all(len(row["class_ids"]) == 2 and row["class_names"][0] in predictor.class_names for row in rows)
    with VideoReader(videos[0]) as reader:
        frames = reader.read(range(reader.num_frames))  # the whole video, decoded by the user
    decoded = predictor.predict(torch.from_numpy(frames), topk=2)[0]
    assert decoded["class_ids"][0] == rows[0]["class_ids"][0]
    assert decoded["scores"][0] == pytest.approx(rows[0]["scores"][0], abs=0.05)
    bad = predictor.predict([kinetics_dir / "nope.mp4", videos[0]])
    assert "error" in bad[-1] and "no such file" in bad[-1]["error"]


def test_feature_predictor_takes_features_in_memory(feature_run, yt8m_dir):
    from videozoo.data.tfrecord import iter_records
    from videozoo.data.youtube8m_records import parse_frame_example

    predictor = videozoo.Predictor(feature_run["best"])
    shard = yt8m_dir / "test0000.tfrecord"
    example = parse_frame_example(next(iter_records(shard)))
    from_file = predictor.predict([shard], topk=3)[0]
    in_memory = predictor.predict({"rgb": example.rgb, "audio": example.audio}, topk=3)
    assert from_file["id"] == example.video_id
    assert in_memory[0]["class_ids"] == from_file["class_ids"]
    assert in_memory[0]["scores"] == pytest.approx(from_file["scores"], abs=1e-5)


def test_bundle_round_trip_without_pickle(feature_run, yt8m_dir, tmp_path):
    bundle = tmp_path / "bundle"
    assert (
        main(
            [
                "export",
                FEATURE_MODEL,
                "--weights",
                feature_run["best"],
                "--format",
                "bundle",
                "--output",
                str(bundle),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    raw = (bundle / "model.safetensors").read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    assert raw[8:9] == b"{" and json.loads(raw[8 : 8 + header_len])  # a JSON header, no pickle
    meta = json.loads((bundle / "config.json").read_text())
    assert meta["model_name"] == FEATURE_MODEL and meta["scores"] == "sigmoid"
    assert meta["metrics"]["gap"] == pytest.approx(feature_run["best_metrics"]["gap"])
    card = (bundle / "README.md").read_text()
    assert FEATURE_MODEL in card and "Measured metrics" in card and "gap" in card

    from_ckpt, from_bundle = videozoo.load_model(feature_run["best"]), videozoo.load_model(bundle)
    batch = from_ckpt.default_input(3, num_frames=40)
    with torch.no_grad():
        assert torch.equal(from_ckpt(batch), from_bundle(batch))
    out = tmp_path / "p.jsonl"
    assert (
        main(
            [
                "predict",
                FEATURE_MODEL,
                str(yt8m_dir / "test0000.tfrecord"),
                "--weights",
                str(bundle),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert main(["eval", FEATURE_MODEL, "--weights", str(bundle), "--output", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["gap"] == pytest.approx(
        videozoo.evaluate(feature_run["best"])["gap"]
    )


def test_embed_videos_to_npy_and_npz(tsn_checkpoint, kinetics_dir, tmp_path):
    videos = sorted((kinetics_dir / "validate").glob("*.mp4"))[:4]
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    inputs = [str(v) for v in videos] + [str(tmp_path / "broken.mp4")]
    out = tmp_path / "emb"
    assert main(["embed", "tsn", *inputs, "--weights", str(tsn_checkpoint), "--output", str(out)]) == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    good = [r for r in rows if not r["error"]]
    assert [r["id"] for r in good] == [str(v) for v in videos]
    vectors = np.stack([np.load(out / r["file"]) for r in good])
    assert vectors.shape == (4, 512) and np.isfinite(vectors).all()  # ResNet-18 pooled width
    assert [r["id"] for r in rows if r["error"]] == [str(tmp_path / "broken.mp4")]
    # The same vectors as the model's own pooled features (classifier input), one file.
    assert (
        main(
            [
                "embed",
                "tsn",
                *inputs[:4],
                "--weights",
                str(tsn_checkpoint),
                "--output",
                str(tmp_path / "npz"),
                "--format",
                "npz",
            ]
        )
        == 0
    )
    packed = np.load(tmp_path / "npz" / "embeddings.npz")
    assert list(packed["ids"]) == [str(v) for v in videos]
    np.testing.assert_allclose(packed["embeddings"], vectors, rtol=1e-6)
    assert (
        main(
            [
                "embed",
                "tsn",
                str(tmp_path / "broken.mp4"),
                "--weights",
                str(tsn_checkpoint),
                "--output",
                str(tmp_path / "none"),
            ]
        )
        == 3
    )


def test_fine_tuning_keeps_the_weights_architecture_and_input(kinetics_dir, tmp_path):
    """Weights converted from MIT / MMAction2 TSM shift the other channel group first and may
    normalise differently: a fine-tuning run must compute what they were trained for."""
    cfg = build_config(
        "tsm",
        overrides=kinetics_overrides("tsm")
        + ["model.shift_direction=next_first", "data.mean=[0.5,0.5,0.5]", "data.std=[0.25,0.25,0.25]"],
    )
    torch.manual_seed(0)
    start = save_checkpoint(
        model_checkpoint("tsm", build_model(cfg).state_dict(), cfg, [f"c{i}" for i in range(KIN_CLASSES)]),
        tmp_path / "start.pt",
    )
    tiny = [o for o in kinetics_overrides("tsm") if not o.startswith("model.")]
    run = videozoo.train(
        "tsm",
        data=kinetics_dir,
        output=tmp_path / "ft",
        weights=start,
        epochs=1,
        set=tiny + ["model.depth=18", "train.valid_interval=0"],
    )
    saved = read_checkpoint(run["last"])["config"]
    assert saved["model"]["shift_direction"] == "next_first"
    assert saved["data"]["mean"] == [0.5, 0.5, 0.5] and saved["data"]["std"] == [0.25] * 3
    mine = videozoo.train(
        "tsm",
        data=kinetics_dir,
        output=tmp_path / "mine",
        weights=start,
        epochs=1,
        set=tiny + ["model.depth=18", "train.valid_interval=0", "model.shift_direction=previous_first"],
    )
    assert (
        read_checkpoint(mine["last"])["config"]["model"]["shift_direction"] == "previous_first"
    )  # the user's --set still wins
