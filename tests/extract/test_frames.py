"""One frame per second, and the ResNet trunk that turns frames into features."""

import numpy as np
import pytest
import torch
from extract_support import second_colour

from videozoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from videozoo.errors import ConfigError, DataError, DataNotFoundError
from videozoo.extract import FrameFeatureExtractor
from videozoo.extract.frames import frame_times, read_rgb_per_second


@pytest.mark.parametrize(
    "num_frames, fps, max_seconds, expected",
    [
        (24, 8.0, 10, [0, 8, 16]),  # exactly 3 s: 3 frames
        (26, 8.0, 10, [0, 8, 16, 24]),  # 3.25 s: the 4th second has started
        (90, 29.97, 10, [0, 29, 59, 89]),  # 3.003 s at NTSC rate
        (240, 8.0, 4, [0, 8, 16, 24]),  # capped by max_seconds
        (1, 25.0, 10, [0]),  # a single frame
    ],
)
def test_frame_times(num_frames, fps, max_seconds, expected):
    assert frame_times(num_frames, fps, max_seconds).tolist() == expected


def test_read_rgb_per_second_takes_the_first_frame_of_each_second(videos):
    frames = read_rgb_per_second(videos / "silent.mp4", max_seconds=10, image_size=32)
    assert frames.shape == (3, 32, 32, 3) and frames.dtype == np.uint8
    for second, frame in enumerate(frames):
        # The centre of the crop has the colour of that second (H.264 is lossy: a tolerance).
        centre = frame[12:20, 12:20].reshape(-1, 3).mean(0)
        assert np.abs(centre - second_colour(second, shade=1)).max() < 8, (second, centre)


def test_trunk_features_shape_normalisation_and_batching():
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    one_by_one = FrameFeatureExtractor(depth=18, device="cpu", batch_size=1)
    features = one_by_one(frames)
    assert features.shape == (5, 512) and features.dtype == np.float32
    np.testing.assert_allclose(
        FrameFeatureExtractor(depth=18, device="cpu", batch_size=32)(frames), features, rtol=1e-4, atol=1e-5
    )
    # The trunk sees ImageNet-normalised frames, channels first: (x - 255 mean) / (255 std).
    seen = []
    one_by_one.trunk.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    one_by_one(frames[:1])
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255
    expected = (torch.from_numpy(frames[0]).permute(2, 0, 1).float() - mean) / std
    torch.testing.assert_close(seen[0][0], expected, rtol=1e-5, atol=1e-5)


def test_weights_are_fingerprinted_and_bad_ones_refused(tmp_path):
    from videozoo.models.resnet import ResNet

    random = FrameFeatureExtractor(depth=18, device="cpu")
    assert random.random_weights and random.fingerprint == "resnet18 random init (seed 0)"
    path = tmp_path / "resnet18.pth"
    torch.save(ResNet(18).state_dict(), path)
    loaded = FrameFeatureExtractor(depth=18, weights=str(path), device="cpu")
    assert not loaded.random_weights and loaded.fingerprint.startswith("resnet18 weights sha256:")
    with pytest.raises(DataNotFoundError, match="--weights .*missing.pth: no such file"):
        FrameFeatureExtractor(depth=18, weights=str(tmp_path / "missing.pth"), device="cpu")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="--weights .*junk.pth: not a readable"):
        FrameFeatureExtractor(depth=18, weights=str(junk), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="--device cpu"):
        FrameFeatureExtractor(depth=18, device="cuda")
