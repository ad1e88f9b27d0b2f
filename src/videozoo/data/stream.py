"""Streaming decode: frames of a file, URL, live stream, stdin or capture device, in time order,
never holding more than the frame being handed over.

`VideoReader` (data/video.py) indexes a whole file first, which suits short clips; a timeline
over a two-hour file or a live stream needs the opposite: one pass, constant memory.

* `open_source(spec) -> Source`: what a spec names and how FFmpeg opens it: a file path, an
  http(s) URL, a live stream (rtsp, rtmp, udp, tcp, srt, hls ``.m3u8``), ``-`` (stdin) or a
  capture device (``/dev/video0``: v4l2 on Linux). Missing files and unknown schemes raise
  `DataError` before anything is opened.
* `FrameStream(source, next_needed)`: iterate to get ``(seconds, av.VideoFrame)`` in
  presentation order. ``next_needed()`` says the earliest time the consumer still needs:
  packets before it are decoded as "non-reference frames may be dropped", and on seekable
  inputs a gap of more than ``seek_gap`` seconds (at least two keyframe intervals) is crossed
  by seeking instead of decoding. Times start at 0 at the first frame.
* Damage: a stretch whose packets do not decode, or a jump in the timestamps, is recorded in
  ``damaged`` as ``(start, end, reason)`` and decoding goes on after it. A live source that
  drops is reopened with exponential backoff (``reconnect`` attempts; 0.5 s doubling to 30 s)
  and the outage is recorded the same way; times keep counting the wall-clock time lost.
* `sniff_container(head) -> name | None`: the container a file's first bytes show (mp4/mov,
  matroska/webm, avi, flv, mpeg-ts, mpeg-ps, ogg), for checking uploads without trusting names.
* `frame_rgb(frame, short_side)`: one frame as uint8 RGB ``[H, W, 3]`` with the short side
  resized (and turned upright, as `VideoReader.read` does).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np

from videozoo.data.video import VideoReadError, short_side_size
from videozoo.errors import DataError, DataNotFoundError

log = logging.getLogger("videozoo.data")

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt", "rtp")
NETWORK_SCHEMES = ("http", "https") + LIVE_SCHEMES
#: microseconds FFmpeg waits on a network read before giving up (then we reconnect)
NETWORK_TIMEOUT_US = 10_000_000


@dataclass(frozen=True)
class Source:
    """An input as FFmpeg opens it. `live`: no end is expected, reconnect on drops;
    `seekable`: a local file (seeking is cheap and exact enough)."""

    spec: str
    url: str
    format: str | None = None
    options: dict = field(default_factory=dict)
    live: bool = False
    seekable: bool = False


def open_source(spec: str) -> Source:
    """The `Source` named by `spec` (see the module docstring)."""
    spec = str(spec)
    if spec == "-":
        return Source(spec, "pipe:0", live=False)
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme:
        if scheme not in NETWORK_SCHEMES:
            raise DataError(
                f"{spec}: unsupported scheme '{scheme}://' (use a file, -, a device "
                f"or one of {', '.join(s + '://' for s in NETWORK_SCHEMES)})"
            )
        options = {"rw_timeout": str(NETWORK_TIMEOUT_US)}
        if scheme.startswith("rtsp"):
            options = {"rtsp_transport": "tcp", "timeout": str(NETWORK_TIMEOUT_US)}
        elif scheme in ("http", "https"):  # FFmpeg's own reconnects, mid-file included
            options.update(reconnect="1", reconnect_streamed="1", reconnect_delay_max="30")
        live = scheme in LIVE_SCHEMES or spec.split("?", 1)[0].endswith(".m3u8")
        return Source(spec, spec, options=options, live=live)
    if spec.startswith("/dev/video"):
        return Source(spec, spec, format="v4l2", live=True)
    if not os.path.exists(spec):
        raise DataNotFoundError(f"{spec}: no such file")
    if os.path.isdir(spec):
        raise DataError(f"{spec}: a folder; a timeline takes video files, URLs, streams or -")
    if os.path.getsize(spec) == 0:
        raise DataError(f"{spec}: empty file (0 bytes)")
    return Source(spec, spec, seekable=True)


_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def sniff_container(head: bytes) -> str | None:
    """The container family that the first bytes `head` (>= 12; 400 for mpeg-ts) belong to."""
    if head[4:8] in _MP4_BOXES:
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return "mpeg-ts"
    return None


def frame_rgb(frame: av.VideoFrame, short_side: int | None) -> np.ndarray:
    """uint8 RGB `[H, W, 3]`, the short side resized to `short_side` (None: as decoded)."""
    height, width = (
        short_side_size(frame.height, frame.width, short_side) if short_side else (frame.height, frame.width)
    )
    rgb: np.ndarray = frame.reformat(
        width=width, height=height, format="rgb24", interpolation="BILINEAR"
    ).to_ndarray()
    rotation = getattr(frame, "rotation", 0)
    if rotation % 360:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=(rotation // 90) % 4))
    return rgb


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text.strip().splitlines()[0][:160]


class FrameStream:
    """Frames of one `Source` as ``(seconds, av.VideoFrame)``; see the module docstring.

    Attributes after opening: `fps`, `duration` (seconds, None for live/unknown), `codec`,
    `damaged` [(start, end, reason)], `reconnects` (count).
    """

    def __init__(
        self,
        source: Source,
        next_needed: Callable[[], float | None] = lambda: None,
        *,
        reconnect: int = 5,
        seek_gap: float = 4.0,
        threads: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.source = source
        self.next_needed = next_needed
        self.reconnect = reconnect if source.live else 0
        self.seek_gap = seek_gap
        self.threads = threads
        self._sleep = sleep
        self.damaged: list[tuple[float, float, str]] = []
        self.reconnects = 0
        self._seeked = False  # the next frame follows a seek: a jump in time is expected
        self._sought = -1.0  # the last wanted time sought to
        self._container = self._open_live() if source.live else self._open()
        self._describe()

    # -- opening -----------------------------------------------------------------------------
    def _open(self):
        src = self.source
        try:
            container = av.open(
                src.url,
                format=src.format,
                options=src.options,
                metadata_errors="ignore",
                timeout=NETWORK_TIMEOUT_US / 1e6 if "://" in src.url else None,
            )
        except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise VideoReadError(src.spec, f"cannot open: {_reason(err)}") from None
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            container.close()
            raise VideoReadError(src.spec, f"no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        self._stream = stream
        return container

    def _open_live(self):
        """A live source may not be up yet: retry with backoff like a reconnect."""
        delay = 0.5
        for attempt in range(self.reconnect + 1):
            try:
                return self._open()
            except VideoReadError:
                if attempt == self.reconnect:
                    raise
                self._sleep(delay)
                delay = min(30.0, delay * 2)

    def _describe(self):
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate and float(rate) > 0 else 25.0
        self.codec = stream.codec_context.name
        self.duration = None
        if not self.source.live:
            if stream.duration and stream.time_base:
                self.duration = float(stream.duration * stream.time_base)
            elif self._container.duration:
                self.duration = self._container.duration / 1e6

    def close(self):
        self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- decoding ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[float, av.VideoFrame]]:
        offset = 0.0  # seconds added to this connection's times (live: after reconnects)
        last_t = -1.0
        while True:
            for t, frame in self._connection_frames(offset, last_t):
                last_t = t
                yield t, frame
            if not self.source.live or self.reconnects >= self.reconnect:
                return
            lost_from, started = max(last_t, 0.0), time.monotonic()
            if not self._reopen():
                self.damaged.append(
                    (
                        lost_from,
                        lost_from + time.monotonic() - started,
                        f"stream ended or lost; {self.reconnect} reconnects failed",
                    )
                )
                return
            offset = lost_from + time.monotonic() - started
            self.damaged.append((lost_from, offset, "stream dropped; reconnected"))
            last_t = offset - 1e-6

    def _reopen(self) -> bool:
        delay = 0.5
        while self.reconnects < self.reconnect:
            self.reconnects += 1
            self._sleep(delay)
            log.warning(
                "%s: stream dropped, reconnecting (attempt %d of %d)",
                self.source.spec,
                self.reconnects,
                self.reconnect,
            )
            try:
                self._container.close()
                self._container = self._open()
                return True
            except VideoReadError as err:
                log.warning("%s", err)
                delay = min(30.0, delay * 2)
        return False

    def _connection_frames(self, offset: float, last_t: float):
        """Frames of the current connection, times shifted by `offset` (the first frame of a
        live connection starts at `offset`)."""
        codec = self._stream.codec_context
        clock = _Clock(offset, max(2.0, 10 / self.fps))
        damage = _Damage(self.damaged)
        keys: list[float] = []
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as err:
                damage.start(max(last_t, 0.0), f"unreadable data: {_reason(err)}")
                break
            packet_t = clock.of(packet.pts, packet.time_base)
            if packet.is_keyframe and packet_t is not None:
                keys.append(packet_t)
            wanted = self.next_needed()
            if packet_t is not None and wanted is not None and packet.size:
                if self._should_seek(packet_t, wanted, keys):
                    # clock.base is set: packet_t is known (see _Clock.of)
                    self._seek(wanted - offset + (clock.base or 0.0), wanted)
                    packets = self._container.demux(self._stream)
                    continue
                codec.skip_frame = "NONREF" if packet_t < wanted - 1 / self.fps else "DEFAULT"
            try:
                frames = codec.decode(packet)
            except (av.FFmpegError, ValueError) as err:
                damage.start(max(last_t, 0.0), f"undecodable data: {_reason(err)}")
                continue
            for frame in frames:
                t = clock.frame_time(frame)
                if t is None or t <= last_t:
                    continue  # frames before a seek target, repeated timestamps
                if last_t >= 0 and t - last_t > clock.jump and not self._seeked:
                    damage.start(last_t, "no frames (timestamps jump)")
                damage.end(t)
                self._seeked, last_t = False, t
                yield t, frame
        codec.skip_frame = "DEFAULT"
        try:
            for frame in codec.decode(None):  # the frames the decoder still holds
                t = clock.frame_time(frame)
                if t is not None and t > last_t:
                    last_t = t
                    yield t, frame
        except (av.FFmpegError, ValueError):
            pass
        damage.end(max(last_t, self.duration or 0.0) if not self.source.live else last_t)

    def _should_seek(self, packet_t: float, wanted: float, keys: list[float]) -> bool:
        # Each wanted time is sought at most once (a seek may land far before it on a long
        # GOP; decoding forward from there always progresses).
        if not self.source.seekable or wanted - packet_t <= self.seek_gap or wanted <= self._sought:
            return False
        gaps = np.diff(keys[-8:]) if len(keys) > 1 else np.array([])
        gop = float(np.median(gaps)) if len(gaps) else 0.0
        return wanted - packet_t > 2 * gop  # the seek lands on a keyframe before `wanted`

    def _seek(self, stream_seconds: float, wanted: float):
        self._sought = wanted
        stream = self._stream
        target = int(stream_seconds / stream.time_base)
        try:
            self._container.seek(target, stream=stream, backward=True)
        except av.FFmpegError:
            return
        stream.codec_context.flush_buffers()
        self._seeked = True


class _Clock:
    """Seconds of one connection: stream times minus its first frame's, plus `offset`."""

    def __init__(self, offset: float, jump: float):
        self.offset, self.jump = offset, jump
        self.base: float | None = None  # the first frame's time: stream times count from it

    def of(self, pts, time_base) -> float | None:
        if pts is None or self.base is None:
            return None
        return float(pts * time_base) - self.base + self.offset

    def frame_time(self, frame) -> float | None:
        if frame.time is None:
            return None
        if self.base is None:
            self.base = float(frame.time)
        return float(frame.time) - self.base + self.offset


class _Damage:
    """An open damaged stretch: started at the first failure, closed by the next good frame
    (or the end), then appended to `found` as (start, end, reason)."""

    def __init__(self, found: list):
        self.found, self.reason = found, ""
        self.since: float | None = None

    def start(self, t: float, reason: str) -> None:
        if self.since is None:
            self.since, self.reason = t, reason

    def end(self, t: float) -> None:
        if self.since is not None:
            self.found.append((self.since, max(self.since, t), self.reason))
            self.since = None
