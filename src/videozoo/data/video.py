"""Video file reading (PyAV) and frame-index sampling.

`VideoReader(path)` opens a video, indexes its packets (presentation timestamps and keyframes,
no decoding) and `read(indices, size)` returns exactly the requested frames as a uint8 array
`[len(indices), H, W, 3]` (RGB), decoding only what is needed:

* seek to the keyframe before the first target and decode forward;
* seek again only when the next target's keyframe lies ahead of the decoding position
  (on long GOPs seeking per frame costs 3-5x more than decoding forward);
* let the decoder skip the non-reference frames that are not targets;
* once the packets of the targets before the next seek are in, drain the frames the decoder
  holds back for B-frame reordering instead of decoding further packets to push them out;
* convert to RGB (and resize, in the same libswscale call) only the frames that are kept;
* one decoder thread (see `VideoReader`).

`decode(indices)` does the demuxing and decoding of `read(indices)` without the conversion:
the floor of what reading can cost (benchmarks/bench_decode.py reports it).

Frames come out upright: a video with a rotation in its display matrix (phones) is turned the
way players show it. The frame count comes from the packet index, not from the container header
(`stream.frames` is 0 or wrong for webm/mkv/some avi). Requests past the real end (a truncated
tail, packets that do not decode) get the last decodable frame. Every failure (zero bytes,
truncated or garbage file, no video stream, nothing decodable) raises
`VideoReadError(path, reason)`.

`is_video_file(path)` tells videos by extension (`VIDEO_EXTENSIONS`); `find_video_files(folder)`
lists every video under a folder (what `predict` and `extract` take a folder to mean).

Sampling functions return frame indices (int64) and take an explicit `numpy.random.Generator`:

* `segment_indices(num_frames, seg_num, seglen, training, rng) -> [seg_num * seglen]`
  (TSN/TSM/StNet);
* `clip_indices(num_frames, clip_len, frame_interval, num_clips, training, rng, positions)
  -> [clips, clip_len]` (Non-local dense sampling; one clip in training; evaluation clip
  positions as in the reference being reproduced).
"""

from __future__ import annotations

import bisect
import os
import stat
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")


class VideoReadError(Exception):
    """A video that cannot be read; `reason` is a short human explanation."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _short_reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text.strip().splitlines()[0][:200]


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the shorter side `short_side` and the aspect ratio kept."""
    scale = short_side / min(height, width)
    return max(2, int(round(height * scale))), max(2, int(round(width * scale)))


class VideoReader:
    """One open video file. Use as a context manager or call `close()`.

    Attributes: `num_frames` (decodable packets in the index), `fps`, `height`, `width`,
    `codec` (decoder name).

    `threads`: decoder threads (0: as many as FFmpeg likes). One by default: DataLoader
    workers already keep the cores busy, and frame threads hold frames back, so more packets
    must be decoded to get each target out (1.2-1.8x slower per clip on a busy 2-core machine).
    """

    def __init__(self, path, threads: int = 1):
        self.path = str(path)
        self._threads = threads
        try:
            status = os.stat(self.path)
        except OSError as err:
            raise VideoReadError(self.path, f"cannot open: {_short_reason(err)}") from None
        if not stat.S_ISREG(status.st_mode):  # opening a FIFO would block until a writer comes
            raise VideoReadError(self.path, "not a regular file (a FIFO, device or socket): not opened")
        if status.st_size == 0:
            raise VideoReadError(self.path, "empty file (0 bytes)")
        try:
            self._container = av.open(self.path, metadata_errors="ignore")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise VideoReadError(
                self.path, f"not a readable video file (corrupt or truncated?): {_short_reason(err)}"
            ) from None
        try:
            self._open_stream()
        except BaseException:
            self._container.close()
            raise

    def _open_stream(self):
        if not self._container.streams.video:
            kinds = sorted({s.type for s in self._container.streams}) or ["none"]
            raise VideoReadError(self.path, f"no video stream (streams: {', '.join(kinds)})")
        stream = self._container.streams.video[0]
        if stream.codec_context is None:
            raise VideoReadError(
                self.path, f"no decoder for codec '{stream.codec.name if stream.codec else '?'}'"
            )
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self._threads
        self._stream = stream
        # One reformatter per reader keeps its libswscale context cached across frames, and a
        # single scaling thread avoids spawning threads per call (10x faster on small frames).
        self._reformatter = VideoReformatter()
        self.codec = stream.codec_context.name
        self.height, self.width = stream.codec_context.height, stream.codec_context.width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 25.0

        # Index: (pts, keyframe) per packet in decode order. Reading packets without
        # decoding is cheap and gives the exact frame count and keyframe positions.
        pts, key = [], []
        self.truncated = False
        try:
            for packet in self._container.demux(stream):
                if packet.size == 0:
                    continue
                pts.append(packet.pts if packet.pts is not None else packet.dts)
                key.append(packet.is_keyframe)
        except (av.FFmpegError, OSError, EOFError):
            self.truncated = True  # keep the packets read before the damage
        if not pts:
            raise VideoReadError(self.path, "no video frames (empty or truncated stream)")
        self.num_frames = len(pts)
        # Without timestamps frames can only be counted from the start: decode sequentially.
        self._timestamps = all(p is not None for p in pts)
        if self._timestamps:
            self._pts_sorted = sorted(pts)  # presentation order: frame index i <-> _pts_sorted[i]
            self._pos_of_pts = {p: i for i, p in enumerate(pts)}
            self._key_pos = [i for i, k in enumerate(key) if k] or [0]
            self._key_pts = [pts[i] for i in self._key_pos]
            if self._key_pts != sorted(self._key_pts):
                self._timestamps = False

    def presentation_seconds(self) -> np.ndarray | None:
        """float64 [num_frames]: each frame's presentation time in seconds from the stream's
        start (what OpenCV's CAP_PROP_POS_MSEC / 1000 reports after reading it), frame index
        order; None when the packets carry no timestamps."""
        if not self._timestamps:
            return None
        start = self._stream.start_time or 0
        return (np.asarray(self._pts_sorted, np.float64) - start) * float(self._stream.time_base)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._container.close()

    # -- decoding ----------------------------------------------------------------------------
    def _keyframe_slot(self, frame_index: int) -> int:
        """Index into the keyframe list of the last keyframe at or before `frame_index`."""
        return max(0, bisect.bisect_right(self._key_pts, self._pts_sorted[frame_index]) - 1)

    def _frame_index_of_pts(self, pts) -> int:
        return min(bisect.bisect_left(self._pts_sorted, pts), self.num_frames - 1) if pts is not None else -1

    def _frame_index(self, frame, counter: int) -> int:
        if not self._timestamps or frame.pts is None:
            return counter
        return self._frame_index_of_pts(frame.pts)

    def _packets_from(self, slot: int):
        """Seek to keyframe `slot` and yield (decode position, packet) from there on."""
        # Demuxers seek by presentation time (mov, mkv) or by pts == dts (avi): use the pts.
        ts = self._key_pts[slot] if self._timestamps and slot > 0 else None
        for attempt_ts in [ts, None] if ts is not None else [None]:
            try:
                if attempt_ts is None:
                    self._container.seek(0, backward=True)
                else:
                    self._container.seek(attempt_ts, stream=self._stream, backward=True)
            except av.FFmpegError:
                continue
            packets = self._container.demux(self._stream)
            first = next((p for p in packets if p.size > 0), None)
            if first is None:
                return
            pos = self._pos_of_pts.get(first.pts, 0) if self._timestamps else 0
            # An inexact seek may land after the keyframe we need: start over from 0.
            if attempt_ts is not None and pos > self._key_pos[slot]:
                continue
            yield pos, first
            for packet in packets:
                if packet.size > 0:
                    pos += 1
                    yield pos, packet
            return

    def _decoded_frames(self, targets: list[int]) -> Iterator[tuple[list[int], av.VideoFrame]]:
        """Yield (targets, av.VideoFrame): each frame that satisfies some of the sorted targets.

        A target whose own frame does not come out takes the next decoded frame; targets past
        the last decodable frame take that frame.
        """
        return _TargetDecoding(self, targets).frames()

    def _wanted(self, indices) -> np.ndarray:
        """`indices` as int64 [N], checked; those past the end point at the last frame."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 0:
            raise ValueError("read() needs at least one frame index")
        if (indices < 0).any():
            raise ValueError(f"negative frame index in {indices.tolist()}")
        return np.minimum(indices, self.num_frames - 1)

    def decode(self, indices) -> int:
        """Demux and decode what `read(indices)` would, converting nothing: the cost floor of
        `read` (for benchmarks and tests). Returns the number of frames handed over."""
        try:
            return sum(1 for _ in self._decoded_frames(sorted(set(self._wanted(indices).tolist()))))
        except (av.FFmpegError, OSError, EOFError) as err:
            raise VideoReadError(self.path, f"decoding failed: {_short_reason(err)}") from None

    def read(self, indices, size: int | None = None) -> np.ndarray:
        """Frames `indices` (any order, repeats allowed) as uint8 `[len(indices), H, W, 3]`.

        `size`: resize so that the short side is `size` (in the colour conversion call).
        Indices past the end (or past the last decodable frame) get the last decodable frame.
        """
        wanted = self._wanted(indices)
        kept: dict[int, np.ndarray] = {}
        out_hw = None
        try:
            for done, frame in self._decoded_frames(sorted(set(wanted.tolist()))):
                if out_hw is None:
                    out_hw = (
                        short_side_size(frame.height, frame.width, size)
                        if size
                        else (frame.height, frame.width)
                    )
                rgb = self._reformatter.reformat(
                    frame,
                    width=out_hw[1],
                    height=out_hw[0],
                    format="rgb24",
                    interpolation="BILINEAR",
                    threads=1,
                ).to_ndarray()
                rotation = getattr(frame, "rotation", 0)  # PyAV >= 14 reads the display matrix
                if rotation % 360:  # phone videos: the display matrix says how to turn them
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=(rotation // 90) % 4))
                kept.update((target, rgb) for target in done)
        except (av.FFmpegError, OSError, EOFError) as err:
            raise VideoReadError(self.path, f"decoding failed: {_short_reason(err)}") from None
        return np.stack([kept[i] for i in wanted.tolist()])


class _TargetDecoding:
    """One ``VideoReader._decoded_frames`` call: seek to the keyframe before the first target
    still without a frame, decode forward, and again, until every target has one.

    Once the packets of every target before the next seek are in the decoder, the frames it
    holds back (B-frame reordering) are drained instead of being pushed out by decoding the
    packets that follow. Draining is off for the rest of the call if a drain leaves a target
    without its frame: then decoding goes on forward.
    """

    def __init__(self, reader: VideoReader, targets: list[int]):
        self.reader = reader
        self.codec = reader._stream.codec_context
        self.targets = targets
        self.next = 0  # targets[next] is the first target without a frame yet
        self.last: av.VideoFrame | None = None  # the last frame decoded
        self.errors: list[av.FFmpegError] = []
        self.counter = 0  # frames decoded since the last seek (the index without timestamps)
        # Frames decoded only to reach a target: the decoder may drop the non-reference ones.
        self.wanted = set(targets) if reader._timestamps else None
        self.drain = reader._timestamps
        self.fed: set[int] = set()
        self.unfed = 0  # targets[unfed] is the first target whose packet is not fed yet

    def frames(self) -> Iterator[tuple[list[int], av.VideoFrame]]:
        """Yield (targets, frame) as ``VideoReader._decoded_frames`` describes."""
        at_end = False
        while self.next < len(self.targets) and not at_end:
            at_end = yield from self._decode_from_keyframe()
            self.codec.flush_buffers()
        if self.last is None:
            detail = f": {_short_reason(self.errors[0])}" if self.errors else ""
            raise VideoReadError(self.reader.path, f"no decodable frame ({self.reader.codec}){detail}")
        if self.next < len(self.targets):
            yield self.targets[self.next :], self.last

    def _decode_from_keyframe(self) -> Generator[tuple[list[int], av.VideoFrame], None, bool]:
        """One seek and forward decoding until every target is satisfied, a later target
        needs a seek, or the stream ends (then the decoder is drained and True returned)."""
        reader, targets = self.reader, self.targets
        slot = reader._keyframe_slot(targets[self.next]) if reader._timestamps else 0
        self.counter = 0
        for pos, packet in reader._packets_from(slot):
            self._feed(packet)
            try:
                frames = self.codec.decode(packet)
            except av.FFmpegError as err:
                self.errors.append(err)
                continue
            yield from self._take(frames)
            if self.next == len(targets):
                return False
            if self.drain and (
                self.unfed == len(targets) or self._seek_needed(targets[self.unfed], slot, pos)
            ):
                satisfied = self.unfed
                yield from self._take(self._drained())
                self.drain = self.next >= satisfied
                return False
            if reader._timestamps and self._seek_needed(targets[self.next], slot, pos):
                return False
        self.codec.skip_frame = "DEFAULT"
        yield from self._take(self._drained())
        return True

    def _feed(self, packet: av.Packet) -> None:
        """Before decoding `packet`: let the decoder skip non-reference frames no target
        wants, and note which targets' packets are in."""
        if self.wanted is None:
            return
        index = self.reader._frame_index_of_pts(packet.pts)
        self.codec.skip_frame = "DEFAULT" if index in self.wanted else "NONREF"
        if index in self.wanted:
            self.fed.add(index)
            while self.unfed < len(self.targets) and self.targets[self.unfed] in self.fed:
                self.unfed += 1

    def _drained(self) -> list[av.VideoFrame]:
        """The frames the decoder still holds back (end of input)."""
        try:
            return list(self.codec.decode(None))
        except av.FFmpegError as err:
            self.errors.append(err)
            return []

    def _take(self, frames: Iterable[av.VideoFrame]) -> Iterator[tuple[list[int], av.VideoFrame]]:
        """(targets satisfied, frame) for each decoded frame that satisfies any."""
        for frame in frames:
            self.last = frame
            first = self.next
            index = self.reader._frame_index(frame, self.counter)
            while self.next < len(self.targets) and self.targets[self.next] <= index:
                self.next += 1
            if self.next > first:
                yield self.targets[first : self.next], frame
            self.counter += 1

    def _seek_needed(self, target: int, slot: int, pos: int) -> bool:
        """The target's keyframe is ahead of the next packet (and past the one seeked to, so
        an imprecise seek cannot loop)."""
        next_slot = self.reader._keyframe_slot(target)
        return next_slot > slot and self.reader._key_pos[next_slot] > pos + 1


def is_video_file(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def find_video_files(folder) -> list[Path]:
    """Every video file under `folder` (recursive, by extension): the files of a folder in
    name order, then its sub-folders in name order; same-named files all count."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found += [Path(dirpath) / name for name in sorted(filenames) if is_video_file(name)]
    return found


# -- sampling -----------------------------------------------------------------------------------
def _training_rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        raise ValueError("training samples at random: pass a numpy Generator as rng")
    return rng


def segment_indices(
    num_frames: int, seg_num: int, seglen: int, training: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """TSN segment sampling: `seg_num` equal segments, `seglen` consecutive frames from each.

    Training: a random start inside each segment (needs `rng`); evaluation: the start that
    centres the snippet in its segment. Segments shorter than `seglen` start at the segment
    start and wrap around the video, so short videos repeat frames in order.
    Returns int64 `[seg_num * seglen]`, segment-major.
    """
    if num_frames < 1 or seg_num < 1 or seglen < 1:
        raise ValueError(
            f"segment_indices needs positive sizes, got num_frames={num_frames}, "
            f"seg_num={seg_num}, seglen={seglen}"
        )
    seg_size = num_frames / seg_num
    room = seg_size - seglen
    base = np.arange(seg_num) * seg_size
    if room < 0:
        offsets: np.ndarray | float = 0.0
    elif training:
        offsets = _training_rng(rng).random(seg_num) * room
    else:
        offsets = room / 2
    starts = np.floor(base + offsets).astype(np.int64)
    return ((starts[:, None] + np.arange(seglen)[None, :]) % num_frames).reshape(-1)


CLIP_POSITIONS = ("centred", "spread", "wrap")


def clip_indices(
    num_frames: int,
    clip_len: int,
    frame_interval: int,
    num_clips: int,
    training: bool,
    rng: np.random.Generator | None = None,
    positions: str = "centred",
) -> np.ndarray:
    """Dense sampling: clips of `clip_len` frames taken every `frame_interval` frames.

    Training: one clip at a random start (needs `rng`). Evaluation: `num_clips` clips whose
    starts follow `positions`, over the `max_start + 1` starts at which a clip's span fits:

    * `centred`: each clip at the centre of its 1/num_clips share of those starts;
    * `spread`: evenly from 0 to `max_start`, rounded (MMAction2 1.x 3D test sampling; one clip:
      `max_start // 2`);
    * `wrap`: clip k starts at `int(k * num_frames / num_clips)` and may run past the end
      (PaddleVideo v1.5 Non-local test clips).

    Frames past the end wrap around to the start (a video shorter than a clip's span repeats).
    Returns int64 `[clips, clip_len]`.
    """
    if num_frames < 1 or clip_len < 1 or frame_interval < 1 or num_clips < 1:
        raise ValueError(
            f"clip_indices needs positive sizes, got num_frames={num_frames}, "
            f"clip_len={clip_len}, frame_interval={frame_interval}, num_clips={num_clips}"
        )
    if positions not in CLIP_POSITIONS:
        raise ValueError(f"clip positions must be one of {CLIP_POSITIONS}, got {positions!r}")
    span = (clip_len - 1) * frame_interval + 1
    max_start = max(0, num_frames - span)
    clip_numbers = np.arange(num_clips)
    if training:
        starts = _training_rng(rng).integers(0, max_start + 1, size=1)
    elif positions == "centred":
        starts = np.floor((max_start + 1) / num_clips * (clip_numbers + 0.5))
    elif positions == "spread":
        starts = (
            np.round(clip_numbers * (max_start / (num_clips - 1)))
            if num_clips > 1
            else np.array([max_start // 2])
        )
    else:  # the reference's float arithmetic, in its order: (N / clips) * k, truncated
        starts = np.floor((num_frames / num_clips) * clip_numbers)
    offsets = np.arange(clip_len) * frame_interval
    return (starts.astype(np.int64)[:, None] + offsets[None, :]) % num_frames


#: evaluation snippet positions of segment sampling: ours (`segment_indices`), PaddleVideo
#: v1.5's, and the one MMAction2, MIT's TSM code and PaddleVideo 2.x share
SEGMENT_POSITIONS = ("centred", "paddle-v1.5", "tsn")


def reference_segment_indices(num_frames: int, seg_num: int, seglen: int, positions: str) -> np.ndarray:
    """Evaluation frame indices of segment sampling, placed as a reference codebase places them.

    * "paddle-v1.5": segments of `int(num_frames / seg_num)` frames; the snippet starts
      `(length - seglen) // 2` into each (at the segment start when it is shorter than
      `seglen`, at frame i when the video has fewer frames than segments).
    * "tsn": snippet i starts at `int(tick / 2 + i * tick)`, `tick = (num_frames - seglen + 1)
      / seg_num` (at 0 when the video is shorter than `seglen`).
    * "centred": `segment_indices` (ours).

    Frames past the end wrap around. Returns int64 `[seg_num * seglen]`, segment-major.
    """
    if positions == "centred":
        return segment_indices(num_frames, seg_num, seglen, training=False)
    if num_frames < 1 or seg_num < 1 or seglen < 1:
        raise ValueError(
            f"reference_segment_indices needs positive sizes, got "
            f"num_frames={num_frames}, seg_num={seg_num}, seglen={seglen}"
        )
    segments = np.arange(seg_num)
    if positions == "paddle-v1.5":
        length = num_frames // seg_num
        if length >= seglen:
            starts = (length - seglen) // 2 + segments * length
        else:
            starts = segments * length if length >= 1 else segments
    elif positions == "tsn":
        tick = (num_frames - seglen + 1) / seg_num
        starts = (tick / 2 + segments * tick).astype(np.int64) if tick > 0 else 0 * segments
    else:
        raise ValueError(f"segment positions must be one of {SEGMENT_POSITIONS}, got {positions!r}")
    starts = np.asarray(starts, dtype=np.int64)
    return ((starts[:, None] + np.arange(seglen)[None, :]) % num_frames).reshape(-1)
