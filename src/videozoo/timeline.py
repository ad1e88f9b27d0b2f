"""Timelines: a model's clip slid over a long video or a live stream, and what to make of it.

Video models (data format ``video``): window k covers ``[k * stride, k * stride + window)``
seconds and is sampled exactly as evaluation samples a whole clip (segment sampling: the
model's ``test_seg_num`` x ``seglen`` frames spread over the window; dense sampling: one
centred clip of ``clip_len`` frames ``frame_interval`` apart), then transformed (crops, mean/std)
as evaluation does. Frames come from `data.stream.FrameStream` in one pass: only the frames of
windows still open are held (``ceil(window / stride)`` windows of T frames at the short side),
so memory does not grow with the video. A damaged stretch drops the windows that would need
frames from it; it is reported as a row ``{"id", "start", "end", "error"}``.

Default window: 10 s for segment sampling (a Kinetics clip's length), the clip's own span
for dense sampling; default stride: half the window.

Feature models (format ``youtube8m``): windows of ``window`` rows (= seconds) of each record's
per-second features, fed with a mask as whole videos are.

Results: `Timeline` (windows with their score vectors ``float32 [C]``, damaged stretches,
whether it was interrupted); `timeline_rows` (optional centred moving average over ``smooth``
windows, then top-k per window), `segments` (neighbouring windows with the same top class
merged: ``0:00-0:42 playing guitar 0.83``) and `plot_timeline` (PNG: the top classes as
coloured bands over time, and their scores).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from videozoo.data.stream import FrameStream, frame_rgb, open_source
from videozoo.data.transforms import build_transform
from videozoo.data.video import clip_indices, reference_segment_indices
from videozoo.engine.progress import progress_bar
from videozoo.errors import ConfigError

log = logging.getLogger("videozoo")

#: default window of segment-sampling models, seconds (a Kinetics clip's length)
SEGMENT_WINDOW_S = 10.0
#: a log line every this many seconds of video (the progress bar only shows on a terminal)
LOG_EVERY_S = 600.0

#: scores [N, C] of a batch of windows: videos float [N, V, T, 3, S, S] or a feature batch dict
# videos float [N, V, T, 3, S, S] -> scores [N, C]; features {"rgb", "audio", "mask"} -> [N, C]
VideoScoreFn = Callable[[torch.Tensor], torch.Tensor]
FeatureScoreFn = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class Timeline:
    """What a timeline run found for one input. `windows`: (start, end, scores [C])."""

    id: str
    windows: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    damaged: list[tuple[float, float, str]] = field(default_factory=list)
    duration: float | None = None
    interrupted: bool = False


def resolve_window(window: float | None, stride: float | None, default: float) -> tuple[float, float]:
    window = float(window) if window else default
    stride = float(stride) if stride else window / 2
    if window <= 0 or stride <= 0:
        raise ConfigError(f"--window and --stride must be positive seconds, got {window} and {stride}")
    return window, stride


# -- video models --------------------------------------------------------------------------------
def window_frame_times(data_cfg: dict, window: float, fps: float) -> np.ndarray:
    """Seconds after a window's start of the frames its clip takes: float64 ``[clips, T]``."""
    frames = max(1, int(round(window * fps)))
    if data_cfg.get("sampling", "segment") == "segment":
        indices = reference_segment_indices(
            frames,
            int(data_cfg["test_seg_num"]),
            int(data_cfg.get("seglen") or 1),
            data_cfg.get("test_segment_positions", "centred"),
        )[None]
    else:
        indices = clip_indices(
            frames,
            int(data_cfg["clip_len"]),
            int(data_cfg["frame_interval"]),
            1,
            training=False,
            positions="centred",
        )
    return indices / fps


def default_video_window(data_cfg: dict, fps: float) -> float:
    if data_cfg.get("sampling", "segment") == "segment":
        return SEGMENT_WINDOW_S
    span = (int(data_cfg["clip_len"]) - 1) * int(data_cfg["frame_interval"]) + 1
    return span / fps


class _OpenWindow:
    """A window waiting for its frames: targets in time order, filled as frames pass."""

    def __init__(self, start: float, end: float, rel_times: np.ndarray):
        self.start, self.end = start, end
        self.shape = rel_times.shape
        times = start + rel_times.reshape(-1)
        self.order = np.argsort(times, kind="stable")
        self.sorted_times = times[self.order]
        self.frames: list = [None] * len(times)
        self.filled = 0

    def next_time(self) -> float | None:
        return self.sorted_times[self.filled] if self.filled < len(self.sorted_times) else None

    def take(self, t: float, half_step: float, rgb_of) -> None:
        while self.filled < len(self.sorted_times) and self.sorted_times[self.filled] < t + half_step:
            self.frames[self.order[self.filled]] = rgb_of()
            self.filled += 1

    def complete(self) -> bool:
        return self.filled == len(self.sorted_times)

    def overlaps(self, start: float, end: float) -> bool:
        return bool(((self.sorted_times >= start) & (self.sorted_times < end)).any())


class _Schedule:
    """The open windows of a run: created as the video reaches them, filled frame by frame."""

    def __init__(self, window: float, stride: float, rel_times: np.ndarray, fps: float):
        self.window, self.stride, self.rel_times = window, stride, rel_times
        self.half_step = 0.5 / fps
        self.open: list[_OpenWindow] = []
        self.next_start = 0.0

    def next_needed(self) -> float:
        """The earliest time a frame is still wanted (for skipping and seeking)."""
        times = [t for t in (w.next_time() for w in self.open) if t is not None]
        return min(times + [self.next_start])

    def feed(self, t: float, rgb_of, lost=()) -> list[_OpenWindow]:
        """Offer the frame at `t` (`rgb_of()` converts it once); returns completed windows.
        `lost`: (start, end, why) stretches found since the last call: the windows that need
        frames from them are dropped."""
        while self.next_start < t + self.half_step:
            self.open.append(_OpenWindow(self.next_start, self.next_start + self.window, self.rel_times))
            self.next_start += self.stride
        for start, end, _ in lost:
            self.open = [w for w in self.open if not w.overlaps(start, end)]
        for win in self.open:
            win.take(t, self.half_step, rgb_of)
        done = [w for w in self.open if w.complete()]
        self.open = [w for w in self.open if not w.complete()]
        return done

    def tail(self, last_t: float, last_rgb: np.ndarray) -> list[_OpenWindow]:
        """At the end: windows at least half covered by the video (and the first window)
        take the last frame for their missing targets, as `VideoReader.read` does."""
        kept = [w for w in self.open if w.start == 0.0 or last_t - w.start >= self.window / 2]
        for win in kept:
            while not win.complete():
                win.frames[win.order[win.filled]] = last_rgb
                win.filled += 1
            win.end = min(win.end, last_t)
        self.open = []
        return kept


class _Scorer:
    """Completed windows -> model input -> scores, `batch_size` windows per call."""

    def __init__(
        self, data_cfg: dict, score_fn: VideoScoreFn, batch_size: int, result: Timeline, on_window=None
    ):
        self.transform = build_transform(data_cfg, training=False)
        self.short_side = self.transform.sample_short_side(np.random.default_rng(0))
        self.score_fn, self.batch_size, self.result, self.on_window = score_fn, batch_size, result, on_window
        self.batch: list[tuple[float, float, torch.Tensor]] = []

    def add(self, win: _OpenWindow, source_hw: tuple[int, int]) -> None:
        frames = np.stack(win.frames)
        frames = self.transform.fit_frames(frames, source_hw).reshape(*win.shape, *frames.shape[1:])
        self.batch.append((win.start, win.end, self.transform(frames)))
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        scores = self.score_fn(torch.stack([video for _, _, video in self.batch])).float().cpu().numpy()
        for (start, end, _), row in zip(self.batch, scores):
            self.result.windows.append((start, end, row))
            if self.on_window:
                self.on_window(start, end, row)
        self.batch.clear()


def video_timeline(
    spec: str,
    data_cfg: dict,
    score_fn: VideoScoreFn,
    *,
    window: float | None = None,
    stride: float | None = None,
    batch_size: int = 4,
    reconnect: int = 5,
    on_window: Callable[[float, float, np.ndarray], None] | None = None,
    show_progress: bool = True,
) -> Timeline:
    """Slide the model's clip over the video `spec` (a path, URL, stream, ``-`` or device).

    `score_fn(videos [N, V, T, 3, S, S]) -> [N, C]`; `on_window(start, end, scores)` is called
    as each window is scored (``--follow``). Ctrl-C ends the run with what was scored so far
    (``interrupted``).
    """
    source = open_source(spec)
    result = Timeline(id=spec)
    # a live viewer wants each window as soon as it is complete
    scorer = _Scorer(data_cfg, score_fn, 1 if source.live or spec == "-" else batch_size, result, on_window)
    schedule: _Schedule | None = None  # built once the stream says its frame rate
    stream = FrameStream(source, lambda: schedule.next_needed() if schedule else 0.0, reconnect=reconnect)
    result.duration = stream.duration
    window, stride = resolve_window(window, stride, default_video_window(data_cfg, stream.fps))
    schedule = _Schedule(window, stride, window_frame_times(data_cfg, window, stream.fps), stream.fps)
    bar = progress_bar(
        total=round(stream.duration) if stream.duration else None,
        unit="s",
        desc=f"timeline {spec}",
        main_process=show_progress,
    )
    try:
        last_t = _slide(stream, schedule, scorer, result, bar, spec, show_progress)
    finally:
        bar.close()
    result.damaged = list(stream.damaged)
    if result.duration is None or result.interrupted:
        result.duration = last_t
    return result


def _slide(
    stream: FrameStream,
    schedule: _Schedule,
    scorer: _Scorer,
    result: Timeline,
    bar: Any,
    spec: str,
    show_progress: bool,
) -> float:
    """Reads `stream` to its end (or Ctrl-C), scoring each window as it completes; returns the
    time of the last frame read."""
    last_t, last_frame, next_log = 0.0, None, LOG_EVERY_S
    try:
        with stream:
            for t, frame in stream:
                lost = stream.damaged[len(result.damaged) :]
                result.damaged = list(stream.damaged)
                _feed_frame(schedule, scorer, t, frame, lost)
                last_t, last_frame = t, frame
                bar.update(max(0, int(t) - bar.n))
                if show_progress and t >= next_log:  # for logs, where no bar is drawn
                    log.info("%s: %s of video done, %d windows", spec, clock(t), len(result.windows))
                    next_log += LOG_EVERY_S
            if last_frame is not None:
                last_rgb = frame_rgb(last_frame, scorer.short_side)
                for win in schedule.tail(last_t, last_rgb):
                    scorer.add(win, (last_frame.height, last_frame.width))
            scorer.flush()
    except KeyboardInterrupt:
        result.interrupted = True
        log.warning(
            "%s: interrupted at %.1f s; keeping the %d windows scored so far",
            spec,
            last_t,
            len(result.windows),
        )
    return last_t


def _feed_frame(schedule: _Schedule, scorer: _Scorer, t: float, frame: Any, lost: list) -> None:
    """Hands one decoded frame to the schedule; converted to RGB only if a window wants it."""
    converted: list[np.ndarray] = []

    def rgb_of() -> np.ndarray:
        if not converted:
            converted.append(frame_rgb(frame, scorer.short_side))
        return converted[0]

    for win in schedule.feed(t, rgb_of, lost):
        scorer.add(win, (frame.height, frame.width))


# -- feature models ------------------------------------------------------------------------------
def feature_windows(length: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Row ranges [start, end) of the windows over `length` per-second rows; the last window
    ends at the end (at least one window)."""
    if length <= window:
        return [(0, length)]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(starts[-1] + stride if starts[-1] + stride + window <= length else length - window)
    return [(s, s + window) for s in starts]


def feature_timeline(
    video_id: str,
    rgb: torch.Tensor,
    audio: torch.Tensor,
    score_fn: FeatureScoreFn,
    *,
    window: float | None = None,
    stride: float | None = None,
    batch_size: int = 64,
) -> Timeline:
    """Windows of `window` seconds over one video's features rgb ``[T, 1024]``, audio
    ``[T, 128]`` (one row per second); `score_fn` takes ``{"rgb", "audio", "mask"}``."""
    window, stride = resolve_window(window, stride, SEGMENT_WINDOW_S)
    size, step = max(1, int(round(window))), max(1, int(round(stride)))
    spans = feature_windows(len(rgb), size, step)
    result = Timeline(id=video_id, duration=float(len(rgb)))
    for first in range(0, len(spans), batch_size):
        chunk = spans[first : first + batch_size]
        width = max(end - start for start, end in chunk)
        feats = {
            "rgb": torch.zeros(len(chunk), width, rgb.shape[1], dtype=rgb.dtype),
            "audio": torch.zeros(len(chunk), width, audio.shape[1], dtype=audio.dtype),
            "mask": torch.zeros(len(chunk), width, dtype=torch.bool),
        }
        for i, (start, end) in enumerate(chunk):
            feats["rgb"][i, : end - start] = rgb[start:end]
            feats["audio"][i, : end - start] = audio[start:end]
            feats["mask"][i, : end - start] = True
        scores = score_fn(feats).float().cpu().numpy()
        result.windows += [(float(s), float(e), row) for (s, e), row in zip(chunk, scores)]
    return result


# -- rows, segments, plot --------------------------------------------------------------------
def smoothed(scores: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average over `k` windows (shrinking at the ends); `scores` [N, C]."""
    if k <= 1 or len(scores) < 2:
        return scores
    half = k // 2
    sums = np.concatenate([np.zeros((1, scores.shape[1])), np.cumsum(scores, axis=0)])
    lo = np.clip(np.arange(len(scores)) - half, 0, len(scores))
    hi = np.clip(np.arange(len(scores)) + (k - half), 0, len(scores))
    return (sums[hi] - sums[lo]) / (hi - lo)[:, None]


def top_k(scores: np.ndarray, class_names: list[str], k: int) -> dict:
    ids = np.argsort(-scores, kind="stable")[:k].tolist()
    return {
        "class_ids": ids,
        "class_names": [class_names[c] if c < len(class_names) else str(c) for c in ids],
        "scores": [round(float(scores[c]), 6) for c in ids],
    }


def timeline_rows(result: Timeline, class_names: list[str], topk: int, smooth: int = 1) -> list[dict]:
    """One row per window ``{"id", "start", "end", "class_ids", "class_names", "scores"}`` and
    one per damaged stretch ``{"id", "start", "end", "error"}``, in time order."""
    rows = []
    if result.windows:
        scores = smoothed(np.stack([s for _, _, s in result.windows]), smooth)
        rows += [
            {"id": result.id, "start": round(start, 3), "end": round(end, 3), **top_k(row, class_names, topk)}
            for (start, end, _), row in zip(result.windows, scores)
        ]
    rows += [
        {"id": result.id, "start": round(a, 3), "end": round(b, 3), "error": f"damaged: {why}"}
        for a, b, why in result.damaged
    ]
    return sorted(rows, key=lambda r: (r["start"], "error" in r))


def clock(seconds: float) -> str:
    """0:42, 12:03, 1:02:03."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def segments(rows: list[dict]) -> list[dict]:
    """Neighbouring windows with the same top class merged: ``{"id", "start", "end",
    "class_id", "class_name", "score"}`` (score: mean top score); a damaged row ends a segment
    and becomes one (``"error"``). Overlapping windows hand over at the midpoint of centres."""
    out: list[dict] = []
    previous = None
    for row in rows:
        if "error" in row:
            out.append(dict(row))
            previous = None
            continue
        centre = (row["start"] + row["end"]) / 2
        top = row["class_ids"][0]
        if previous is not None and out[-1].get("class_id") == top and out[-1]["id"] == row["id"]:
            seg = out[-1]
            seg["end"], seg["_n"] = row["end"], seg["_n"] + 1
            seg["score"] += (row["scores"][0] - seg["score"]) / seg["_n"]
        else:
            start = row["start"]
            if previous is not None and previous["id"] == row["id"]:
                start = (((previous["start"] + previous["end"]) / 2) + centre) / 2
                out[-1]["end"] = min(out[-1]["end"], start)
            out.append(
                {
                    "id": row["id"],
                    "start": start,
                    "end": row["end"],
                    "class_id": top,
                    "class_name": row["class_names"][0],
                    "score": row["scores"][0],
                    "_n": 1,
                }
            )
        previous = row
    for seg in out:
        seg.pop("_n", None)
        seg["start"], seg["end"] = round(seg["start"], 3), round(seg["end"], 3)
        if "score" in seg:
            seg["score"] = round(seg["score"], 4)
    return out


def segment_line(seg: dict) -> str:
    what = seg["error"] if "error" in seg else f"{seg['class_name']} {seg['score']:.2f}"
    return f"{clock(seg['start'])}-{clock(seg['end'])} {what}"


def plot_timeline(rows_by_input: dict[str, list[dict]], path, classes_shown: int = 5):
    """PNG: per input, the top classes as coloured bands over time (segments, names written
    in) above their scores per window."""
    from videozoo.fileio import save_figure
    from videozoo.reports import _pyplot

    plt = _pyplot()
    inputs = list(rows_by_input)[:8]
    fig, axes = plt.subplots(
        2 * len(inputs),
        1,
        figsize=(11, 3.2 * len(inputs)),
        squeeze=False,
        gridspec_kw={"height_ratios": [1, 3] * len(inputs)},
    )
    palette = plt.get_cmap("tab10").colors
    for n, name in enumerate(inputs):
        _plot_input(axes[2 * n][0], axes[2 * n + 1][0], name, rows_by_input[name], palette, classes_shown)
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def _plot_input(bands, lines, name: str, all_rows: list[dict], palette, classes_shown: int) -> None:
    """One input's two panels: segment bands (names written in) above the shown classes' scores."""
    rows = [r for r in all_rows if "error" not in r]
    segs = segments(all_rows)
    counts: dict[str, float] = {}
    for seg in segs:
        if "error" not in seg:
            counts[seg["class_name"]] = counts.get(seg["class_name"], 0) + seg["end"] - seg["start"]
    shown = sorted(counts, key=lambda c: counts[c], reverse=True)[:classes_shown]
    colour = {c: palette[i % len(palette)] for i, c in enumerate(shown)}
    for seg in segs:
        c = "black" if "error" in seg else colour.get(seg["class_name"], "lightgrey")
        bands.axvspan(seg["start"], seg["end"], color=c, alpha=0.85)
        label = "damaged" if "error" in seg else seg["class_name"]
        bands.text(
            (seg["start"] + seg["end"]) / 2,
            0.5,
            label,
            ha="center",
            va="center",
            fontsize=8,
            clip_on=True,
            color="white" if c != "lightgrey" else "black",
        )
    bands.set_yticks([])
    bands.set_title(name, fontsize=9, loc="left")
    centres = [(r["start"] + r["end"]) / 2 for r in rows]
    for cls in shown:
        values = [dict(zip(r["class_names"], r["scores"])).get(cls, 0.0) for r in rows]
        lines.plot(centres, values, color=colour[cls], label=cls)
    lines.set_ylabel("score")
    lines.set_xlabel("seconds")
    if shown:
        lines.legend(fontsize=8, loc="upper right")
    end = max([r["end"] for r in all_rows] or [1.0])
    for ax in (bands, lines):
        ax.set_xlim(0, end)
