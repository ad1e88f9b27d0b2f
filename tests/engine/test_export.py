"""ONNX / TorchScript export of all seven models: parity on another batch size (and frame count
for the feature models), no tracer warnings from TSM, and the `videozoo export` entry point."""

import json
import warnings

import pytest
import torch
from support import FEATURE_MODELS, TINY_MODELS, tiny_kwargs

from videozoo import registry
from videozoo.engine.export import export_checkpoint
from videozoo.errors import CheckpointError, ExportError
from videozoo.serialization.checkpoint import save_checkpoint
from videozoo.serialization.format import FORMAT
from videozoo.serialization.graph_export import export_model, parity_batch, parity_check, sidecar_path

pytestmark = pytest.mark.slow  # exports every model to ONNX and TorchScript

pytest.importorskip("onnxruntime")

TINY = {
    name: tiny_kwargs(name, small_features=False, num_classes=10 if name in FEATURE_MODELS else 5)
    for name in TINY_MODELS
}
FEATURE_FRAMES, VIDEO_SIZE = 12, 32
# TSM is exported for a T other than its seg_num: the trace must take T from the example.
VIDEO_FRAMES = {"tsm": 4}
TOLERANCE = 1e-4


def tiny_model(name):
    torch.manual_seed(0)
    model = registry.create_model(name, **TINY[name]).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, so parity means something
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            if module.weight is not None:
                module.weight.data.uniform_(0.5, 1.5)
    return model


def example_batch(name, model):
    batch = model.default_input(2)
    if name in FEATURE_MODELS:
        return {key: value[:, :FEATURE_FRAMES] for key, value in batch.items()}
    video = batch["video"][..., :VIDEO_SIZE, :VIDEO_SIZE]
    frames = VIDEO_FRAMES.get(name, video.shape[1])
    return {"video": video[:, torch.arange(frames) % video.shape[1]].contiguous()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(name, fmt) -> (model, example batch, path, warnings): each model exported once."""
    cache = {}

    def get(name, fmt):
        if (name, fmt) not in cache:
            model = tiny_model(name)
            batch = example_batch(name, model)
            path = tmp_path_factory.mktemp(name) / f"{name}.{fmt}"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                export_model(model, batch, fmt, path)
            cache[name, fmt] = (model, batch, path, caught)
        return cache[name, fmt]

    return get


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list(TINY))
def test_export_matches_eager_on_another_batch_shape(exported, name, fmt):
    model, example, path, _ = exported(name, fmt)
    dynamic_frames = name in FEATURE_MODELS
    batch = parity_batch(example, dynamic_frames=dynamic_frames)
    assert batch[next(iter(batch))].shape[0] != example[next(iter(example))].shape[0]
    if dynamic_frames:
        assert batch["rgb"].shape[1] != FEATURE_FRAMES and not batch["mask"].all()
    assert path.is_file()
    assert parity_check(model, path, fmt, batch) < TOLERANCE
    assert not model.training  # export and check leave the model's mode alone


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_tsm_exports_without_tracer_warnings(exported, fmt):
    *_, caught = exported("tsm", fmt)
    tracer = [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if issubclass(w.category, torch.jit.TracerWarning)
    ]
    assert tracer == []


def test_attention_cluster_output_follows_real_length_after_export(exported):
    """The frames it samples depend on the mask at run time, not on the traced length."""
    model, example, path, _ = exported("attention_cluster", "torchscript")
    batch = parity_batch(example, dynamic_frames=True)
    traced = torch.jit.load(str(path))
    full = traced(batch["rgb"], batch["audio"], batch["mask"])
    batch["mask"][1, 3:] = False
    short = traced(batch["rgb"], batch["audio"], batch["mask"])
    assert not torch.allclose(full[1], short[1])
    assert torch.allclose(full[2], short[2])
    assert parity_check(model, path, "torchscript", batch) < TOLERANCE


def test_segment_count_models_refuse_dynamic_frames(tmp_path):
    model = tiny_model("tsm")
    with pytest.raises(ExportError, match="fixed frame count"):
        export_model(model, example_batch("tsm", model), "onnx", tmp_path / "tsm.onnx", dynamic_frames=True)
    with pytest.raises(ExportError, match="unknown export format"):
        export_model(model, example_batch("tsm", model), "tflite", tmp_path / "tsm.tflite")


def _write_checkpoint(tmp_path, name, overrides):
    from videozoo.config import build_config
    from videozoo.registry import build_model

    cfg = build_config(name, overrides=[f"model.{k}={v}" for k, v in overrides.items()])
    torch.manual_seed(1)
    model = build_model(cfg)
    class_names = [f"class_{i}" for i in range(cfg["model"]["num_classes"])]
    state = {
        "format": FORMAT,
        "model_name": name,
        "model": model.state_dict(),
        "config": cfg,
        "class_names": class_names,
        "reason": "test",
    }
    return save_checkpoint(state, tmp_path / "run" / "best.pt"), class_names


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_checkpoint(tmp_path, fmt):
    weights, class_names = _write_checkpoint(tmp_path, "attention_cluster", TINY["attention_cluster"])
    result = export_checkpoint("attention_cluster", weights, fmt=fmt)

    path = tmp_path / "run" / ("best.onnx" if fmt == "onnx" else "best.torchscript.pt")
    assert result["path"] == str(path) and path.is_file()
    assert result["max_abs_diff"] < TOLERANCE
    # in the order the data format declares
    assert [spec["name"] for spec in result["inputs"]] == list(
        registry.dataset_module("youtube8m").MODEL_INPUTS
    )
    assert result["inputs"][0]["shape"] == ["batch", "frames", 1024]
    assert result["dynamic_axes"]["mask"] == {0: "batch", 1: "frames"}
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["class_names"] == class_names
    assert sidecar["scores"] == "sigmoid"
    assert sidecar["outputs"][0]["shape"] == ["batch", 10]


def test_exported_file_runs_without_videozoo_from_sidecar(tmp_path):
    """What a user does with the files alone: feed inputs named and shaped as the sidecar says."""
    import numpy as np
    import onnxruntime

    weights, _ = _write_checkpoint(tmp_path, "attention_cluster", TINY["attention_cluster"])
    result = export_checkpoint(
        "attention_cluster", weights, fmt="onnx", output=tmp_path / "out" / "model.onnx"
    )
    sidecar = json.loads(sidecar_path(result["path"]).read_text())
    sizes = {"batch": 1, "frames": 40}
    feeds = {
        spec["name"]: np.ones([sizes.get(d, d) for d in spec["shape"]], dtype=spec["dtype"])
        for spec in sidecar["inputs"]
    }
    session = onnxruntime.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, feeds)
    assert logits.shape == (1, len(sidecar["class_names"]))


def test_export_checkpoint_rejects_checkpoint_of_another_model(tmp_path):
    weights, _ = _write_checkpoint(tmp_path, "attention_cluster", TINY["attention_cluster"])
    with pytest.raises(CheckpointError, match="attention_cluster"):
        export_checkpoint("nextvlad", weights, fmt="onnx")


def test_cli_export_prints_the_result(tmp_path, capsys):
    from videozoo.cli import main

    weights, _ = _write_checkpoint(tmp_path, "attention_cluster", TINY["attention_cluster"])
    assert main(["export", "attention_cluster", "--weights", str(weights), "--format", "torchscript"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["path"] == str(tmp_path / "run" / "best.torchscript.pt")
    assert printed["max_abs_diff"] < TOLERANCE and printed["format"] == "torchscript"


@pytest.mark.parametrize("name", list(TINY))
def test_data_format_declares_the_inputs_its_models_read(name):
    """Export takes the inputs in the order the data format declares: every model reads those."""
    from videozoo.config import build_config

    declared = registry.dataset_module(build_config(name)["data"]["format"]).MODEL_INPUTS
    assert list(tiny_model(name).default_input(1)) == list(declared)
