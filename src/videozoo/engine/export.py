"""``videozoo export`` for ONNX / TorchScript: a checkpoint -> an exported graph checked
against PyTorch, with a JSON sidecar (``serialization/graph_export.py`` is the format).

``export_checkpoint`` builds the model from the checkpoint's config, takes an example batch
of 2 of the inputs the data format declares (``MODEL_INPUTS``, in that order; ``num_frames``
overrides T, e.g. a test-time segment count for video models), exports it, checks parity on
``parity_batch`` and writes ``<file>.json``: input and output spec, dynamic axes, class names
and the score function, enough to run the file without videozoo.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from videozoo.engine.distributed import resolve_device
from videozoo.engine.tasks import Task, make_task
from videozoo.registry import dataset_module
from videozoo.serialization.graph_export import (
    BATCH_AXIS,
    ONNX_OPSET,
    OUTPUT_NAME,
    PARITY_WARN_ABOVE,
    check_format,
    default_output_path,
    dynamic_axes,
    export_model,
    frames_vary,
    input_names,
    input_spec,
    model_device,
    parity_batch,
    parity_check,
    with_frames,
    write_sidecar,
)
from videozoo.serialization.loading import LoadedModel, load_checkpoint_model

log = logging.getLogger("videozoo")


def _describe(
    model_name: str,
    fmt: str,
    path: Path,
    example: dict[str, Any],
    axes: dict[str, dict[int, str]],
    loaded: LoadedModel,
    task: Task,
) -> dict[str, Any]:
    """The sidecar: what a program needs to run the exported file without videozoo."""
    num_classes = loaded.config["model"].get("num_classes")
    return {
        "model": model_name,
        "format": fmt,
        "file": path.name,
        "inputs": input_spec(example, axes),
        "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [BATCH_AXIS, num_classes]}],
        "dynamic_axes": axes,
        "scores": task.score_function,
        "class_names": loaded.class_names,
        "onnx_opset": ONNX_OPSET if fmt == "onnx" else None,
        "device": str(model_device(loaded.model)),
    }


def export_checkpoint(
    model_name: str,
    weights: str | Path,
    fmt: str = "onnx",
    output: str | Path | None = None,
    device: str = "cpu",
    num_frames: int | None = None,
) -> dict[str, Any]:
    """``videozoo export MODEL --weights CKPT --format F [--output FILE]``: export, check and
    describe; returns ``{"path", "format", "max_abs_diff", "inputs", "dynamic_axes", "sidecar"}``.
    """
    check_format(fmt)
    loaded = load_checkpoint_model(
        weights, model_name, device=resolve_device(device), purpose="`videozoo export`"
    )
    model, cfg = loaded.model, loaded.config
    task = make_task(cfg, loaded.class_names)
    declared = dataset_module(cfg["data"]["format"]).MODEL_INPUTS
    batch = task.example_input(model, 2)
    example = {name: batch[name] for name in declared if name in batch}
    if num_frames is not None:
        example = {name: with_frames(value, num_frames) for name, value in example.items()}
    names = input_names(example)
    dynamic_frames = frames_vary(names)
    path = export_model(
        model, example, fmt, output or default_output_path(weights, fmt), dynamic_frames=dynamic_frames
    )
    max_abs_diff = parity_check(model, path, fmt, parity_batch(example, dynamic_frames=dynamic_frames))
    if max_abs_diff > PARITY_WARN_ABOVE:
        log.warning("%s: exported logits differ from PyTorch by up to %.3g", path, max_abs_diff)
    axes = dynamic_axes(names, dynamic_batch=True, dynamic_frames=dynamic_frames)
    sidecar = _describe(model_name, fmt, path, example, axes, loaded, task)
    return {
        "path": str(path),
        "format": fmt,
        "max_abs_diff": max_abs_diff,
        "inputs": sidecar["inputs"],
        "dynamic_axes": axes,
        "sidecar": str(write_sidecar(path, sidecar)),
    }
