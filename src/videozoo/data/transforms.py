"""Video transforms with one set of random parameters per video.

Frames arrive as uint8 RGB arrays `[..., H, W, 3]` (already resized to the short side by the
decoder, see `VideoReader.read(size=...)`). Crop boxes are drawn once per video from an
explicit `numpy.random.Generator` and applied to every frame and every clip, so all frames of
a video share position, scale and flip. `VideoTransform` turns `[clips, T, H, W, 3]` uint8 into
the model input `[V, T, 3, S, S]` float32 with `V = clips * crops` (clip-major).

Pieces (pure functions): `random_crop_box`, `center_crop_box`, `three_crop_boxes`,
`five_crop_boxes` (corners + centre; with their mirror images the "ten crops" test),
`multi_scale_crop_box` (TSM scales), `crop`, `hflip`, `resize_frames`,
`normalize` (uint8 -> float, (x / 255 - mean) / std, channels first).
Non-local's (x - 114.75) / 57.375 on 0..255 is mean 0.45, std 0.225 on 0..1.

Reference pipelines that differ from ours are options of `VideoTransform`: PaddleVideo v1.5
resizes every frame to a fixed 341 x 256 (`long_side`, aspect not kept) and its TSM resizes
the multi-scale crop to 256 before a random 224 crop (`multi_scale_resize`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from videozoo.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TSM_SCALES = (1.0, 0.875, 0.75, 0.66)

Box = tuple[int, int, int, int]  # top, left, height, width


def _check_fits(height: int, width: int, crop_h: int, crop_w: int):
    if crop_h > height or crop_w > width:
        raise ConfigError(
            f"crop {crop_h}x{crop_w} is larger than the frame {height}x{width}; "
            f"raise data.short_side or lower data.crop_size"
        )


def random_crop_box(height: int, width: int, size: int, rng: np.random.Generator) -> Box:
    """A `size` x `size` box at a uniformly random position."""
    _check_fits(height, width, size, size)
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1)), size, size


def center_crop_box(height: int, width: int, size: int) -> Box:
    _check_fits(height, width, size, size)
    return (height - size) // 2, (width - size) // 2, size, size


def three_crop_boxes(height: int, width: int, size: int) -> list[Box]:
    """Three `size` squares along the long side: left/centre/right or top/centre/bottom."""
    _check_fits(height, width, size, size)
    if width >= height:
        top = (height - size) // 2
        return [(top, left, size, size) for left in (0, (width - size) // 2, width - size)]
    left = (width - size) // 2
    return [(top, left, size, size) for top in (0, (height - size) // 2, height - size)]


def five_crop_boxes(height: int, width: int, size: int) -> list[Box]:
    """Four corners and the centre, on a grid of quarter steps of the free room (the
    PaddleVideo 2.x / MMAction2 "TenCrop" positions, before mirroring)."""
    _check_fits(height, width, size, size)
    h_step, w_step = (height - size) // 4, (width - size) // 4
    return [(row * h_step, col * w_step, size, size) for row, col in ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2))]


def multi_scale_crop_box(
    height: int,
    width: int,
    scales: Sequence[float] = TSM_SCALES,
    *,
    rng: np.random.Generator,
    max_distort: int = 1,
) -> Box:
    """TSM multi-scale crop: side lengths `scale * min(H, W)` for height and width drawn from
    `scales` at most `max_distort` steps apart (mild aspect jitter), placed at one of 13
    fixed positions (corners, edge centres, centre, quarter points). Resize it to the crop
    size afterwards.
    """
    base = min(height, width)
    sides = [int(base * s) for s in scales]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= max_distort]
    crop_h, crop_w = pairs[rng.integers(len(pairs))]
    # Positions in quarters of the free room: (row, col) with 0..4 -> 0, 1/4, ..., 1.
    grid = [
        (0, 0),
        (0, 4),
        (4, 0),
        (4, 4),
        (2, 2),
        (0, 2),
        (4, 2),
        (2, 0),
        (2, 4),
        (1, 1),
        (1, 3),
        (3, 1),
        (3, 3),
    ]
    row, col = grid[rng.integers(len(grid))]
    return (height - crop_h) * row // 4, (width - crop_w) * col // 4, crop_h, crop_w


def crop(frames: np.ndarray, box: Box) -> np.ndarray:
    """Crop `[..., H, W, 3]` to `box` (a view, no copy)."""
    top, left, h, w = box
    return frames[..., top : top + h, left : left + w, :]


def hflip(frames: np.ndarray) -> np.ndarray:
    """Mirror `[..., H, W, 3]` left-right (a view, no copy)."""
    return frames[..., ::-1, :]


def resize(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of float `[..., 3, H, W]`."""
    if video.shape[-2:] == (height, width):
        return video
    lead = video.shape[:-3]
    flat = video.reshape(-1, *video.shape[-3:])
    flat = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return flat.reshape(*lead, *flat.shape[-3:])


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 `[..., H, W, 3]` resized to `height` x `width` (bilinear, antialiased)."""
    if frames.shape[-3:-1] == (height, width):
        return frames
    video = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).float()
    video = resize(video, height, width).round_().clamp_(0, 255).to(torch.uint8)
    return video.movedim(-3, -1).numpy()


def normalize(frames: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 `[..., H, W, 3]` -> float32 `[..., 3, H, W]` with (x / 255 - mean) / std."""
    std = np.asarray(std, dtype=np.float32)
    scale = torch.from_numpy(1.0 / (255.0 * std)).view(3, 1, 1)
    shift = torch.from_numpy(np.asarray(mean, dtype=np.float32) / std).view(3, 1, 1)
    # Go channels-first while still uint8: per-channel ops on [3, H, W] planes are ~15x faster
    # than broadcasting over a trailing dimension of size 3. One numpy copy gathers the crop,
    # the flip and the channel move (torch's uint8 permute copy was 8x slower).
    video = torch.from_numpy(np.ascontiguousarray(np.moveaxis(frames, -1, -3)))
    return video.to(torch.float32).mul_(scale).sub_(shift)


@dataclass(frozen=True)
class VideoTransform:
    """Train or eval pipeline for one video: `[clips, T, H, W, 3]` uint8 -> `[V, T, 3, S, S]`.

    Training: random crop `crop_size` (or TSM multi-scale crop resized to `crop_size`, or to
    `multi_scale_resize` and then randomly cropped to `crop_size`) and a horizontal flip with
    p=0.5, one draw per video. Evaluation: `num_crops` = 1 (centre), 3 (along the long side)
    or 10 (corners and centre, and their mirror images) crops of `crop_size`.
    `short_side_range` [lo, hi): the training short side is drawn from it (Non-local scale
    jitter); else `short_side` is used. `long_side` (e.g. 341): frames are resized to
    `short_side` x `long_side` whatever their aspect, except frames whose short side already
    is `short_side` at the source, which keep it (PaddleVideo v1.5 does both); see
    `fit_frames`.
    """

    training: bool
    short_side: int = 256
    crop_size: int = 224
    num_crops: int = 1
    multi_scale: bool = False
    scales: tuple = TSM_SCALES
    flip: bool = True
    short_side_range: tuple | None = None
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    multi_scale_resize: int | None = None
    long_side: int | None = None

    def __post_init__(self):
        if self.num_crops not in (1, 3, 10):
            raise ConfigError(f"test_crops must be 1, 3 or 10, got {self.num_crops}")
        if self.multi_scale_resize is not None and self.multi_scale_resize < self.crop_size:
            raise ConfigError(
                f"multi_scale_resize {self.multi_scale_resize} is smaller than the "
                f"crop {self.crop_size}; use null or a size >= data.crop_size"
            )
        if self.long_side is not None and self.long_side < self.short_side:
            raise ConfigError(
                f"long_side {self.long_side} is shorter than short_side "
                f"{self.short_side}; use null (keep the aspect) or a longer side"
            )
        smallest = self.short_side_range[0] if self.training and self.short_side_range else self.short_side
        if not self.multi_scale and smallest < self.crop_size:
            raise ConfigError(
                f"short side {smallest} is smaller than the crop {self.crop_size}; "
                f"raise data.short_side or lower the crop size"
            )

    @property
    def views_per_clip(self) -> int:
        return 1 if self.training else self.num_crops

    def sample_short_side(self, rng: np.random.Generator) -> int:
        """The short side to decode at (drawn before decoding: the reader resizes)."""
        if self.training and self.short_side_range:
            low, high = self.short_side_range
            return int(rng.integers(low, max(low + 1, high)))
        return self.short_side

    def output_shape(self, clips: int, frames: int) -> tuple[int, ...]:
        return clips * self.views_per_clip, frames, 3, self.crop_size, self.crop_size

    def fit_frames(self, frames: np.ndarray, source_hw: tuple[int, int]) -> np.ndarray:
        """Frames decoded at the short side -> `short_side` x `long_side` when `long_side` is
        set and the source's short side (``source_hw``: its height, width) differs from
        `short_side`; otherwise unchanged."""
        if not self.long_side or min(source_hw) == self.short_side:
            return frames
        height, width = frames.shape[-3:-1]
        if height <= width:
            return resize_frames(frames, self.short_side, self.long_side)
        return resize_frames(frames, self.long_side, self.short_side)

    def __call__(self, clips: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        """uint8 clips ``[C, T, H, W, 3]`` (or one ``[T, H, W, 3]``) -> normalised float views
        ``[V, T, 3, S, S]``; training draws its crop and flip from ``rng``."""
        if clips.ndim == 4:
            clips = clips[None]
        if self.training:
            if rng is None:
                raise ValueError("a training transform crops at random: pass a numpy Generator as rng")
            views = self._training_views(clips, rng)
        else:
            views = self._test_views(clips)
        return resize(normalize(views, self.mean, self.std), self.crop_size, self.crop_size)

    def _training_views(self, clips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = clips.shape[-3:-1]
        if self.multi_scale:
            box = multi_scale_crop_box(height, width, self.scales, rng=rng)
        else:
            box = random_crop_box(height, width, self.crop_size, rng)
        views = crop(clips, box)
        if self.multi_scale and self.multi_scale_resize:
            side = self.multi_scale_resize
            views = resize_frames(views, side, side)
            views = crop(views, random_crop_box(side, side, self.crop_size, rng))
        if self.flip and rng.random() < 0.5:
            views = hflip(views)
        return views

    def _test_views(self, clips: np.ndarray) -> np.ndarray:
        """Every clip's crops (1, 3, or 10: five and their mirror images) as views."""
        height, width = clips.shape[-3:-1]
        if self.num_crops == 3:
            boxes = three_crop_boxes(height, width, self.crop_size)
        elif self.num_crops == 10:
            boxes = five_crop_boxes(height, width, self.crop_size)
        else:
            boxes = [center_crop_box(height, width, self.crop_size)]
        crops = [crop(clips, box) for box in boxes]
        if self.num_crops == 10:
            crops += [hflip(view) for view in crops]
        views = np.stack(crops, axis=1)  # [C, crops, T, h, w, 3]
        return views.reshape(-1, *views.shape[2:])


def build_transform(data_cfg: dict, training: bool) -> VideoTransform:
    """The train or eval `VideoTransform` described by the `data:` config section."""
    short_range = data_cfg.get("short_side_range")
    return VideoTransform(
        training=training,
        short_side=int(data_cfg.get("short_side", 256)),
        crop_size=int(
            data_cfg.get("crop_size", 224)
            if training
            else data_cfg.get("test_crop_size") or data_cfg.get("crop_size", 224)
        ),
        num_crops=int(data_cfg.get("test_crops", 1)),
        multi_scale=bool(data_cfg.get("multi_scale_crop", False)),
        scales=tuple(data_cfg.get("scales", TSM_SCALES)),
        # null / "auto": on; the data format turns it off for layouts whose labels say left or right
        flip=data_cfg.get("flip") in (None, "auto", True),
        short_side_range=tuple(short_range) if short_range else None,
        mean=tuple(data_cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(data_cfg.get("std", IMAGENET_STD)),
        multi_scale_resize=data_cfg.get("multi_scale_resize"),
        long_side=data_cfg.get("long_side"),
    )
