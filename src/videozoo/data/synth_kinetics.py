"""Synthetic Kinetics-style data set whose classes are defined by MOTION only.

`synth_kinetics(out_dir, ...)` writes small encoded videos in the official Kinetics layout:

    out_dir/classes.txt                         one class name per line (sorted)
    out_dir/{train,validate,test}.csv           label,youtube_id,time_start,time_end,split
    out_dir/{train,validate,test}/<id>_<start:06d>_<end:06d>.mp4

Each video shows a randomly textured square on a random textured background. Class `k` moves
the square in direction `360 * k / classes` degrees at a random speed, wrapping around the
frame edges (a torus), from a uniformly random start. Every single frame therefore has the
same distribution for every class: a frame-averaging model (TSN) sits at chance, a model that
compares frames over time (TSM, StNet, Non-local) can learn it.

`encode_video(path, frames [T, H, W, 3] uint8, fps, codec, gop)` is the encoder used here, by
the tests and by the decoding benchmark.
"""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np

from videozoo.errors import ConfigError
from videozoo.fileio import refuse_to_overwrite
from videozoo.runlock import hold_output

# codec name -> (PyAV encoder, file extension)
CODECS = {
    "h264": ("libx264", ".mp4"),
    "mpeg4": ("mpeg4", ".avi"),
    "vp9": ("libvpx-vp9", ".webm"),
}
SPLITS = ("train", "validate", "test")


def encode_video(
    path, frames: np.ndarray, fps: int = 25, codec: str = "h264", gop: int | None = None, bframes: bool = True
) -> Path:
    """Encode uint8 RGB frames `[T, H, W, 3]` (H, W even) to `path` with `codec` (see CODECS).

    `gop`: keyframe interval (None: the encoder's default). `bframes=False` disables B-frames.
    """
    encoder = CODECS[codec][0] if codec in CODECS else codec
    path = Path(path)
    frames = np.asarray(frames, dtype=np.uint8)
    with av.open(str(path), "w") as container:
        options = {}
        if encoder == "libx264":
            options = {"preset": "veryfast", "crf": "18"}
            if not bframes:
                options["bf"] = "0"
        elif encoder == "libvpx-vp9":
            options = {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"}
        stream = container.add_stream(encoder, rate=fps, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if encoder == "mpeg4":
            stream.codec_context.bit_rate = 2_000_000
        if gop:
            stream.codec_context.gop_size = gop
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _texture(rng: np.random.Generator, height: int, width: int, cell: int, lo: int, hi: int):
    """Random blocky colour texture (survives low-resolution compression)."""
    grid = rng.integers(lo, hi, size=(-(-height // cell), -(-width // cell), 3), dtype=np.uint8)
    return np.repeat(np.repeat(grid, cell, 0), cell, 1)[:height, :width]


def motion_video(
    rng: np.random.Generator,
    direction_deg: float,
    size: int,
    frames: int,
    object_frac: float = 0.4,
    speed: tuple[float, float] = (0.04, 0.07),
) -> np.ndarray:
    """uint8 `[frames, size, size, 3]`: a textured square moving along `direction_deg` on a torus.

    `speed` is the range of the per-frame step as a fraction of the frame size.
    """
    side = max(4, int(size * object_frac))
    background = _texture(rng, size, size, max(2, size // 16), 40, 150)
    patch = _texture(rng, side, side, max(2, side // 4), 100, 256)
    step = rng.uniform(*speed) * size
    angle = np.deg2rad(direction_deg)
    # Image rows grow downwards: "up" (90 degrees) is a negative row step.
    velocity = np.array([-np.sin(angle), np.cos(angle)]) * step
    start = rng.uniform(0, size, size=2)
    rows = np.arange(side)
    video = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        top, left = np.round(start + velocity * t).astype(int) % size
        frame = background.copy()
        frame[np.ix_((top + rows) % size, (left + rows) % size)] = patch
        video[t] = frame
    return video


def class_names(classes: int) -> list[str]:
    """Direction names that sort in id order: 'motion_000deg', 'motion_090deg', ..."""
    return [f"motion_{round(360 * k / classes):03d}deg" for k in range(classes)]


def synth_kinetics(
    out_dir,
    videos: int = 48,
    eval_videos: int = 16,
    classes: int = 4,
    seed: int = 0,
    size: int = 64,
    frames: int = 32,
    fps: int = 8,
    codec: str = "h264",
    gop: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a motion-defined Kinetics-style data set to `out_dir` (layout in module docstring).

    `videos` training videos, `eval_videos` each for validate and test (classes balanced
    round-robin), `size` x `size` pixels, `frames` frames at `fps`. A folder that already
    holds a dataset is refused unless ``overwrite``; the folder is locked while it is written.
    """
    if codec not in CODECS:
        raise ConfigError(f"unknown codec '{codec}'; choose from {', '.join(CODECS)}")
    if size % 2:
        raise ConfigError(f"size must be even for yuv420p video, got {size}")
    for name, value, least in (
        ("videos", videos, 1),
        ("classes", classes, 1),
        ("eval_videos", eval_videos, 0),
        ("frames", frames, 1),
        ("fps", fps, 1),
        ("size", size, 2),
    ):
        if value < least:
            raise ConfigError(f"synth kinetics: {name} must be at least {least}, got {value}")
    out_dir = Path(out_dir)
    with hold_output(out_dir, "synth"):
        refuse_to_overwrite(out_dir, ["*.csv", "classes.txt"], "a dataset", overwrite)
        return _write_dataset(out_dir, videos, eval_videos, classes, seed, size, frames, fps, codec, gop)


def _write_dataset(
    out_dir: Path,
    videos: int,
    eval_videos: int,
    classes: int,
    seed: int,
    size: int,
    frames: int,
    fps: int,
    codec: str,
    gop: int | None,
) -> Path:
    names = class_names(classes)
    (out_dir / "classes.txt").write_text("\n".join(names) + "\n")
    rng = np.random.default_rng(seed)
    duration = max(1, round(frames / fps))
    counts = {"train": videos, "validate": eval_videos, "test": eval_videos}
    for split in SPLITS:
        (out_dir / split).mkdir(exist_ok=True)
        rows = []
        for i in range(counts[split]):
            label = i % classes
            youtube_id = f"syn{split[0]}{i:07d}"  # 11 characters, like YouTube ids
            start = int(rng.integers(0, 300))
            name = f"{youtube_id}_{start:06d}_{start + duration:06d}{CODECS[codec][1]}"
            video = motion_video(rng, 360 * label / classes, size, frames)
            encode_video(out_dir / split / name, video, fps=fps, codec=codec, gop=gop)
            rows.append((names[label], youtube_id, start, start + duration, split))
        with open(out_dir / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writerows(rows)
    return out_dir
