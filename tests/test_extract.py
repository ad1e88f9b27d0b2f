"""`videozoo extract`: tiny H.264 videos made here -> YouTube-8M frame shards -> train/predict."""
import csv
import json
import shutil

import av
import numpy as np
import pytest

from videozoo.data.tfrecord import iter_records
from videozoo.data.youtube8m_records import (AUDIO_SIZE, RGB_SIZE, SequenceExample, dequantize,
                                     parse_frame_example)
from videozoo.extract import (PCA, CovarianceAccumulator, log_mel_per_second, mel_filterbank,
                              quantize_features, run_extract)

FPS = 8
SIZE = 64
TONES = [300, 600, 1200, 2400]     # Hz, one per second of the video with sound
MAX_SECONDS = 4
PCA_DIMS = 4
FAST = dict(depth=18, image_size=64, pca_dims=PCA_DIMS, max_seconds=MAX_SECONDS, progress=False)
LABELS = {"tone": [0], "silent": [1], "long": [2]}


def write_video(path, seconds, tones=None, shade=0):
    """H.264 mp4, SIZE x SIZE at FPS; each second (and each `shade`) a different colour; an
    AAC tone per second (the frequencies `tones`) when given, else no audio stream."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono") if tones else None
        for i in range(seconds * FPS):
            image = np.zeros((SIZE, SIZE, 3), np.uint8)
            image[..., (i // FPS) % 3] = 40 + 50 * (i // FPS)
            image[..., (i // FPS + 1) % 3] = 60 * shade
            image[: i % SIZE, :8] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            frequency = np.repeat(np.asarray(tones, float), 16000)
            wave = (0.5 * np.sin(2 * np.pi * np.cumsum(frequency) / 16000)).astype(np.float32)
            for start in range(0, wave.size, 1024):
                frame = av.AudioFrame.from_ndarray(wave[None, start:start + 1024], format="fltp",
                                                   layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "tone.mp4", len(TONES), TONES)
    write_video(folder / "silent.mp4", 3, shade=1)
    (folder / "sub").mkdir()
    write_video(folder / "sub" / "long.mp4", MAX_SECONDS + 1, shade=2)      # capped by max_seconds
    (folder / "broken.mp4").write_bytes(b"this is not a video" * 20)
    (folder / "notes.txt").write_text("not a video extension: ignored in folders")
    return folder


@pytest.fixture(scope="module")
def extracted(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    summary = run_extract([str(videos)], str(out), fit_pca=True, labels=LABELS, **FAST)
    records = {}
    for shard in summary["shards"]:
        for record in iter_records(shard):
            example = parse_frame_example(record)
            context = SequenceExample.FromString(bytes(record)).context.feature
            records[example.video_id] = (example, context["has_audio"].int64_list.value[0])
    return out, summary, records


def read_manifest(folder):
    with open(folder / "manifest.csv", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def test_records_parse_with_one_frame_per_second(extracted):
    out, summary, records = extracted
    assert sorted(records) == ["long", "silent", "tone"]
    # Frame count = duration in seconds, capped by max_seconds.
    assert {vid: len(example.rgb) for vid, (example, _) in records.items()} == \
        {"tone": len(TONES), "silent": 3, "long": MAX_SECONDS}
    for vid, (example, _) in records.items():
        assert example.rgb.shape[1] == RGB_SIZE and example.audio.shape[1] == AUDIO_SIZE
        assert example.labels.tolist() == LABELS[vid]
    assert [p.split("/")[-1] for p in summary["shards"]] == ["train0000.tfrecord"]
    assert summary["frames"] == len(TONES) + 3 + MAX_SECONDS


def test_rgb_is_pca_whitened_then_zero_padded(extracted):
    out, _, records = extracted
    pca = PCA.load(out / "pca.npz")
    assert pca.components.shape == (PCA_DIMS, 512)   # ResNet-18 trunk width
    rgb = np.concatenate([example.rgb for example, _ in records.values()])
    # Frames differ from each other in the kept components; the padding is quantize(0.0).
    assert len(np.unique(rgb[:, :PCA_DIMS], axis=0)) == len(rgb)
    assert (rgb[:, PCA_DIMS:] == quantize_features(np.float32(0.0))).all()
    # Whitened on the fitting frames: about unit variance per component (before clipping).
    assert 0.3 < dequantize(rgb[:, :PCA_DIMS]).std(0).mean() < 1.5


def test_audio_flag_and_features(extracted):
    out, summary, records = extracted
    tone, tone_flag = records["tone"]
    silent, silent_flag = records["silent"]
    assert (tone_flag, silent_flag) == (1, 0)
    assert summary["without_audio"] == 2          # "silent" and "long" have no audio stream
    assert (silent.audio == quantize_features(np.float32(0.0))).all()
    # The rising tone: every second differs and its loudest mel band moves up.
    assert len(np.unique(tone.audio, axis=0)) == len(TONES)
    assert np.all(np.diff(tone.audio.argmax(1).astype(int)) > 0)
    manifest = read_manifest(out)
    assert [manifest[v]["has_audio"] for v in ("tone", "silent", "long")] == ["1", "0", "0"]


def test_broken_file_is_skipped_and_listed(extracted):
    out, summary, _ = extracted
    assert summary["skipped"] == 1 and summary["written"] == 3
    row = read_manifest(out)["broken"]
    assert row["status"] == "skipped" and "broken.mp4" in row["path"]
    assert row["error"]
    assert "notes" not in read_manifest(out)


def test_quantize_round_trip_within_half_a_step():
    x = np.random.default_rng(0).uniform(-2, 2, 10_000).astype(np.float32)
    assert np.abs(dequantize(quantize_features(x)) - x).max() <= 2 / 255 + 1e-6
    assert quantize_features(np.array([-9.0, 9.0], np.float32)).tolist() == \
        quantize_features(np.array([-2.0, 2.0], np.float32)).tolist()
    assert abs(float(dequantize(quantize_features(np.float32(0.0))))) < 2 / 255


def test_pca_fit_whitens_and_matches_svd():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0
    stats = CovarianceAccumulator(6)
    stats.update(data[:200])
    stats.update(data[200:])
    pca = PCA.fit(stats, 3)
    singular = np.linalg.svd(data - data.mean(0), compute_uv=False)
    np.testing.assert_allclose(pca.eigenvalues, singular[:3] ** 2 / 499, rtol=1e-4)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-5)
    white = pca.transform(data.astype(np.float32))
    np.testing.assert_allclose(np.cov(white.T), np.eye(3), atol=1e-3)
    with pytest.raises(ValueError, match="at least 7 frames"):
        PCA.fit(_few_frames(6), 6)


def _few_frames(count):
    stats = CovarianceAccumulator(8)
    stats.update(np.random.default_rng(2).normal(size=(count, 8)))
    return stats


def test_mel_filterbank_has_no_empty_band():
    bank = mel_filterbank()
    assert bank.shape == (513, 128) and (bank.max(0) > 0).all()
    silence = log_mel_per_second(np.zeros(100, np.float32), 2)     # shorter than 2 s: padded
    assert silence.shape == (2, 128) and np.allclose(silence, np.log(0.01))


def test_missing_pca_gives_a_clear_error(videos, tmp_path):
    with pytest.raises(FileNotFoundError, match="--fit-pca"):
        run_extract([str(videos / "silent.mp4")], str(tmp_path), **FAST)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        run_extract([str(videos / "silent.mp4")], str(tmp_path), pca=str(tmp_path / "nope.npz"),
                    **FAST)


def test_existing_outputs_are_not_clobbered_and_extractor_is_checked(videos, extracted, tmp_path):
    import torch

    from videozoo.models.resnet import ResNet

    out = extracted[0]
    with pytest.raises(ValueError, match="--overwrite"):      # train0000.tfrecord is there
        run_extract([str(videos / "silent.mp4")], str(out), labels=LABELS, **FAST)
    with pytest.raises(ValueError, match="pca.npz exists"):
        run_extract([str(videos / "silent.mp4")], str(out), fit_pca=True, split_prefix="x", **FAST)
    # The stored PCA was fitted on the random trunk: ImageNet-style weights do not match it.
    weights = tmp_path / "resnet18.pth"
    torch.save(ResNet(18).state_dict(), weights)
    with pytest.raises(ValueError, match="same --weights"):
        run_extract([str(videos / "silent.mp4")], str(out), weights=str(weights),
                    split_prefix="x", **{**FAST, "pca_dims": None})


def test_extract_train_predict_end_to_end(videos, extracted, tmp_path):
    from videozoo.cli import main

    data = tmp_path / "data"
    shutil.copytree(extracted[0], data)
    # A second run reuses the stored PCA: same trunk (seeded), same bytes for the same video.
    inputs = [str(videos / "tone.mp4"), str(videos / "silent.mp4")]
    run_extract(inputs, str(data), shard_size=1, **FAST)
    assert sorted(p.name for p in data.glob("test*.tfrecord")) == \
        ["test0000.tfrecord", "test0001.tfrecord"]
    summary = run_extract(inputs, str(data), overwrite=True, **FAST)    # the stale shard goes
    assert sorted(p.name for p in data.glob("test*.tfrecord")) == ["test0000.tfrecord"]
    assert summary["split_prefix"] == "test" and not summary["pca_fitted"]
    test_records = {parse_frame_example(r).video_id: parse_frame_example(r)
                    for r in iter_records(data / "test0000.tfrecord")}
    assert test_records["tone"].labels is None
    np.testing.assert_array_equal(test_records["tone"].rgb, extracted[2]["tone"][0].rgb)
    assert set(read_manifest(data)) == {"tone", "silent", "long", "broken"}   # train rows kept

    overrides = ["model.cluster_size=8", "model.hidden_size=32", "model.groups=4",
                 "model.gating_reduction=4", "model.num_classes=3", "model.pca_scale_rgb=false",
                 "train.batch_size=2", "train.num_workers=0", "train.valid_interval=0",
                 "train.log_interval=1", "train.schedule.name=constant"]
    sets = [arg for item in overrides for arg in ("--set", item)]
    run = tmp_path / "run"
    assert main(["train", "nextvlad", "--data", str(data), "--output", str(run),
                 "--epochs", "1", *sets]) == 0
    checkpoint = sorted(run.glob("ckpt-*.pt"))[-1]
    predictions = tmp_path / "predictions.jsonl"
    assert main(["predict", "nextvlad", "--weights", str(checkpoint),
                 "--output", str(predictions), str(data / "test*.tfrecord")]) == 0
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == ["silent", "tone"]
    assert all(len(row["scores"]) == 3 for row in rows)
