"""Synthetic YouTube-8M: official layout, label statistics, determinism, learnable signal."""

import csv
import os

import numpy as np
import pytest

from videozoo.data import youtube8m as y8m
from videozoo.data import youtube8m_records as records
from videozoo.data.synth import synth_youtube8m
from videozoo.data.tfrecord import iter_records
from videozoo.data.youtube8m_vocabulary import VOCABULARY_COLUMNS


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("yt8m")
    summary = synth_youtube8m(root, videos=200, classes=12, seed=3, shards=2, max_frames=60)
    return root, summary


def _examples(paths):
    return [records.parse_frame_example(r, max_frames=300) for p in paths for r in iter_records(p)]


def test_official_layout(dataset):
    root, summary = dataset
    names = sorted(os.listdir(root))
    assert names == [
        "test0000.tfrecord",
        "test0001.tfrecord",
        "train0000.tfrecord",
        "train0001.tfrecord",
        "validate0000.tfrecord",
        "validate0001.tfrecord",
        "vocabulary.csv",
    ]
    with open(root / "vocabulary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == VOCABULARY_COLUMNS
    assert [int(r["Index"]) for r in rows] == list(range(12)) and rows[0]["Name"] == "Game"
    train = _examples(summary["splits"]["train"]["files"])
    counts = np.bincount(np.concatenate([e.labels for e in train]), minlength=12)
    assert [int(r["TrainVideoCount"]) for r in rows] == counts.tolist()
    for split, share in (("train", 0.7), ("validate", 0.15), ("test", 0.15)):
        examples = _examples(summary["splits"][split]["files"])
        assert len(examples) == summary["splits"][split]["videos"] == round(200 * share)
        assert all((e.labels is None) == (split == "test") for e in examples)
    # The reader sees it as an ordinary dataset.
    source = y8m.build({"root": str(root)}, "validate", training=False, batch_size=64, seed=0)
    assert source.class_names[:2] == ["Game", "Video game"]
    assert sum(len(b["ids"]) for b in source.batches(0)) == 30


def test_label_and_length_statistics(dataset):
    _, summary = dataset
    examples = _examples(summary["splits"]["train"]["files"])
    label_counts = np.array([len(e.labels) for e in examples])
    assert 2.5 < label_counts.mean() < 3.5 and 0 < (label_counts == 0).sum() < 0.15 * len(examples)
    lengths = np.array([len(e.rgb) for e in examples])
    assert lengths.min() <= 10 and lengths.max() <= 60 and lengths.max() > 45
    assert len({e.video_id for e in examples}) == len(examples)
    assert all(len(e.video_id) == 11 for e in examples)


def test_deterministic_given_seed(tmp_path):
    first = synth_youtube8m(tmp_path / "a", videos=20, classes=5, seed=1, max_frames=20)
    second = synth_youtube8m(tmp_path / "b", videos=20, classes=5, seed=1, max_frames=20)
    third = synth_youtube8m(tmp_path / "c", videos=20, classes=5, seed=2, max_frames=20)
    read = lambda s: open(s["splits"]["train"]["files"][0], "rb").read()  # noqa: E731
    assert read(first) == read(second) != read(third)


def test_labels_are_learnable_from_the_video_not_from_one_frame(dataset):
    """Class templates from training videos: the mean over a video finds its labels, one frame mostly not."""
    _, summary = dataset
    train = _examples(summary["splits"]["train"]["files"])
    validate = _examples(summary["splits"]["validate"]["files"])

    def features(example, frame=None):
        x = records.dequantize(np.concatenate([example.rgb, example.audio], 1))
        return x.mean(0) if frame is None else x[frame]

    train_x = np.stack([features(e) for e in train])
    train_y = np.zeros((len(train), 12))
    for i, e in enumerate(train):
        train_y[i, e.labels] = 1
    templates = (train_y.T @ train_x) / np.maximum(train_y.sum(0)[:, None], 1) - train_x.mean(0)

    def label_recall(frame):
        """Share of the true labels among each video's top-k scores (k = its label count)."""
        found = total = 0
        for e in validate:
            top = np.argsort(templates @ features(e, frame))[::-1][: e.labels.size]
            found += np.isin(e.labels, top).sum()
            total += e.labels.size
        return found / total

    video_level, one_frame = label_recall(None), label_recall(0)
    assert video_level > 0.8
    assert one_frame < video_level - 0.2
