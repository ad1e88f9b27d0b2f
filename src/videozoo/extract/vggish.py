"""YouTube-8M audio features: VGGish (AudioSet's release) on one 0.96 s example per second.

* ``log_mel(samples) -> float64 [frames, 64]``: AudioSet's ``mel_features.log_mel_spectrogram``
  at 16 kHz: 25 ms frames (400 samples) every 10 ms (160), periodic Hann window, |rfft| with
  512 points, 64 HTK-mel bands from 125 to 7500 Hz (the DC bin weighted 0), ``log(mel + 0.01)``;
  float64 as the reference computes it.
* ``examples_per_second(samples, seconds) -> float32 [seconds, 96, 64]``: example k is the 96
  log-mel frames from k seconds on (0.96 s windows, 1 s hop, as MediaPipe's YouTube-8M graph
  frames them), so example k sits beside rgb frame k. Audio shorter than `seconds` is padded
  with silence.
* ``VGGish()``: the network with torchvggish's module names (``features.0`` ... ``features.13``,
  ``embeddings.0/2/4``): ``[N, 1, 96, 64]`` -> ``[N, 128]``; the last 512x6x4 map is flattened in
  TF's NHWC order; a ReLU on the embedding as in torchvggish's port (``embedding_relu``).
* ``VGGishPCA``: ``vggish_pca_params-*.pth`` (``pca_eigen_vectors`` [128, 128], ``pca_means``
  [128]): ``(emb - means) @ eigen_vectors.T``; ``quantize_vggish``: clip [-2, 2], ``(x + 2) *
  255/4`` truncated to uint8 (AudioSet's ``vggish_postprocess`` casts, it does not round).
* ``VGGishAudio(weights, pca)(path, seconds) -> (uint8 [seconds, 128], has_audio)``: the
  video's first audio stream at 16 kHz mono (``audio.read_audio``: libswresample, where
  AudioSet resamples with resampy) -> the above.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from videozoo.data.youtube8m_records import AUDIO_SIZE
from videozoo.errors import DataError, DataNotFoundError
from videozoo.extract.audio import read_audio
from videozoo.fileio import torch_load

SAMPLE_RATE = 16000
WINDOW, HOP, FFT = 400, 160, 512
MEL_BANDS, MEL_LOW, MEL_HIGH = 64, 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames
FRAMES_PER_SECOND = 100
_CONVS = [(0, 1, 64), (3, 64, 128), (6, 128, 256), (8, 256, 256), (11, 256, 512), (13, 512, 512)]
#: (index in ``features``, in, out) of torchvggish's six convs; max pools follow these
_POOL_AFTER = {0, 3, 8, 13}


def _hz_to_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
    """float64 [257, 64]: AudioSet's spectrogram-to-mel weights."""
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT // 2 + 1))
    edges = np.linspace(_hz_to_mel(MEL_LOW), _hz_to_mel(MEL_HIGH), MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (centre - lower)
    falling = (upper - bins_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def log_mel(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono samples -> float64 [frames, 64] log-mel (AudioSet's front end)."""
    samples = np.asarray(samples, np.float64)
    count = 1 + (len(samples) - WINDOW) // HOP if len(samples) >= WINDOW else 0
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi / WINDOW * np.arange(WINDOW))  # periodic Hann
    spectrum = np.abs(np.fft.rfft(frames * window, FFT))
    return np.log(spectrum @ mel_matrix() + LOG_OFFSET)


def examples_per_second(samples: np.ndarray, seconds: int) -> np.ndarray:
    """float32 [seconds, 96, 64]: the 0.96 s log-mel example starting at each second."""
    needed = (seconds - 1) * SAMPLE_RATE + (EXAMPLE_FRAMES - 1) * HOP + WINDOW
    padded = np.zeros(max(needed, len(samples)), np.float64)
    padded[: len(samples)] = samples
    mel = log_mel(padded[:needed])
    starts = np.arange(seconds) * FRAMES_PER_SECOND
    return np.stack([mel[s : s + EXAMPLE_FRAMES] for s in starts]).astype(np.float32)


class VGGish(nn.Module):
    """VGGish: log-mel examples ``[N, 1, 96, 64]`` -> embeddings ``[N, 128]``.

    `channels` of the six convs and `hidden` width of the two 4096 layers: the published
    sizes by default (``load_vggish`` takes them from the state dict's shapes)."""

    def __init__(
        self, channels=(64, 128, 256, 256, 512, 512), hidden: int = 4096, embedding_relu: bool = True
    ):
        super().__init__()
        self.features = nn.Sequential()
        cin = 1
        for (index, _, _), cout in zip(_CONVS, channels):
            self.features.add_module(str(index), nn.Conv2d(cin, cout, 3, padding=1))
            self.features.add_module(str(index + 1), nn.ReLU())
            if index in _POOL_AFTER:
                self.features.add_module(str(index + 2), nn.MaxPool2d(2, 2))
            cin = cout
        tail = [
            nn.Linear(cin * 4 * 6, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, AUDIO_SIZE),
        ] + ([nn.ReLU()] if embedding_relu else [])
        self.embeddings = nn.Sequential(*tail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # [N, 512, 6, 4]
        return self.embeddings(x.permute(0, 2, 3, 1).flatten(1))  # TF's NHWC flatten order


def _load(path, option: str):
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"--{option} {path}: no such file")
    try:
        return torch_load(path, allow_numpy=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise DataError(
            f"--{option} {path}: not a readable PyTorch file ({str(err).splitlines()[0][:200]})"
        ) from None


def load_vggish(path, embedding_relu: bool = True) -> VGGish:
    """VGGish from torchvggish's ``vggish-*.pth`` state dict."""
    state = _load(path, "vggish")
    if not isinstance(state, dict):
        raise DataError(f"--vggish {path}: not a state dict")
    try:
        state = {k: torch.as_tensor(v) for k, v in state.items()}
        channels = [state[f"features.{index}.weight"].shape[0] for index, _, _ in _CONVS]
        model = VGGish(channels, state["embeddings.0.weight"].shape[0], embedding_relu)
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"--vggish {path}: not torchvggish's VGGish state dict ({str(err).splitlines()[0][:200]})"
        ) from None
    return model.eval()


class VGGishPCA:
    """AudioSet's embedding PCA: means [128], eigen_vectors [128, 128]."""

    def __init__(self, means: np.ndarray, eigen_vectors: np.ndarray):
        self.means, self.eigen_vectors = means, eigen_vectors

    @classmethod
    def load(cls, path) -> VGGishPCA:
        params = _load(path, "vggish-pca")
        try:
            vectors = np.asarray(params["pca_eigen_vectors"], np.float64)
            means = np.asarray(params["pca_means"], np.float64).reshape(-1)
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"--vggish-pca {path}: no pca_eigen_vectors / pca_means (not vggish_pca_params-*.pth)"
            ) from None
        if vectors.shape != (AUDIO_SIZE, AUDIO_SIZE) or means.shape != (AUDIO_SIZE,):
            raise DataError(
                f"--vggish-pca {path}: shapes {vectors.shape}, {means.shape}; expected (128, 128) and (128,)"
            )
        return cls(means, vectors)

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        return (np.asarray(embeddings, np.float64) - self.means) @ self.eigen_vectors.T


def quantize_vggish(x: np.ndarray) -> np.ndarray:
    """AudioSet's postprocess quantisation: clip [-2, 2], (x + 2) * 255/4, truncated."""
    return ((np.clip(x, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).astype(np.uint8)


class VGGishAudio:
    """The audio of a video -> uint8 [seconds, 128] YouTube-8M audio features."""

    def __init__(self, network: VGGish, pca: VGGishPCA, device="cpu", batch_size: int = 32):
        self.network, self.pca = network.to(device), pca
        self.device, self.batch_size = torch.device(device), batch_size

    @torch.inference_mode()
    def embeddings(self, examples: np.ndarray) -> np.ndarray:
        """float32 [N, 96, 64] -> float32 [N, 128] (before PCA)."""
        out = [
            self.network(torch.from_numpy(examples[i : i + self.batch_size])[:, None].to(self.device))
            .float()
            .cpu()
            for i in range(0, len(examples), self.batch_size)
        ]
        return torch.cat(out).numpy()

    def __call__(self, path, seconds: int) -> tuple[np.ndarray, bool]:
        samples = read_audio(path, seconds + 1)
        if samples is None:
            return np.zeros((seconds, AUDIO_SIZE), np.uint8), False
        examples = examples_per_second(samples, seconds)
        return quantize_vggish(self.pca.transform(self.embeddings(examples))), True
