"""Turn your own videos into YouTube-8M-format frame-level TFRecords (``videozoo extract``).

**These features are NOT interchangeable with the official YouTube-8M features.** Google used
Inception-v3 and its own PCA; this extractor uses a ResNet trunk and a PCA fitted on your
videos. A model trained on the official shards gives meaningless scores on these features:
train (or fine-tune) and predict on features from the same extractor, same weights and same
``pca.npz``. Likewise, NeXtVLAD's ``pca_scale_rgb`` undoes Google's whitening with Google's
eigenvalues; set ``model.pca_scale_rgb=false`` for features made here.

Per video (one "frame" = one second, the first ``max_seconds`` at most):

* rgb: the frame at the start of each second -> short side ``image_size * 8/7`` (256 for 224)
  -> centre crop ``image_size`` -> ImageNet mean/std -> ResNet trunk (depth 50: 2048-d)
  -> PCA: ``(x - mean) @ components.T / sqrt(eigenvalues + 1e-4)`` (whitened, as Google's
  extractor does) -> ``[T, pca_dims]``, zero-padded to ``[T, 1024]`` when ``pca_dims < 1024``
  (the reader and the models expect 1024 values) -> quantised ``uint8 [T, 1024]``.
* audio: the first audio stream -> 16 kHz mono (``av.AudioResampler``) -> magnitude STFT
  (25 ms Hann window, 10 ms hop, 1024-point FFT) -> 128 HTK-mel bands (125-7500 Hz)
  -> ``log(mel + 0.01)`` -> mean over the 100 hops of each second
  -> ``(log_mel - AUDIO_LOG_MEL_CENTER) / AUDIO_LOG_MEL_SCALE`` (silence -> -1.84, a
  full-scale tone -> about 2) -> quantised ``uint8 [T, 128]``. Audio shorter than the video is
  padded with silence. A video without an audio track gets ``quantize(0.0)`` everywhere and
  the extra int64 context feature ``has_audio = 0`` (1 otherwise; readers ignore it).

Quantisation: clip to [-2, 2], then the exact inverse of the official dequantisation
``q * 4/255 + (4/512 - 2)`` (``videozoo.data.youtube8m.quantize``), so a round trip is off by
at most half a step (2/255). Google's released extractor rounds ``(x + 2) * 255/4`` instead,
which dequantises half a step high; we do not copy that.

PCA: ``fit_pca=True`` runs the trunk over every input video, accumulates the mean and
covariance of all their frames (float64, so any number of frames fits in 32 MB), keeps the top
``pca_dims`` eigenvectors and saves ``pca.npz`` in the output folder (keys ``mean [D]``,
``components [K, D]``, ``eigenvalues [K]``, ``num_frames``, ``extractor``: the backbone and a
hash of its weights, checked when the file is used again). The raw features wait in a temporary
folder inside the output folder (4 bytes x D per second of video) until the PCA is known.
A K-dim PCA needs at least K + 1 frames (seconds of video); fewer raise a clear error.
Without ``fit_pca``, ``pca=FILE`` or the output folder's ``pca.npz`` is used.

Output (``output/``): shards ``{split_prefix}0000.tfrecord``, ... of ``shard_size`` videos in
the official schema (context ``id`` = file stem, ``labels`` from ``labels`` or empty), so
``videozoo train/eval`` (``--data DIR``: globs ``train*``, ``validate*``, ``test*``) and
``videozoo predict`` read them unchanged. The default prefix is ``train`` when ``labels`` are
given, else ``test`` (unlabelled, for prediction). ``manifest.csv`` lists every video (id, path,
split, shard, frames, has_audio, status, error); unreadable videos are logged, listed there
with the reason and skipped.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from tqdm import tqdm

from videozoo.data.tfrecord import TFRecordWriter
from videozoo.data.video import VideoReader, is_video_file
from videozoo.data.youtube8m_records import (AUDIO_SIZE, RGB_SIZE, SequenceExample, encode_frame_example,
                                     quantize)
from videozoo.engine.distributed import resolve_device
from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet

__all__ = ["run_extract", "find_videos", "read_labels_csv", "FrameFeatureExtractor", "PCA",
           "CovarianceAccumulator", "log_mel_per_second", "mel_filterbank", "quantize_features",
           "add_extract_arguments", "extract_from_args"]

log = logging.getLogger("videozoo.extract")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SAMPLE_RATE = 16000
STFT_WINDOW = 400           # 25 ms at 16 kHz
STFT_HOP = 160              # 10 ms
STFT_FFT = 1024             # zero-padded so that the narrow low mel bands each get a bin
HOPS_PER_SECOND = SAMPLE_RATE // STFT_HOP
MEL_FMIN, MEL_FMAX = 125.0, 7500.0
LOG_MEL_OFFSET = 0.01       # log(mel + 0.01): silence -> log(0.01) = -4.6
AUDIO_LOG_MEL_CENTER = 0.0  # fixed affine map of log-mel into the quantised range [-2, 2]
AUDIO_LOG_MEL_SCALE = 2.5
PCA_EPSILON = 1e-4          # sqrt(eigenvalue + 1e-4), as in Google's extractor
PCA_FILE = "pca.npz"
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ["id", "path", "split", "shard", "frames", "has_audio", "status", "error"]
RANDOM_TRUNK_SEED = 0


# --------------------------------------------------------------------------------------------
# Inputs

def find_videos(inputs: list[str]) -> list[Path]:
    """Video files named by `inputs` (files, folders searched recursively by extension, globs),
    sorted per input and without duplicates. A name matching nothing raises FileNotFoundError."""
    found: list[Path] = []
    for item in inputs:
        matches = [Path(p) for p in sorted(glob.glob(item))] or [Path(item)]
        for path in matches:
            if path.is_dir():
                found += sorted(p for p in path.rglob("*") if p.is_file() and is_video_file(p))
            elif path.is_file():
                found.append(path)  # named explicitly: tried whatever its extension
            else:
                raise FileNotFoundError(f"{item}: no such video file, folder or glob")
    return list(dict.fromkeys(found))


def read_labels_csv(path: str) -> dict[str, list[int]]:
    """Labels from a CSV of lines ``video,labels`` (``labels`` = class indices joined by ";",
    as Google's extractor reads them); ``video`` is a file stem or a path (its stem is used).
    A header line whose second column is not numeric is skipped."""
    labels: dict[str, list[int]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line_number, row in enumerate(csv.reader(f), start=1):
            if not row or not row[0].strip():
                continue
            cells = [c for c in (row[1] if len(row) > 1 else "").split(";") if c.strip()]
            try:
                labels[Path(row[0].strip()).stem] = [int(c) for c in cells]
            except ValueError:
                if line_number == 1:
                    continue  # a header
                raise ValueError(f"{path}, line {line_number}: labels must be integers joined "
                                 f"by ';' (e.g. 'clip.mp4,3;17'), got {row[1]!r}") from None
    return labels


# --------------------------------------------------------------------------------------------
# RGB: frames -> trunk features

def frame_times(num_frames: int, fps: float, max_seconds: int) -> np.ndarray:
    """Index of the frame at the start of each second the video has started (at most
    `max_seconds`): a 3.0 s video gives 3 frames, a 3.2 s one 4. int64 [T]."""
    seconds = min(max_seconds, max(1, math.ceil(num_frames / fps - 1e-6)))
    return np.minimum(np.floor(np.arange(seconds) * fps).astype(np.int64), num_frames - 1)


def read_rgb_per_second(path, max_seconds: int, image_size: int) -> np.ndarray:
    """uint8 [T, image_size, image_size, 3]: one centre-cropped frame per second."""
    with VideoReader(path) as reader:
        indices = frame_times(reader.num_frames, reader.fps, max_seconds)
        frames = reader.read(indices, size=round(image_size * 256 / 224))
    height, width = frames.shape[1:3]
    top, left = (height - image_size) // 2, (width - image_size) // 2
    return frames[:, top:top + image_size, left:left + image_size]


def _file_hash(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class FrameFeatureExtractor:
    """ResNet trunk on RGB frames: uint8 ``[T, H, W, 3]`` -> float32 ``[T, num_features]``
    (global-average-pooled, 2048 for depth 50, 512 for 18/34).

    `weights`: a local torchvision ImageNet state_dict. Without it the trunk is randomly
    initialised (with a fixed seed, so runs agree) and its features only test the pipeline.
    `device`: auto, cpu or cuda.
    """

    def __init__(self, depth: int = 50, weights: str | None = None, device: str = "auto",
                 batch_size: int = 32):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_TRUNK_SEED)
            self.trunk = ResNet(depth)
        if weights:
            load_imagenet_resnet(self.trunk, weights)
            self.fingerprint = f"resnet{depth} weights sha256:{_file_hash(weights)}"
        else:
            log.warning("!!! NO --weights GIVEN: the ResNet-%d trunk is RANDOMLY INITIALISED; its "
                        "features are ONLY GOOD FOR TESTING THE PIPELINE. For real use pass "
                        "--weights FILE (a torchvision ImageNet resnet%d state_dict) !!!",
                        depth, depth)
            self.fingerprint = f"resnet{depth} random init (seed {RANDOM_TRUNK_SEED})"
        self.random_weights = not weights
        self.device = resolve_device(device)
        self.trunk.eval().to(self.device)
        self.batch_size = batch_size
        self.num_features = self.trunk.num_features
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(frames), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(frames[start:start + self.batch_size]))
            x = chunk.to(self.device).permute(0, 3, 1, 2).float()
            out.append(self.trunk((x - self._mean) / self._std).float().cpu())
        return torch.cat(out).numpy()


# --------------------------------------------------------------------------------------------
# PCA

class CovarianceAccumulator:
    """Running mean and covariance of feature rows ``[N, D]`` (float64 sums)."""

    def __init__(self, dims: int):
        self.count = 0
        self.total = np.zeros(dims)
        self.outer = np.zeros((dims, dims))

    def update(self, features: np.ndarray) -> None:
        x = np.asarray(features, np.float64)
        self.count += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x

    def mean_and_covariance(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        return mean, (self.outer - self.count * np.outer(mean, mean)) / max(1, self.count - 1)


@dataclass
class PCA:
    """mean [D], components [K, D] (eigenvectors by decreasing eigenvalue), eigenvalues [K]."""

    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    num_frames: int = 0
    extractor: str = ""

    @classmethod
    def fit(cls, stats: CovarianceAccumulator, dims: int, extractor: str = "") -> "PCA":
        if stats.count <= dims:
            raise ValueError(
                f"fitting a {dims}-dim PCA needs at least {dims + 1} frames (seconds of video); "
                f"the inputs gave {stats.count}. Add videos to the --fit-pca run or lower "
                f"--pca-dims (below {stats.count}).")
        mean, covariance = stats.mean_and_covariance()
        eigenvalues, vectors = np.linalg.eigh(covariance)         # ascending
        order = np.argsort(eigenvalues)[::-1][:dims]
        return cls(mean.astype(np.float32), vectors[:, order].T.astype(np.float32),
                   np.clip(eigenvalues[order], 0, None).astype(np.float32), stats.count, extractor)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Whitened projection: float32 [T, D] -> [T, K]."""
        projected = (features - self.mean) @ self.components.T
        return (projected / np.sqrt(self.eigenvalues + PCA_EPSILON)).astype(np.float32)

    def save(self, path) -> None:
        np.savez(path, mean=self.mean, components=self.components, eigenvalues=self.eigenvalues,
                 num_frames=self.num_frames, extractor=self.extractor)

    @classmethod
    def load(cls, path) -> "PCA":
        try:
            with np.load(path) as data:
                return cls(data["mean"], data["components"], data["eigenvalues"],
                           int(data["num_frames"]), str(data["extractor"]))
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{path}: not a PCA file written by `videozoo extract --fit-pca` "
                             f"({err})") from None


def quantize_features(features: np.ndarray) -> np.ndarray:
    """float [..., D] -> uint8: clip to [-2, 2], exact inverse of the official dequantisation."""
    return quantize(np.clip(features, -2.0, 2.0))


def rgb_record_features(pca: PCA, features: np.ndarray) -> np.ndarray:
    """Raw trunk features [T, D] -> uint8 [T, 1024] (PCA, zero-padded past pca dims, quantised)."""
    rgb = np.zeros((len(features), RGB_SIZE), np.float32)
    rgb[:, :len(pca.components)] = pca.transform(features)
    return quantize_features(rgb)


# --------------------------------------------------------------------------------------------
# Audio

def mel_filterbank(num_mels: int = 128, n_fft: int = STFT_FFT, sample_rate: int = SAMPLE_RATE,
                   fmin: float = MEL_FMIN, fmax: float = MEL_FMAX) -> np.ndarray:
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
    kept = samples[:padded.size]
    padded[:kept.size] = kept
    frames = torch.from_numpy(padded).unfold(0, STFT_WINDOW, STFT_HOP)        # [hops, 400]
    spectrum = torch.fft.rfft(frames * torch.hann_window(STFT_WINDOW), n=STFT_FFT).abs()
    mel = spectrum @ torch.from_numpy(mel_filterbank())                        # [hops, 128]
    log_mel = torch.log(mel + LOG_MEL_OFFSET).reshape(seconds, HOPS_PER_SECOND, -1)
    return log_mel.mean(1).numpy()


def audio_record_features(path, seconds: int) -> tuple[np.ndarray, bool]:
    """(uint8 [seconds, 128], has_audio) for the video at `path`."""
    samples = read_audio(path, seconds)
    if samples is None:
        return np.full((seconds, AUDIO_SIZE), quantize_features(np.float32(0.0)), np.uint8), False
    scaled = (log_mel_per_second(samples, seconds) - AUDIO_LOG_MEL_CENTER) / AUDIO_LOG_MEL_SCALE
    return quantize_features(scaled), True


# --------------------------------------------------------------------------------------------
# Records and shards

def encode_extracted_example(video_id: str, labels, rgb: np.ndarray, audio: np.ndarray,
                             has_audio: bool) -> bytes:
    """The official frame-level record plus the int64 context feature ``has_audio``."""
    example = SequenceExample.FromString(encode_frame_example(video_id, labels, rgb, audio))
    example.context.feature["has_audio"].int64_list.value.append(int(has_audio))
    return example.SerializeToString()


class ShardWriter:
    """Records into ``{prefix}0000.tfrecord``, ``{prefix}0001.tfrecord``, ..., `shard_size` each."""

    def __init__(self, folder: Path, prefix: str, shard_size: int):
        self.folder, self.prefix, self.shard_size = folder, prefix, shard_size
        self.paths: list[str] = []
        self._writer: TFRecordWriter | None = None

    def write(self, record: bytes) -> str:
        if self._writer is None or self._writer.records_written == self.shard_size:
            self.close()
            self.paths.append(str(self.folder / f"{self.prefix}{len(self.paths):04d}.tfrecord"))
            self._writer = TFRecordWriter(self.paths[-1])
        self._writer.write(record)
        return Path(self.paths[-1]).name

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
            self.paths.pop()


def _write_manifest(path: Path, prefix: str, rows: list[dict]) -> None:
    """Rows of this run replace the rows of earlier runs with the same split prefix."""
    kept = []
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as f:
            kept = [row for row in csv.DictReader(f) if row.get("split") != prefix]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, MANIFEST_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept + rows)


def _unique_ids(paths: list[Path]) -> list[str]:
    ids, seen = [], {}
    for path in paths:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        ids.append(path.stem if count == 0 else f"{path.stem}_{count + 1}")
        if count:
            log.warning("%s: another input is also named '%s'; its id is '%s'",
                        path, path.stem, ids[-1])
    return ids


def _resolve_pca(output: Path, fit_pca: bool, pca: str | None, overwrite: bool) -> Path:
    target = output / PCA_FILE
    if fit_pca:
        if pca:
            raise ValueError("--fit-pca and --pca FILE exclude each other: fit a PCA or use one")
        if target.exists() and not overwrite:
            raise ValueError(f"{target} exists (features already in {output} were made with it); "
                             "drop --fit-pca to reuse it, pass --overwrite to refit (and "
                             "re-extract the other shards there), or choose another --output")
        return target
    path = Path(pca) if pca else target
    if not path.is_file():
        where = f"--pca {pca}: no such file" if pca else f"no {PCA_FILE} in {output}"
        raise FileNotFoundError(f"{where}. Run `videozoo extract VIDEOS --output {output} "
                                "--fit-pca` first (it fits the PCA on those videos and saves "
                                f"{target}), or pass --pca FILE")
    return path


# --------------------------------------------------------------------------------------------
# The command

def run_extract(inputs: list[str], output: str, *, fit_pca: bool = False, pca: str | None = None,
                weights: str | None = None, depth: int = 50, pca_dims: int | None = None,
                batch_size: int = 32, max_seconds: int = 300, image_size: int = 224,
                device: str = "cpu", shard_size: int = 1000, split_prefix: str | None = None,
                labels: dict[str, list[int]] | None = None, overwrite: bool = False,
                progress: bool = True) -> dict:
    """Extract frame-level features of the videos in `inputs` into TFRecord shards in `output`.

    See the module docstring for the pipeline and the files written. `pca_dims`: components
    kept when fitting (default min(1024, trunk width)). `labels`: {file stem: class indices}.
    Returns a summary dict (counts, shard paths, manifest and PCA paths).
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    prefix = split_prefix or ("train" if labels is not None else "test")
    if max_seconds < 1 or shard_size < 1 or batch_size < 1:
        raise ValueError("max_seconds, shard_size and batch_size must be positive")
    pca_path = _resolve_pca(out, fit_pca, pca, overwrite)
    old_shards = sorted(out.glob(f"{prefix}[0-9][0-9][0-9][0-9].tfrecord"))
    if old_shards and not overwrite:
        raise ValueError(f"{out} already holds {prefix}*.tfrecord shards "
                         f"({old_shards[0].name}, ...); pass --overwrite to replace them or "
                         "choose another --split-prefix")
    videos = find_videos(inputs)
    if not videos:
        raise FileNotFoundError(f"no video files in {', '.join(inputs)}")

    extractor = FrameFeatureExtractor(depth, weights, device, batch_size)
    fitted = None if fit_pca else PCA.load(pca_path)
    if fitted is not None:
        if fitted.components.shape[1] != extractor.num_features:
            raise ValueError(f"{pca_path} projects {fitted.components.shape[1]}-d features but "
                             f"the ResNet-{depth} trunk gives {extractor.num_features}; use the "
                             "--depth it was fitted with or refit with --fit-pca")
        if fitted.extractor and fitted.extractor != extractor.fingerprint:
            raise ValueError(f"{pca_path} was fitted on features of '{fitted.extractor}', not "
                             f"'{extractor.fingerprint}'; use the same --weights/--depth or "
                             "refit with --fit-pca (features must come from one extractor)")
        if pca_dims is not None and pca_dims != len(fitted.components):
            raise ValueError(f"--pca-dims {pca_dims}, but {pca_path} keeps "
                             f"{len(fitted.components)} components (--pca-dims only applies "
                             "with --fit-pca)")
    dims = min(RGB_SIZE, extractor.num_features) if pca_dims is None else pca_dims
    if not 1 <= dims <= min(RGB_SIZE, extractor.num_features):
        raise ValueError(f"--pca-dims {dims}: must be in "
                         f"1..{min(RGB_SIZE, extractor.num_features)}")

    ids = _unique_ids(videos)
    rows = [{"id": vid, "path": str(path), "split": prefix, "shard": "", "frames": 0,
             "has_audio": "", "status": "pending", "error": ""} for vid, path in zip(ids, videos)]
    stats = CovarianceAccumulator(extractor.num_features) if fit_pca else None
    shards = ShardWriter(out, prefix, shard_size)
    unlabelled = 0

    def write(index: int, rgb: np.ndarray, audio: np.ndarray, has_audio: bool) -> None:
        nonlocal unlabelled
        row = rows[index]
        video_labels = None if labels is None else labels.get(row["id"])
        if labels is not None and video_labels is None:
            unlabelled += 1
            video_labels = []
        record = encode_extracted_example(row["id"], video_labels, rgb_record_features(fitted, rgb),
                                          audio, has_audio)
        row.update(shard=shards.write(record), frames=len(rgb), has_audio=int(has_audio),
                   status="ok")

    try:
        with tempfile.TemporaryDirectory(prefix=".extract-", dir=out) as cache:
            for index, path in enumerate(tqdm(videos, desc="extract", unit="video",
                                              disable=not progress)):
                try:
                    frames = read_rgb_per_second(path, max_seconds, image_size)
                    audio, has_audio = audio_record_features(path, len(frames))
                except Exception as err:  # noqa: BLE001 - one bad file never stops the run
                    reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
                    rows[index].update(status="skipped", error=str(reason).splitlines()[0][:300])
                    log.warning("%s: skipped: %s", path, rows[index]["error"])
                    continue
                features = extractor(frames)
                if fitted is None:  # the PCA comes after every frame has been seen
                    stats.update(features)
                    np.savez(os.path.join(cache, f"{index}.npz"), rgb=features, audio=audio,
                             has_audio=has_audio)
                else:
                    write(index, features, audio, has_audio)
            if fitted is None and stats.count:
                fitted = PCA.fit(stats, dims, extractor.fingerprint)
                fitted.save(pca_path)
                log.info("PCA (%d of %d dims) fitted on %d frames -> %s", dims,
                         extractor.num_features, stats.count, pca_path)
                for index, row in enumerate(rows):
                    cached = os.path.join(cache, f"{index}.npz")
                    if os.path.exists(cached):
                        with np.load(cached) as data:
                            write(index, data["rgb"], data["audio"], bool(data["has_audio"]))
        shards.close()
    except BaseException:
        shards.abort()
        raise
    for stale in set(map(str, old_shards)) - set(shards.paths):  # --overwrite: a longer old run
        os.unlink(stale)
    _write_manifest(out / MANIFEST_FILE, prefix, rows)

    written = [row for row in rows if row["status"] == "ok"]
    if not written:
        first = next((row for row in rows if row["error"]), rows[0])
        raise ValueError(f"no video could be read ({len(rows)} tried); first error: "
                         f"{first['path']}: {first['error']}. See {out / MANIFEST_FILE}")
    skipped = len(rows) - len(written)
    if skipped:
        log.warning("%d of %d videos skipped (reasons in %s)", skipped, len(rows),
                    out / MANIFEST_FILE)
    if unlabelled:
        log.warning("%d videos are not in the labels mapping: written with no labels", unlabelled)
    return {"output": str(out), "split_prefix": prefix, "videos": len(rows),
            "written": len(written), "skipped": skipped,
            "without_audio": sum(1 for row in written if row["has_audio"] == 0),
            "unlabelled": unlabelled, "frames": sum(row["frames"] for row in written),
            "shards": shards.paths, "manifest": str(out / MANIFEST_FILE),
            "pca": str(pca_path), "pca_fitted": fit_pca, "pca_dims": len(fitted.components),
            "extractor": extractor.fingerprint, "random_weights": extractor.random_weights}


# --------------------------------------------------------------------------------------------
# CLI wiring (the `videozoo extract` sub-command)

def add_extract_arguments(p) -> None:
    """Options of `videozoo extract` on an argparse (sub)parser."""
    p.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR",
                   help="video files, folders (searched recursively) or globs")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="folder for the shards, manifest.csv and pca.npz")
    p.add_argument("--fit-pca", action="store_true",
                   help="fit the PCA on these videos and save DIR/pca.npz (first run)")
    p.add_argument("--pca", metavar="FILE", help="PCA to use (default: DIR/pca.npz)")
    p.add_argument("--pca-dims", type=int, metavar="K",
                   help="PCA components kept by --fit-pca (default: min(1024, trunk width)); "
                        "rgb is zero-padded to 1024 values")
    p.add_argument("--weights", metavar="FILE",
                   help="torchvision ImageNet ResNet state_dict (without it: random trunk, "
                        "features only good for testing)")
    p.add_argument("--depth", type=int, default=50, choices=[18, 34, 50, 101], help="ResNet depth")
    p.add_argument("--labels", metavar="CSV", help="lines 'video,3;17' (stem or path, class ids)")
    p.add_argument("--split-prefix", metavar="NAME",
                   help="shard names NAME0000.tfrecord... (default: train with --labels, else "
                        "test); train/validate/test are what `videozoo train/eval --data DIR` read")
    p.add_argument("--shard-size", type=int, default=1000, help="videos per shard")
    p.add_argument("--batch-size", type=int, default=32, help="frames per trunk forward pass")
    p.add_argument("--max-seconds", type=int, default=300, help="seconds (frames) kept per video")
    p.add_argument("--image-size", type=int, default=224, help="centre crop size")
    p.add_argument("--overwrite", action="store_true",
                   help="replace shards with the same prefix (and pca.npz with --fit-pca)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def extract_from_args(args) -> dict:
    """Run `videozoo extract` from parsed arguments; returns the summary."""
    return run_extract(args.inputs, args.output, fit_pca=args.fit_pca, pca=args.pca,
                       weights=args.weights, depth=args.depth, pca_dims=args.pca_dims,
                       batch_size=args.batch_size, max_seconds=args.max_seconds,
                       image_size=args.image_size, device=args.device,
                       shard_size=args.shard_size, split_prefix=args.split_prefix,
                       labels=read_labels_csv(args.labels) if args.labels else None,
                       overwrite=args.overwrite)
