"""A small synthetic YouTube-8M dataset in the official layout, with learnable labels.

``synth_youtube8m(out_dir)`` writes::

    out_dir/train0000.tfrecord ...     frame-level SequenceExamples (id, labels, rgb, audio)
    out_dir/validate0000.tfrecord ...
    out_dir/test0000.tfrecord ...      no labels, like the published test split
    out_dir/vocabulary.csv             the official columns

How features carry the labels: every class has a random prototype direction (rgb [1024] and
audio [128]). A video's frames are Gaussian noise plus a per-video offset; a random subset of
frames gets the prototype of one of the video's labels added. One frame says little (its
prototype is only ``frame_snr`` noise standard deviations long), a whole video says a lot, so
a model must pool over time. Values are quantized to uint8 exactly like the real data.
"""

from __future__ import annotations

import csv
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from videozoo.data.tfrecord import TFRecordWriter
from videozoo.data.youtube8m_records import AUDIO_SIZE, RGB_SIZE, encode_frame_example
from videozoo.data.youtube8m_vocabulary import VOCABULARY_COLUMNS
from videozoo.errors import ConfigError
from videozoo.fileio import refuse_to_overwrite
from videozoo.runlock import hold_output

SPLITS = ("train", "validate", "test")
_FEATURE_SIZE = RGB_SIZE + AUDIO_SIZE
_NOISE_STD = 0.5  # per feature, in dequantized units (range [-2, 2])
_TRIANGULAR_STD = float(np.sqrt(2 * (256**2 - 1) / 12))  # std of (byte + byte - 255)
_LEVEL = 4.0 / 255.0  # one quantization step, in dequantized units
_ZERO_LEVEL = 127.0  # the level that dequantizes to 0.0
_VIDEO_OFFSET_STD = 0.05  # per-video constant offset: content that is not a label
_SIGNAL_FRAME_RATE = 0.35  # share of a video's frames that show each of its labels
_SHORT_VIDEO_RATE = 0.1  # share of very short videos (1-10 frames)
_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
_CLASS_NAMES = [
    "Game",
    "Video game",
    "Vehicle",
    "Concert",
    "Musician",
    "Cartoon",
    "Performance art",
    "Car",
    "Dance",
    "Guitar",
    "String instrument",
    "Food",
    "Association football",
    "Musical ensemble",
    "Music video",
    "Animal",
    "Animation",
    "Motorsport",
    "Pet",
    "Racing",
]


def _video_ids(rng: np.random.Generator, count: int, length: int, taken: set[str]) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        video_id = "".join(rng.choice(list(_ID_ALPHABET), length))
        if video_id not in taken:
            taken.add(video_id)
            ids.append(video_id)
    return ids


def _labels(rng: np.random.Generator, classes: int, mean_labels: float, popularity: np.ndarray) -> np.ndarray:
    count = min(int(rng.poisson(mean_labels)), classes)  # Poisson: ~5% of videos get none
    return np.sort(rng.choice(classes, size=count, replace=False, p=popularity))


def _frames(
    rng: np.random.Generator, labels: np.ndarray, prototype_levels: np.ndarray, num_frames: int
) -> np.ndarray:
    """uint8 [T, 1024 + 128] features of one video, built directly in quantization levels."""
    # Noise = the sum of two uniform random bytes (a triangular distribution): several times
    # cheaper to draw than Gaussian noise, and the model cannot tell the difference.
    noise_bytes = np.frombuffer(rng.bytes(2 * num_frames * _FEATURE_SIZE), np.uint8)
    noise_bytes = noise_bytes.reshape(2, num_frames, _FEATURE_SIZE)
    x = noise_bytes[0].astype(np.float32)
    x += noise_bytes[1]
    noise_scale = _NOISE_STD / _TRIANGULAR_STD / _LEVEL
    x *= noise_scale
    offset = rng.standard_normal(_FEATURE_SIZE, dtype=np.float32) * (_VIDEO_OFFSET_STD / _LEVEL)
    x += offset + (_ZERO_LEVEL + 0.5 - 255.0 * noise_scale)  # centre on 0.0; +0.5: truncation rounds
    shows = rng.random((labels.size, num_frames)) < _SIGNAL_FRAME_RATE
    shows[np.arange(labels.size), rng.integers(num_frames, size=labels.size)] = True  # >= 1 frame each
    for label, frames in zip(labels, shows):
        x[frames] += prototype_levels[label]  # not a matmul: tiny BLAS calls thrash its threads
    np.clip(x, 0.0, 255.0, out=x)
    return x.astype(np.uint8)


def _write_vocabulary(path: str, classes: int, train_counts: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(VOCABULARY_COLUMNS)
        for index in range(classes):
            name = _CLASS_NAMES[index] if index < len(_CLASS_NAMES) else f"Synthetic class {index}"
            writer.writerow(
                [
                    index,
                    int(train_counts[index]),
                    f"/m/synth{index:04d}",
                    name,
                    "https://en.wikipedia.org/wiki/" + name.replace(" ", "_"),
                    "Synthetic",
                    "",
                    "",
                    f"Synthetic class {index} ({name}).",
                ]
            )


def synth_youtube8m(
    out_dir: str | os.PathLike,
    videos: int = 1000,
    classes: int = 20,
    seed: int = 0,
    shards: int = 2,
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    max_frames: int = 300,
    mean_labels: float = 3.0,
    frame_snr: float = 4.0,
    overwrite: bool = False,
) -> dict:
    """Write a synthetic frame-level YouTube-8M dataset; return a summary dict.

    shards: files per split. split_fractions: train/validate/test shares of `videos`.
    Video lengths: ~10% have 1-10 frames, the rest 20..max_frames. frame_snr: length of a
    class prototype in units of the per-frame noise (larger = easier). A folder that already
    holds a dataset is refused unless ``overwrite``; the folder is locked while it is written.
    """
    for name, value in (
        ("videos", videos),
        ("classes", classes),
        ("shards", shards),
        ("max_frames", max_frames),
    ):
        if value < 1:
            raise ConfigError(f"synth youtube8m: {name} must be at least 1, got {value}")
    with hold_output(out_dir, "synth"):
        refuse_to_overwrite(out_dir, ["*.tfrecord", "vocabulary.csv"], "a dataset", overwrite)
        return _write_dataset(
            os.fspath(out_dir),
            videos,
            classes,
            seed,
            shards,
            split_fractions,
            max_frames,
            mean_labels,
            frame_snr,
        )


@dataclass(frozen=True)
class _Recipe:
    """What every synthetic video is drawn from."""

    classes: int
    max_frames: int
    mean_labels: float
    popularity: np.ndarray  # float [classes]: how often each class is a label
    prototype_levels: np.ndarray  # float [classes, 1152]: each class's mean frame, in levels


def _recipe(
    rng: np.random.Generator, classes: int, max_frames: int, mean_labels: float, frame_snr: float
) -> _Recipe:
    prototypes = rng.standard_normal((classes, _FEATURE_SIZE), dtype=np.float32)
    for part in (slice(0, RGB_SIZE), slice(RGB_SIZE, None)):  # rgb and audio each carry the label
        prototypes[:, part] *= (
            frame_snr * _NOISE_STD / np.linalg.norm(prototypes[:, part], axis=1, keepdims=True)
        )
    popularity = 1.0 / np.sqrt(np.arange(1, classes + 1))  # a mild long tail, like the real data
    return _Recipe(classes, max_frames, mean_labels, popularity / popularity.sum(), prototypes / _LEVEL)


def _write_shard(
    path: str,
    ids: np.ndarray,
    split: str,
    rng: np.random.Generator,
    recipe: _Recipe,
    train_counts: np.ndarray,
) -> tuple[int, int, int]:
    """Write one shard of `ids`; (frames, labels, videos without labels) written."""
    frames_total = labels_total = unlabeled = 0
    with TFRecordWriter(path) as writer:
        for video_id in ids:
            labels = _labels(rng, recipe.classes, recipe.mean_labels, recipe.popularity)
            short = rng.random() < _SHORT_VIDEO_RATE
            max_frames = recipe.max_frames
            low, high = (1, min(10, max_frames)) if short else (min(20, max_frames), max_frames)
            num_frames = int(rng.integers(low, high + 1))
            features = _frames(rng, labels, recipe.prototype_levels, num_frames)
            writer.write(
                encode_frame_example(
                    video_id,
                    None if split == "test" else labels,
                    features[:, :RGB_SIZE],
                    features[:, RGB_SIZE:],
                )
            )
            frames_total += num_frames
            labels_total += labels.size
            unlabeled += labels.size == 0
            if split == "train":
                train_counts[labels] += 1
    return frames_total, labels_total, int(unlabeled)


def _write_dataset(
    out_dir: str,
    videos: int,
    classes: int,
    seed: int,
    shards: int,
    split_fractions: Sequence[float],
    max_frames: int,
    mean_labels: float,
    frame_snr: float,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    recipe = _recipe(rng, classes, max_frames, mean_labels, frame_snr)
    fractions = np.asarray(split_fractions, dtype=np.float64)
    split_sizes = np.floor(fractions / fractions.sum() * videos).astype(int)
    split_sizes[0] += videos - split_sizes.sum()
    taken_ids: set[str] = set()
    train_counts = np.zeros(classes, np.int64)
    splits: dict[str, dict[str, Any]] = {}
    for split, size in zip(SPLITS, split_sizes):
        # Real train ids are 11-character YouTube ids; validate/test ids are 4-character aliases.
        ids = _video_ids(rng, size, 11 if split == "train" else 4, taken_ids)
        files, totals = [], np.zeros(3, np.int64)  # frames, labels, videos without labels
        for shard, shard_ids in enumerate(np.array_split(np.array(ids, dtype=object), shards)):
            files.append(os.path.join(out_dir, f"{split}{shard:04d}.tfrecord"))
            totals += _write_shard(files[-1], shard_ids, split, rng, recipe, train_counts)
        splits[split] = {
            "videos": int(size),
            "files": files,
            "frames": int(totals[0]),
            "mean_labels": int(totals[1]) / max(1, size),
            "videos_without_labels": int(totals[2]),
        }
    vocabulary = os.path.join(out_dir, "vocabulary.csv")
    _write_vocabulary(vocabulary, classes, train_counts)
    return {"root": os.fspath(out_dir), "classes": classes, "splits": splits, "vocabulary": vocabulary}
