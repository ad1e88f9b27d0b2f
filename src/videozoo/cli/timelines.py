"""``predict --timeline``: top-k per window of long videos, URLs and live streams, printed as
segments and written as rows (docs/timelines_and_serving.md)."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from videozoo import timeline as tl
from videozoo.api import Predictor
from videozoo.data.video import VideoReadError, find_video_files
from videozoo.engine.predict import write_timeline
from videozoo.errors import ConfigError, DataError, NothingUsableError

#: segments printed per input (the rest are in the segments file)
PRINTED_SEGMENTS = 40


def check_timeline_args(args: argparse.Namespace, fmt: str) -> None:
    """The timeline options apply only with --timeline, and not with --format kaggle."""
    if not args.timeline:
        given = [
            flag
            for flag, value in (
                ("--window", args.window),
                ("--stride", args.stride),
                ("--plot", args.plot),
                ("--follow", args.follow),
                ("--smooth", args.smooth != 1),
            )
            if value
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --timeline")
    elif fmt == "kaggle":
        raise ConfigError("--timeline writes jsonl or csv rows per window, not --format kaggle")
    elif args.smooth < 1:
        raise ConfigError(f"--smooth must be at least 1 window, got {args.smooth}")


def predict_timelines(args: argparse.Namespace, predictor: Predictor, fmt: str) -> int:
    """SIGTERM (a supervisor stopping a live timeline) ends it like Ctrl-C: what was scored
    so far is written."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return _write_timelines(args, predictor, fmt)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _timeline_inputs(inputs: list[str], video_model: bool) -> list[str]:
    """Folders -> their videos (video models); everything else as given."""
    out: list[str] = []
    for item in inputs:
        out += [str(p) for p in find_video_files(item)] if video_model and Path(item).is_dir() else [item]
    return out


def _score_inputs(
    args: argparse.Namespace, predictor: Predictor, video_model: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(timelines, failed inputs, interrupted) of every input, until one is interrupted."""

    def follow(start: float, end: float, scores: Any) -> None:
        top = tl.top_k(scores, predictor.class_names, 3)
        names = ", ".join(f"{n} {s:.2f}" for n, s in zip(top["class_names"], top["scores"]))
        print(f"{tl.clock(start)}-{tl.clock(end)} {names}", flush=True)

    live = {"reconnect": args.reconnect, "on_window": follow if args.follow else None}
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for item in _timeline_inputs(args.inputs, video_model):
        try:
            found = predictor.predict_timeline(
                item,
                window=args.window,
                stride=args.stride,
                topk=args.topk,
                smooth=args.smooth,
                **(live if video_model else {}),
            )
        except (VideoReadError, DataError) as err:
            reason = getattr(err, "reason", None) or str(err).removeprefix(f"{item}: ")
            failures.append({"id": item, "error": reason})
            print(f"{item}: FAILED ({reason})")
            continue
        results += found if isinstance(found, list) else [found]
        if any(r["interrupted"] for r in results):
            return results, failures, True
    return results, failures, False


def _write_timelines(args: argparse.Namespace, predictor: Predictor, fmt: str) -> int:
    out = args.output or str(Path(args.weights).with_name(f"timeline.{fmt}"))
    video_model = predictor.config["data"]["format"] == "video"
    results, failures, interrupted = _score_inputs(args, predictor, video_model)
    rows = [row for r in results for row in r["windows"]] + failures
    segments_path = write_timeline(rows, out, fmt)
    for result in results:
        print(f"{result['id']} ({tl.clock(result['duration'] or 0)}):")
        for seg in result["segments"][:PRINTED_SEGMENTS]:
            print("  " + tl.segment_line(seg))
        if len(result["segments"]) > PRINTED_SEGMENTS:
            print(f"  ... {len(result['segments']) - PRINTED_SEGMENTS} more segments in {segments_path}")
    if args.plot and results:
        tl.plot_timeline({r["id"]: r["windows"] for r in results}, args.plot)
        print(f"plot written to {args.plot}")
    windows = sum(1 for row in rows if "error" not in row)
    print(
        f"{windows} windows of {len(results)} input(s) written to {out} ({fmt}), segments to "
        f"{segments_path}" + (" (interrupted: everything so far)" if interrupted else "")
    )
    if not windows:
        raise NothingUsableError(f"no window could be scored (reasons in {out})")
    return 0
