"""`videozoo convert` for TSN / TSM / StNet: every zoo's real file layout in, the reference out.

Paddle files (v1.5 folders and .tar.gz with Momentum state, 2.x .pdparams) hold random
ResNet-50 weights under the real names (v1.5 builds no shallower trunk) and are checked
against the numpy re-statement of the reference graphs in tools/parity/resnet2d.py at 32x32.
MMAction2 and MIT state dicts (ResNet-18, real names and wrappers) are checked tensor by
tensor and against our model loaded from the file by a renaming written here, independently
of the converter. Then the error messages, and the CLI on a converted checkpoint.
"""

import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from videozoo.convert import convert_weights
from videozoo.errors import ConvertError
from videozoo.registry import create_model
from videozoo.serialization.loading import load_checkpoint_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "parity"))
import resnet2d as ref  # noqa: E402  (the numpy reference graphs)

pytestmark = pytest.mark.slow  # builds ResNet-50 reference graphs and converts full-size files

CLASSES = 5
SIZE = 32


def _logits(loaded, video):
    with torch.no_grad():
        return loaded.model({"video": torch.from_numpy(video)}).double().numpy()


def _assert_close(ours, reference):
    assert ref.relative_max_error(ours, reference) < 1e-5
    assert ref.same_top_k(ours, reference, 3)


def _video(frames, channels=3, seed=1, n=2):
    return np.random.default_rng(seed).standard_normal((n, frames, channels, SIZE, SIZE), dtype=np.float32)


# ----------------------------------------------------------------------------- PaddleVideo v1.5
@pytest.fixture(scope="module")
def v15_tsm_dir(tmp_path_factory):
    weights = ref.v15_weights("tsm", np.random.default_rng(0), num_classes=CLASSES)
    return weights, ref.write_v15(tmp_path_factory.mktemp("v15") / "tsm_kinetics", weights)


def test_v15_tsm_tarball_matches_reference_graph(v15_tsm_dir, tmp_path):
    weights, folder = v15_tsm_dir
    archive = tmp_path / "tsm_kinetics.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:  # as published: folder inside
        tar.add(folder, arcname=folder.name)
    summary = convert_weights(
        archive, "tsm", tmp_path / "tsm.pt", overrides=[f"model.num_classes={CLASSES}"], verbose=False
    )
    assert summary["format"] == "paddle-v1.5"
    # every trainable parameter has a velocity; + learning_rate_0 and the decay counter
    assert summary["ignored"] == len(ref.momentum_state(weights))
    loaded = load_checkpoint_model(tmp_path / "tsm.pt", "tsm")
    video = _video(8)
    _assert_close(_logits(loaded, video), ref.v15_tsm(weights, video))

    state = loaded.model.state_dict()
    # fluid's inference dropout (x 0.5) folded into the fc; layout [in, out] -> [out, in]
    assert torch.equal(state["classifier.weight"], torch.from_numpy(weights["fc_0.w_0"].T * np.float32(0.5)))
    assert torch.equal(
        state["backbone.layer3.0.downsample.1.running_var"],
        torch.from_numpy(weights["bn4a_branch1_variance"]),
    )
    cfg = loaded.config
    assert cfg["model"]["shift_direction"] == "previous_first"
    assert cfg["data"]["long_side"] == 341 and cfg["data"]["multi_scale_resize"] == 256
    assert cfg["data"]["test_segment_positions"] == "paddle-v1.5"
    assert loaded.source["file"] == "tsm_kinetics.tar.gz"


def test_v15_tsn_folder_matches_reference_graph(v15_tsm_dir, tmp_path, caplog):
    """v1.5 TSN and TSM files hold the same names: the TSM folder serves as a TSN file too, and
    its published name draws a warning that it may be the other model."""
    weights, folder = v15_tsm_dir
    convert_weights(
        folder, "tsn", tmp_path / "tsn.pt", overrides=[f"model.num_classes={CLASSES}"], verbose=False
    )
    assert "the file name says 'tsm'" in caplog.text
    video = _video(3)
    _assert_close(
        _logits(load_checkpoint_model(tmp_path / "tsn.pt", "tsn"), video), ref.v15_tsn(weights, video)
    )


def test_v15_stnet_folder_matches_reference_graph(tmp_path, capsys):
    weights = ref.v15_weights("stnet", np.random.default_rng(2), num_classes=CLASSES)
    folder = ref.write_v15(tmp_path / "stnet_kinetics", weights)
    convert_weights(folder, "stnet", tmp_path / "stnet.pt", overrides=[f"model.num_classes={CLASSES}"])
    report = capsys.readouterr().out
    assert re.search(
        r"transformed +conv3d_0\.w_0 -> backbone\.layer2\.after\.conv\.weight "
        r"\[512x512x3x1\] \(512x512x3x1x1 -> 512x512x3x1\)",
        report,
    )
    assert "batch_norm_44.w_2 -> backbone.layer3.after.bn.running_var" in report
    assert "xception_att_conv.w_0 -> head.depthwise1.weight" in report
    segments = 3
    video = _video(segments, channels=15)  # the reference's [N, seg, 5 frames x RGB, H, W]
    ours = _logits(
        load_checkpoint_model(tmp_path / "stnet.pt", "stnet"), video.reshape(2, segments * 5, 3, SIZE, SIZE)
    )
    _assert_close(ours, ref.v15_stnet(weights, video))


# ----------------------------------------------------------------------------- PaddleVideo 2.x
@pytest.fixture(scope="module")
def paddle2_file(tmp_path_factory):
    """TSN_k400.pdparams and TSM_k400.pdparams have the same layout: one file serves both."""
    weights = ref.paddle2_weights(np.random.default_rng(3), num_classes=CLASSES)
    return weights, ref.write_pdparams(tmp_path_factory.mktemp("pv2") / "k400.pdparams", weights)


@pytest.mark.parametrize("model,graph,frames", [("tsn", ref.paddle2_tsn, 3), ("tsm", ref.paddle2_tsm, 8)])
def test_paddle2_pdparams_match_reference_graph(model, graph, frames, paddle2_file, tmp_path):
    weights, source = paddle2_file
    convert_weights(
        source, model, tmp_path / "out.pt", overrides=[f"model.num_classes={CLASSES}"], verbose=False
    )
    loaded = load_checkpoint_model(tmp_path / "out.pt", model)
    video = _video(frames)
    _assert_close(_logits(loaded, video), graph(weights, video))
    cfg = loaded.config
    assert cfg["data"]["test_segment_positions"] == "tsn" and cfg["data"]["long_side"] is None


# ----------------------------------------------------------------------------- MMAction2 and MIT
#: ours -> MMAction2 (mmcv ConvModule: conv + bn under one name); written here, not imported
MMACTION = [
    (r"^backbone\.conv1\.weight$", "backbone.conv1.conv.weight"),
    (r"^backbone\.bn1\.", "backbone.conv1.bn."),
    (r"\.conv(\d)\.weight$", r".conv\1.conv.weight"),
    (r"\.bn(\d)\.", r".conv\1.bn."),
    (r"\.downsample\.0\.", ".downsample.conv."),
    (r"\.downsample\.1\.", ".downsample.bn."),
    (r"^classifier\.", "cls_head.fc_cls."),
]


def _rename(name, table):
    for pattern, replacement in table:
        name = re.sub(pattern, replacement, name)
    return name


def _random_state(model):
    """Our model's state_dict with random values (BN variances positive)."""
    rng = np.random.default_rng(4)
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(100)
        elif name.endswith("running_var"):
            state[name] = torch.from_numpy(rng.uniform(0.5, 1.5, tuple(tensor.shape)).astype(np.float32))
        else:
            state[name] = torch.from_numpy(rng.normal(0, 0.2, tuple(tensor.shape)).astype(np.float32))
    return state


def _their_names(model_name, ours, shifted):
    """Our names -> the source's (``shifted``: the blocks whose conv1 the source wraps)."""
    renamed = {}
    for name, tensor in ours.items():
        block = re.match(r"backbone\.layer(\d)\.(\d+)\.conv1\.weight$", name)
        if model_name == "mmaction2":
            theirs = _rename(name, MMACTION)
            if block and tuple(map(int, block.groups())) in shifted:
                theirs = theirs.replace(".conv1.conv.weight", ".conv1.conv.net.weight")
        else:
            theirs = (
                "module.new_fc." + name[len("classifier.") :]
                if name.startswith("classifier.")
                else "module.base_model." + name[len("backbone.") :]
            )
            if block and tuple(map(int, block.groups())) in shifted:
                theirs = theirs.replace(".conv1.weight", ".conv1.net.weight")
        renamed[theirs] = tensor
    return renamed


def _write_zoo_file(tmp_path, zoo, model_name, shift_every=1):
    """A depth-18 file as MMAction2 / MIT publish it, and our model built with its weights by
    renaming (independent of the converter)."""
    direction = {"shift_direction": "next_first", "shift_every": shift_every} if model_name == "tsm" else {}
    ours = create_model(model_name, depth=18, num_classes=CLASSES, **direction).eval()
    state = _random_state(ours)
    ours.load_state_dict(state)
    shifted = (
        {(s, b) for s in range(1, 5) for b in range(2) if b % shift_every == 0}
        if model_name == "tsm"
        else set()
    )
    theirs = _their_names(zoo, state, shifted)
    if zoo == "mmaction2":
        obj = {
            "meta": {
                "epoch": np.int64(50),
                "mmaction_version": "1.2.0",
                "hook_msgs": {"best_score": np.float64(0.7318)},
            },
            "state_dict": theirs,
        }
        path = tmp_path / f"{model_name}_imagenet-pretrained-r18_kinetics400-rgb.pth"
    else:
        momentum = {0: {"momentum_buffer": torch.zeros(3)}}
        obj = {
            "epoch": 50,
            "arch": "resnet18",
            "state_dict": theirs,
            "best_prec1": 71.2,
            "optimizer": {"state": momentum, "param_groups": [{"lr": 0.01, "params": [0]}]},
        }
        path = tmp_path / f"TSM_kinetics_RGB_resnet18_{model_name}_segment8_e50.pth"
    torch.save(obj, path)
    return path, ours, theirs


@pytest.mark.parametrize("zoo,fmt", [("mmaction2", "mmaction2"), ("mit", "mit-tsm")])
@pytest.mark.parametrize("model_name", ["tsn", "tsm"])
def test_pytorch_zoos_land_on_our_names_and_give_our_logits(zoo, fmt, model_name, tmp_path):
    path, ours, theirs = _write_zoo_file(tmp_path, zoo, model_name)
    summary = convert_weights(
        path,
        model_name,
        tmp_path / "out.pt",
        overrides=["model.depth=18", f"model.num_classes={CLASSES}"],
        verbose=False,
    )
    assert summary["format"] == fmt
    loaded = load_checkpoint_model(tmp_path / "out.pt", model_name)
    converted = loaded.model.state_dict()
    for name, tensor in ours.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(converted[name], tensor), name
    # the wrapped, shifted conv of MMAction2 / MIT lands on our plain conv1
    wrapped = [
        n
        for n in theirs
        if n.endswith("layer2.1.conv1.conv.net.weight") or n.endswith("layer2.1.conv1.net.weight")
    ]
    assert len(wrapped) == (model_name == "tsm")
    if wrapped:
        assert torch.equal(converted["backbone.layer2.1.conv1.weight"], theirs[wrapped[0]])
        assert loaded.config["model"]["shift_direction"] == "next_first"
    video = torch.from_numpy(_video(8))
    with torch.no_grad():
        assert torch.equal(loaded.model({"video": video}), ours({"video": video}))


def test_mmaction2_shift_order_is_next_first(tmp_path):
    """MMAction2's TemporalShift.shift: channels [0, C/8) take frame t+1, [C/8, C/4) frame t-1."""
    path, _, _ = _write_zoo_file(tmp_path, "mmaction2", "tsm")
    convert_weights(
        path,
        "tsm",
        tmp_path / "out.pt",
        overrides=["model.depth=18", f"model.num_classes={CLASSES}"],
        verbose=False,
    )
    shift = load_checkpoint_model(tmp_path / "out.pt", "tsm").model.backbone.layer1[0].block_input
    shift.num_segments = 4
    x = torch.arange(4 * 64, dtype=torch.float32).view(4, 64, 1, 1)  # [T, C=64, 1, 1]
    frames = x.view(1, 4, 64, 1)
    expected = torch.cat(
        [
            torch.cat([frames[:, 1:, :8], torch.zeros(1, 1, 8, 1)], 1),
            torch.cat([torch.zeros(1, 1, 8, 1), frames[:, :-1, 8:16]], 1),
            frames[:, :, 16:],
        ],
        2,
    ).view(4, 64, 1, 1)
    assert torch.equal(shift(x), expected)


# ----------------------------------------------------------------------------- error messages
def test_missing_tensor_is_named(v15_tsm_dir, tmp_path):
    weights, _ = v15_tsm_dir
    folder = ref.write_v15(
        tmp_path / "tsm_kinetics", {k: v for k, v in weights.items() if k != "res3b_branch2b_weights"}
    )
    with pytest.raises(ConvertError, match=r"tensor 'res3b_branch2b_weights' is missing"):
        convert_weights(
            folder, "tsm", tmp_path / "x.pt", overrides=[f"model.num_classes={CLASSES}"], verbose=False
        )


def test_wrong_class_count_names_both_shapes_and_the_fix(v15_tsm_dir, tmp_path):
    _, folder = v15_tsm_dir
    with pytest.raises(
        ConvertError,
        match=r"'fc_0\.w_0' has shape \[5, 2048\] in the file, the "
        r"model's 'classifier\.weight' is \[400, 2048\].*--set model\.num_classes=5",
    ):
        convert_weights(folder, "tsm", tmp_path / "x.pt", verbose=False)


def test_wrong_depth_says_which_depth(v15_tsm_dir, tmp_path):
    _, folder = v15_tsm_dir
    with pytest.raises(
        ConvertError,
        match=r"ResNet-50 trunk, the model is ResNet-101; likely "
        r"fix: --set model\.depth=50",
    ):
        convert_weights(
            folder,
            "tsm",
            tmp_path / "x.pt",
            verbose=False,
            overrides=["model.depth=101", f"model.num_classes={CLASSES}"],
        )


def _names_only(names):
    """A v1.5 folder with the given tensor names holding dummies (for checks before values)."""
    return {name: np.zeros(1, np.float32) for name in names}


def test_wrong_seglen_for_stnet_is_explained(tmp_path):
    trunk = [
        name
        for layer, _ in ref.conv_layers(50)
        for name in [ref.fluid_conv_bn_names(layer)[0], *ref.fluid_conv_bn_names(layer)[1]]
    ]
    weights = _names_only(trunk + ["conv3d_0.w_0", "xception_bn2.w_0", "fc_0.w_0"])
    weights["conv1_weights"] = np.zeros((64, 9, 7, 7), np.float32)  # a 3-frame super-image
    folder = ref.write_v15(tmp_path / "stnet3", weights)
    with pytest.raises(
        ConvertError,
        match=r"\[64, 9, 7, 7\] in the file.*\[64, 15, 7, 7\].*"
        r"--set model\.seglen=3",
    ):
        convert_weights(
            folder, "stnet", tmp_path / "x.pt", verbose=False, overrides=[f"model.num_classes={CLASSES}"]
        )


def test_wrong_model_says_which_model_the_file_looks_like(tmp_path):
    stnet = ref.write_v15(
        tmp_path / "stnet_kinetics",
        _names_only(
            ["conv1_weights", "res2a_branch2a_weights", "conv3d_0.w_0", "xception_bn2.w_0", "fc_0.w_0"]
        ),
    )
    with pytest.raises(ConvertError, match=r"looks like a 'stnet' model, not 'tsn'.*--model stnet"):
        convert_weights(stnet, "tsn", tmp_path / "x.pt", verbose=False)
    path, _, _ = _write_zoo_file(tmp_path, "mmaction2", "tsm")
    with pytest.raises(ConvertError, match=r"looks like a 'tsm' model, not 'tsn'"):
        convert_weights(path, "tsn", tmp_path / "x.pt", verbose=False)


def test_shift_placement_must_match(tmp_path):
    """MIT / MMAction2 shift every other block in deep ResNets: the file tells, --set follows."""
    path, _, _ = _write_zoo_file(tmp_path, "mit", "tsm", shift_every=2)
    args = dict(overrides=["model.depth=18", f"model.num_classes={CLASSES}"], verbose=False)
    with pytest.raises(ConvertError, match=r"shifts every 2 block\(s\).*--set model\.shift_every=2"):
        convert_weights(path, "tsm", tmp_path / "x.pt", **args)
    args["overrides"].append("model.shift_every=2")
    convert_weights(path, "tsm", tmp_path / "x.pt", **args)


# ----------------------------------------------------------------------------- the CLI
def test_cli_converts_then_predicts_and_exports(tmp_path, capsys):
    from videozoo.cli import main
    from videozoo.data.synth_kinetics import encode_video

    path, _, _ = _write_zoo_file(tmp_path, "mit", "tsm")
    classes = tmp_path / "classes.txt"
    classes.write_text("".join(f"action {i}\n" for i in range(CLASSES)))
    ckpt = tmp_path / "tsm_mit.pt"
    assert (
        main(
            [
                "convert",
                str(path),
                "--model",
                "tsm",
                "--output",
                str(ckpt),
                "--set",
                "model.depth=18",
                "--set",
                f"model.num_classes={CLASSES}",
                "--classes",
                str(classes),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "module.base_model.layer1.0.conv1.net.weight -> backbone.layer1.0.conv1.weight" in out
    video = encode_video(
        tmp_path / "clip.mp4", np.random.default_rng(0).integers(0, 255, (24, 48, 64, 3), np.uint8), 25
    )
    predictions = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                "tsm",
                str(video),
                "--weights",
                str(ckpt),
                "--output",
                str(predictions),
                "--set",
                "data.short_side=40",
                "--set",
                "data.crop_size=32",
            ]
        )
        == 0
    )
    assert "action" in predictions.read_text()
    assert (
        main(
            [
                "export",
                "tsm",
                "--weights",
                str(ckpt),
                "--format",
                "torchscript",
                "--frames",
                "2",
                "--output",
                str(tmp_path / "tsm.ts"),
            ]
        )
        == 0
    )
