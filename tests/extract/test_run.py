"""`run_extract` and `videozoo extract`: videos made here -> shards + manifest -> the YouTube-8M
reader, train and predict."""

import csv
import json
import shutil

import numpy as np
import pytest
from extract_support import FAST, LABELS, MAX_SECONDS, PCA_DIMS, TONES
from support import TINY

from videozoo.cli import main
from videozoo.data import youtube8m
from videozoo.data.tf_example import SequenceExample
from videozoo.data.tfrecord import iter_records
from videozoo.data.youtube8m_records import (
    dequantize,
    encode_frame_example,
    parse_frame_example,
)
from videozoo.errors import DataNotFoundError, NothingUsableError, OutputExistsError
from videozoo.extract import PCA, quantize_features, run_extract

pytestmark = pytest.mark.slow  # decodes videos and runs the extractor end to end

FRAMES = {"tone": len(TONES), "silent": 3, "long": MAX_SECONDS}


def read_manifest(folder):
    with open(folder / "manifest.csv", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def read_shard(path):
    """{video id: (record bytes, FrameExample, has_audio)} of one shard."""
    out = {}
    for record in iter_records(path):
        example = parse_frame_example(record)
        context = SequenceExample.FromString(bytes(record)).context.feature
        out[example.video_id] = (bytes(record), example, context["has_audio"].int64_list.value[0])
    return out


def test_manifest_and_summary_list_every_video(extracted, videos):
    out, summary = extracted
    manifest = read_manifest(out)
    assert list(manifest) == ["broken", "silent", "long", "tone"]  # sorted paths: sub/ before tone
    expected = {"tone": ("1", "ok"), "silent": ("0", "ok"), "long": ("0", "ok")}
    for vid, (has_audio, status) in expected.items():
        row = manifest[vid]
        assert (row["split"], row["shard"], row["frames"], row["has_audio"], row["status"], row["error"]) == (
            "train",
            "train0000.tfrecord",
            str(FRAMES[vid]),
            has_audio,
            status,
            "",
        )
    broken = manifest["broken"]
    assert (broken["status"], broken["shard"], broken["frames"]) == ("skipped", "", "0")
    assert broken["path"] == str(videos / "broken.mp4") and broken["error"]
    assert "notes" not in manifest
    assert {
        k: summary[k]
        for k in (
            "videos",
            "written",
            "skipped",
            "without_audio",
            "frames",
            "split_prefix",
            "pca_fitted",
            "pca_dims",
        )
    } == {
        "videos": 4,
        "written": 3,
        "skipped": 1,
        "without_audio": 2,
        "frames": sum(FRAMES.values()),
        "split_prefix": "train",
        "pca_fitted": True,
        "pca_dims": PCA_DIMS,
    }
    assert summary["shards"] == [str(out / "train0000.tfrecord")]


def test_records_are_encoded_once_with_has_audio(extracted):
    records = read_shard(extracted[0] / "train0000.tfrecord")
    assert list(records) == ["silent", "long", "tone"]  # manifest order
    for vid, (record, example, has_audio) in records.items():
        assert len(example.rgb) == len(example.audio) == FRAMES[vid]
        assert example.labels.tolist() == LABELS[vid]
        assert has_audio == (vid == "tone")
        # The stored bytes are exactly what the codec writes for this content, with the
        # provenance of the features (which extractor, weights, PCA) in the context.
        context = SequenceExample.FromString(record).context.feature
        assert context["feature_extractor"].bytes_list.value[0] == b"resnet18"
        assert context["rgb_weights"].bytes_list.value[0] == extracted[1]["extractor"].encode()
        provenance = {
            key: context[key].bytes_list.value[0].decode()
            for key in ("feature_extractor", "rgb_weights", "rgb_pca", "audio_extractor")
        }
        assert record == encode_frame_example(
            vid, LABELS[vid], example.rgb, example.audio, extra_context={"has_audio": has_audio, **provenance}
        )


def test_rgb_is_pca_whitened_then_zero_padded(extracted):
    out = extracted[0]
    pca = PCA.load(out / "pca.npz")
    assert pca.components.shape == (PCA_DIMS, 512)  # ResNet-18 trunk width
    assert pca.num_frames == sum(FRAMES.values())
    rgb = np.concatenate([ex.rgb for _, ex, _ in read_shard(out / "train0000.tfrecord").values()])
    # Frames differ from each other in the kept components; the padding is quantize(0.0).
    assert len(np.unique(rgb[:, :PCA_DIMS], axis=0)) == len(rgb)
    assert (rgb[:, PCA_DIMS:] == quantize_features(np.float32(0.0))).all()
    # Whitened on the fitting frames: about unit variance per component (before clipping).
    assert 0.3 < dequantize(rgb[:, :PCA_DIMS]).std(0).mean() < 1.5


def test_youtube8m_reader_reads_the_shards(extracted):
    out = extracted[0]
    records = read_shard(out / "train0000.tfrecord")
    source = youtube8m.build(
        {"root": str(out), "num_classes": 3}, "train", training=False, batch_size=8, seed=0
    )
    batches = [b for b in source.batches(0) if b["ids"]]
    assert sorted(i for b in batches for i in b["ids"]) == ["long", "silent", "tone"]
    for batch in batches:
        for row, vid in enumerate(batch["ids"]):
            example = records[vid][1]
            frames = int(batch["mask"][row].sum())
            assert frames == FRAMES[vid]
            # The reader hands the stored uint8 values on (the task dequantizes them).
            np.testing.assert_array_equal(batch["rgb"][row, :frames].numpy(), example.rgb)
            np.testing.assert_array_equal(batch["audio"][row, :frames].numpy(), example.audio)
            assert batch["labels"][row].nonzero().flatten().tolist() == LABELS[vid]


def test_missing_pca_gives_a_clear_error(videos, tmp_path):
    with pytest.raises(DataNotFoundError, match="--fit-pca"):
        run_extract([str(videos / "silent.mp4")], str(tmp_path), **FAST)
    with pytest.raises(DataNotFoundError, match="nope.npz"):
        run_extract([str(videos / "silent.mp4")], str(tmp_path), pca=str(tmp_path / "nope.npz"), **FAST)


def test_existing_outputs_are_not_clobbered_and_extractor_is_checked(videos, extracted, tmp_path):
    import torch

    from videozoo.errors import DataError
    from videozoo.models.resnet import ResNet

    out = extracted[0]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OutputExistsError, match="--overwrite"):  # train0000.tfrecord is there
        run_extract([str(videos / "silent.mp4")], str(out), labels=LABELS, **FAST)
    with pytest.raises(OutputExistsError, match="pca.npz exists"):
        run_extract([str(videos / "silent.mp4")], str(out), fit_pca=True, split_prefix="x", **FAST)
    # The stored PCA was fitted on the random trunk: ImageNet-style weights do not match it.
    weights = tmp_path / "resnet18.pth"
    torch.save(ResNet(18).state_dict(), weights)
    with pytest.raises(DataError, match="same --weights"):
        run_extract(
            [str(videos / "silent.mp4")],
            str(out),
            weights=str(weights),
            split_prefix="x",
            **{**FAST, "pca_dims": None},
        )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_run_where_no_video_reads_lists_them_and_fails(videos, extracted, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(extracted[0], data)
    with pytest.raises(NothingUsableError, match="no video could be read"):
        run_extract([str(videos / "broken.mp4")], str(data), split_prefix="bad", **FAST)
    assert read_manifest(data)["broken"]["split"] == "bad"
    assert not list(data.glob("bad*.tfrecord"))


def test_extract_train_predict_end_to_end(videos, extracted, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(extracted[0], data)
    # A second run reuses the stored PCA: same trunk (seeded), same bytes for the same video.
    inputs = [str(videos / "tone.mp4"), str(videos / "silent.mp4")]
    run_extract(inputs, str(data), shard_size=1, **FAST)
    assert sorted(p.name for p in data.glob("test*.tfrecord")) == ["test0000.tfrecord", "test0001.tfrecord"]
    summary = run_extract(inputs, str(data), overwrite=True, **FAST)  # the stale shard goes
    assert sorted(p.name for p in data.glob("test*.tfrecord")) == ["test0000.tfrecord"]
    assert summary["split_prefix"] == "test" and not summary["pca_fitted"]
    test_records = read_shard(data / "test0000.tfrecord")
    assert test_records["tone"][1].labels is None
    train_records = read_shard(data / "train0000.tfrecord")
    np.testing.assert_array_equal(test_records["tone"][1].rgb, train_records["tone"][1].rgb)
    assert set(read_manifest(data)) == {"tone", "silent", "long", "broken"}  # train rows kept

    overrides = TINY["nextvlad"] + [
        "model.num_classes=3",
        "model.pca_scale_rgb=false",
        "train.batch_size=2",
        "train.num_workers=0",
        "train.valid_interval=0",
        "train.log_interval=1",
        "train.schedule.name=constant",
    ]
    sets = [arg for item in overrides for arg in ("--set", item)]
    run = tmp_path / "run"
    assert main(["train", "nextvlad", "--data", str(data), "--output", str(run), "--epochs", "1", *sets]) == 0
    checkpoint = sorted(run.glob("ckpt-*.pt"))[-1]
    predictions = tmp_path / "predictions.jsonl"
    assert (
        main(
            [
                "predict",
                "nextvlad",
                "--weights",
                str(checkpoint),
                "--output",
                str(predictions),
                str(data / "test*.tfrecord"),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == ["silent", "tone"]
    assert all(len(row["scores"]) == 3 for row in rows)


CLI_FAST = ["--depth", "18", "--image-size", "64", "--max-seconds", str(MAX_SECONDS), "--device", "cpu"]


def test_cli_options_reach_run_extract(videos, extracted, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(extracted[0], data)
    labels = tmp_path / "labels.csv"
    labels.write_text("video,labels\nsub/long.mp4,2;0\n")
    assert (
        main(
            [
                "extract",
                str(videos / "sub"),
                str(videos / "tone.mp4"),
                "--output",
                str(data),
                "--labels",
                str(labels),
                "--split-prefix",
                "validate",
                "--shard-size",
                "1",
                *CLI_FAST,
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["unlabelled"], summary["split_prefix"]) == (2, 1, "validate")
    assert [p.name for p in sorted(data.glob("validate*.tfrecord"))] == [
        "validate0000.tfrecord",
        "validate0001.tfrecord",
    ]
    long = read_shard(data / "validate0000.tfrecord")["long"][1]
    assert long.labels.tolist() == [2, 0]
    assert read_shard(data / "validate0001.tfrecord")["tone"][1].labels.tolist() == []


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--fit-pca", "--pca", "x.npz"], 2, "exclude each other"),
        (["--max-seconds", "0"], 2, "--max-seconds 0"),
        (["--weights", "missing.pth"], 2, "--weights missing.pth: no such file"),
    ],
)
def test_cli_errors_are_one_line(videos, tmp_path, capsys, args, code, message):
    out = tmp_path / "out"
    assert (
        main(["extract", str(videos / "silent.mp4"), "--output", str(out), "--fit-pca", *CLI_FAST, *args])
        == code
    )
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("videozoo extract:")


def test_cli_exit_code_when_nothing_could_be_read(videos, tmp_path, capsys):
    assert (
        main(["extract", str(videos / "broken.mp4"), "--output", str(tmp_path), "--fit-pca", *CLI_FAST]) == 3
    )
    assert "no video could be read" in capsys.readouterr().err


def test_manifest_cells_cannot_become_spreadsheet_formulas(videos, extracted, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(extracted[0], data)
    named = tmp_path / "=cmd.mp4"
    shutil.copy(videos / "silent.mp4", named)
    run_extract([str(named)], str(data), split_prefix="x", **FAST)
    assert read_manifest(data)["'=cmd"]["status"] == "ok"
    assert list(read_shard(data / "x0000.tfrecord")) == ["=cmd"]  # the record keeps its id
    assert read_manifest(data)["tone"]["split"] == "train"  # earlier rows unchanged
