"""The speed work keeps the maths: packed real frames (NeXtVLAD), the split-based shift (TSM).

Each fast path is checked against the implementation it replaced (written out below), on
random inputs with and without padding, in float32 and under bfloat16 autocast, in training
(batch statistics, running-statistics updates, gradients) and in eval mode.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from support import tiny_kwargs

from videozoo.models.feature_layers import MaskedBatchNorm1d, RealFrames, zero_padding
from videozoo.models.temporal import TemporalShift
from videozoo.registry import create_model
from videozoo.serialization.graph_export import PositionalInputs

SMALL_NEXTVLAD = tiny_kwargs("nextvlad", num_classes=10, drop_rate=0.0)


def padded_batch(lengths, frames, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(frames) < torch.tensor(lengths).unsqueeze(1)
    return {
        "rgb": torch.randn(len(lengths), frames, 64, generator=gen) * mask.unsqueeze(-1),
        "audio": torch.randn(len(lengths), frames, 16, generator=gen) * mask.unsqueeze(-1),
        "mask": mask,
    }


def previous_pool(pool, x, mask):
    """NeXtVLADPooling.forward before the speed work: every frame, masked with tensor ops."""
    batch, frames = x.shape[:2]
    x = pool.expand(zero_padding(x, mask))
    alpha = torch.sigmoid(pool.group_attention(x)) * mask.unsqueeze(-1).to(x.dtype)
    logits = pool.assignment_norm(pool.assignment(x), mask)  # the masked-statistics path
    assign = torch.softmax(logits.reshape(batch, frames, pool.groups, pool.cluster_size), -1)
    assign = (assign * alpha.unsqueeze(-1)).to(x.dtype)
    assign = assign.reshape(batch, frames * pool.groups, pool.cluster_size)
    groups = x.reshape(batch, frames * pool.groups, pool.group_dim)
    vlad = torch.bmm(assign.transpose(1, 2), groups)
    vlad = vlad - assign.sum(dim=1).unsqueeze(-1) * pool.cluster_centers.to(vlad.dtype)
    vlad = F.normalize(vlad, dim=-1).transpose(1, 2).reshape(batch, -1)
    return pool.output_norm(vlad)


def previous_nextvlad(model, batch):
    mask = batch["mask"]
    pooled = torch.cat(
        [
            previous_pool(model.rgb_pool, batch["rgb"] * model.rgb_scale, mask),
            previous_pool(model.audio_pool, batch["audio"], mask),
        ],
        dim=1,
    )
    hidden = model.hidden_norm(model.hidden(model.dropout(pooled)))
    return model.classifier(model.gating(hidden))


@pytest.mark.parametrize("lengths", [[9, 9, 9], [9, 3, 6]], ids=["no_padding", "padding"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_nextvlad_equals_previous_implementation(lengths, bf16, mode):
    torch.manual_seed(0)
    model = getattr(create_model("nextvlad", **SMALL_NEXTVLAD), mode)()
    reference = copy.deepcopy(model)
    batch = padded_batch(lengths, frames=9)
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        out, expected = model(batch), previous_nextvlad(reference, batch)
    tolerance = dict(rtol=2e-2, atol=2e-2) if bf16 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.float(), expected.float(), **tolerance)
    out.float().square().sum().backward()
    expected.float().square().sum().backward()
    # Gradients sum over many more terms, in another order: float32 rounding grows to ~1e-5.
    tolerance = dict(rtol=2e-2, atol=2e-2) if bf16 else dict(rtol=1e-4, atol=1e-4)
    for (name, param), ref in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(param.grad, ref.grad, **tolerance, msg=name)
    for (name, buffer), ref in zip(model.named_buffers(), reference.buffers()):
        torch.testing.assert_close(buffer, ref, msg=name)  # running statistics


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated")
def test_nextvlad_traced_for_export_still_follows_the_mask():
    # Tracing sees a full batch; the trace must mask other batches' padding with tensor ops.
    torch.manual_seed(0)
    model = create_model("nextvlad", **SMALL_NEXTVLAD).eval()
    names = ("rgb", "audio", "mask")
    full, padded = padded_batch([7, 7], 7), padded_batch([7, 2, 5], 7, seed=1)
    with torch.no_grad():
        traced = torch.jit.trace(PositionalInputs(model, list(names)), tuple(full[n] for n in names))
        torch.testing.assert_close(traced(*(padded[n] for n in names)), model(padded))


def test_nextvlad_compiled_training_path_masks_with_tensor_ops(monkeypatch):
    # Under torch.compile nothing is packed: the masked-statistics BatchNorm does the work.
    torch.manual_seed(0)
    model = create_model("nextvlad", **SMALL_NEXTVLAD).train()
    twin = copy.deepcopy(model)
    batch = padded_batch([8, 2, 5], 8)
    packed = model(batch)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert RealFrames(batch["mask"]).row_mask is not None
    torch.testing.assert_close(twin(batch), packed, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        twin.rgb_pool.assignment_norm.running_var, model.rgb_pool.assignment_norm.running_var
    )


def test_real_frames_pack_and_unpack():
    x = torch.randn(3, 4, 2)
    full = RealFrames(torch.ones(3, 4, dtype=torch.bool))
    assert full.index is None and full.row_mask is None
    assert full.pack(x).data_ptr() == x.data_ptr()  # no padding: a view, no copy
    assert torch.equal(full.unpack(full.pack(x)), x)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    frames = RealFrames(mask)
    rows = frames.pack(x)
    assert torch.equal(rows, x[mask])  # real frames only, in order
    assert torch.equal(frames.unpack(rows), x * mask.unsqueeze(-1))


def test_masked_batchnorm_without_mask_is_native_batchnorm():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6)
    masked, plain = MaskedBatchNorm1d(6), torch.nn.BatchNorm1d(6)
    torch.testing.assert_close(masked(x), plain(x.reshape(10, 6)).reshape(2, 5, 6))
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    assert int(masked.num_batches_tracked) == 1


def previous_shift(shift, x):
    """TemporalShift before the speed work: three narrows (contiguous layout)."""
    frames = shift.unfold_time(x)
    fold = shift.fold
    first, second = frames[:, :, :fold], frames[:, :, fold : 2 * fold]
    zero = torch.zeros_like(first[:, :1])
    if shift.direction == "previous_first":
        first, second = torch.cat([zero, first[:, :-1]], dim=1), torch.cat([second[:, 1:], zero], 1)
    else:
        first, second = torch.cat([first[:, 1:], zero], dim=1), torch.cat([zero, second[:, :-1]], 1)
    return torch.cat([first, second, frames[:, :, 2 * fold :]], dim=2).flatten(0, 1)


def autograd_node_names(tensor):
    names, todo = set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and type(node).__name__ not in names:
            names.add(type(node).__name__)
            todo.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("direction", ["previous_first", "next_first"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_shift_values_and_gradients_equal_previous_implementation(channels_last, direction):
    torch.manual_seed(0)
    shift = TemporalShift(16, 3, 8, direction)
    x = torch.randn(6, 16, 4, 4)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    upstream = torch.randn(6, 16, 4, 4)
    out = shift(x)
    assert "_ShiftFunctionBackward" in autograd_node_names(out)  # one copy each way, no cat
    (grad,) = torch.autograd.grad(out, x, upstream)
    x_ref = x.detach().contiguous().requires_grad_(True)
    expected = previous_shift(shift, x_ref)
    (grad_ref,) = torch.autograd.grad(expected, x_ref, upstream)
    assert torch.equal(out, expected) and torch.equal(grad, grad_ref)
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("direction", ["previous_first", "next_first"])
def test_traced_shift_uses_slices_and_cat_and_equals_eager(direction):
    shift = TemporalShift(16, 3, 8, direction)
    x = torch.randn(6, 16, 4, 4)
    traced = torch.jit.trace(shift, x)
    graph = str(traced.graph)
    assert "aten::cat" in graph and "copy_" not in graph
    other = torch.randn(12, 16, 4, 4)  # the trace keeps T=3: 4 clips
    assert torch.equal(traced(other), shift(other))


def test_compiled_shift_equals_eager_in_values_and_gradients():
    # train.compile: dynamo must take the shift's autograd Function whole (fullgraph)
    shift = TemporalShift(16, 3, 8, "previous_first")
    x = torch.randn(6, 16, 4, 4).to(memory_format=torch.channels_last).requires_grad_(True)
    upstream = torch.randn(6, 16, 4, 4)
    compiled = torch.compile(shift, backend="aot_eager", fullgraph=True)
    out = compiled(x)
    (grad,) = torch.autograd.grad(out, x, upstream)
    expected = shift(x)
    (grad_expected,) = torch.autograd.grad(expected, x, upstream)
    assert torch.equal(out, expected) and torch.equal(grad, grad_expected)
