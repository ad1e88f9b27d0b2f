"""Tests for the YouTube-8M feature-sequence models and their shared layers."""

from __future__ import annotations

import pytest
import torch
from support import FEATURE_MODELS, tiny_kwargs
from torch import nn

from videozoo.models.attention_cluster import segment_indices
from videozoo.models.attention_lstm import PeepholeLSTM, reverse_within_length
from videozoo.models.feature_layers import MaskedBatchNorm1d, masked_softmax
from videozoo.registry import create_model

# Small configurations so that every forward runs in milliseconds.
SMALL = {name: tiny_kwargs(name, num_classes=10) for name in FEATURE_MODELS}
MODELS = list(SMALL)


def make_batch(
    lengths: list[int], num_frames: int, rgb_size: int = 64, audio_size: int = 16, seed: int = 0
) -> dict:
    gen = torch.Generator().manual_seed(seed)
    batch = {
        "rgb": torch.randn(len(lengths), num_frames, rgb_size, generator=gen),
        "audio": torch.randn(len(lengths), num_frames, audio_size, generator=gen),
        "mask": torch.arange(num_frames).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1),
    }
    return batch


def pad_with_garbage(batch: dict, extra: int) -> dict:
    """Append `extra` padded frames and fill every padded frame with huge random values."""
    mask = batch["mask"]
    mask = torch.cat([mask, torch.zeros(mask.shape[0], extra, dtype=torch.bool)], dim=1)
    out = {"mask": mask}
    for key in ("rgb", "audio"):
        x = batch[key]
        x = torch.cat([x, torch.zeros(x.shape[0], extra, x.shape[2])], dim=1)
        out[key] = torch.where(mask.unsqueeze(-1), x, 1e3 * torch.randn_like(x))
    return out


def small_model(name: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, **{**SMALL[name], **overrides})


@pytest.mark.parametrize(
    "name,expected", [("nextvlad", 89.09e6), ("attention_lstm", 108.7e6), ("attention_cluster", 57.8e6)]
)
def test_default_parameter_count_matches_reference(name, expected):
    model = create_model(name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert abs(trainable - expected) / expected < 0.005
    assert model.classifier.out_features == 3862


def test_nextvlad_assignment_batchnorm_ignores_padding():
    model = small_model("nextvlad").train()
    batch = make_batch([10, 3], num_frames=10)
    model(pad_with_garbage(batch, extra=5))
    norm = model.rgb_pool.assignment_norm
    # Expected statistics: an ordinary BatchNorm over the real frames only.
    expected = nn.BatchNorm1d(norm.num_features)
    with torch.no_grad():
        expanded = model.rgb_pool.expand(batch["rgb"] * model.rgb_scale)
        expected(model.rgb_pool.assignment(expanded)[batch["mask"]])
    torch.testing.assert_close(norm.running_mean, expected.running_mean)
    torch.testing.assert_close(norm.running_var, expected.running_var)
    assert int(norm.num_batches_tracked) == 1


def test_masked_batchnorm_matches_batchnorm_when_nothing_is_padded():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6)
    masked, plain = MaskedBatchNorm1d(6), nn.BatchNorm1d(6)
    out = masked(x, torch.ones(3, 5, dtype=torch.bool))
    torch.testing.assert_close(out, plain(x.reshape(15, 6)).reshape(3, 5, 6))
    torch.testing.assert_close(masked.running_var, plain.running_var)
    masked.eval()
    plain.eval()
    torch.testing.assert_close(
        masked(x, torch.ones(3, 5, dtype=torch.bool)), plain(x.reshape(15, 6)).reshape(3, 5, 6)
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The tensor attributes")  # nn.LSTM's cached weight list
@pytest.mark.parametrize("name", MODELS)
def test_exported_model_follows_mask_of_new_inputs(name):
    # Export bakes in Python control flow; outputs for other video lengths must still match
    # eager mode, so masking has to be done with tensor ops.
    model = small_model(name).eval()
    exported = torch.export.export(model, (make_batch([9, 9, 9], num_frames=9),)).module()
    other = make_batch([9, 2, 6], num_frames=9, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(exported(other), model(other), rtol=1e-4, atol=1e-5)


def test_nextvlad_pca_scale_is_a_fixed_buffer():
    model = small_model("nextvlad")
    assert "rgb_scale" in dict(model.named_buffers())
    assert all(p is not model.rgb_scale for p in model.parameters())
    assert model.rgb_scale.shape == (64,) and bool((model.rgb_scale > 1e-4).all())


def test_masked_softmax_zero_on_padding_and_empty_rows():
    scores = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [False] * 4])
    weights = masked_softmax(scores, mask)
    torch.testing.assert_close(weights[0].sum(0), torch.ones(3))
    assert (weights[0, 2:] == 0).all() and (weights[1] == 0).all()


def test_reverse_within_length():
    x = torch.arange(10.0).reshape(2, 5, 1)
    out = reverse_within_length(x, torch.tensor([3, 5]))
    assert out[:, :, 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    torch.testing.assert_close(reverse_within_length(out, torch.tensor([3, 5])), x)


def test_segment_indices_stay_inside_real_frames():
    lengths = torch.tensor([300, 37, 1, 0])
    eval_index = segment_indices(lengths, 100, training=False)
    assert eval_index.shape == (4, 100)
    assert (eval_index[:3] < lengths[:3, None]).all() and (eval_index >= 0).all()
    assert eval_index[0].tolist() == [3 * i + 1 for i in range(100)]  # floor((i+.5)*3)
    assert torch.equal(eval_index, segment_indices(lengths, 100, training=False))
    torch.manual_seed(0)
    train_index = segment_indices(lengths, 100, training=True)
    assert (train_index[:3] < lengths[:3, None]).all()
    assert not torch.equal(train_index[0], eval_index[0])
    # Each training index stays inside its own segment of the video.
    segment = torch.arange(100)
    assert ((train_index[0] >= 3 * segment) & (train_index[0] < 3 * segment + 3)).all()


# ----------------------------------------------------------------------------- options for
# converted weights (PaddleVideo v1.5: peephole LSTM) and the reference recipes
def test_peephole_lstm_without_peepholes_is_nn_lstm():
    torch.manual_seed(0)
    peephole, plain = PeepholeLSTM(6, 5), nn.LSTM(6, 5, batch_first=True)
    plain.load_state_dict({k: v for k, v in peephole.state_dict().items() if k != "peephole_l0"})
    x = torch.randn(3, 7, 6)
    torch.testing.assert_close(peephole(x)[0], plain(x)[0])
    with torch.no_grad():
        peephole.peephole_l0.normal_()
    assert (peephole(x)[0] - plain(x)[0]).abs().max() > 1e-2


def test_peephole_lstm_step_formula():
    """c_t = f c_{t-1} + i tanh(g), with i, f seeing c_{t-1} and o seeing c_t (fluid's LSTM)."""
    torch.manual_seed(0)
    lstm = PeepholeLSTM(3, 2)
    with torch.no_grad():
        lstm.peephole_l0.normal_()
    x = torch.randn(1, 2, 3)
    h, c = torch.zeros(2), torch.zeros(2)
    for t in range(2):
        gates = lstm.weight_ih_l0 @ x[0, t] + lstm.bias_ih_l0 + lstm.bias_hh_l0 + lstm.weight_hh_l0 @ h
        i, f, g, o = gates.split(2)
        i = torch.sigmoid(i + lstm.peephole_l0[0] * c)
        f = torch.sigmoid(f + lstm.peephole_l0[1] * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + lstm.peephole_l0[2] * c) * torch.tanh(c)
    torch.testing.assert_close(lstm(x)[0][0, -1], h)


def test_peephole_attention_lstm_ignores_padding_and_trains_under_autocast():
    model = small_model("attention_lstm", peepholes=True).eval()
    batch = make_batch([20, 7, 1], num_frames=20)
    with torch.no_grad():
        torch.testing.assert_close(
            model(pad_with_garbage(batch, extra=9)), model(batch), rtol=1e-4, atol=1e-5
        )
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(batch)
    logits.float().sum().backward()
    assert torch.isfinite(model.rgb_encoder.lstm_backward.peephole_l0.grad).all()


def test_traced_peephole_lstm_keeps_a_dynamic_frame_count():
    from videozoo.serialization.graph_export import PositionalInputs

    model = small_model("attention_lstm", peepholes=True).eval()
    names = ("rgb", "audio", "mask")
    with torch.no_grad():
        traced = torch.jit.trace(
            PositionalInputs(model, list(names)), tuple(make_batch([5, 3], 5)[n] for n in names)
        )
        other = make_batch([11, 4, 9], 11, seed=2)
        torch.testing.assert_close(traced(*(other[n] for n in names)), model(other))


def test_nextvlad_centres_are_drawn_with_std_sqrt_2_over_k():
    # PaddleVideo's centres are [K, d] with MSRA init; fluid's fan_in of a matrix is its rows.
    model = small_model("nextvlad", cluster_size=32, groups=2)
    centres = model.rgb_pool.cluster_centers  # [32, 64]
    assert abs(centres.std().item() / (2 / 32) ** 0.5 - 1) < 0.1


def test_attention_lstm_recipe_follows_the_reference_sum_loss_and_sample_count():
    from videozoo.config import build_config
    from videozoo.engine.optim import lr_factor

    train = build_config("attention_lstm")["train"]
    # L2 8e-4 on a loss summed over 1024 videos == 8e-4 / 1024 on our batch-mean loss.
    assert train["optimizer"]["weight_decay"] * train["batch_size"] == pytest.approx(8e-4)
    schedule = train["schedule"]
    # lr drop at decay_epochs (5) x num_samples (5M) samples, as the reference counts them.
    assert lr_factor(schedule, 6, 0.0, 24_999_000, 10) == 1.0
    assert lr_factor(schedule, 6, 0.5, 25_000_000, 10) == pytest.approx(0.1)
