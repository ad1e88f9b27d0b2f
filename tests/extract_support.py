"""Helpers of the extract tests (tests/extract/): tiny H.264 videos made here, and the options
that keep an extraction to about a second on a CPU."""

import av
import numpy as np

FPS = 8
SIZE = 64
TONES = [300, 600, 1200, 2400]  # Hz, one per second of the video with sound
MAX_SECONDS = 4
PCA_DIMS = 4
FAST = dict(depth=18, image_size=64, pca_dims=PCA_DIMS, max_seconds=MAX_SECONDS, progress=False)
LABELS = {"tone": [0], "silent": [1], "long": [2]}


def second_colour(second: int, shade: int = 0) -> np.ndarray:
    """The RGB colour of second `second` of a `write_video` video (uint8 [3])."""
    colour = np.zeros(3, np.uint8)
    colour[second % 3] = 40 + 50 * second
    colour[(second + 1) % 3] = 60 * shade
    return colour


def write_video(path, seconds, tones=None, shade=0):
    """H.264 mp4, SIZE x SIZE at FPS; each second (and each `shade`) a different colour
    (`second_colour`) with a white bar growing down its left edge; an AAC tone per second
    (the frequencies `tones`) when given, else no audio stream."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono") if tones else None
        for i in range(seconds * FPS):
            image = np.broadcast_to(second_colour(i // FPS, shade), (SIZE, SIZE, 3)).copy()
            image[: i % SIZE, :8] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            frequency = np.repeat(np.asarray(tones, float), 16000)
            wave = (0.5 * np.sin(2 * np.pi * np.cumsum(frequency) / 16000)).astype(np.float32)
            mux_mono_audio(container, audio, wave)


def mux_mono_audio(container, stream, wave: np.ndarray) -> None:
    """Encode float32 samples `wave` [S] (16 kHz mono) into the audio `stream` of `container`,
    flushing the encoder at the end."""
    for start in range(0, wave.size, 1024):
        frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
