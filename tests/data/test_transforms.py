"""Video transforms: shapes, one parameter draw per video, crop/flip correctness, normalisation."""

import numpy as np
import pytest
import torch

from videozoo.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VideoTransform,
    build_transform,
    center_crop_box,
    crop,
    five_crop_boxes,
    hflip,
    multi_scale_crop_box,
    normalize,
    random_crop_box,
    resize_frames,
    three_crop_boxes,
)
from videozoo.data.video import reference_segment_indices


def _frames(t=4, h=40, w=60, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def _denormalize(video):
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((video * std + mean) * 255).round().to(torch.uint8).movedim(-3, -1).numpy()


def test_normalize_matches_formula_and_layout():
    frames = _frames(2, 5, 7)
    video = normalize(frames)
    assert video.shape == (2, 3, 5, 7) and video.dtype == torch.float32
    expected = (frames[1, 3, 4, 2] / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]
    assert video[1, 2, 3, 4].item() == pytest.approx(expected, abs=1e-5)
    custom = normalize(np.full((1, 2, 2, 3), 114.75, np.float32).astype(np.uint8), (0.45,) * 3, (0.225,) * 3)
    assert custom.abs().max() < 0.02  # Non-local's (x - 114.75) / 57.375


def _normalize_reference(frames, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The plain route: channels last to first in torch, float32 scale then shift."""
    std = np.asarray(std, dtype=np.float32)
    scale = torch.from_numpy(1.0 / (255.0 * std)).view(3, 1, 1)
    shift = torch.from_numpy(np.asarray(mean, dtype=np.float32) / std).view(3, 1, 1)
    video = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).contiguous()
    return video.to(torch.float32).mul_(scale).sub_(shift)


@pytest.mark.parametrize("views", ["plain", "crop", "flipped crop", "clips x crops"])
def test_normalize_is_bitwise_the_plain_route(views):
    frames = _frames(3, 40, 60, seed=4)
    if views == "crop":
        frames = crop(frames, (3, 5, 28, 28))
    elif views == "flipped crop":
        frames = hflip(crop(frames, (3, 5, 28, 28)))
    elif views == "clips x crops":
        frames = np.stack([crop(frames, box) for box in three_crop_boxes(40, 60, 28)])[None]
    assert torch.equal(normalize(frames), _normalize_reference(frames))
    assert torch.equal(
        normalize(frames, (0.45,) * 3, (0.225,) * 3), _normalize_reference(frames, (0.45,) * 3, (0.225,) * 3)
    )


def test_crop_boxes_fit_and_centre():
    rng = np.random.default_rng(0)
    for _ in range(20):
        top, left, h, w = random_crop_box(40, 60, 32, rng)
        assert 0 <= top <= 8 and 0 <= left <= 28 and h == w == 32
    assert center_crop_box(40, 60, 32) == (4, 14, 32, 32)
    assert [b[1] for b in three_crop_boxes(40, 60, 40)] == [0, 10, 20]  # along the long (width) side
    assert [b[0] for b in three_crop_boxes(60, 40, 40)] == [0, 10, 20]  # along the height
    with pytest.raises(ValueError, match="larger than the frame"):
        center_crop_box(20, 60, 32)


def test_multi_scale_crop_uses_tsm_scales():
    rng = np.random.default_rng(0)
    sides = set()
    for _ in range(200):
        top, left, h, w = multi_scale_crop_box(256, 340, rng=rng)
        assert top + h <= 256 and left + w <= 340
        sides.update((h, w))
    assert sides == {int(256 * s) for s in (1, 0.875, 0.75, 0.66)}


def test_crop_and_flip_are_views_with_the_right_pixels():
    frames = _frames()
    cropped = crop(frames, (3, 5, 10, 12))
    assert cropped.shape == (4, 10, 12, 3) and (cropped[:, 0, 0] == frames[:, 3, 5]).all()
    flipped = hflip(frames)
    assert (flipped[:, :, 0] == frames[:, :, -1]).all()
    assert np.shares_memory(flipped, frames)


def test_training_transform_same_params_for_every_frame():
    base = _frames(1, 40, 60)[0]
    clips = np.stack([base] * 6)[None]  # identical frames -> identical outputs iff same crop/flip
    transform = VideoTransform(training=True, short_side=40, crop_size=32)
    for seed in range(5):
        video = transform(clips, np.random.default_rng(seed))
        assert video.shape == (1, 6, 3, 32, 32)
        assert (video == video[:, :1]).all()


def test_training_transform_crop_is_a_window_of_the_frame():
    frames = _frames(2, 40, 60)
    transform = VideoTransform(training=True, short_side=40, crop_size=32, flip=True)
    flips = 0
    for seed in range(12):
        out = _denormalize(transform(frames[None], np.random.default_rng(seed))[0])
        windows = {
            (top, left, flipped): crop(hflip(frames) if flipped else frames, (top, left, 32, 32))
            for flipped in (False, True)
            for top in range(9)
            for left in range(29)
        }
        matches = [key for key, window in windows.items() if (out == window).all()]
        assert len(matches) == 1
        flips += matches[0][2]
    assert 0 < flips < 12  # p=0.5 flip happens sometimes, not always


def test_transform_is_deterministic_given_rng():
    frames = _frames()[None]
    transform = VideoTransform(training=True, short_side=40, crop_size=24, multi_scale=True)
    a = transform(frames, np.random.default_rng(7))
    b = transform(frames, np.random.default_rng(7))
    assert a.shape == (1, 4, 3, 24, 24) and torch.equal(a, b)


def test_eval_three_crops_and_clips_layout():
    clips = np.stack([_frames(3, 40, 60, seed=s) for s in range(2)])  # [2 clips, 3, 40, 60, 3]
    transform = VideoTransform(training=False, short_side=40, crop_size=40, num_crops=3)
    video = transform(clips)
    assert video.shape == (6, 3, 3, 40, 40) == transform.output_shape(2, 3)
    views = _denormalize(video)
    for c in range(2):
        for k, left in enumerate((0, 10, 20)):
            assert (views[c * 3 + k] == clips[c][:, :, left : left + 40]).all()


def test_resize_frames_keeps_content():
    frames = np.full((2, 40, 60, 3), 100, np.uint8)
    out = resize_frames(frames, 20, 30)
    assert out.shape == (2, 20, 30, 3) and out.dtype == np.uint8 and (out == 100).all()
    assert resize_frames(frames, 40, 60) is frames  # already the size: no copy


def test_build_transform_from_data_config():
    cfg = {
        "short_side": 64,
        "crop_size": 56,
        "test_crop_size": 64,
        "test_crops": 3,
        "multi_scale_crop": True,
        "flip": False,
        "short_side_range": [64, 80],
    }
    train, test = build_transform(cfg, True), build_transform(cfg, False)
    assert train.crop_size == 56 and train.multi_scale and not train.flip and train.views_per_clip == 1
    assert test.crop_size == 64 and test.num_crops == 3 and test.views_per_clip == 3
    sides = {train.sample_short_side(np.random.default_rng(s)) for s in range(30)}
    assert min(sides) >= 64 and max(sides) < 80 and len(sides) > 1
    assert test.sample_short_side(np.random.default_rng(0)) == 64
    with pytest.raises(ValueError, match="test_crops"):
        build_transform({**cfg, "test_crops": 2}, False)


def test_ten_crops_are_corners_centre_and_their_mirrors():
    assert five_crop_boxes(40, 60, 32) == [
        (0, 0, 32, 32),
        (0, 28, 32, 32),
        (8, 0, 32, 32),
        (8, 28, 32, 32),
        (4, 14, 32, 32),
    ]  # steps 2 and 7
    clips = _frames(2, 40, 60)[None]
    video = VideoTransform(training=False, short_side=40, crop_size=32, num_crops=10)(clips)
    assert video.shape == (10, 2, 3, 32, 32)
    views = _denormalize(video)
    assert (views[1] == clips[0][:, 0:32, 28:60]).all()
    assert (views[5 + 1] == clips[0][:, 0:32, 28:60][:, :, ::-1]).all()


def test_fixed_long_side_resize_like_paddlevideo_v15():
    transform = VideoTransform(training=False, short_side=40, crop_size=32, long_side=53)
    landscape = np.zeros((2, 40, 71, 3), np.uint8)  # decoded at short side 40, 16:9
    assert transform.fit_frames(landscape, (360, 640)).shape == (2, 40, 53, 3)
    portrait = np.zeros((2, 71, 40, 3), np.uint8)
    assert transform.fit_frames(portrait, (640, 360)).shape == (2, 53, 40, 3)
    # the reference keeps frames whose source short side already is short_side
    assert transform.fit_frames(landscape, (40, 71)) is landscape
    assert (
        VideoTransform(training=False, short_side=40, crop_size=32).fit_frames(landscape, (360, 640))
        is landscape
    )
    with pytest.raises(ValueError, match="long_side"):
        VideoTransform(training=False, short_side=40, crop_size=32, long_side=30)


def test_multi_scale_crop_resized_then_randomly_cropped():
    """PaddleVideo v1.5 TSM: multi-scale crop -> resize to 48 -> random 32 crop -> flip."""
    frames = np.full((2, 40, 60, 3), 100, np.uint8)
    frames[:, :, :30] = 200
    transform = VideoTransform(
        training=True, short_side=40, crop_size=32, multi_scale=True, multi_scale_resize=48, flip=False
    )
    video = transform(frames, np.random.default_rng(0))
    assert video.shape == (1, 2, 3, 32, 32)
    values = set(np.unique(_denormalize(video)))
    assert values <= set(range(100, 201)) and 100 in values or 200 in values
    cfg = build_transform({"multi_scale_crop": True, "multi_scale_resize": 256, "long_side": 341}, True)
    assert cfg.multi_scale_resize == 256 and cfg.long_side == 341
    with pytest.raises(ValueError, match="multi_scale_resize"):
        VideoTransform(training=True, crop_size=224, multi_scale=True, multi_scale_resize=200)


@pytest.mark.parametrize(
    "positions,frames,seg_num,seglen,expected",
    [
        # PaddleVideo v1.5: segments of int(N / seg) frames, snippet (len - seglen) // 2 in
        ("paddle-v1.5", 300, 8, 1, [18, 55, 92, 129, 166, 203, 240, 277]),
        ("paddle-v1.5", 100, 3, 5, [14, 15, 16, 17, 18, 47, 48, 49, 50, 51, 80, 81, 82, 83, 84]),
        ("paddle-v1.5", 10, 3, 5, [0, 1, 2, 3, 4, 3, 4, 5, 6, 7, 6, 7, 8, 9, 0]),
        ("paddle-v1.5", 2, 3, 1, [0, 1, 0]),
        # MMAction2 / MIT / PaddleVideo 2.x: int(tick / 2 + i * tick), tick = (N - seglen + 1) / seg
        ("tsn", 300, 8, 1, [18, 56, 93, 131, 168, 206, 243, 281]),
        ("tsn", 10, 4, 1, [1, 3, 6, 8]),
    ],
)
def test_reference_segment_positions(positions, frames, seg_num, seglen, expected):
    assert reference_segment_indices(frames, seg_num, seglen, positions).tolist() == expected
