"""TSN / TSM / StNet / Non-local: parameter counts, segment counts, ImageNet loading, ONNX, options.

What every model must do (shapes, bf16, export) is checked once in test_contract.py."""

import io
import logging
import warnings

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from videozoo.models.pretrained import load_imagenet_resnet
from videozoo.models.resnet import ResNet
from videozoo.models.temporal import TemporalShift
from videozoo.registry import create_model

# (registry name, builder overrides, frames T in the small test input)
SMALL = [
    ("tsn", {}, 3),
    ("tsm", {}, 4),
    ("stnet", {"seglen": 5}, 10),
    ("nonlocal", {}, 4),
    ("nonlocal", {"arch": "i3d"}, 4),
]
SIZE = 32

# Spec (400 classes, ResNet-50), in millions: a shape check within 0.5%.
SPEC_PARAMS = [
    ("tsn", {}, 24.33),
    ("tsm", {}, 24.33),
    ("stnet", {}, 33.16),
    ("nonlocal", {}, 31.69),
    ("nonlocal", {"arch": "i3d"}, 35.40),
]


def _small(name, overrides, **extra):
    torch.manual_seed(0)
    return create_model(name, depth=18, num_classes=5, **overrides, **extra)


def _video(frames, n=2):
    return {"video": torch.randn(n, frames, 3, SIZE, SIZE)}


@pytest.mark.parametrize("name,overrides,millions", SPEC_PARAMS)
def test_parameter_counts_at_defaults(name, overrides, millions):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = create_model(name, **overrides)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / 1e6 - millions) / millions < 0.005, count


def test_segment_count_follows_the_input():
    """TSM trained on 4 segments evaluates on 6; StNet on any multiple of seglen."""
    tsm = _small("tsm", {}).eval()
    tsm6 = _small("tsm", {}).eval()
    tsm6.load_state_dict(tsm.state_dict())
    video = _video(6, n=1)
    assert torch.allclose(tsm(video), tsm6(video), atol=1e-5)
    stnet = _small("stnet", {}).eval()
    assert stnet(_video(15, n=1)).shape == (1, 5)
    with pytest.raises(ValueError, match="multiple of seglen"):
        stnet(_video(12, n=1))


def test_shift_adds_no_macs():
    def macs(model):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.eval()(_video(2, n=1))
        return counter.get_total_flops()

    assert macs(_small("tsm", {})) == macs(_small("tsn", {})) > 0


def test_bad_batch_raises_clear_error():
    model = _small("tsn", {})
    with pytest.raises(ValueError, match=r"\[N, T, 3, H, W\]"):
        model({"rgb": torch.randn(1, 3, 1024)})
    with pytest.raises(ValueError, match="nonlocal arch"):
        create_model("nonlocal", depth=18, arch="slowfast")


def test_tsm_exports_to_onnx_without_tracer_warnings():
    ort = pytest.importorskip("onnxruntime")
    model = _small("tsm", {}).eval()

    class VideoOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, video):
            return self.inner({"video": video})

    video = _video(4, n=1)["video"]
    model({"video": video})  # an eager call sets T (4) for the trace, as `videozoo export` does
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            VideoOnly(model).eval(),
            (video,),
            buffer,
            dynamo=False,
            input_names=["video"],
            output_names=["logits"],
        )
    tracer = [str(w.message) for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    assert tracer == []
    session = ort.InferenceSession(buffer.getvalue())
    onnx_logits = session.run(None, {"video": video.numpy()})[0]
    assert torch.allclose(torch.from_numpy(onnx_logits), model({"video": video}), atol=1e-4)


# --- ImageNet weights ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory):
    """A torchvision-layout ResNet-18 ImageNet state_dict (random values) under 'state_dict'."""
    torch.manual_seed(1)
    source = ResNet(18, num_classes=1000)
    for p in source.parameters():
        torch.nn.init.normal_(p)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    return path, source.state_dict()


@pytest.mark.parametrize("name,overrides,frames", SMALL)
def test_pretrained_builder_loads_and_adapts(imagenet_file, name, overrides, frames, caplog):
    path, source = imagenet_file
    with caplog.at_level(logging.INFO, logger="videozoo.models"):
        model = _small(name, overrides, pretrained=str(path))
    assert "ImageNet weights" in caplog.text
    trunk = model.backbone.state_dict()
    for key in ("layer3.1.conv2.weight", "layer4.0.downsample.1.running_mean", "bn1.bias"):
        assert torch.equal(trunk[key].reshape(source[key].shape), source[key])  # 3D: 1x3x3
    stem, source_stem = trunk["conv1.weight"], source["conv1.weight"]
    if name == "stnet":  # RGB kernel averaged, / 5, repeated 15 times
        expected = (source_stem.mean(1, keepdim=True) / 5).repeat(1, 15, 1, 1)
        assert torch.allclose(stem, expected)
    elif overrides.get("arch") == "i3d":  # inflated: sums over time to the 2D kernel
        assert stem.shape[2] == 5 and torch.allclose(stem.sum(2), source_stem, atol=1e-6)
        assert torch.allclose(stem[:, :, 0], stem[:, :, 4])
    elif name == "nonlocal":  # 1x7x7
        assert torch.equal(stem[:, :, 0], source_stem)
    else:
        assert torch.equal(stem, source_stem)


def test_load_report_lists_every_category(imagenet_file):
    path, source = imagenet_file
    model = _small("nonlocal", {"arch": "i3d"})
    classifier_before = model.classifier.weight.clone()
    report = load_imagenet_resnet(model, path, verbose=False)
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert "classifier.weight" in report.reinitialised
    assert "backbone.layer3.after1.theta.weight" in report.reinitialised
    assert "backbone.layer2.1.conv1.weight" in report.loaded  # 1x1x1 = unsqueezed, same numbers
    assert any(a.startswith("backbone.conv1.weight: inflated to 5x7x7") for a in report.adapted)
    assert len(report.loaded) + len(report.adapted) == len(source) - 2
    assert not report.mismatched
    assert torch.equal(model.classifier.weight, classifier_before)
    assert "skipped" in str(report) and "re-initialised" in str(report)


def test_inflated_and_super_image_stems_keep_2d_responses(imagenet_file):
    """A static clip (I3D) / a stack of 5 identical grey frames (StNet) gives the 2D stem's
    response."""
    path, source = imagenet_file
    frame = torch.randn(1, 1, SIZE, SIZE).repeat(1, 3, 1, 1)  # grey: R = G = B
    conv2d = torch.nn.functional.conv2d(frame, source["conv1.weight"], stride=2, padding=3)
    i3d = _small("nonlocal", {"arch": "i3d"}, pretrained=str(path))
    static_clip = frame.unsqueeze(2).repeat(1, 1, 8, 1, 1)
    middle = i3d.backbone.conv1(static_clip)[:, :, 4]  # away from the zero-padded ends
    assert torch.allclose(middle, conv2d, atol=1e-4)
    stnet = _small("stnet", {}, pretrained=str(path))
    assert torch.allclose(stnet.backbone.conv1(frame.repeat(1, 5, 1, 1)), conv2d, atol=1e-4)


def test_pretrained_shape_mismatch_and_bad_files(tmp_path, imagenet_file):
    path, _ = imagenet_file
    model = create_model("tsn", depth=34, num_classes=5)  # BasicBlocks like R18, more blocks
    report = load_imagenet_resnet(model, path, verbose=False)
    assert "backbone.layer1.2.conv1.weight" in report.reinitialised  # R18: 2 blocks in layer1
    assert "backbone.layer1.1.conv1.weight" in report.loaded
    report = load_imagenet_resnet(ResNet(18, in_channels=4), path, verbose=False)
    assert report.mismatched == ["conv1.weight: file [64, 3, 7, 7] vs model [64, 4, 7, 7]"]
    assert any(
        m.startswith("layer1.0.conv1.weight")
        for m in load_imagenet_resnet(ResNet(50), path, verbose=False).mismatched
    )
    torch.save({"model": {"encoder.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="no tensor fits"):
        load_imagenet_resnet(model, tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_imagenet_resnet(model, tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        load_imagenet_resnet(model, tmp_path / "junk.pth")


# --- Non-local options that reproduce published weights -------------------------------------


def test_nonlocal_stem_options_set_the_feature_map_size():
    """v1.5: stem pool padding 0 (224 -> 55x55 after the stem, 7x7 at the end); MMAction2's
    32x2 I3D: temporal strides 2 in the stem conv and pool (32 frames -> 8 -> 4 after res2)."""
    torch.manual_seed(0)
    v15 = create_model("nonlocal", depth=18, num_classes=5).eval()
    clip = torch.randn(1, 3, 8, 224, 224)
    conv1 = v15.backbone.conv1(clip)  # [1, 64, 8, 112, 112]
    assert v15.backbone.maxpool(conv1).shape[2:] == (8, 55, 55)
    assert v15.backbone.forward_features(clip).shape[2:] == (4, 7, 7)
    torchvision_like = create_model("nonlocal", depth=18, num_classes=5, stem_pool_padding=1)
    assert torchvision_like.backbone.maxpool(conv1).shape[2:] == (8, 56, 56)
    mma = create_model(
        "nonlocal",
        depth=18,
        num_classes=5,
        arch="i3d",
        stem_temporal_stride=2,
        stem_pool_temporal_stride=2,
        stem_pool_padding=1,
    ).eval()
    features = mma.backbone.forward_features(torch.randn(1, 3, 32, 64, 64))
    assert features.shape[2:] == (4, 2, 2)
    with pytest.raises(ValueError, match="nonlocal_pool"):
        create_model("nonlocal", depth=18, nonlocal_pool="inside")
    with pytest.raises(ValueError, match="temporal kernels and strides need conv_dims=3"):
        ResNet(18, stem_temporal_stride=2)


def test_nonlocal_window_softmax_head_averages_window_probabilities():
    """v1.5's test head: pool5 (all of T x 7 x 7, stride 1), per-window fc + softmax, mean.
    Returned as log-probabilities: on one window it is log_softmax of the average head."""
    torch.manual_seed(0)
    model = create_model("nonlocal", depth=18, num_classes=5, head="window_softmax", head_window=2).eval()
    video = torch.randn(2, 4, 3, 96, 96)  # final map 3x3: 2x2 windows
    with torch.no_grad():
        out = model({"video": video})
        fmap = model.backbone.forward_features(video.transpose(1, 2))
        assert fmap.shape[2:] == (2, 3, 3)
        windows = [
            fmap[:, :, :, i : i + 2, j : j + 2].mean(dim=(2, 3, 4)) for i in range(2) for j in range(2)
        ]
        probs = torch.stack([torch.softmax(model.classifier(w), -1) for w in windows]).mean(0)
        assert torch.allclose(out.exp(), probs, atol=1e-6)
        assert torch.allclose(out.exp().sum(-1), torch.ones(2), atol=1e-5)
        model.head_window = 7  # the whole 3x3 map: one window
        single = model({"video": video})
        model.head = "average"
        assert torch.allclose(single, torch.log_softmax(model({"video": video}), -1), atol=1e-5)


def test_nonlocal_base_width_keeps_names():
    small = create_model("nonlocal", depth=50, num_classes=5, base_width=8)
    full_names = set(create_model("nonlocal", depth=50, num_classes=5).state_dict())
    assert set(small.state_dict()) == full_names
    assert small.classifier.in_features == 256 and small.backbone.conv1.out_channels == 8


def test_tsm_dropout_per_frame_draws_a_mask_per_frame():
    torch.manual_seed(0)
    model = create_model("tsm", depth=18, num_classes=5, dropout=0.5).eval()
    assert model.dropout_per_frame  # the reference (PaddleVideo TSM) default
    seen = []
    model.dropout.register_forward_hook(lambda module, args, out: seen.append((args[0], out)))
    video = _video(4)
    with torch.no_grad():
        logits = model(video)
        frames, _ = seen[-1]
        assert frames.shape == (2, 4, 512)  # [N, T, C]: before the average
        assert torch.allclose(logits, model.classifier(frames.mean(1)), atol=1e-6)
        model.dropout.train()  # only the dropout in training mode
        logits = model(video)
        frames, dropped = seen[-1]
    masks = dropped != 0
    assert not all(torch.equal(masks[:, 0], masks[:, t]) for t in range(1, 4))
    assert torch.allclose(logits, model.classifier(dropped.mean(1)), atol=1e-6)


def test_tsm_shift_every_other_block():
    model = create_model("tsm", depth=18, num_classes=5, shift_every=2)
    shifted = [
        isinstance(block.block_input, TemporalShift)
        for stage in (model.backbone.layer1, model.backbone.layer3)
        for block in stage
    ]
    assert shifted == [True, False, True, False]
    with pytest.raises(ValueError, match="shift_every"):
        create_model("tsm", depth=18, shift_every=0)
