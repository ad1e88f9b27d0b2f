"""BatchNorm folded into convs (models/fuse.py): same outputs as the unfused fp32 model."""

import copy

import pytest
import torch
from torch import nn

from videozoo.engine.inference import prepare_inference
from videozoo.models.fuse import FusedResidualBlock, fold_batchnorm, fuse_relu_add
from videozoo.models.resnet import ResidualBlock
from videozoo.registry import create_model

VIDEO_MODELS = {  # small but complete: every kind of (conv, BN) pair each model has
    "tsn": dict(depth=18),
    "tsm": dict(depth=18),
    "stnet": dict(depth=18),
    "nonlocal": dict(depth=50, base_width=8, arch="i3d"),
}
IMAGE_SIZE = {"nonlocal": 64}  # the others: 32


def randomise_batchnorms(model: nn.Module, seed: int = 0) -> None:
    """Running statistics and affine parameters far from the fresh 0 / 1 (so a wrong fold shows)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def eval_model_and_input(name: str, batch_size: int) -> tuple[nn.Module, dict]:
    """`name` at test size in eval mode with spread BatchNorm statistics, and an input batch."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, **VIDEO_MODELS[name]).eval()
    randomise_batchnorms(model)
    return model, model.default_input(batch_size, image_size=IMAGE_SIZE.get(name, 32))


@pytest.mark.parametrize("name", sorted(VIDEO_MODELS))
def test_folded_model_matches_unfused_fp32(name):
    model, batch = eval_model_and_input(name, batch_size=1)
    with torch.no_grad():
        reference = model(batch)
        bns_before = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        folded = fold_batchnorm(model)
        fused = model(batch)
    bns_after = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert folded > 0 and bns_after == bns_before - folded
    assert relative_error(fused, reference) < 1e-4


def test_every_resnet_batchnorm_is_folded():
    model = create_model("tsm", num_classes=3, depth=18).eval()
    fold_batchnorm(model)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_fold_keeps_bias_and_adds_one_where_missing():
    torch.manual_seed(0)
    for bias in (True, False):
        seq = nn.Sequential(nn.Conv2d(3, 4, 3, bias=bias), nn.BatchNorm2d(4), nn.ReLU()).eval()
        randomise_batchnorms(seq, seed=1)
        x = torch.randn(2, 3, 8, 8)
        with torch.no_grad():
            reference = seq(x)
            assert fold_batchnorm(seq) == 1 and isinstance(seq[1], nn.Identity)
            assert seq[0].bias is not None and relative_error(seq(x), reference) < 1e-5


def test_fold_refuses_training_mode_and_leaves_non_adjacent_pairs():
    with pytest.raises(ValueError, match="eval"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1)))
    # conv -> relu -> BN (StNet's temporal block order) must not be folded
    seq = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.BatchNorm2d(1)).eval()
    assert fold_batchnorm(seq) == 0


@pytest.mark.parametrize("name", ["tsm", "nonlocal"])
def test_inference_plan_scores_match_plain_fp32(name):
    """The fast path (folded BN + channels_last) gives the plain fp32 model's softmax scores."""
    model, batch = eval_model_and_input(name, batch_size=2)
    with torch.no_grad():
        reference = torch.softmax(model(batch), -1)
        plan = prepare_inference(model, torch.device("cpu"), precision="fp32")
        scores = torch.softmax(plan.model(batch), -1)
    assert plan.folded_bn > 0 and plan.channels_last and plan.amp_dtype is None
    assert relative_error(scores, reference) < 1e-4


@pytest.mark.parametrize("name", sorted(VIDEO_MODELS))
def test_fused_relu_add_matches_plain_fp32(name):
    """Folding + ReLU/add fused into oneDNN convs (the default CPU fp32 path) keeps the scores."""
    model, batch = eval_model_and_input(name, batch_size=2)
    blocks = sum(isinstance(m, ResidualBlock) for m in model.modules())
    with torch.no_grad():
        reference = torch.softmax(model(batch), -1)
        plan = prepare_inference(model, torch.device("cpu"))
        scores = torch.softmax(plan.model(batch), -1)
    assert sum(isinstance(m, FusedResidualBlock) for m in model.modules()) == blocks > 0
    assert plan.fused_blocks == blocks + 1  # and the stem
    assert not any(isinstance(m, nn.ReLU) for m in model.backbone.layer1.modules())
    assert relative_error(scores, reference) < 1e-4


def test_fusion_is_left_out_where_it_does_not_apply(monkeypatch, tmp_path):
    monkeypatch.setattr(torch, "compile", lambda model, **kw: model)
    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    torch.manual_seed(0)
    model = create_model("tsm", num_classes=5, depth=18).eval()
    plan = prepare_inference(copy.deepcopy(model), torch.device("cpu"), fold_bn=False)
    assert plan.fused_blocks == 0  # nothing folded: the BNs sit between conv and ReLU
    plan = prepare_inference(copy.deepcopy(model), torch.device("cpu"), precision="bf16")
    assert plan.fused_blocks == 0  # oneDNN's fused ops here are float32 kernels
    plan = prepare_inference(copy.deepcopy(model), torch.device("cpu"), compile=True)
    assert plan.fused_blocks == 0 and plan.folded_bn > 0  # inductor fuses on its own
    assert fuse_relu_add(nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())) == 0
