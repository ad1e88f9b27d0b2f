"""benchmarks/bench_winograd.py: its Winograd convolution computes what the direct one does,
and it finds every stride-1 3x3 convolution of a model with the shape that convolution sees."""

import importlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from videozoo.registry import create_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("bench_winograd")


@pytest.mark.parametrize("height, width", [(8, 8), (7, 7), (6, 9), (1, 2)])
def test_winograd_matches_the_direct_convolution(height, width):
    torch.manual_seed(0)
    x = torch.randn(2, 5, height, width)
    weight = torch.randn(3, 5, 3, 3)
    direct = F.conv2d(x, weight, padding=1)
    winograd = bench.winograd_conv3x3(x.permute(0, 2, 3, 1), bench.winograd_weight(weight))
    assert winograd.shape == (2, height, width, 3)
    torch.testing.assert_close(winograd.permute(0, 3, 1, 2), direct, rtol=1e-5, atol=1e-5)


def test_shapes_are_the_stride_one_3x3_convolutions_of_a_resnet18_tsm():
    model = create_model("tsm", depth=18, num_classes=4).eval()
    shapes = bench.winograd_shapes(model, model.default_input(batch_size=1, num_frames=2, image_size=64))
    # stem /4 -> 16x16; each later stage halves it in its first block's first conv (stride 2)
    assert shapes == {
        (2, 64, 16, 16, 64): 4,
        (2, 128, 8, 8, 128): 3,
        (2, 256, 4, 4, 256): 3,
        (2, 512, 2, 2, 512): 3,
    }
