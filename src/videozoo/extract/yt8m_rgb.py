"""YouTube-8M's own RGB features (``--features youtube8m``), as Google's starter extractor
(google/youtube-8m ``feature_extractor/``) makes them:

* ``opencv_frame_indices(seconds, every_ms=1000, max_frames=300) -> int64 [T]``: the frames
  its ``frame_iterator`` returns, from each frame's presentation time (``VideoReader.
  presentation_seconds``). OpenCV reports ``CAP_PROP_POS_MSEC`` = the time of the frame read
  last (0 before the first read); the loop reads frames until that time reaches the previous
  pick's reference + 1000 ms, takes that time as the new reference and returns the NEXT frame.
  So at 25 fps the frames are 0, 26, 51, 76, ... (not 0, 25, 50): one frame after each second
  boundary, and a video of 1-2 s gives 1 or 2 frames.
* ``read_frames(path, max_frames) -> uint8 [T, H, W, 3]``: those frames, RGB at their own size,
  turned upright as OpenCV >= 4.5 does (display matrix).
* ``YT8MPCA.load(path)``: ``yt8m_pca.tgz`` (or a folder) holding ``mean.npy`` [D, 1],
  ``eigenvecs.npy`` [K, D] (rows are components) and ``eigenvals.npy`` [K, 1];
  ``transform(pool3 [T, D]) -> [T, min(K, 1024)]``: subtract the mean, project on the first
  1024 eigenvectors, divide by ``sqrt(eigenvals + 1e-4)`` (float32, as the TF graph it adds).
* ``quantize_starter(x) -> uint8``: clip to [-2, 2], ``(x + 2) * 255/4`` in float32, rounded
  as the extractor's Python 2 ``round`` (halves away from zero). This is NOT the exact inverse of
  the reader's dequantisation (``records.quantize_features`` is): it is what the published
  data were made with, so it is what the published models saw.
* ``YT8MRGBExtractor(inception, pca, device, batch_size)(frames) -> uint8 [T, 1024]``.
"""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

import numpy as np
import torch

from videozoo.data.video import VideoReader
from videozoo.data.youtube8m_records import RGB_SIZE
from videozoo.errors import DataError, DataNotFoundError
from videozoo.extract import inception
from videozoo.extract.graphdef import read_graphdef
from videozoo.fileio import torch_load

log = logging.getLogger("videozoo.extract")

EVERY_MS = 1000.0
MAX_FRAMES = 300
PCA_FILES = ("mean.npy", "eigenvecs.npy", "eigenvals.npy")
MAX_MEMBER_BYTES = 256 << 20  # eigenvecs.npy is 16 MiB; a member claiming more is not one
WHITENING_EPS = 1e-4


def opencv_frame_indices(
    seconds: np.ndarray, every_ms: float = EVERY_MS, max_frames: int = MAX_FRAMES
) -> np.ndarray:
    """Indices (into presentation order) of the frames the starter's ``frame_iterator`` yields,
    given each frame's presentation time in seconds. int64 [T], T <= max_frames."""
    times_ms = (np.asarray(seconds, np.float64) * 1000.0).tolist()
    picks: list[int] = []
    position, next_frame, reference = 0.0, 0, -99999.0
    while len(picks) < max_frames:
        while position < every_ms + reference:  # skip: read frames, look at the last one's time
            if next_frame >= len(times_ms):
                return np.asarray(picks, np.int64)
            position = times_ms[next_frame]
            next_frame += 1
        reference = position
        if next_frame >= len(times_ms):
            break
        picks.append(next_frame)  # the frame read right after the skip is the one kept
        position = times_ms[next_frame]
        next_frame += 1
    return np.asarray(picks, np.int64)


def read_frames(path, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """uint8 RGB [T, H, W, 3]: the starter extractor's frames of the video at `path` (see
    ``opencv_frame_indices``). Raises VideoReadError when the file cannot be decoded."""
    with VideoReader(path) as reader:
        seconds = reader.presentation_seconds()
        if seconds is None:  # no timestamps: OpenCV falls back to frame number / fps
            seconds = np.arange(reader.num_frames) / reader.fps
        return reader.read(opencv_frame_indices(seconds, max_frames=max_frames))


def quantize_starter(features: np.ndarray) -> np.ndarray:
    """float32 [..., D] -> uint8, as the starter extractor's ``quantize`` (Python 2 round)."""
    scaled = (np.clip(features, -2.0, 2.0).astype(np.float32) + np.float32(2.0)) * np.float32(255.0 / 4.0)
    return np.floor(scaled.astype(np.float64) + 0.5).astype(np.uint8)


def _npy(data: bytes, name: str, source: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{source}: {name} is not a numpy .npy array ({err})") from None


def _read_pca_arrays(path: Path) -> dict[str, np.ndarray]:
    if path.is_dir():
        missing = [name for name in PCA_FILES if not (path / name).is_file()]
        if missing:
            raise DataError(f"{path}: no {missing[0]} (a YouTube-8M PCA folder holds {', '.join(PCA_FILES)})")
        return {name: _npy((path / name).read_bytes(), name, str(path)) for name in PCA_FILES}
    found = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = Path(member.name).name
                if name in PCA_FILES and member.isfile():
                    if member.size > MAX_MEMBER_BYTES:
                        raise DataError(f"{path}: {name} claims {member.size} bytes: not the YouTube-8M PCA")
                    found[name] = _npy(_member_bytes(archive, member), name, str(path))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable yt8m_pca.tgz ({err})") from None
    missing = [name for name in PCA_FILES if name not in found]
    if missing:
        raise DataError(f"{path}: no {missing[0]} inside (yt8m_pca.tgz holds {', '.join(PCA_FILES)})")
    return found


class YT8MPCA:
    """Google's YouTube-8M PCA: mean [D], components [K, D] (K <= 1024), eigenvalues [K]."""

    def __init__(self, mean: np.ndarray, components: np.ndarray, eigenvalues: np.ndarray):
        self.mean = mean.astype(np.float32)
        self.components = components.astype(np.float32)
        self.scale = np.sqrt(eigenvalues.astype(np.float32) + np.float32(WHITENING_EPS))

    @classmethod
    def load(cls, path) -> YT8MPCA:
        path = Path(path)
        if not path.exists():
            raise DataNotFoundError(
                f"--pca {path}: no such file (pass yt8m_pca.tgz from http://data.yt8m.org/yt8m_pca.tgz)"
            )
        arrays = _read_pca_arrays(path)
        mean = arrays["mean.npy"].reshape(-1)
        vecs, vals = arrays["eigenvecs.npy"], arrays["eigenvals.npy"].reshape(-1)
        if vecs.ndim != 2 or vecs.shape[1] != mean.size or len(vals) < min(len(vecs), RGB_SIZE):
            raise DataError(
                f"{path}: shapes mean {arrays['mean.npy'].shape}, eigenvecs "
                f"{vecs.shape}, eigenvals {arrays['eigenvals.npy'].shape} do not "
                "fit ([D, 1], [K, D], [K, 1])"
            )
        keep = min(len(vecs), RGB_SIZE)
        return cls(mean, vecs[:keep], vals[:keep])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """float32 [T, D] -> whitened [T, K]."""
        centred = features.astype(np.float32) - self.mean
        return (centred @ self.components.T) / self.scale


def load_inception(path) -> inception.InceptionPool3:
    """The Inception network from ``classify_image_graph_def.pb``, the
    ``inception-2015-12-05.tgz`` holding it, or pytorch-fid's ``pt_inception-*.pth``."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            f"--inception {path}: no such file (pass inception-2015-12-05.tgz, "
            "its classify_image_graph_def.pb, or pytorch-fid's "
            "pt_inception-2015-12-05-*.pth)"
        )
    if path.suffix == ".pth" or path.suffix == ".pt":
        try:
            state = torch_load(path)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise DataError(
                f"--inception {path}: not a readable PyTorch state dict ({str(err).splitlines()[0][:200]})"
            ) from None
        if not isinstance(state, dict):
            raise DataError(f"--inception {path}: not a state dict")
        return inception.from_pt_inception(state, f"--inception {path}")
    return inception.from_graphdef(
        read_graphdef(_graph_bytes(path), f"--inception {path}"), f"--inception {path}"
    )


def _member_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """A regular file member's bytes (``extractfile`` gives None only for other kinds)."""
    stream = archive.extractfile(member)
    assert stream is not None, member.name
    return stream.read()


def _graph_bytes(path: Path) -> bytes:
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if Path(member.name).name == "classify_image_graph_def.pb" and member.isfile():
                    if member.size > MAX_MEMBER_BYTES:
                        raise DataError(f"--inception {path}: its graph claims {member.size} bytes")
                    return _member_bytes(archive, member)
        raise DataError(f"--inception {path}: no classify_image_graph_def.pb inside")
    return path.read_bytes()


class YT8MRGBExtractor:
    """uint8 RGB frames ``[T, H, W, 3]`` -> uint8 ``[T, 1024]`` YouTube-8M rgb features.

    `network`: an ``InceptionPool3``; `pca`: a ``YT8MPCA``; frames go through the network in
    batches of `batch_size` (frames of one video share a size)."""

    def __init__(
        self,
        network: inception.InceptionPool3,
        pca: YT8MPCA,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ):
        if pca.mean.size != network.num_features:
            raise DataError(
                f"the PCA projects {pca.mean.size}-d features but the Inception "
                f"network gives {network.num_features}"
            )
        # BatchNorm folded into the convs, channels_last (oneDNN's fast layout): pool_3 moves
        # by ~1e-6 relative, well inside the parity targets (docs/extract.md)
        network = network.fold_batchnorm().to(device)
        network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
        self.network = network
        self.pca, self.device, self.batch_size = pca, torch.device(device), batch_size

    @torch.inference_mode()
    def pool3(self, frames: np.ndarray) -> np.ndarray:
        """float32 [T, 2048]: ``pool_3/_reshape:0`` of each frame."""
        out = []
        for start in range(0, len(frames), self.batch_size):
            batch = torch.from_numpy(frames[start : start + self.batch_size]).to(self.device)
            images = inception.preprocess(batch).contiguous(memory_format=torch.channels_last)
            out.append(self.network(images).float().cpu())
        return torch.cat(out).numpy()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        whitened = np.zeros((len(frames), RGB_SIZE), np.float32)
        reduced = self.pca.transform(self.pool3(frames))
        whitened[:, : reduced.shape[1]] = reduced
        return quantize_starter(whitened)
