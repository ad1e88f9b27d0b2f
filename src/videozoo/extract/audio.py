"""Sound of a video -> 128 log-mel bands per second, quantised as the record stores them.

``audio_record_features(path, seconds) -> (uint8 [seconds, 128], has_audio)``:

the first audio stream -> 16 kHz mono (``av.AudioResampler``, ``read_audio``: float32 [N])
-> magnitude STFT (25 ms Hann window, 10 ms hop, 1024-point FFT) -> 128 HTK-mel bands
(125-7500 Hz, ``mel_filterbank``) -> ``log(mel + 0.01)`` -> mean over the 100 hops of each
second (``log_mel_per_second``: float32 [seconds, 128])
-> ``(log_mel - AUDIO_LOG_MEL_CENTER) / AUDIO_LOG_MEL_SCALE`` (silence -> -1.84, a full-scale
tone -> about 2) -> quantised. Audio shorter than the video is padded with silence; audio
that stops decoding part-way keeps what decoded (logged). A video without an audio track gets
``quantize_features(0.0)`` everywhere and ``has_audio = False``.
"""

from __future__ import annotations

import logging

import av
import numpy as np
import torch

from videozoo.data.youtube8m_records import AUDIO_SIZE
from videozoo.extract.records import quantize_features

log = logging.getLogger("videozoo.extract")

SAMPLE_RATE = 16000
STFT_WINDOW = 400  # 25 ms at 16 kHz
STFT_HOP = 160  # 10 ms
STFT_FFT = 1024  # zero-padded so that the narrow low mel bands each get a bin
HOPS_PER_SECOND = SAMPLE_RATE // STFT_HOP
MEL_FMIN, MEL_FMAX = 125.0, 7500.0
LOG_MEL_OFFSET = 0.01  # log(mel + 0.01): silence -> log(0.01) = -4.6
AUDIO_LOG_MEL_CENTER = 0.0  # fixed affine map of log-mel into the quantised range [-2, 2]
AUDIO_LOG_MEL_SCALE = 2.5


def mel_filterbank(
    num_mels: int = 128,
    n_fft: int = STFT_FFT,
    sample_rate: int = SAMPLE_RATE,
    fmin: float = MEL_FMIN,
    fmax: float = MEL_FMAX,
) -> np.ndarray:
    """HTK-mel triangles (peak 1) over the FFT bins: float32 [n_fft // 2 + 1, num_mels]."""

    def to_mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz) / 700.0)

    bin_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = np.linspace(to_mel(fmin), to_mel(fmax), num_mels + 2)
    bin_mel = to_mel(bin_hz)[:, None]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0, None).astype(np.float32)


def read_audio(path, seconds: int) -> np.ndarray | None:
    """The first `seconds` of the first audio stream as float32 16 kHz mono, or None when the
    file has no audio stream (or none that decodes)."""
    wanted = seconds * SAMPLE_RATE
    chunks, have = [], 0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    have += chunks[-1].size
                if have >= wanted:
                    break
            else:
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except (av.FFmpegError, OSError, ValueError) as err:
        # Keep what decoded before the damage; the rest is padded with silence.
        log.warning("%s: audio decoding stopped early (%s)", path, str(err).splitlines()[0][:200])
    if not chunks:
        return None
    return np.concatenate(chunks)[:wanted].astype(np.float32)


def log_mel_per_second(samples: np.ndarray, seconds: int) -> np.ndarray:
    """16 kHz mono float32 samples -> mean log-mel per second, float32 [seconds, 128].

    Hop j (10 ms) belongs to second j // 100; samples missing at the end count as silence.
    """
    hops = seconds * HOPS_PER_SECOND
    padded = np.zeros((hops - 1) * STFT_HOP + STFT_WINDOW, np.float32)
    kept = samples[: padded.size]
    padded[: kept.size] = kept
    frames = torch.from_numpy(padded).unfold(0, STFT_WINDOW, STFT_HOP)  # [hops, 400]
    spectrum = torch.fft.rfft(frames * torch.hann_window(STFT_WINDOW), n=STFT_FFT).abs()
    mel = spectrum @ torch.from_numpy(mel_filterbank())  # [hops, 128]
    log_mel = torch.log(mel + LOG_MEL_OFFSET).reshape(seconds, HOPS_PER_SECOND, -1)
    return log_mel.mean(1).numpy()


def audio_record_features(path, seconds: int) -> tuple[np.ndarray, bool]:
    """(uint8 [seconds, 128], has_audio) for the video at `path`."""
    samples = read_audio(path, seconds)
    if samples is None:
        return np.full((seconds, AUDIO_SIZE), quantize_features(np.zeros(1, np.float32))[0], np.uint8), False
    scaled = (log_mel_per_second(samples, seconds) - AUDIO_LOG_MEL_CENTER) / AUDIO_LOG_MEL_SCALE
    return quantize_features(scaled), True
