"""TemporalShift, TemporalModelingBlock and NonLocalBlock: exact semantics on small tensors."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from videozoo.models.nonlocal_block import NonLocalBlock
from videozoo.models.resnet import Bottleneck
from videozoo.models.temporal import TemporalModelingBlock, TemporalShift, set_num_segments


def _clip(n=2, t=5, c=16, h=3, w=2):
    """[N*T, C, H, W] whose values are all distinct and non-zero."""
    return torch.arange(1, n * t * c * h * w + 1, dtype=torch.float32).view(n * t, c, h, w)


@pytest.mark.parametrize("direction,first_offset", [("previous_first", -1), ("next_first", +1)])
def test_shift_takes_neighbouring_frames_with_zero_ends(direction, first_offset):
    n, t, c, div = 2, 5, 16, 8
    fold = c // div
    x = _clip(n, t, c)
    out = TemporalShift(c, t, div, direction)(x).view(n, t, c, 3, 2)
    frames = x.view(n, t, c, 3, 2)
    for group, offset in ((slice(0, fold), first_offset), (slice(fold, 2 * fold), -first_offset)):
        for step in range(t):
            source = step + offset
            expected = (
                frames[:, source, group] if 0 <= source < t else torch.zeros_like(frames[:, step, group])
            )
            assert torch.equal(out[:, step, group], expected), (group, step)
    assert torch.equal(out[:, :, 2 * fold :], frames[:, :, 2 * fold :])  # the rest untouched


def test_shift_has_no_parameters_and_no_macs():
    shift = TemporalShift(64, 4, 8, "previous_first")
    assert sum(p.numel() for p in shift.parameters()) == 0
    with FlopCounterMode(display=False) as counter:
        shift(torch.randn(8, 64, 4, 4))
    assert counter.get_total_flops() == 0


def test_shift_is_same_for_channels_last_input_and_keeps_its_format():
    x = torch.randn(6, 16, 4, 4)
    shift = TemporalShift(16, 3, 8, "previous_first")
    out = shift(x.to(memory_format=torch.channels_last))
    assert torch.equal(out, shift(x))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_shift_rejects_impossible_division():
    with pytest.raises(ValueError, match="shift_div"):
        TemporalShift(4, 2, 8, "previous_first")
    with pytest.raises(ValueError, match="direction"):
        TemporalShift(16, 2, 8, "sideways")


def test_residual_shift_keeps_shortcut_unshifted():
    torch.manual_seed(0)
    shift = TemporalShift(32, 4, 8, "previous_first")
    block = Bottleneck(32, 8, block_input=shift).eval()  # identity shortcut: 32 -> 32
    x = torch.randn(8, 32, 5, 5)
    expected = torch.relu(block.residual(shift(x)) + x)
    assert torch.allclose(block(x), expected)
    # Shifting the shortcut too would give a different result.
    assert not torch.allclose(block(x), torch.relu(block.residual(shift(x)) + shift(x)))


def test_set_num_segments_reaches_nested_modules():
    model = nn.Sequential(
        TemporalShift(16, 8, 8, "previous_first"), nn.Sequential(TemporalModelingBlock(16, 8))
    )
    set_num_segments(model, 3)
    assert [m.num_segments for m in (model[0], model[1][0])] == [3, 3]


def test_temporal_modeling_block_equals_3x1x1_conv3d():
    torch.manual_seed(0)
    n, t, c, h, w = 2, 4, 6, 3, 5
    block = TemporalModelingBlock(c, t)
    with torch.no_grad():
        block.bn.weight.uniform_(0.5, 1.5)
        block.bn.bias.uniform_(-1, 1)
        block.bn.running_mean.uniform_(-1, 1)
    block.eval()
    x = torch.randn(n * t, c, h, w)
    conv3d = nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0))
    conv3d.weight.data = block.conv.weight.data.unsqueeze(-1)
    conv3d.bias.data = block.conv.bias.data
    clip = x.view(n, t, c, h, w).transpose(1, 2)  # [N, C, T, H, W]
    bn = nn.BatchNorm3d(c).eval()
    bn.load_state_dict(block.bn.state_dict())
    expected = clip + bn(torch.relu(conv3d(clip)))
    assert torch.allclose(block(x), expected.transpose(1, 2).reshape(x.shape), atol=1e-5)


def test_non_local_is_identity_at_init_and_keeps_shape():
    block = NonLocalBlock(16)
    x = torch.randn(2, 16, 3, 6, 6)
    assert torch.equal(block(x), x)
    assert block.theta.out_channels == 8 and block.bn.weight.abs().sum() == 0


def test_non_local_matches_explicit_embedded_gaussian():
    torch.manual_seed(0)
    c, inner = 8, 4
    block = NonLocalBlock(c, init_std=0.5)
    nn.init.ones_(block.bn.weight)
    block.eval()
    x = torch.randn(2, c, 2, 4, 4)
    pooled = nn.functional.max_pool3d(x, (1, 2, 2))
    theta = (
        torch.einsum("oc,nczyx->nozyx", block.theta.weight.flatten(1), x).flatten(2)
        + block.theta.bias[:, None]
    )
    phi = block.phi(pooled).flatten(2)
    g = block.g(pooled).flatten(2)
    attention = torch.softmax(torch.einsum("nci,ncj->nij", theta, phi) / inner**0.5, dim=-1)
    y = torch.einsum("ncj,nij->nci", g, attention).view(2, inner, 2, 4, 4)
    expected = x + block.bn(block.out(y))
    assert torch.allclose(block(x), expected, atol=1e-5)
    assert not torch.allclose(block(x), x)


def test_non_local_dot_product_pooled_after_conv_matches_mmcv_formula():
    """MMAction2's I3D-NL (mmcv NonLocal3d, mode dot_product, sub_sample, no scale): phi and g
    are conv -> max-pool, pairwise = theta^T phi / S (no softmax), conv_out has no bias."""
    torch.manual_seed(0)
    c, inner = 8, 4
    block = NonLocalBlock(
        c, init_std=0.5, mode="dot_product", scale=False, pool_after_conv=True, out_bias=False
    )
    nn.init.ones_(block.bn.weight)
    block.eval()
    assert block.out.bias is None
    x = torch.randn(2, c, 2, 4, 6)
    theta = block.theta(x).view(2, inner, -1).permute(0, 2, 1)  # [N, P, C']
    phi = nn.functional.max_pool3d(block.phi(x), (1, 2, 2)).view(2, inner, -1)
    g = nn.functional.max_pool3d(block.g(x), (1, 2, 2)).view(2, inner, -1).permute(0, 2, 1)
    pairwise = theta @ phi / phi.shape[-1]  # S = 2 * 2 * 3
    y = (pairwise @ g).permute(0, 2, 1).reshape(2, inner, 2, 4, 6)
    expected = x + block.bn(block.out(y))
    assert torch.allclose(block(x), expected, atol=1e-5)
    # the order of pooling and projection matters (max does not commute with a conv)
    before = NonLocalBlock(c, mode="dot_product", scale=False, out_bias=False).eval()
    before.load_state_dict(block.state_dict())
    assert not torch.allclose(before(x), block(x), atol=1e-3)
    with pytest.raises(ValueError, match="non-local mode"):
        NonLocalBlock(c, mode="gaussian")
