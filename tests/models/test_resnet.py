"""The one ResNet: torchvision layout and names, 2D/3D shapes, plug-in points, init flags."""

import pytest
import torch
from torch import nn

from videozoo.models.resnet import STAGE_BLOCKS, ResidualBlock, ResNet

# Published torchvision parameter counts (1000-class fc), a check of the exact layout.
TORCHVISION_PARAMS = {18: 11_689_512, 50: 25_557_032}


def _params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("depth", [18, 50])
def test_layout_matches_torchvision(depth):
    with torch.device("meta"):  # shapes only
        model = ResNet(depth, num_classes=1000)
    assert _params(model) == TORCHVISION_PARAMS[depth]
    keys = model.state_dict().keys()
    assert {
        "conv1.weight",
        "bn1.running_var",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.bias",
        "fc.weight",
    } <= set(keys)
    # "v1.5": the stride sits on the 3x3 conv of the first block of a stage.
    block = model.layer3[0]
    stride_conv = block.conv2 if depth >= 50 else block.conv1
    assert stride_conv.stride == (2, 2) and stride_conv.kernel_size == (3, 3)
    if depth >= 50:
        assert block.conv1.stride == (1, 1)


def test_trunk_shapes_2d_and_3d():
    x = torch.randn(1, 3, 64, 64)
    trunk = ResNet(18).eval()
    assert trunk.forward_features(x).shape == (1, 512, 2, 2)
    assert trunk(x).shape == (1, trunk.num_features) == (1, 512)
    assert ResNet(18, num_classes=10).eval()(x).shape == (1, 10)
    trunk3d = ResNet(18, conv_dims=3, stem_temporal_kernel=5).eval()
    clip = torch.randn(1, 3, 4, 32, 32)
    assert trunk3d.forward_features(clip).shape == (1, 512, 4, 1, 1)
    assert trunk3d.conv1.weight.shape == (64, 3, 5, 7, 7)


def test_plug_in_points_keep_torchvision_names():
    seen = []

    def block_input(stage, block, channels):
        seen.append((stage, block, channels))
        return nn.Identity()

    hooked = ResNet(
        18,
        block_input=block_input,
        after_block=lambda s, b, c: nn.BatchNorm2d(c) if (s, b) == (2, 1) else None,
        after_stage=lambda s, c: nn.BatchNorm2d(c) if s == 3 else None,
    )
    # every block's input channels, in order
    assert seen == [
        (1, 0, 64),
        (1, 1, 64),
        (2, 0, 64),
        (2, 1, 128),
        (3, 0, 128),
        (3, 1, 256),
        (4, 0, 256),
        (4, 1, 512),
    ]
    assert isinstance(hooked.layer2.after1, nn.BatchNorm2d)
    assert hooked.layer2.after1.num_features == 128
    assert isinstance(hooked.layer3.after, nn.BatchNorm2d)
    plain_keys = set(ResNet(18).state_dict())
    hooked_keys = set(hooked.state_dict())
    assert plain_keys <= hooked_keys
    assert all(".after" in key for key in hooked_keys - plain_keys)
    assert hooked.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 512)


def test_inserted_modules_keep_their_own_init():
    marker = nn.Conv2d(128, 128, 1)
    nn.init.constant_(marker.weight, 0.123)
    model = ResNet(18, after_stage=lambda s, c: marker if s == 2 else None)
    assert torch.all(model.layer2.after.weight == 0.123)


def test_zero_init_residual_flag():
    for flag in (False, True):
        model = ResNet(34, zero_init_residual=flag)
        gammas = [m.last_bn.weight for m in model.modules() if isinstance(m, ResidualBlock)]
        assert len(gammas) == sum(STAGE_BLOCKS[34])
        assert all(bool((g == 0).all()) == flag for g in gammas)


def test_temporal_kernels_in_3d_blocks():
    model = ResNet(18, conv_dims=3, temporal_kernel=lambda stage, block: 3 if block == 0 else 1)
    assert model.layer2[0].conv1.weight.shape[2] == 3
    assert model.layer2[1].conv1.weight.shape[2] == 1
    assert model.layer2[0].conv2.weight.shape[2] == 1
    assert model.eval()(torch.randn(1, 3, 2, 32, 32)).shape == (1, 512)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="depth 42"):
        ResNet(42)
    with pytest.raises(ValueError, match="conv_dims=3"):
        ResNet(18, stem_temporal_kernel=5)
