"""Clips/s ready for the model: videozoo's PyAV pipeline vs a decord + numpy baseline.

Both sides read the same encoded videos in the same run and produce the same thing: one
training clip, float32 `[T, 3, 224, 224]`, normalised, from a fresh open of the file (open +
index + decode + sample + crop/flip + normalise). The baseline is what MMAction2 does with
decord: `VideoReader(path).get_batch(indices)` then numpy crop, flip and normalise.

Videos: 340x256 H.264 (the usual pre-resized Kinetics size, so the short-side-256 resize is a
no-op for both), `--seconds` at 25 fps, B-frames on, keyframe every 250 (long GOP) or 16
(short GOP) frames. Samplings: TSN/TSM segment 8x1 and Non-local dense 8 frames x interval 8.

    python benchmarks/bench_decode.py [--videos 3] [--repeats 4] [--seconds 8]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from videozoo.data.synth_kinetics import encode_video, motion_video
from videozoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD, VideoTransform
from videozoo.data.video import VideoReader, clip_indices, segment_indices

SAMPLINGS = {
    "segment 8x1": lambda n, rng: segment_indices(n, 8, 1, True, rng),
    "dense 8x8": lambda n, rng: clip_indices(n, 8, 8, 1, True, rng)[0],
}


def make_videos(folder: Path, count: int, seconds: int, gop: int) -> list[Path]:
    rng = np.random.default_rng(gop)
    paths = []
    for i in range(count):
        frames = motion_video(rng, 360 * rng.random(), 340, 25 * seconds, object_frac=0.3)[:, :256]
        noise = rng.integers(-6, 7, size=frames.shape[1:], dtype=np.int16)  # camera-like grain
        frames = np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        paths.append(encode_video(folder / f"gop{gop}_{i}.mp4", frames, fps=25, codec="h264", gop=gop))
    return paths


def videozoo_clip(path, sample, rng, transform: VideoTransform) -> torch.Tensor:
    with VideoReader(path) as reader:
        indices = sample(reader.num_frames, rng)
        frames = reader.read(indices, size=transform.sample_short_side(rng))
    return transform(frames, rng)[0]


def decord_clip(path, sample, rng, crop=224) -> torch.Tensor:
    import decord
    reader = decord.VideoReader(str(path))
    indices = sample(len(reader), rng)
    frames = reader.get_batch(indices).asnumpy()  # [T, H, W, 3] uint8
    height, width = frames.shape[1:3]
    top, left = rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1)
    frames = frames[:, top:top + crop, left:left + crop]
    if rng.random() < 0.5:
        frames = frames[:, :, ::-1]
    mean = np.array(IMAGENET_MEAN, np.float32) * 255
    std = np.array(IMAGENET_STD, np.float32) * 255
    frames = (frames.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))


def clips_per_second(backends: dict, paths, sample, repeats: int) -> dict:
    """Clips/s of each backend; the backends alternate clip by clip so that load changes on a
    shared machine hit them alike."""
    seconds = dict.fromkeys(backends, 0.0)
    rngs = {name: np.random.default_rng(0) for name in backends}  # the same clips for each
    for name, make_clip in backends.items():
        make_clip(paths[0], sample, np.random.default_rng(1))  # warm-up (imports, caches)
    for _ in range(repeats):
        for path in paths:
            for name, make_clip in backends.items():
                start = time.perf_counter()
                clip = make_clip(path, sample, rngs[name])
                seconds[name] += time.perf_counter() - start
                assert clip.shape == (8, 3, 224, 224), clip.shape
    return {name: repeats * len(paths) / total for name, total in seconds.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3, help="videos per GOP setting")
    parser.add_argument("--repeats", type=int, default=4, help="clips drawn per video")
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    transform = VideoTransform(training=True, short_side=256, crop_size=224)
    ours = lambda path, sample, rng: videozoo_clip(path, sample, rng, transform)  # noqa: E731
    print(f"torch threads {torch.get_num_threads()}; clips/s (higher is better), ratio = videozoo / decord")
    print(f"{'video':<22}{'sampling':<14}{'videozoo':>10}{'decord':>10}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for gop, label in ((250, "long GOP (250)"), (16, "short GOP (16)")):
            paths = make_videos(Path(tmp), args.videos, args.seconds, gop)
            for name, sample in SAMPLINGS.items():
                rates = clips_per_second({"videozoo": ours, "decord": decord_clip}, paths, sample, args.repeats)
                ours_cps, base_cps = rates["videozoo"], rates["decord"]
                print(f"{label:<22}{name:<14}{ours_cps:>10.1f}{base_cps:>10.1f}{ours_cps / base_cps:>8.2f}")


if __name__ == "__main__":
    main()
