"""videozoo convert for Non-local: PaddleVideo v1.5 fluid folders / tarballs (against a numpy
rebuild of v1.5's graph) and MMAction2 1.x I3D-NL .pth files, at test size (real names, channel
counts / 8), plus the error messages and a converted checkpoint through `videozoo predict`."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from videozoo.cli import main
from videozoo.convert import convert_weights
from videozoo.convert.sources import fluid_tensor_bytes, tar_directory, write_fluid_dir
from videozoo.data.synth_kinetics import encode_video, motion_video
from videozoo.errors import ConvertError
from videozoo.registry import create_model
from videozoo.serialization.loading import load_checkpoint_model

pytestmark = pytest.mark.slow  # builds ResNet-50 reference graphs and converts full-size files

PARITY = Path(__file__).resolve().parents[2] / "tools" / "parity" / "nonlocal.py"
WIDTH, CLASSES, FRAMES = 8, 10, 4  # base width 8: every channel count / 8
TINY = [f"model.base_width={WIDTH}", f"model.num_classes={CLASSES}"]


@pytest.fixture(scope="module")
def reference():
    """tools/parity/nonlocal.py: v1.5 name table, random weights, numpy forward."""
    spec = importlib.util.spec_from_file_location("nonlocal_parity", PARITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def paddle_weights(reference):
    rng = np.random.default_rng(0)
    weights = reference.random_weights(reference.paddle_weight_shapes(CLASSES, WIDTH), rng)
    reference.paddle_forward(weights, reference.paddle_clip(rng, 2, FRAMES, 224), False, calibrate=True)
    return weights, reference.optimizer_state(weights, rng)


@pytest.fixture(scope="module")
def paddle_tarball(paddle_weights, tmp_path_factory):
    """``nonlocal_kinetics.tar.gz`` as published: one fluid tensor file per variable, the
    Momentum velocities and learning-rate variables included."""
    weights, state = paddle_weights
    root = tmp_path_factory.mktemp("paddle")
    folder = write_fluid_dir(root / "nonlocal_kinetics", {**weights, **state})
    return tar_directory(folder, root / "nonlocal_kinetics.tar.gz"), folder


@pytest.fixture(scope="module")
def paddle_checkpoint(paddle_tarball, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "nonlocal_v15.pt"
    summary = convert_weights(paddle_tarball[0], "nonlocal", out, overrides=TINY, verbose=False)
    return out, summary


# ----------------------------------------------------------------------------- PaddleVideo v1.5
def test_paddle_tarball_reproduces_the_v15_graph(reference, paddle_weights, paddle_checkpoint):
    weights, state = paddle_weights
    checkpoint, summary = paddle_checkpoint
    assert summary["ignored"] == len(state) and summary["class_names"] == CLASSES
    rng = np.random.default_rng(1)
    clip = reference.paddle_clip(rng, 2, FRAMES, 224)  # valid graph: fc logits
    ref = reference.paddle_forward(weights, clip, test_head=False)
    ours = reference.run_ours(checkpoint, clip, head="average")
    assert reference.ops.relative_max_error(ours, ref) < 1e-4
    assert reference.ops.same_top_k(ours, ref, 5) and ref.std() > 0.5
    clip = reference.paddle_clip(rng, 1, FRAMES, 256)  # test graph: 2x2 windows
    ref = reference.paddle_forward(weights, clip, test_head=True)
    ours = np.exp(reference.run_ours(checkpoint, clip))
    assert reference.ops.relative_max_error(ours, ref) < 1e-4 and ref.max() < 0.99


def test_paddle_checkpoint_records_the_reference_recipe(paddle_checkpoint, paddle_weights):
    loaded = load_checkpoint_model(paddle_checkpoint[0], "nonlocal")
    model_cfg, data_cfg = loaded.config["model"], loaded.config["data"]
    assert model_cfg["head"] == "window_softmax" and model_cfg["stem_pool_padding"] == 0
    assert data_cfg["test_clip_positions"] == "wrap" and data_cfg["mean"] == [0.45] * 3
    assert (data_cfg["clip_len"], data_cfg["frame_interval"], data_cfg["test_crops"]) == (8, 8, 3)
    assert loaded.source["format"] == "paddle-v1.5"
    state = loaded.model.state_dict()
    weights = paddle_weights[0]
    assert torch.equal(state["classifier.weight"], torch.from_numpy(weights["pred_w"].T * np.float32(0.5)))
    assert torch.equal(
        state["backbone.layer3.after5.theta.weight"], torch.from_numpy(weights["nonlocal_conv4_5_theta_w"])
    )
    assert torch.equal(
        state["backbone.layer4.0.downsample.1.running_var"],
        torch.from_numpy(weights["bn5a_branch1_variance"]),
    )


def test_paddle_folder_and_tarball_convert_alike(paddle_tarball, paddle_checkpoint, tmp_path, capsys):
    convert_weights(paddle_tarball[1], "nonlocal", tmp_path / "f.pt", overrides=TINY)
    report = capsys.readouterr().out
    assert re.search(r"transformed +pred_w -> classifier.weight .*dropout-folded x0.5", report)
    assert re.search(r"ignored +res3a_branch2a_weights_velocity_0 .*optimizer state", report)
    assert "learning_rate_0" in report
    a = load_checkpoint_model(tmp_path / "f.pt", "nonlocal").model.state_dict()
    b = load_checkpoint_model(paddle_checkpoint[0], "nonlocal").model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _copy_folder(folder, tmp_path, drop=(), replace=None):
    out = tmp_path / "weights"
    shutil.copytree(folder, out)
    for name in drop:
        (out / name).unlink()
    for name, array in (replace or {}).items():
        (out / name).write_bytes(fluid_tensor_bytes(array))
    return out


def test_paddle_errors_name_the_tensor_and_the_fix(paddle_tarball, paddle_weights, tmp_path):
    folder = paddle_tarball[1]
    with pytest.raises(ConvertError, match="'nonlocal_conv4_3_g_b' is missing from the file"):
        convert_weights(
            _copy_folder(folder, tmp_path / "a", drop=["nonlocal_conv4_3_g_b"]),
            "nonlocal",
            tmp_path / "x.pt",
            overrides=TINY,
        )
    with pytest.raises(
        ConvertError,
        match=r"'conv1_weights' has shape \[8, 3, 1, 7, 7\].*"
        r"\[64, 3, 1, 7, 7\].*model.base_width=8",
    ):
        convert_weights(folder, "nonlocal", tmp_path / "x.pt", overrides=[f"model.num_classes={CLASSES}"])
    with pytest.raises(
        ConvertError,
        match=r"'pred_w' has shape \[10, 256\].*\[400, 256\].*"
        r"model.num_classes=10",
    ):
        convert_weights(folder, "nonlocal", tmp_path / "x.pt", overrides=TINY[:1])
    inflated = paddle_weights[0]["conv1_weights"].repeat(5, axis=2)
    with pytest.raises(ConvertError, match=r"\[8, 3, 5, 7, 7\].*model.arch=i3d"):
        convert_weights(
            _copy_folder(folder, tmp_path / "b", replace={"conv1_weights": inflated}),
            "nonlocal",
            tmp_path / "x.pt",
            overrides=TINY,
        )


def test_v15_tsn_folder_is_not_taken_for_nonlocal(tmp_path):
    tsn = {
        "conv1_weights": np.zeros((64, 3, 7, 7), np.float32),
        "res2a_branch2a_weights": np.zeros((64, 64, 1, 1), np.float32),
        "fc_0.w_0": np.zeros((2048, 400), np.float32),
    }
    folder = write_fluid_dir(tmp_path / "tsn_kinetics", tsn)
    with pytest.raises(ConvertError, match="looks like a 'tsn' model, not 'nonlocal'"):
        convert_weights(folder, "nonlocal", tmp_path / "x.pt")


# ----------------------------------------------------------------------------- MMAction2
# MMAction2's I3D-NL dot product (configs/_base_/models/i3d_r50.py + the NL config)
MMACTION2_OPTIONS = dict(
    arch="i3d",
    stem_temporal_stride=2,
    stem_pool_temporal_stride=2,
    stem_pool_padding=1,
    nonlocal_mode="dot_product",
    nonlocal_pool="after_conv",
    nonlocal_scale=False,
    nonlocal_out_bias=False,
)

# our name -> MMAction2 1.x's, written from resnet3d.py / mmcv's NonLocal3d (not the mapper)
MMACTION2_RENAMES = [
    (r"^backbone\.conv1\.weight$", "backbone.conv1.conv.weight"),
    (r"^backbone\.bn1\.", "backbone.conv1.bn."),
    (r"^(backbone\.layer\d\.\d+)\.conv(\d)\.weight$", r"\1.conv\2.conv.weight"),
    (r"^(backbone\.layer\d\.\d+)\.bn(\d)\.", r"\1.conv\2.bn."),
    (r"^(backbone\.layer\d\.0)\.downsample\.0\.", r"\1.downsample.conv."),
    (r"^(backbone\.layer\d\.0)\.downsample\.1\.", r"\1.downsample.bn."),
    (r"^(backbone\.layer\d)\.after(\d+)\.theta\.", r"\1.\2.non_local_block.theta.conv."),
    (r"^(backbone\.layer\d)\.after(\d+)\.(phi|g)\.", r"\1.\2.non_local_block.\3.0.conv."),
    (r"^(backbone\.layer\d)\.after(\d+)\.out\.", r"\1.\2.non_local_block.conv_out.conv."),
    (r"^(backbone\.layer\d)\.after(\d+)\.bn\.", r"\1.\2.non_local_block.conv_out.bn."),
    (r"^classifier\.", "cls_head.fc_cls."),
]


def to_mmaction2(name):
    for pattern, replacement in MMACTION2_RENAMES:
        if re.search(pattern, name):
            return re.sub(pattern, replacement, name)
    raise AssertionError(f"no MMAction2 name for {name}")


@pytest.fixture(scope="module")
def mmaction2_file(tmp_path_factory):
    """An MMAction2 I3D-NL dot-product .pth at test size: our model with random values,
    renamed, saved as {"meta", "state_dict"} (a numpy scalar in meta, as MMAction2 writes)."""
    torch.manual_seed(0)
    model = create_model("nonlocal", base_width=WIDTH, num_classes=CLASSES, **MMACTION2_OPTIONS).eval()
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            tensor.copy_(
                torch.rand_like(tensor) + 0.5
                if "running_var" in name
                else torch.randn_like(tensor) * (0.2 if tensor.dim() > 1 else 0.1)
            )
    state = {to_mmaction2(k): v.clone() for k, v in model.state_dict().items()}
    assert "backbone.layer3.5.non_local_block.g.0.conv.bias" in state
    assert "backbone.layer2.1.non_local_block.conv_out.conv.bias" not in state
    path = tmp_path_factory.mktemp("mma") / "i3d_nl_dot_product.pth"
    torch.save({"meta": {"epoch": np.int64(100), "mmaction_version": "1.2.0"}, "state_dict": state}, path)
    return path, model


def test_mmaction2_pth_converts_to_the_same_network(mmaction2_file, tmp_path, capsys):
    path, model = mmaction2_file
    out = tmp_path / "nl.pt"
    summary = convert_weights(path, "nonlocal", out, overrides=TINY)  # --from auto
    assert summary["format"] == "mmaction2" and summary["ignored"] == 0
    assert (
        "backbone.layer2.1.non_local_block.phi.0.conv.weight -> "
        "backbone.layer2.after1.phi.weight" in capsys.readouterr().out
    )
    loaded = load_checkpoint_model(out, "nonlocal")
    expected = model.state_dict()
    converted = loaded.model.state_dict()
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[k], expected[k]) for k in expected)
    video = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.model({"video": video}), model({"video": video}))
    cfg = loaded.config
    assert cfg["model"]["nonlocal_mode"] == "dot_product" and cfg["model"]["head"] == "average"
    assert (cfg["data"]["clip_len"], cfg["data"]["frame_interval"]) == (32, 2)
    assert cfg["data"]["test_clip_positions"] == "spread"
    assert loaded.class_names == [f"class_{i}" for i in range(CLASSES)]  # not Kinetics-400


def test_mmaction2_wrong_model_and_variant_errors(mmaction2_file, tmp_path, monkeypatch):
    path, _ = mmaction2_file
    # plain MMAction2 TSN/TSM-like names: no non-local block
    tsn = {
        "backbone.conv1.conv.weight": torch.zeros(64, 3, 7, 7),
        "cls_head.fc_cls.weight": torch.zeros(400, 2048),
    }
    torch.save({"meta": {}, "state_dict": tsn}, tmp_path / "tsn.pth")
    with pytest.raises(ConvertError, match="looks like a 'tsn' model, not 'nonlocal'"):
        convert_weights(tmp_path / "tsn.pth", "nonlocal", tmp_path / "x.pt")
    # an MMAction2 file whose network differs from the config: shapes named, fix suggested
    with pytest.raises(
        ConvertError,
        match=r"\[8, 3, 5, 7, 7\].*\[8, 3, 1, 7, 7\].*"
        r"model.arch=i3d",
    ):
        convert_weights(path, "nonlocal", tmp_path / "x.pt", overrides=TINY + ["model.arch=c2d"])
    with pytest.raises(ConvertError, match="found no source tensor.*after1.out.bias"):
        convert_weights(
            path, "nonlocal", tmp_path / "x.pt", overrides=TINY + ["model.nonlocal_out_bias=true"]
        )


def test_mmaction2_plain_i3d_converts_with_nonlocal_blocks_off(tmp_path):
    """MMAction2's I3D R50 without non-local blocks (model.nonlocal_blocks=false)."""
    torch.manual_seed(1)
    model = create_model(
        "nonlocal", base_width=WIDTH, num_classes=CLASSES, nonlocal_blocks=False, **MMACTION2_OPTIONS
    ).eval()
    assert not any(".after" in name for name in model.state_dict())
    state = {to_mmaction2(k): v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / "i3d_r50.pth"
    torch.save({"meta": {"epoch": np.int64(100)}, "state_dict": state}, path)
    with pytest.raises(ConvertError, match="non_local_block.*missing from the file"):
        convert_weights(path, "nonlocal", tmp_path / "x.pt", overrides=TINY)
    convert_weights(
        path, "nonlocal", tmp_path / "i3d.pt", overrides=TINY + ["model.nonlocal_blocks=false"], verbose=False
    )
    loaded = load_checkpoint_model(tmp_path / "i3d.pt", "nonlocal")
    video = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.model({"video": video}), model({"video": video}))


# ----------------------------------------------------------------------------- CLI
def test_converted_checkpoint_predicts_from_the_cli(paddle_checkpoint, tmp_path, capsys):
    """The v1.5 checkpoint (window-softmax head, wrapped clips) through `videozoo predict`."""
    frames = motion_video(np.random.default_rng(0), 30.0, 64, 24)
    video = encode_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "p.jsonl"
    assert (
        main(
            [
                "predict",
                "nonlocal",
                "--weights",
                str(paddle_checkpoint[0]),
                str(video),
                "--topk",
                "3",
                "--output",
                str(out),
                "--set",
                "data.short_side=64",
                "--set",
                "data.test_crop_size=64",
                "--set",
                "data.clip_len=4",
                "--set",
                "data.frame_interval=2",
                "--set",
                "data.test_num_clips=2",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and len(rows[0]["class_names"]) == 3
    assert 0 < rows[0]["scores"][0] <= 1 and rows[0]["scores"] == sorted(rows[0]["scores"])[::-1]
    assert "1 predictions and 0 failures written" in capsys.readouterr().out


def test_converted_window_head_exports_to_onnx(paddle_checkpoint, tmp_path):
    """The window head pools with a kernel taken from the map size: constant in the trace."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "nl.onnx"
    assert (
        main(
            [
                "export",
                "nonlocal",
                "--weights",
                str(paddle_checkpoint[0]),
                "--frames",
                "4",
                "--output",
                str(out),
            ]
        )
        == 0
    )  # includes the ONNX-vs-PyTorch parity check
    assert out.stat().st_size > 0
