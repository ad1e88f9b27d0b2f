"""Clips/s ready for the model: videozoo's PyAV pipeline vs decord + numpy, and the limit.

Every backend reads the same encoded videos in the same run, one clip at a time from a fresh
open of the file, and (but the limit) produces one training clip, float32 `[T, 3, 224, 224]`,
normalised: open + index + decode + sample + crop/flip + normalise.

* videozoo: `VideoReader(path).read(indices, size=256)` then `VideoTransform` (training).
* decord: what MMAction2 does with decord: `VideoReader(path).get_batch(indices)` then numpy
  crop, flip and normalise; with decord's default decoder threads, and with `num_threads=1`
  (MMAction2's `DecordInit` setting).
* limit: open + index + demux + decode of just the frames videozoo must decode (no colour
  conversion, no transform): `VideoReader(path).decode(indices)`. The pipeline cannot beat it.

Videos: 340x256 H.264 (the usual pre-resized Kinetics size, so the short-side-256 resize is a
no-op), `--seconds` at 25 fps, B-frames on, keyframe every 250 (long GOP) or 16 (short GOP)
frames. Samplings: TSN/TSM segment 8x1 and Non-local dense 8 frames x interval 8.
The backends alternate clip by clip, `--turns` times over `--videos` x `--clips` clips, so
load on a shared machine hits them alike; each turn gives each backend's clips/s and their
ratios. Printed: median clips/s, and the ratios' median (range) over the turns.

    python benchmarks/bench_decode.py [--videos 3] [--clips 2] [--turns 7] [--seconds 8] [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from videozoo.data.synth_kinetics import encode_video, motion_video
from videozoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD, VideoTransform
from videozoo.data.video import VideoReader, clip_indices, segment_indices
from videozoo.fileio import atomic_write_text

SAMPLINGS = {
    "segment 8x1": lambda n, rng: segment_indices(n, 8, 1, True, rng),
    "dense 8x8": lambda n, rng: clip_indices(n, 8, 8, 1, True, rng)[0],
}
TRANSFORM = VideoTransform(training=True, short_side=256, crop_size=224)


def make_videos(folder: Path, count: int, seconds: int, gop: int) -> list[Path]:
    rng = np.random.default_rng(gop)
    paths = []
    for i in range(count):
        frames = motion_video(rng, 360 * rng.random(), 340, 25 * seconds, object_frac=0.3)[:, :256]
        noise = rng.integers(-6, 7, size=frames.shape[1:], dtype=np.int16)  # camera-like grain
        frames = np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        paths.append(encode_video(folder / f"gop{gop}_{i}.mp4", frames, fps=25, codec="h264", gop=gop))
    return paths


def videozoo_clip(path, sample, rng) -> torch.Tensor:
    with VideoReader(path) as reader:
        indices = sample(reader.num_frames, rng)
        frames = reader.read(indices, size=TRANSFORM.sample_short_side(rng))
    return TRANSFORM(frames, rng)[0]


def decord_clip(path, sample, rng, threads: int = 0, crop=224) -> torch.Tensor:
    import decord

    reader = decord.VideoReader(str(path), num_threads=threads)
    indices = sample(len(reader), rng)
    frames = reader.get_batch(indices).asnumpy()  # [T, H, W, 3] uint8
    height, width = frames.shape[1:3]
    top, left = rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1)
    frames = frames[:, top : top + crop, left : left + crop]
    if rng.random() < 0.5:
        frames = frames[:, :, ::-1]
    mean = np.array(IMAGENET_MEAN, np.float32) * 255
    std = np.array(IMAGENET_STD, np.float32) * 255
    frames = (frames.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))


def limit_clip(path, sample, rng) -> None:
    with VideoReader(path) as reader:
        reader.decode(sample(reader.num_frames, rng))


BACKENDS = {
    "videozoo": videozoo_clip,
    "decord": decord_clip,
    "decord 1 thread": lambda path, sample, rng: decord_clip(path, sample, rng, threads=1),
    "limit": limit_clip,
}


def turn_rates(paths, sample, clips: int, seed: int) -> dict[str, float]:
    """Clips/s of each backend over the same clips, taken in alternation."""
    seconds = dict.fromkeys(BACKENDS, 0.0)
    rngs = {name: np.random.default_rng(seed) for name in BACKENDS}  # the same clips for each
    for _ in range(clips):
        for path in paths:
            for name, make_clip in BACKENDS.items():
                start = time.perf_counter()
                clip = make_clip(path, sample, rngs[name])
                seconds[name] += time.perf_counter() - start
                assert clip is None or clip.shape == (8, 3, 224, 224), clip.shape
    return {name: clips * len(paths) / total for name, total in seconds.items()}


def cpu_breakdown(paths, sample, clips: int) -> list[float]:
    """CPU ms per clip of videozoo's steps: open + index, `decode` (the needed frames: the
    limit's part), `read` (the same decoding, then colour conversion), the transform."""
    steps = np.zeros(4)
    rng = np.random.default_rng(0)
    for _ in range(clips):
        for path in paths:
            start = time.process_time()
            with VideoReader(path) as reader:
                opened = time.process_time()
                indices = sample(reader.num_frames, rng)
                reader.decode(indices)
                decoded = time.process_time()
                frames = reader.read(indices, size=TRANSFORM.sample_short_side(rng))
                read = time.process_time()
            TRANSFORM(frames, rng)
            steps += [opened - start, decoded - opened, read - decoded, time.process_time() - read]
    return (steps / (clips * len(paths)) * 1e3).tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3, help="videos per GOP setting")
    parser.add_argument("--clips", type=int, default=2, help="clips per video per turn")
    parser.add_argument("--turns", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--breakdown", action="store_true", help="also print CPU ms per clip of videozoo's steps"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    args = parser.parse_args()
    print(
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; {args.turns} turns of "
        f"{args.videos} videos x {args.clips} clips; clips/s median; ratio median (range)"
    )
    print(
        f"{'video':<16}{'sampling':<13}{'videozoo':>9}{'decord':>8}{'decord1t':>9}{'limit':>7}"
        f"{'x decord':>19}{'x decord1t':>19}{'of limit':>19}"
    )
    raw = {}  # clips/s of every backend in every turn, per case
    with tempfile.TemporaryDirectory() as tmp:
        for gop, label in ((250, "long GOP (250)"), (16, "short GOP (16)")):
            paths = make_videos(Path(tmp), args.videos, args.seconds, gop)
            for name, sample in SAMPLINGS.items():
                for make_clip in BACKENDS.values():  # warm-up (imports, caches)
                    make_clip(paths[0], sample, np.random.default_rng(1))
                turns = [turn_rates(paths, sample, args.clips, seed) for seed in range(args.turns)]
                rates = {backend: np.array([turn[backend] for turn in turns]) for backend in BACKENDS}
                raw[f"{label}, {name}"] = {backend: values.tolist() for backend, values in rates.items()}
                ours = rates["videozoo"]
                ratios = [ours / rates["decord"], ours / rates["decord 1 thread"], ours / rates["limit"]]
                print(
                    f"{label:<16}{name:<13}"
                    + "".join(f"{np.median(rates[b]):>{w}.1f}" for b, w in zip(BACKENDS, (9, 8, 9, 7)))
                    + "".join(f"{np.median(r):>10.2f} ({r.min():.2f}-{r.max():.2f})" for r in ratios)
                )
                if args.breakdown:
                    steps = cpu_breakdown(paths, sample, args.clips)
                    print(
                        f"{'':<29}CPU ms per clip: open + index {steps[0]:.1f}, decode {steps[1]:.1f}, "
                        f"read {steps[2]:.1f}, transform {steps[3]:.1f}"
                    )
    if args.json:
        atomic_write_text(args.json, json.dumps({"clips_per_s": raw}, indent=2) + "\n")


if __name__ == "__main__":
    main()
