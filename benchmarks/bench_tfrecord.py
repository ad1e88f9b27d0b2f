"""YouTube-8M TFRecord reading speed: videozoo's reader vs the `tfrecord` package.

Both read the same synthetic frame-level shards (written first, then read from the page cache):

* parse:   records -> (id, labels, rgb uint8 [T, 1024], audio uint8 [T, 128])
* batches: the same, then padded + dequantized float32 training batches [B, T, F] with masks
           (both through videozoo's collate, so only the parsing differs)

videozoo verifies both CRC32Cs of every record; the `tfrecord` package verifies none.
Prints videos/s, MB/s (of shard bytes) and the ratio, best of --repeats runs.

    python benchmarks/bench_tfrecord.py [--videos 300 --frames 195 --shards 2 --batch-size 32]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from videozoo.data.tfrecord import TFRecordWriter, iter_records
from videozoo.data.youtube8m import build, collate_examples
from videozoo.data.youtube8m_records import (AUDIO_SIZE, RGB_SIZE, FrameExample,
                                     encode_frame_example, parse_frame_example)

NUM_CLASSES = 3862


def write_shards(folder: str, videos: int, mean_frames: int, shards: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = [os.path.join(folder, f"bench{shard:04d}.tfrecord") for shard in range(shards)]
    for shard, path in enumerate(paths):
        with TFRecordWriter(path) as writer:
            for index in range(shard, videos, shards):
                num_frames = int(np.clip(rng.normal(mean_frames, 60), 1, 300))
                labels = rng.choice(NUM_CLASSES, size=rng.integers(1, 6), replace=False)
                writer.write(encode_frame_example(
                    f"v{index:06d}", labels,
                    rng.integers(0, 256, (num_frames, RGB_SIZE), dtype=np.uint8),
                    rng.integers(0, 256, (num_frames, AUDIO_SIZE), dtype=np.uint8)))
    return paths


def tfrecord_package_examples(paths: list[str], max_frames: int):
    """The usual pure-Python route: sequence_loader, then one np.frombuffer per feature."""
    from tfrecord.reader import sequence_loader

    for path in paths:
        for context, features in sequence_loader(path, None, {"id": "byte", "labels": "int"},
                                                 {"rgb": "byte", "audio": "byte"}):
            rgb = np.frombuffer(b"".join(features["rgb"][:max_frames]), np.uint8).reshape(-1, RGB_SIZE)
            audio = np.frombuffer(b"".join(features["audio"][:max_frames]), np.uint8).reshape(-1, AUDIO_SIZE)
            yield FrameExample(context["id"].decode(), context["labels"], rgb, audio)


def videozoo_examples(paths: list[str], max_frames: int):
    for path in paths:
        for record in iter_records(path):
            yield parse_frame_example(record, max_frames)


def batched(examples, batch_size: int):
    batch = []
    for example in examples:
        batch.append(example)
        if len(batch) == batch_size:
            yield collate_examples(batch, NUM_CLASSES)
            batch = []
    if batch:
        yield collate_examples(batch, NUM_CLASSES)


def best_time(run, repeats: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--frames", type=int, default=195, help="mean frames per video (max 300)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-frames", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        paths = write_shards(folder, args.videos, args.frames, args.shards)
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        source = build({"root": folder, "validate_files": "bench*.tfrecord", "num_classes": NUM_CLASSES,
                        "max_frames": args.max_frames}, "validate", training=False,
                       batch_size=args.batch_size, seed=0)
        runs = {
            ("parse", "tfrecord"): lambda: sum(1 for _ in tfrecord_package_examples(paths, args.max_frames)),
            ("parse", "videozoo"): lambda: sum(1 for _ in videozoo_examples(paths, args.max_frames)),
            ("batches", "tfrecord"): lambda: sum(len(b["ids"]) for b in batched(
                tfrecord_package_examples(paths, args.max_frames), args.batch_size)),
            ("batches", "videozoo"): lambda: sum(len(b["ids"]) for b in source.batches(0)),
        }
        print(f"{args.videos} videos, {megabytes:.1f} MB in {args.shards} shards, "
              f"batch {args.batch_size}, best of {args.repeats}")
        print(f"{'stage':8} {'reader':9} {'videos/s':>9} {'MB/s':>8}")
        speed = {}
        for (stage, reader), run in runs.items():
            seconds, count = best_time(run, args.repeats)
            assert count == args.videos, (stage, reader, count)
            speed[stage, reader] = count / seconds
            print(f"{stage:8} {reader:9} {count / seconds:9.0f} {megabytes / seconds:8.0f}")
        for stage in ("parse", "batches"):
            ratio = speed[stage, "videozoo"] / speed[stage, "tfrecord"]
            print(f"{stage}: videozoo / tfrecord = {ratio:.2f}x")


if __name__ == "__main__":
    main()
