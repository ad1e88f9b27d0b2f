"""Video reader (exact frames, failures) and frame-index sampling."""

import av
import numpy as np
import pytest

from videozoo.data.synth_kinetics import encode_video, motion_video
from videozoo.data.video import VideoReader, VideoReadError, clip_indices, segment_indices, short_side_size

NUM_FRAMES = 40


def _reference_frames(path):
    """Every frame, decoded sequentially (the ground truth for random access)."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="module")
def clip_frames():
    return motion_video(np.random.default_rng(0), 30, 64, NUM_FRAMES)[:, :, :48]  # 64x48, portrait


# -- sampling ---------------------------------------------------------------------------------
def test_segment_indices_training_stay_inside_their_segments():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = segment_indices(100, 8, 3, True, rng).reshape(8, 3)
        seg = 100 / 8
        assert (np.diff(idx, axis=1) == 1).all()
        assert (idx[:, 0] >= np.floor(np.arange(8) * seg)).all()
        assert (idx[:, -1] < np.arange(1, 9) * seg).all()


def test_segment_indices_training_vary_and_are_deterministic():
    draws = {tuple(segment_indices(300, 8, 1, True, np.random.default_rng(s))) for s in range(10)}
    assert len(draws) > 1
    again = segment_indices(300, 8, 1, True, np.random.default_rng(3))
    assert (again == segment_indices(300, 8, 1, True, np.random.default_rng(3))).all()


def test_segment_indices_eval_are_centred():
    idx = segment_indices(80, 4, 5, False)  # segments of 20 frames, snippet of 5 -> start 7.5
    assert idx.reshape(4, 5)[:, 0].tolist() == [7, 27, 47, 67]
    centre = idx.reshape(4, 5).mean(axis=1)
    segment_centre = np.arange(4) * 20 + 9.5
    assert (np.abs(centre - segment_centre) <= 0.5).all()


def test_segment_indices_short_video_repeats_in_order():
    idx = segment_indices(3, 8, 1, True, np.random.default_rng(0))
    assert idx.shape == (8,) and idx.max() < 3
    assert (np.diff(idx) >= 0).all() and set(idx.tolist()) == {0, 1, 2}
    wrapped = segment_indices(4, 2, 5, False)
    assert wrapped.max() < 4 and wrapped.shape == (10,)


def test_clip_indices_training_one_random_clip_in_range():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(30):
        idx = clip_indices(200, 8, 8, 10, True, rng)
        assert idx.shape == (1, 8)
        assert (np.diff(idx[0]) == 8).all() and idx.max() < 200
        starts.add(int(idx[0, 0]))
    assert len(starts) > 1


def test_clip_indices_eval_evenly_spaced_clips():
    idx = clip_indices(300, 8, 8, 10, False)
    assert idx.shape == (10, 8) and idx.max() < 300
    gaps = np.diff(idx[:, 0])
    assert gaps.max() - gaps.min() <= 1 and gaps.min() > 0
    assert (idx == clip_indices(300, 8, 8, 10, False)).all()


def test_clip_indices_short_video_wraps():
    idx = clip_indices(20, 8, 8, 2, False)
    assert idx.max() < 20 and idx.shape == (2, 8)


def test_clip_indices_wrap_follows_paddle_v15_test_clips():
    """v1.5 (nonlocal_reader.video_fast_get_frame): start = int(N / clips * k) % N, frames
    start + i * rate taken modulo N, so late clips run over the end into the start."""
    for num_frames in (95, 301, 7):
        idx = clip_indices(num_frames, 8, 8, 10, False, positions="wrap")
        for k in range(10):
            start = int(float(num_frames) / float(10) * k) % num_frames
            assert idx[k].tolist() == [(start + i * 8) % num_frames for i in range(8)]
    late = clip_indices(95, 8, 8, 10, False, positions="wrap")[9]
    assert late[0] == 85 and late[2] == 6  # 85 + 16 = 101 wraps to 6
    assert (clip_indices(95, 8, 8, 10, False, positions="wrap") != clip_indices(95, 8, 8, 10, False)).any()


def test_clip_indices_spread_follows_mmaction2_test_clips():
    """MMAction2 1.x SampleFrames(test_mode) for 3D models: offsets evenly from 0 to
    N - span, rounded; one clip sits at the middle; short videos start at 0 and loop."""
    idx = clip_indices(300, 32, 2, 10, False, positions="spread")
    max_offset = 300 - (31 * 2 + 1)
    assert idx[:, 0].tolist() == [int(np.round(k * max_offset / 9)) for k in range(10)]
    assert idx[0, 0] == 0 and idx[-1, -1] == 299  # first frame and last frame used
    assert (np.diff(idx, axis=1) == 2).all()
    assert clip_indices(300, 32, 2, 1, False, positions="spread")[0, 0] == max_offset // 2
    short = clip_indices(40, 32, 2, 3, False, positions="spread")
    assert (short[:, 0] == 0).all() and short[0, 25] == 50 % 40


def test_clip_positions_reach_the_dataset_and_are_checked():
    from videozoo.data.video_format import DEFAULTS, VideoClips
    from videozoo.errors import ConfigError

    cfg = {**DEFAULTS, "sampling": "dense", "test_clip_positions": "wrap"}
    clips = VideoClips([], cfg, training=False, seed=0)
    assert (
        clips.frame_indices(95, np.random.default_rng(0))
        == clip_indices(95, 8, 8, 10, False, positions="wrap")
    ).all()
    with pytest.raises(ConfigError, match="test_clip_positions"):
        VideoClips([], {**cfg, "test_clip_positions": "random"}, training=False, seed=0)
    with pytest.raises(ValueError, match="clip positions"):
        clip_indices(95, 8, 8, 10, False, positions="middle")


def test_sampling_rejects_empty_video():
    with pytest.raises(ValueError, match="num_frames=0"):
        segment_indices(0, 8, 1, False)


# -- reading ----------------------------------------------------------------------------------
CODECS = [
    ("h264", ".mp4", None),
    ("h264", ".mp4", 6),
    ("h264", ".mkv", 6),
    ("mpeg4", ".avi", 6),
    ("vp9", ".webm", 6),
]


@pytest.mark.parametrize("codec,ext,gop", CODECS)
def test_read_returns_exactly_the_requested_frames(tmp_path, clip_frames, codec, ext, gop):
    path = encode_video(tmp_path / f"clip{ext}", clip_frames, fps=25, codec=codec, gop=gop)
    reference = _reference_frames(path)
    rng = np.random.default_rng(1)
    with VideoReader(path) as reader:
        assert reader.num_frames == len(reference) == NUM_FRAMES
        assert (reader.height, reader.width) == (64, 48)
        for _ in range(6):
            indices = rng.integers(0, NUM_FRAMES, size=8)
            frames = reader.read(indices)
            assert frames.dtype == np.uint8 and frames.shape == (8, 64, 48, 3)
            assert (frames == reference[indices]).all()


def read_frames(path, indices, size=None):
    with VideoReader(path) as reader:
        return reader.read(indices, size)


def test_read_resizes_short_side(tmp_path, clip_frames):
    path = encode_video(tmp_path / "clip.mp4", clip_frames)
    frames = read_frames(path, [0, 5], size=32)
    assert frames.shape == (2, *short_side_size(64, 48, 32), 3) == (2, 43, 32, 3)
    # A resized frame still looks like the original (mean colour within a few levels).
    original = read_frames(path, [5])[0].reshape(-1, 3).mean(0)
    assert np.abs(frames[1].reshape(-1, 3).mean(0) - original).max() < 4


def test_indices_past_the_end_repeat_the_last_frame(tmp_path, clip_frames):
    path = encode_video(tmp_path / "clip.mp4", clip_frames[:5])
    frames = read_frames(path, [0, 4, 7, 100])
    assert (frames[2] == frames[1]).all() and (frames[3] == frames[1]).all()
    assert not (frames[0] == frames[1]).all()


def test_truncated_tail_still_reads_with_repeats(tmp_path, clip_frames):
    path = encode_video(tmp_path / "clip.mkv", clip_frames, gop=6)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with VideoReader(cut) as reader:
        assert 0 < reader.num_frames < NUM_FRAMES
        frames = reader.read([0, NUM_FRAMES - 1])
    assert frames.shape == (2, 64, 48, 3)


def _audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize(
    "case,reason",
    [
        ("zero", "empty file"),
        ("truncated", "corrupt or truncated"),
        ("garbage", "corrupt or truncated"),
        ("audio", "no video stream"),
        ("missing", "cannot open"),
    ],
)
def test_unreadable_files_raise_video_read_error(tmp_path, clip_frames, case, reason):
    path = tmp_path / f"{case}.mp4"
    if case == "zero":
        path.write_bytes(b"")
    elif case == "truncated":
        data = encode_video(tmp_path / "ok.mp4", clip_frames).read_bytes()
        path.write_bytes(data[: len(data) // 2])  # mp4 index (moov) is at the end: lost
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "audio":
        _audio_only(path)
    with pytest.raises(VideoReadError, match=reason) as info:
        read_frames(path, [0])
    assert info.value.path == str(path) and info.value.reason


# -- decoding only what is needed -------------------------------------------------------------
class _CountingReader(VideoReader):
    """Records the decode position of every packet fed to the decoder."""

    def __init__(self, path, **kwargs):
        super().__init__(path, **kwargs)
        self.fed: list[int] = []

    def _packets_from(self, slot):
        for pos, packet in super()._packets_from(slot):
            self.fed.append(pos)
            yield pos, packet


def _decode_positions(path):
    """Decode position (packet order) of each frame index (presentation order)."""
    with av.open(str(path)) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size]
    order = sorted(range(len(pts)), key=lambda i: pts[i])
    return {frame: pos for frame, pos in enumerate(order)}


@pytest.mark.parametrize("gop", [6, 40])
def test_reads_feed_no_packet_twice_and_none_past_the_last_target(tmp_path, clip_frames, gop):
    path = encode_video(tmp_path / "clip.mp4", clip_frames, gop=gop)  # B-frames: reordering
    reference = _reference_frames(path)
    position = _decode_positions(path)
    rng = np.random.default_rng(2)
    for draw in range(8):
        indices = (
            segment_indices(NUM_FRAMES, 8, 1, True, rng)
            if draw % 2
            else clip_indices(NUM_FRAMES, 4, 3, 1, True, rng)[0]
        )
        with _CountingReader(path) as reader:
            frames = reader.read(indices)
            assert (frames == reference[indices]).all()
            assert len(reader.fed) == len(set(reader.fed))  # each packet decoded once at most
            # Frames held back by the decoder are drained, not pushed out by later packets.
            assert max(reader.fed) == max(position[i] for i in indices.tolist())
        with _CountingReader(path) as reader:
            assert reader.decode(indices) > 0 and max(reader.fed) == max(
                position[i] for i in indices.tolist()
            )


def _non_reference_frames(path) -> list[int]:
    with av.open(str(path)) as container:
        all_pts = sorted(p.pts for p in container.demux(video=0) if p.size)
    with av.open(str(path)) as container:
        container.streams.video[0].codec_context.skip_frame = "NONREF"
        kept = {frame.pts for frame in container.decode(video=0)}
    return [i for i, pts in enumerate(all_pts) if pts not in kept]


def test_a_target_whose_packet_does_not_decode_takes_a_later_frame(tmp_path, clip_frames):
    path = encode_video(tmp_path / "clip.mp4", clip_frames, gop=10)
    reference = _reference_frames(path)
    # A frame no other frame refers to: breaking it breaks nothing else.
    broken = next(i for i in _non_reference_frames(path) if 12 < i < 24)

    class BrokenPacket(VideoReader):
        def _packets_from(self, slot):
            for pos, packet in super()._packets_from(slot):
                if self._frame_index_of_pts(packet.pts) == broken:
                    garbage = av.Packet(bytes(8))  # decodes to nothing
                    garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                    packet = garbage
                yield pos, packet

    with BrokenPacket(path) as reader:
        frames = reader.read([3, broken, 25, 31])
    assert (frames[[0, 2, 3]] == reference[[3, 25, 31]]).all()
    later = [j for j in range(broken + 1, NUM_FRAMES) if (frames[1] == reference[j]).all()]
    assert later and later[0] <= 25  # the next frame decoded after it, never an earlier one
