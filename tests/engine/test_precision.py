"""Fast by default: train.amp / train.channels_last "auto", what auto picks, and --amp."""

import logging

import pytest
import torch

from videozoo.cli import build_parser
from videozoo.config import build_config
from videozoo.engine import precision
from videozoo.engine.precision import autocast_context, resolve_amp, resolve_channels_last
from videozoo.errors import ConfigError
from videozoo.registry import create_model


def test_amp_and_channels_last_default_to_auto_and_accept_booleans():
    train = build_config("nextvlad")["train"]
    assert train["amp"] == "auto" and train["channels_last"] == "auto"
    train = build_config("tsn", overrides=["train.amp=true", "train.channels_last=off"])["train"]
    assert train["amp"] is True and train["channels_last"] is False  # YAML: off = false
    with pytest.raises(ConfigError, match="'train.amp' expects true, false or auto"):
        build_config("nextvlad", overrides=["train.amp=fast"])


@pytest.mark.parametrize("native,expected", [(True, True), (False, False)])
def test_amp_auto_follows_native_bfloat16(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda *device: (native, "the CPU says so"))
    cpu = torch.device("cpu")
    on, reason = resolve_amp("auto", cpu)
    assert on is expected and "train.amp=auto" in reason and "the CPU says so" in reason
    # true / false force it either way, whatever the hardware
    assert resolve_amp(True, cpu)[0] is True and resolve_amp(False, cpu)[0] is False
    assert isinstance(autocast_context(cpu, "auto", "bfloat16"), torch.autocast) is expected


def test_amp_auto_never_picks_float16_without_cuda():
    on, reason = resolve_amp("auto", torch.device("cpu"), "float16")
    assert not on and "float16 needs CUDA" in reason


def test_native_bf16_names_the_hardware_fact():
    native, reason = precision.native_bf16("cpu")
    assert isinstance(native, bool)
    assert "AMX" in reason and "CPU" in reason


def test_channels_last_auto_is_on_for_conv_models_only():
    assert resolve_channels_last("auto", create_model("tsn", depth=18, num_classes=3))
    assert not resolve_channels_last(
        "auto", create_model("nextvlad", num_classes=3, cluster_size=4, hidden_size=8)
    )
    assert resolve_channels_last(True, torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "argv,value", [([], None), (["--amp"], "on"), (["--amp", "off"], "off"), (["--amp", "auto"], "auto")]
)
def test_train_amp_flag(argv, value):
    args = build_parser().parse_args(["train", "nextvlad", *argv])
    assert args.amp == value


def test_training_logs_the_amp_choice_once(yt8m_dir, tmp_path, caplog):
    from support import yt8m_overrides

    from videozoo.engine.train import train

    cfg = build_config(
        "attention_cluster",
        overrides=yt8m_overrides(
            "attention_cluster", ["train.epochs=1", "train.valid_interval=0", f"data.root={yt8m_dir}"]
        ),
    )
    with caplog.at_level(logging.INFO, logger="videozoo"):
        train(cfg, output_dir=tmp_path, device="cpu")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mixed precision")]
    assert len(lines) == 1 and "train.amp=auto" in lines[0]


@pytest.mark.parametrize(
    "flags,native,word",
    [
        ({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, True, "AMX"),
        ({"avx2", "avx512f", "avx512_bf16"}, False, "AVX512-BF16 but no AMX"),
        ({"avx2", "fma"}, False, "no AMX"),
    ],
)
def test_cpu_bf16_only_with_amx(flags, native, word):
    decided, reason = precision.cpu_bf16_decision(flags)
    assert decided is native and word in reason


@pytest.mark.parametrize(
    "flags,expected", [({"avx512_bf16", "amx_bf16"}, True), ({"avx512_bf16"}, False), ({"avx2"}, False)]
)
def test_amp_auto_reads_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: set(flags))
    precision.native_bf16.cache_clear()
    try:
        on, reason = resolve_amp("auto", torch.device("cpu"))
        dtype, why = precision.resolve_precision("auto", torch.device("cpu"))
    finally:
        precision.native_bf16.cache_clear()
    assert on is expected and "train.amp=auto" in reason
    assert (dtype == "bfloat16") is expected and "--precision auto" in why


def test_resolve_precision_explicit_values():
    cpu = torch.device("cpu")
    assert precision.resolve_precision("fp32", cpu)[0] is None
    assert precision.resolve_precision("bf16", cpu)[0] == "bfloat16"
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        precision.resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="--precision must be"):
        precision.resolve_precision("int8", cpu)


@pytest.mark.parametrize("command", ["eval", "predict", "embed"])
def test_precision_flag_on_inference_commands(command):
    extra = {"eval": [], "predict": ["x.mp4"], "embed": ["x.mp4", "--output", "o"]}[command]
    args = build_parser().parse_args([command, "tsm", *extra, "--weights", "w.pt", "--precision", "bf16"])
    assert args.precision == "bf16"
    assert build_parser().parse_args([command, "tsm", *extra, "--weights", "w.pt"]).precision is None
