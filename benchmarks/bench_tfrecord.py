"""YouTube-8M ready batches: videozoo's data source vs the `tfrecord` package + numpy.

Both read the same synthetic frame-level shards (written first, then read from the page cache)
and produce what the trainer receives: a batch dict with ``rgb`` uint8 [B, T, 1024],
``audio`` uint8 [B, T, 128] zero-padded to the longest video, ``mask`` bool [B, T] and
multi-hot ``labels`` float32 [B, 3862].

* videozoo: ``build(...).batches(epoch)`` as the trainer calls it, in the main process
  (``--workers 0``) and with DataLoader workers; both CRC32Cs of every record are verified.
* tfrecord: the package's ``sequence_loader`` (it verifies no CRC), then the numpy a user
  writes to pad the frames and build the mask and labels (``tfrecord_batches`` below).

An epoch reads the shards ``--passes`` times (symbolic links to the same files: the page cache
holds one copy). The readers take turns, one epoch each, ``--repeats`` times, so load on a
shared machine hits them alike. Each epoch is timed over its last three quarters: the steady
state a trainer sees, without the start of the epoch (forking workers, their first batches),
which a real epoch of millions of videos pays once. Prints videos/s (median and range) and the
ratio to tfrecord per turn (median and range). Before timing, the batches of every reader are
checked to be equal.

    python benchmarks/bench_tfrecord.py [--videos 600 --frames 195 --shards 4 --passes 4 \
        --batch-size 32 --workers 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time

import numpy as np
import torch

from videozoo.data.tfrecord import TFRecordWriter
from videozoo.data.youtube8m import build
from videozoo.data.youtube8m_records import AUDIO_SIZE, RGB_SIZE, encode_frame_example
from videozoo.fileio import atomic_write_text

NUM_CLASSES = 3862


def write_shards(folder: str, videos: int, mean_frames: int, shards: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = [os.path.join(folder, f"bench{shard:04d}.tfrecord") for shard in range(shards)]
    for shard, path in enumerate(paths):
        with TFRecordWriter(path) as writer:
            for index in range(shard, videos, shards):
                num_frames = int(np.clip(rng.normal(mean_frames, 60), 1, 300))
                labels = rng.choice(NUM_CLASSES, size=rng.integers(1, 6), replace=False)
                writer.write(
                    encode_frame_example(
                        f"v{index:06d}",
                        labels,
                        rng.integers(0, 256, (num_frames, RGB_SIZE), dtype=np.uint8),
                        rng.integers(0, 256, (num_frames, AUDIO_SIZE), dtype=np.uint8),
                    )
                )
    return paths


def _link(path: str, copy: int) -> str:
    """Another name for the shard ``path`` (another pass over it in the same epoch)."""
    link = path.replace("bench", f"bench-pass{copy}-")
    os.symlink(path, link)
    return link


def tfrecord_batches(paths: list[str], batch_size: int, max_frames: int):
    """The usual route with the `tfrecord` package: sequence_loader, one np.frombuffer per
    feature, then a padded uint8 batch, its mask and multi-hot labels."""
    from tfrecord.reader import sequence_loader

    def padded(examples):
        length = max(len(rgb) for _, _, rgb, _ in examples)
        rgb = np.zeros((len(examples), length, RGB_SIZE), np.uint8)
        audio = np.zeros((len(examples), length, AUDIO_SIZE), np.uint8)
        mask = np.zeros((len(examples), length), bool)
        labels = np.zeros((len(examples), NUM_CLASSES), np.float32)
        for i, (_, label_ids, frames_rgb, frames_audio) in enumerate(examples):
            rgb[i, : len(frames_rgb)] = frames_rgb
            audio[i, : len(frames_audio)] = frames_audio
            mask[i, : len(frames_rgb)] = True
            labels[i, label_ids] = 1.0
        return {
            "rgb": torch.from_numpy(rgb),
            "audio": torch.from_numpy(audio),
            "mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(labels),
            "ids": [video_id for video_id, _, _, _ in examples],
        }

    examples = []
    for path in paths:
        for context, features in sequence_loader(
            path, None, {"id": "byte", "labels": "int"}, {"rgb": "byte", "audio": "byte"}
        ):
            frames = min(len(features["rgb"]), len(features["audio"]), max_frames)
            rgb = np.frombuffer(b"".join(features["rgb"][:frames]), np.uint8).reshape(-1, RGB_SIZE)
            audio = np.frombuffer(b"".join(features["audio"][:frames]), np.uint8).reshape(-1, AUDIO_SIZE)
            examples.append((context["id"].decode(), context["labels"], rgb, audio))
            if len(examples) == batch_size:
                yield padded(examples)
                examples = []
    if examples:
        yield padded(examples)


def epoch_rate(batches, num_batches: int) -> float:
    """Videos/s over the last three quarters of one epoch of ``num_batches`` batches."""
    iterator = iter(batches)
    for _ in range(num_batches // 4):
        next(iterator)
    start, videos = time.perf_counter(), 0
    for batch in iterator:
        videos += len(batch["ids"])
    return videos / (time.perf_counter() - start)


def same_batches(ours, theirs) -> None:
    for mine, other in zip(ours, theirs, strict=True):
        assert mine["ids"] == other["ids"]
        for key in ("rgb", "audio", "mask", "labels"):
            assert torch.equal(mine[key], other[key]), key


def spread(values) -> str:
    return f"{np.median(values):8.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=600)
    parser.add_argument("--frames", type=int, default=195, help="mean frames per video (max 300)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--passes", type=int, default=4, help="times an epoch reads the shards")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-frames", type=int, default=300)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="DataLoader worker counts to measure videozoo with",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    args = parser.parse_args()
    logging.getLogger("videozoo.data").setLevel(logging.ERROR)  # no vocabulary.csv here

    with tempfile.TemporaryDirectory() as folder:
        shards = write_shards(folder, args.videos, args.frames, args.shards)
        megabytes = sum(os.path.getsize(p) for p in shards) / 1e6
        paths = sorted(shards + [_link(path, copy) for copy in range(1, args.passes) for path in shards])
        num_batches = -(-args.videos * args.passes // args.batch_size)
        readers = {"tfrecord": lambda: tfrecord_batches(paths, args.batch_size, args.max_frames)}
        for workers in args.workers:
            source = build(
                {
                    "root": folder,
                    "validate_files": "bench*.tfrecord",
                    "num_classes": NUM_CLASSES,
                    "max_frames": args.max_frames,
                },
                "validate",
                training=False,
                batch_size=args.batch_size,
                seed=0,
                num_workers=workers,
            )
            label = f"videozoo, {workers} worker{'' if workers == 1 else 's'}"
            readers[label] = lambda source=source: source.batches(0)
        for name, batches in readers.items():
            if name != "tfrecord":
                same_batches(batches(), readers["tfrecord"]())

        rates = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, batches in readers.items():
                rates[name].append(epoch_rate(batches(), num_batches))
        print(
            f"{args.videos} videos, {megabytes:.1f} MB in {args.shards} shards, read {args.passes} "
            f"times per epoch, batch {args.batch_size}, {args.repeats} turns; "
            f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs"
        )
        print(f"{'reader':22} {'videos/s median (range)':>26} {'x tfrecord (range)':>22}")
        for name, values in rates.items():
            ratios = np.array(values) / np.array(rates["tfrecord"])
            print(
                f"{name:22} {spread(values):>26} {np.median(ratios):>9.2f} "
                f"({ratios.min():.2f}-{ratios.max():.2f})"
            )
    if args.json:  # videos/s of every reader in every turn
        atomic_write_text(
            args.json,
            json.dumps(
                {
                    "videos": args.videos,
                    "passes": args.passes,
                    "batch_size": args.batch_size,
                    "videos_per_s": rates,
                },
                indent=2,
            )
            + "\n",
        )


if __name__ == "__main__":
    main()
