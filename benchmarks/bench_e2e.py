"""End-to-end inference on real video files: videozoo's Predictor vs MMAction2 1.2, same weights.

What is timed is the whole path from a video file to its top-5 classes: open + decode + sample
+ resize + crop + normalise + model, Kinetics-400 head, 1 clip x centre crop 224: TSN or
TSM ResNet-50 (8 segments x 1 frame) or I3D-NL ResNet-50 dot product (``nonlocal``, one
clip of 32 frames every 2):

* videozoo: ``Predictor(ckpt).predict(...)`` (the fast path: BatchNorm folded, channels_last,
  decoding threads kept alive and overlapped with the model for a list);
* MMAction2 1.2: ``inference_recognizer(model, video)`` (decord, ``num_threads=1``), run by
  ``peer_mmaction2.py`` in MMAction2's own venv as a long-lived subprocess, so both sides are
  warm and alternate in one run.

The weights are MMAction2's: its recognizer is built with random weights and saved in its
checkpoint layout, and ``videozoo convert --from mmaction2`` turns that file into ours (test
protocol set to the same views). Every video's top-5 must agree between the tools.

Modes: latency (one video per call, in turn) and throughput (the whole folder in one call:
ours batches and decodes ahead in threads; MMAction2's API takes one video per call, so its
throughput is its loop over the folder). Each round runs both tools on both modes, their
order alternating; printed: videos/s median over rounds, the ratio median (range).

Videos: ``--videos`` H.264 files, 340x256, ``--seconds`` at 25 fps, written with PyAV from a
moving test pattern with grain (``data/synth_kinetics``), keyframe every 250 frames.

    python benchmarks/bench_e2e.py [--model tsm] [--videos 6] [--rounds 3] [--compile]
        [--peer-python /work/peers/mmaction2/bin/python]

Without the peer's venv the peer is skipped with a message and only videozoo is timed (with
random weights of its own). PaddleVideo 2.x is not compared: it does not install on Python
3.11 from PyPI (its pinned dependencies have no 3.11 wheels).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DEFAULT_PEER = os.environ.get("VIDEOZOO_MMACTION2_PYTHON", "/work/peers/mmaction2/bin/python")
#: our Predictor's settings for the views the peer tests: 1 clip x centre crop 224 of the
#: short side resized to 256; TSN / TSM 8 segments, I3D-NL one 32x2 clip
SAME_VIEWS = {
    "tsn": ["data.test_seg_num=8"],
    "tsm": ["data.test_seg_num=8"],
    "nonlocal": ["data.test_num_clips=1", "data.clip_len=32", "data.frame_interval=2"],
}
COMMON_VIEWS = ["data.test_crops=1", "data.test_crop_size=224", "data.short_side=256"]


def make_videos(
    folder: Path,
    count: int,
    seconds: float,
    width: int = 340,
    height: int = 256,
    fps: int = 25,
    seed: int = 0,
) -> list[Path]:
    """``count`` H.264 files of a moving pattern with grain, ``width`` x ``height``."""
    from videozoo.data.synth_kinetics import encode_video, motion_video

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"video_{i:02d}.mp4"
        if not path.exists():
            frames = motion_video(
                rng, 360 * rng.random(), max(width, height), int(fps * seconds), object_frac=0.3
            )[:, :height, :width]
            grain = rng.integers(-6, 7, size=frames.shape[1:], dtype=np.int16)
            frames = np.clip(frames.astype(np.int16) + grain, 0, 255).astype(np.uint8)
            encode_video(path, frames, fps=fps, codec="h264", gop=250)
        paths.append(path)
    return paths


class Peer:
    """MMAction2's ``serve`` loop in its venv: one JSON request, one JSON reply."""

    def __init__(self, python: str, model: str, weights: Path, threads: int):
        self.proc = subprocess.Popen(
            [
                python,
                str(HERE / "peer_mmaction2.py"),
                "serve",
                "--model",
                model,
                "--weights",
                str(weights),
                "--threads",
                str(threads),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.hello = self._reply()

    def _reply(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise RuntimeError(f"the MMAction2 peer exited ({self.proc.wait()})")

    def run(self, videos: list[Path]) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": "run", "videos": list(map(str, videos))}) + "\n")
        return self._reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write('{"cmd": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def peer_weights(python: str, model: str, out: Path) -> Path:
    """MMAction2's recognizer with random weights, saved in its checkpoint layout."""
    weights = out / "weights.pth"
    if not weights.exists():
        subprocess.run(
            [python, str(HERE / "peer_mmaction2.py"), "init", "--model", model, "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return weights


def our_checkpoint(
    model: str, work: Path, mmaction_weights: Path | None, overrides: tuple[str, ...] = ()
) -> Path:
    """MMAction2's weights converted (or, without the peer, random weights of ours, built with
    ``overrides``)."""
    ckpt = work / f"{model}_{'from_mmaction2' if mmaction_weights else 'random'}.pt"
    if ckpt.exists():
        return ckpt
    if mmaction_weights is not None:
        from videozoo.convert import convert_weights

        convert_weights(mmaction_weights, model, ckpt, fmt="mmaction2", verbose=False)
        return ckpt
    from videozoo.config import build_config
    from videozoo.data.layouts.kinetics import kinetics400_classes
    from videozoo.registry import build_model
    from videozoo.serialization.checkpoint import save_checkpoint
    from videozoo.serialization.format import model_checkpoint

    cfg = build_config(model, overrides=["model.num_classes=400", *overrides])
    torch.manual_seed(0)
    save_checkpoint(model_checkpoint(model, build_model(cfg).state_dict(), cfg, kinetics400_classes()), ckpt)
    return ckpt


def ours_run(predictor, videos: list[Path], one_at_a_time: bool) -> dict:
    """Seconds per video (latency) or for the list (throughput), and each video's top-5."""
    times, tops = [], []
    start = time.perf_counter()
    if one_at_a_time:
        for video in videos:
            t0 = time.perf_counter()
            (row,) = predictor.predict([str(video)], topk=5)
            times.append(time.perf_counter() - t0)
            tops.append(row.get("class_ids"))
    else:
        tops = [row.get("class_ids") for row in predictor.predict(list(map(str, videos)), topk=5)]
    return {"times": times, "total": time.perf_counter() - start, "top5": tops}


def top5_agreement(ours: list, theirs: list) -> tuple[int, int]:
    """(videos whose top-5 class lists are equal, in order; videos compared)."""
    return sum(a == b for a, b in zip(ours, theirs)), len(ours)


def summary(values: list[float]) -> dict:
    return {"median": float(np.median(values)), "min": float(min(values)), "max": float(max(values))}


def run(args) -> dict:
    from videozoo.api import Predictor

    work = Path(args.workdir)
    videos = make_videos(work / f"videos_{args.seconds:g}s", args.videos, args.seconds)
    have_peer = Path(args.peer_python).exists()
    if not have_peer:
        print(
            f"MMAction2 peer skipped: no venv at {args.peer_python} (recipe in "
            "docs/benchmarks.md); timing videozoo alone",
            flush=True,
        )
    mm_weights = peer_weights(args.peer_python, args.model, work / f"mm_{args.model}") if have_peer else None
    ckpt = our_checkpoint(args.model, work, mm_weights)
    predictor = Predictor(
        ckpt,
        device="cpu",
        set=SAME_VIEWS[args.model] + COMMON_VIEWS,
        batch_size=args.batch_size,
        workers=args.workers,
        compile=args.compile,
    )
    peer = Peer(args.peer_python, args.model, mm_weights, torch.get_num_threads()) if have_peer else None
    # warm-up; compiled, each input shape compiles once: one video and a full batch
    warmup = ours_run(predictor, videos[:1], True)["total"]
    warmup += ours_run(predictor, videos[: predictor.batch_size], False)["total"]
    print(
        f"videozoo warm-up (one video, one batch{', compiling' if args.compile else ''}): {warmup:.1f} s",
        flush=True,
    )
    if peer:
        peer.run(videos[:1])
    rounds = {"latency": [], "throughput": []}
    agree = [0, 0]
    try:
        for r in range(args.rounds):
            for mode in ("latency", "throughput"):
                one = mode == "latency"
                pair = {}
                order = ("ours", "peer") if r % 2 == 0 else ("peer", "ours")
                for side in order:
                    if side == "ours":
                        pair["ours"] = ours_run(predictor, videos, one)
                    elif peer:
                        pair["peer"] = peer.run(videos)
                entry = {"ours_videos_per_s": len(videos) / pair["ours"]["total"]}
                if peer:
                    entry["peer_videos_per_s"] = len(videos) / pair["peer"]["total"]
                    entry["ratio"] = entry["ours_videos_per_s"] / entry["peer_videos_per_s"]
                    same, total = top5_agreement(pair["ours"]["top5"], pair["peer"]["top5"])
                    agree[0] += same
                    agree[1] += total
                    entry["top5_agree"] = f"{same}/{total}"
                if one:
                    entry["ours_latency_s"] = pair["ours"]["times"]
                    if peer:
                        entry["peer_latency_s"] = pair["peer"]["times"]
                rounds[mode].append(entry)
                print(
                    f"round {r + 1} {mode}: "
                    + ", ".join(
                        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in entry.items()
                        if not k.endswith("latency_s")
                    ),
                    flush=True,
                )
    finally:
        if peer:
            peer.close()
        predictor.close()
    result = {
        "model": args.model,
        "videos": len(videos),
        "seconds": args.seconds,
        "size": "340x256",
        "threads": torch.get_num_threads(),
        "compile": args.compile,
        "batch_size": predictor.batch_size,
        "workers": predictor.workers,
        "ours_warmup_s": warmup,
        "peer": "mmaction2 1.2.0" if peer else None,
        "rounds": rounds,
        "top5_agree": f"{agree[0]}/{agree[1]}" if peer else None,
    }
    for mode, entries in rounds.items():
        result[mode] = {
            key: summary([e[key] for e in entries])
            for key in ("ours_videos_per_s", "peer_videos_per_s", "ratio")
            if key in entries[0]
        }
    return result


def print_table(result: dict) -> None:
    print(
        f"\n{result['model']}: {result['videos']} videos x {result['seconds']} s, "
        f"{result['size']}, {result['threads']} threads; peer: {result['peer']}"
    )
    for mode in ("latency", "throughput"):
        row = result[mode]
        text = f"{mode:>10}: videozoo {row['ours_videos_per_s']['median']:.3f} videos/s"
        if "ratio" in row:
            text += (
                f", MMAction2 {row['peer_videos_per_s']['median']:.3f} videos/s, ratio "
                f"{row['ratio']['median']:.2f} ({row['ratio']['min']:.2f}-"
                f"{row['ratio']['max']:.2f})"
            )
        print(text)
    if result["top5_agree"]:
        print(f"top-5 agree on {result['top5_agree']} videos (all rounds and modes)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tsm", "tsn", "nonlocal"], default="tsm")
    parser.add_argument("--videos", type=int, default=6, help="at least 6 fill the decode-ahead pipeline")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2, help="ours, throughput mode")
    parser.add_argument("--workers", type=int, default=2, help="our decoding threads")
    parser.add_argument("--compile", action="store_true", help="ours with torch.compile")
    parser.add_argument("--peer-python", default=DEFAULT_PEER)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "videozoo_e2e"))
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/e2e_MODEL.json")
    args = parser.parse_args(argv)
    result = run(args)
    print_table(result)
    suffix = "_compiled" if args.compile else ""
    out = args.json or HERE / "results" / f"e2e_{args.model}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw results: {out}")


if __name__ == "__main__":
    sys.exit(main())
