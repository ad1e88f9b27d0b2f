"""Non-local TSM (MMAction2's NL3DWrapper, MIT's NL3DWrapper): files in each zoo's names,
written here from our model by renaming rules read off the sources (not the converter's),
convert to the same network; the options the file needs are asked for by name."""

import re

import numpy as np
import pytest
import torch

from videozoo.convert import convert_weights
from videozoo.errors import ConvertError
from videozoo.registry import create_model
from videozoo.serialization.loading import load_checkpoint_model

CLASSES = 5
TINY = ["model.depth=18", f"model.num_classes={CLASSES}"]

# ours -> MMAction2 (ResNetTSM + NL3DWrapper: .block / .non_local_block, mmcv ConvModules)
_NL = r"^(backbone\.layer\d)\.after(\d+)\.block\."
MMACTION2 = [
    (r"^backbone\.conv1\.weight$", "backbone.conv1.conv.weight"),
    (r"^backbone\.bn1\.", "backbone.conv1.bn."),
    (_NL + r"theta\.", r"\1.\2.non_local_block.theta.conv."),
    (_NL + r"(phi|g)\.", r"\1.\2.non_local_block.\3.0.conv."),
    (_NL + r"out\.", r"\1.\2.non_local_block.conv_out.conv."),
    (_NL + r"bn\.", r"\1.\2.non_local_block.conv_out.bn."),
    (r"\.conv1\.weight$", ".conv1.conv.net.weight"),  # every block shifted
    (r"\.conv(\d)\.weight$", r".conv\1.conv.weight"),
    (r"\.bn(\d)\.", r".conv\1.bn."),
    (r"\.downsample\.0\.", ".downsample.conv."),
    (r"\.downsample\.1\.", ".downsample.bn."),
    (r"^classifier\.", "cls_head.fc_cls."),
]
# ours -> MIT (torchvision names under module.base_model., NL3DWrapper: .block / .nl)
MIT = [
    (r"^backbone\.(layer\d)\.after(\d+)\.block\.theta\.", r"module.base_model.\1.\2.nl.theta."),
    (r"^backbone\.(layer\d)\.after(\d+)\.block\.(phi|g)\.", r"module.base_model.\1.\2.nl.\3.0."),
    (r"^backbone\.(layer\d)\.after(\d+)\.block\.out\.", r"module.base_model.\1.\2.nl.W.0."),
    (r"^backbone\.(layer\d)\.after(\d+)\.block\.bn\.", r"module.base_model.\1.\2.nl.W.1."),
    (r"\.conv1\.weight$", ".conv1.net.weight"),
    (r"^backbone\.conv1\.net\.weight$", "module.base_model.conv1.weight"),
    (r"^backbone\.", "module.base_model."),
    (r"^classifier\.", "module.new_fc."),
]


def _rename(name, rules):
    for pattern, replacement in rules:
        name = re.sub(pattern, replacement, name)
    return name


def _wrap_blocks(name, wrapped, zoo):
    """Blocks followed by a non-local block sit under `.block` in both zoos."""
    block = re.match(r"^(backbone|module\.base_model)\.layer(\d)\.(\d+)\.(?!non_local|nl\.)", name)
    if block and (int(block.group(2)), int(block.group(3))) in wrapped:
        head = block.group(0)
        return head + "block." + name[len(head) :]
    return name


def _zoo_file(tmp_path, zoo, mode, out_bias):
    torch.manual_seed(0)
    model = create_model(
        "tsm",
        depth=18,
        num_classes=CLASSES,
        shift_direction="next_first",
        nonlocal_mode=mode,
        nonlocal_out_bias=out_bias,
    ).eval()
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            tensor.copy_(
                torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor) * 0.2
            )
    wrapped = {(2, 0), (3, 0)}  # ResNet-18: blocks 0 of res3 and res4
    rules = MMACTION2 if zoo == "mmaction2" else MIT
    state = {_wrap_blocks(_rename(k, rules), wrapped, zoo): v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / f"{zoo}_tsm_nl.pth"
    torch.save(
        {"meta": {"epoch": np.int64(1)}, "state_dict": state}
        if zoo == "mmaction2"
        else {"epoch": 1, "state_dict": state},
        path,
    )
    return path, model, state


@pytest.mark.parametrize(
    "zoo,mode,out_bias",
    [
        ("mmaction2", "dot_product", False),
        ("mmaction2", "embedded_gaussian", False),
        ("mit-tsm", "embedded_gaussian", True),
    ],
)
def test_non_local_tsm_converts_to_the_same_network(zoo, mode, out_bias, tmp_path):
    path, model, state = _zoo_file(tmp_path, zoo, mode, out_bias)
    assert any(".block.conv1" in k for k in state)
    assert any(".non_local_block." in k or ".nl." in k for k in state)
    overrides = TINY + [f"model.nonlocal_mode={mode}", f"model.nonlocal_out_bias={out_bias}"]
    convert_weights(path, "tsm", tmp_path / "nl.pt", fmt=zoo, overrides=overrides, verbose=False)
    loaded = load_checkpoint_model(tmp_path / "nl.pt", "tsm").model
    video = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded({"video": video}), model({"video": video}), atol=1e-5)


def test_non_local_file_asks_for_the_option(tmp_path):
    path, _, _ = _zoo_file(tmp_path, "mmaction2", "dot_product", False)
    with pytest.raises(ConvertError, match="has non-local blocks.*model.nonlocal_mode="):
        convert_weights(path, "tsm", tmp_path / "x.pt", overrides=TINY, verbose=False)
