"""ONNX and TorchScript graphs of a model, their parity check against eager PyTorch, and the
description of their inputs.

The exported graph takes the example batch's tensors positionally, in the batch's order (the
caller puts them in the order its data format declares, ``MODEL_INPUTS``), and returns
``logits``:

* feature models: ``rgb [B, T, rgb_size]`` float32, ``audio [B, T, audio_size]`` float32,
  ``mask [B, T]`` bool (True = real frame) -> ``logits [B, num_classes]``
* video models: ``video [N, T, 3, H, W]`` float32 (normalised RGB) -> ``logits [N, num_classes]``

Logits are raw: apply sigmoid (multi-label) or softmax (single-label). The batch axis is
always dynamic. The frame axis T is dynamic when the inputs carry a ``mask`` of real frames
(their T varies from batch to batch; Attention Cluster still samples its ``seg_num`` frames
from each video's real length inside the graph). Inputs without a mask have the fixed T their
sampler draws, and models may store it (TSM and StNet fold time into the batch with a segment
count the trace bakes in): they are exported for the T of the example batch.

ONNX goes through the TorchScript-based exporter (``dynamo=False``, opset ``ONNX_OPSET``) and
is checked with onnxruntime on CPU; TorchScript is a ``torch.jit.trace`` that runs on the
device it was traced on. Files are written atomically.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from videozoo.errors import ExportError
from videozoo.fileio import atomic_write, atomic_write_text

FORMATS = ("onnx", "torchscript")
#: the input marking real frames: inputs that carry it have a variable frame count
FRAME_MASK = "mask"
OUTPUT_NAME = "logits"
ONNX_OPSET = 17
BATCH_AXIS, FRAME_AXIS = "batch", "frames"
#: above this the export warns that the exported model does not reproduce PyTorch
PARITY_WARN_ABOVE = 1e-3


class PositionalInputs(nn.Module):
    """``forward(*tensors) -> model(dict(zip(input_names, tensors)))``: the exported signature."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(dict(zip(self.input_names, tensors)))
        return logits


def input_names(batch: dict[str, Any]) -> list[str]:
    """The graph's inputs: the tensors of ``batch``, in its order (other values are ignored)."""
    names = [name for name, value in batch.items() if isinstance(value, torch.Tensor)]
    if not names:
        raise ExportError("the example batch holds no tensor; pass model.default_input(batch_size)")
    return names


def frames_vary(names: list[str]) -> bool:
    """Whether the frame count of these inputs varies (they carry a mask of real frames)."""
    return FRAME_MASK in names


def dynamic_axes(names: list[str], *, dynamic_batch: bool, dynamic_frames: bool) -> dict[str, dict[int, str]]:
    """``{input or output name: {axis: axis name}}``; T is axis 1 of every input."""
    axes: dict[str, dict[int, str]] = {name: {} for name in [*names, OUTPUT_NAME]}
    for name in axes:
        if dynamic_batch:
            axes[name][0] = BATCH_AXIS
        if dynamic_frames and name != OUTPUT_NAME:
            axes[name][1] = FRAME_AXIS
    return {name: named for name, named in axes.items() if named}


def input_spec(batch: dict[str, Any], axes: dict[str, dict[int, str]]) -> list[dict[str, Any]]:
    """``[{"name", "dtype", "shape"}]`` with dynamic axes given by name, e.g. ``["batch", ...]``."""
    spec = []
    for name in input_names(batch):
        shape: list[int | str] = [axes.get(name, {}).get(i, size) for i, size in enumerate(batch[name].shape)]
        spec.append({"name": name, "dtype": str(batch[name].dtype).removeprefix("torch."), "shape": shape})
    return spec


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _positional(batch: dict[str, Any], names: list[str], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(batch[name].to(device) for name in names)


def check_format(fmt: str) -> None:
    """Refuse an export format other than ``FORMATS``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {FORMATS}")


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def export_model(
    model: nn.Module,
    example_batch: dict[str, Any],
    fmt: str,
    path: str | Path,
    *,
    dynamic_batch: bool = True,
    dynamic_frames: bool | None = None,
) -> Path:
    """Write ``model`` (in eval mode) as ``fmt`` to ``path`` by tracing it on ``example_batch``.

    ``dynamic_frames=None`` means dynamic T when the inputs carry a frame mask
    (``frames_vary``), else the example's T; asking for a dynamic T of inputs without a mask
    (video models: TSM and StNet store their segment count) is an ``ExportError``. Export
    with a batch of 2 or more: a size-1 axis may be specialised.
    """
    check_format(fmt)
    names = input_names(example_batch)
    if dynamic_frames is None:
        dynamic_frames = frames_vary(names)
    if dynamic_frames and not frames_vary(names):
        raise ExportError(
            "video models are exported for a fixed frame count (the trace bakes "
            "the segment count in); export with dynamic_frames=False and the T "
            "you will run (`videozoo export --frames T`)"
        )
    path = Path(path)
    # The wrapper must be in eval mode too: the ONNX exporter restores the wrapper's mode
    # (and so its children's) after exporting.
    wrapper = PositionalInputs(model, names).eval()
    args = _positional(example_batch, names, model_device(model))
    with _eval_mode(model):
        # Eager pass first: a wrong batch fails here with the model's own message, and layers
        # that read T from the input store it as a Python int before tracing.
        wrapper(*args)
        if fmt == "onnx":
            axes = dynamic_axes(names, dynamic_batch=dynamic_batch, dynamic_frames=dynamic_frames)
            atomic_write(path, lambda fh: _write_onnx(wrapper, args, fh, names, axes))
        else:
            # check_trace would re-run the model; parity_check compares on a new shape (and
            # torch leaves jit.trace unannotated)
            traced = torch.jit.trace(wrapper, args, check_trace=False)  # type: ignore[no-untyped-call]
            atomic_write(path, lambda fh: torch.jit.save(traced, fh))
    return path


def _write_onnx(
    wrapper: nn.Module,
    args: tuple[torch.Tensor, ...],
    fh: BinaryIO,
    names: list[str],
    axes: dict[str, dict[int, str]],
) -> None:
    torch.onnx.export(
        wrapper,
        args,
        fh,  # type: ignore[arg-type]  # documented to take a file object too; annotated as a path
        input_names=names,
        output_names=[OUTPUT_NAME],
        dynamic_axes=axes,
        opset_version=ONNX_OPSET,
        dynamo=False,
        do_constant_folding=True,
    )


def parity_batch(example_batch: dict[str, Any], *, dynamic_frames: bool, seed: int = 0) -> dict[str, Any]:
    """A random batch laid out like ``example_batch`` with one more sample and, when T is
    dynamic, ``T // 2 + 1`` frames and padding in the first sample's mask, so a parity check
    on it proves the dynamic axes work."""
    generator = torch.Generator().manual_seed(seed)
    batch = {}
    for name in input_names(example_batch):
        like = example_batch[name]
        shape = [like.shape[0] + 1, *like.shape[1:]]
        if dynamic_frames:
            shape[1] = like.shape[1] // 2 + 1
        if like.dtype == torch.bool:
            values = torch.ones(shape, dtype=torch.bool)
            values[0, max(1, shape[1] // 2) :] = False
        else:
            values = torch.randn(shape, generator=generator).to(like.dtype)
        batch[name] = values
    return batch


def _run_onnx(path: Path, batch: dict[str, Any], names: list[str]) -> torch.Tensor:
    try:  # an optional extra: imported only when an ONNX file is checked
        import onnxruntime
    except ImportError:
        raise ExportError(
            "checking an ONNX export needs onnxruntime: pip install 'videozoo[export]'"
        ) from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: batch[name].detach().cpu().numpy() for name in names}
    return torch.from_numpy(session.run([OUTPUT_NAME], feeds)[0])


def parity_check(model: nn.Module, exported_path: str | Path, fmt: str, batch: dict[str, Any]) -> float:
    """Max ``|logits_eager - logits_exported|`` on ``batch`` (eval mode, float32 compare).

    ONNX runs in onnxruntime on CPU, TorchScript in ``torch.jit.load`` on the model's device.
    Use a batch whose shape differs from the export example (``parity_batch``).
    """
    check_format(fmt)
    names = input_names(batch)
    device = model_device(model)
    args = _positional(batch, names, device)
    with _eval_mode(model):
        expected = PositionalInputs(model, names)(*args).float().cpu()
        if fmt == "onnx":
            exported = _run_onnx(Path(exported_path), batch, names)
        else:
            # torch leaves jit.load unannotated
            exported = torch.jit.load(str(exported_path), map_location=device)(*args)  # type: ignore[no-untyped-call]
    exported = exported.float().cpu()
    if exported.shape != expected.shape:
        raise ExportError(
            f"{exported_path}: exported model returns {list(exported.shape)} on "
            f"inputs {[list(a.shape) for a in args]}, PyTorch {list(expected.shape)}"
            "; the dynamic axes did not survive the export"
        )
    return float((exported - expected).abs().max())


def default_output_path(weights: str | Path, fmt: str) -> Path:
    """``run/best.pt`` -> ``run/best.onnx`` or ``run/best.torchscript.pt``."""
    weights = Path(weights)
    suffix = ".onnx" if fmt == "onnx" else ".torchscript.pt"
    return weights.with_name(weights.stem + suffix)


def sidecar_path(exported_path: str | Path) -> Path:
    """Where the JSON description of an exported file goes: ``<file>.json``."""
    exported_path = Path(exported_path)
    return exported_path.with_name(exported_path.name + ".json")


def write_sidecar(exported_path: Path, description: dict[str, Any]) -> Path:
    """Write ``description`` (inputs, outputs, classes: enough to run the file without
    videozoo) as ``<file>.json``, atomically."""
    return atomic_write_text(sidecar_path(exported_path), json.dumps(description, indent=2))


def with_frames(tensor: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``tensor [B, T, ...]`` with ``num_frames`` frames along T (repeating frames if longer)."""
    if num_frames < 1:
        raise ExportError(f"num_frames must be >= 1, got {num_frames}")
    return tensor[:, torch.arange(num_frames, device=tensor.device) % tensor.shape[1]]
