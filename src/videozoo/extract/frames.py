"""RGB of a video, one frame per second -> ResNet trunk features.

* ``frame_times(num_frames, fps, max_seconds) -> int64 [T]``: the index of the frame at the
  start of each second the video has started (a 3.0 s video gives 3, a 3.2 s one 4), at most
  ``max_seconds``.
* ``read_rgb_per_second(path, max_seconds, image_size) -> uint8 [T, S, S, 3]``: those frames,
  decoded by ``videozoo.data.video.VideoReader`` with the short side at ``S * 256/224`` (256
  for S = 224), then centre-cropped to S = ``image_size``.
* ``FrameFeatureExtractor(depth, weights, device)(frames) -> float32 [T, D]``: ImageNet
  mean/std normalisation (``videozoo.data.transforms.normalize``), the ResNet trunk and its
  global average pool (D = 2048 for depth 50 and 101, 512 for 18 and 34). Its
  ``fingerprint`` names the backbone and a hash of its weights, so a ``pca.npz`` fitted on
  other features is refused.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from videozoo.data.transforms import center_crop_box, crop, normalize
from videozoo.data.video import VideoReader
from videozoo.engine.distributed import resolve_device
from videozoo.errors import ConfigError, DataError, DataNotFoundError
from videozoo.fileio import sha256_of
from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet

log = logging.getLogger("videozoo.extract")

RANDOM_TRUNK_SEED = 0


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
    return crop(frames, center_crop_box(frames.shape[1], frames.shape[2], image_size))


class FrameFeatureExtractor:
    """ResNet trunk on RGB frames: uint8 ``[T, H, W, 3]`` -> float32 ``[T, num_features]``
    (global-average-pooled, 2048 for depth 50, 512 for 18/34).

    `weights`: a local torchvision ImageNet state_dict. Without it the trunk is randomly
    initialised (with a fixed seed, so runs agree) and its features only test the pipeline.
    `device`: auto, cpu or cuda. `batch_size`: frames per forward pass.
    """

    def __init__(
        self, depth: int = 50, weights: str | None = None, device: str = "auto", batch_size: int = 32
    ):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_TRUNK_SEED)
            self.trunk = ResNet(depth)
        if weights:
            self._load_weights(weights, depth)
            self.fingerprint = f"resnet{depth} weights sha256:{sha256_of(weights)[:16]}"
        else:
            log.warning(
                "!!! NO --weights GIVEN: the ResNet-%d trunk is RANDOMLY INITIALISED; its "
                "features are ONLY GOOD FOR TESTING THE PIPELINE. For real use pass "
                "--weights FILE (a torchvision ImageNet resnet%d state_dict) !!!",
                depth,
                depth,
            )
            self.fingerprint = f"resnet{depth} random init (seed {RANDOM_TRUNK_SEED})"
        self.random_weights = not weights
        try:
            self.device = resolve_device(device)
        except RuntimeError as err:  # CUDA asked for but absent: the user's choice to fix
            raise ConfigError(str(err)) from None
        self.trunk.eval().to(self.device)
        self.batch_size = batch_size
        self.num_features = self.trunk.num_features

    def _load_weights(self, weights: str, depth: int) -> None:
        if not Path(weights).is_file():
            raise DataNotFoundError(
                f"--weights {weights}: no such file; pass a local torchvision "
                f"ImageNet resnet{depth} state_dict (e.g. ~/.cache/torch/hub/"
                f"checkpoints/resnet{depth}-*.pth)"
            )
        try:
            load_imagenet_resnet(self.trunk, weights)
        except ValueError as err:  # not a state_dict, or none of it fits this depth
            raise DataError(f"--weights {err}") from None

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(frames), self.batch_size):
            batch = normalize(frames[start : start + self.batch_size]).to(self.device)
            out.append(self.trunk(batch).float().cpu())
        return torch.cat(out).numpy()
