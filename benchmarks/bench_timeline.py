"""Timeline memory and throughput over a long 1080p video: peak RSS of the whole
`videozoo predict --timeline` process, and seconds of video per second of wall time.

The video: a `--piece` seconds 1920x1080 H.264 clip (a scrolling smooth pattern and a moving block,
25 fps, keyframe every 2 s, x264 ultrafast) encoded once, then repeated by remuxing with
shifted timestamps (no re-encoding) up to `--minutes`: a two-hour 1080p file in a few minutes
of CPU. The model: TSN ResNet-50 with random weights at its packaged settings (8 segments,
224 crops), the default batch of windows.

Runs (each a fresh `videozoo` process; peak RSS and CPU seconds from the kernel's rusage of
the child; video seconds per CPU second is the steadier figure on a shared machine):

* the short piece and the long file with the same windows (memory must not grow with length);
* `--window`/`--stride` sparse windows (default 60 s / 60 s: 8 frames a minute, decode seeks
  from keyframe to keyframe) and, with `--dense-minutes M`, the default 10 s / 5 s windows on
  the first M minutes (every frame decoded).

    python benchmarks/bench_timeline.py [--minutes 120] [--piece 20] [--window 60 --stride 60]
                                        [--dense-minutes 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS, SIZE = 25, (1080, 1920)


def encode_piece(path: Path, seconds: float) -> Path:
    rows, cols = np.mgrid[0 : SIZE[0], 0 : SIZE[1] + 512].astype(np.float32)
    texture = (127 + 60 * np.sin(rows / 37) + 60 * np.cos(cols / 53)).astype(np.uint8)
    texture = np.stack([texture, texture[::-1], 255 - texture], axis=-1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264", rate=FPS, options={"preset": "ultrafast", "crf": "28", "g": str(2 * FPS)}
        )
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
        for i in range(int(seconds * FPS)):
            image = np.ascontiguousarray(texture[:, (i * 4) % 512 :][:, : SIZE[1]])
            top = (i * 7) % (SIZE[0] - 200)
            image[top : top + 200, 600:800] = (i * 3) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def repeat_by_remux(piece: Path, path: Path, seconds: float) -> Path:
    """`piece` repeated (packets copied, timestamps shifted) until `seconds` long."""
    with av.open(str(piece)) as src:
        video = src.streams.video[0]
        packets = [p for p in src.demux(video) if p.size]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        with av.open(str(path), "w") as out:
            stream = out.add_stream_from_template(video)
            shift, tb = 0, video.time_base
            while Fraction(shift) * tb < seconds:
                for packet in packets:
                    copy = av.Packet(bytes(packet))
                    copy.pts, copy.dts = packet.pts + shift, packet.dts + shift
                    copy.time_base, copy.is_keyframe = tb, packet.is_keyframe
                    copy.stream = stream
                    out.mux(copy)
                shift += span
    return path


def tsn_checkpoint(path: Path) -> Path:
    import torch

    from videozoo.config import build_config
    from videozoo.registry import build_model
    from videozoo.serialization.checkpoint import save_checkpoint
    from videozoo.serialization.format import model_checkpoint

    cfg = build_config("tsn", overrides=["model.num_classes=400"])
    torch.manual_seed(0)
    names = [f"class {i}" for i in range(400)]
    return save_checkpoint(model_checkpoint("tsn", build_model(cfg).state_dict(), cfg, names), path)


def run_timeline(ckpt: Path, video: Path, out: Path, window: float | None, stride: float | None) -> dict:
    """One `videozoo predict --timeline` process: wall seconds, peak RSS (MB), windows."""
    args = [
        sys.executable,
        "-m",
        "videozoo",
        "predict",
        "tsn",
        "--weights",
        str(ckpt),
        str(video),
        "--timeline",
        "--output",
        str(out),
        "--device",
        "cpu",
    ]
    args += ["--window", str(window)] if window else []
    args += ["--stride", str(stride)] if stride else []
    log = out.with_suffix(".log")
    started = time.monotonic()
    with open(log, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{log.read_text()[-2000:]}")
    windows = sum(1 for line in out.read_text().splitlines() if '"error"' not in line)
    with av.open(str(video)) as container:
        seconds = float(container.duration / 1e6)
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "video_s": round(seconds),
        "window": window or 10.0,
        "stride": stride or 5.0,
        "windows": windows,
        "wall_s": round(wall, 1),
        "video_s_per_s": round(seconds / wall, 1),
        "cpu_s": round(cpu),
        "video_s_per_cpu_s": round(seconds / cpu, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--piece", type=float, default=20)
    parser.add_argument("--window", type=float, default=60)
    parser.add_argument("--stride", type=float, default=60)
    parser.add_argument("--dense-minutes", type=float, default=0)
    parser.add_argument("--keep", metavar="DIR", help="keep the files here (default: a temp folder)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench_timeline_"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    piece = folder / "piece.mp4"
    if not piece.exists():
        encode_piece(piece, args.piece)
    long = repeat_by_remux(piece, folder / f"long_{args.minutes:g}min.mp4", args.minutes * 60)
    ckpt = folder / "tsn_r50.pt"
    if not ckpt.exists():
        tsn_checkpoint(ckpt)
    print(
        f"# inputs ready in {time.monotonic() - started:.0f} s: {long} "
        f"({long.stat().st_size / 2**20:.0f} MB)",
        flush=True,
    )
    runs = [("piece", piece, args.window, args.stride), ("long", long, args.window, args.stride)]
    if args.dense_minutes:
        dense = repeat_by_remux(
            piece, folder / f"dense_{args.dense_minutes:g}min.mp4", args.dense_minutes * 60
        )
        runs.append(("dense", dense, None, None))
    print(
        "| input | video | window / stride | windows | wall | video s / s | CPU | video s / CPU s "
        "| peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, video, window, stride in runs:
        r = run_timeline(ckpt, video, folder / f"{name}.jsonl", window, stride)
        print(
            f"| {name} 1920x1080 | {r['video_s'] / 60:.1f} min | {r['window']:g} s / {r['stride']:g} s "
            f"| {r['windows']} | {r['wall_s']:.0f} s | {r['video_s_per_s']} | {r['cpu_s']} s "
            f"| {r['video_s_per_cpu_s']} | {r['peak_rss_mb']} MB |",
            flush=True,
        )
        print("#", json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
