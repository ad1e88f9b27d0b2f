"""Export a model to ONNX or TorchScript and check the exported graph against eager PyTorch.

The exported graph takes the batch tensors positionally, in the fixed order ``INPUT_ORDER``
(the keys a model's ``default_input`` returns), and returns ``logits``:

* feature models: ``rgb [B, T, rgb_size]`` float32, ``audio [B, T, audio_size]`` float32,
  ``mask [B, T]`` bool (True = real frame) -> ``logits [B, num_classes]``
* video models: ``video [N, T, 3, H, W]`` float32 (normalised RGB) -> ``logits [N, num_classes]``

Logits are raw: apply sigmoid (YouTube-8M, multi-label) or softmax (Kinetics). The batch axis
is always dynamic. The frame axis T is dynamic for the feature models (Attention Cluster still
samples its ``seg_num`` frames from each video's real length inside the graph). Video models
are exported for the T of the example batch: TSM and StNet fold time into the batch with a
segment count stored in the model, which the trace bakes in; export again with another
``num_frames`` for another test-time segment count.

ONNX goes through the TorchScript-based exporter (``dynamo=False``, opset ``ONNX_OPSET``) and
is checked with onnxruntime on CPU; TorchScript is a ``torch.jit.trace`` that runs on the
device it was traced on. ``cli_export`` writes ``<file>.json`` next to the export: input and
output spec, dynamic axes, class names and the score function, enough to run it without
videozoo.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import torch
from torch import nn

from videozoo.errors import ExportError
from videozoo.fileio import atomic_write, atomic_write_text

FORMATS = ("onnx", "torchscript")
INPUT_ORDER = ("rgb", "audio", "mask", "video")
OUTPUT_NAME = "logits"
ONNX_OPSET = 17
BATCH_AXIS, FRAME_AXIS = "batch", "frames"
#: above this the CLI warns that the exported model does not reproduce PyTorch
PARITY_WARN_ABOVE = 1e-3

log = logging.getLogger("videozoo")


class PositionalInputs(nn.Module):
    """``forward(*tensors) -> model(dict(zip(input_names, tensors)))``: the exported signature."""

    def __init__(self, model: nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.input_names, tensors)))


def input_names(batch: dict) -> list[str]:
    """The model inputs present in ``batch``, in ``INPUT_ORDER`` (other keys are ignored)."""
    names = [name for name in INPUT_ORDER if isinstance(batch.get(name), torch.Tensor)]
    if not names:
        raise ExportError(
            f"the example batch holds none of the model inputs {INPUT_ORDER}; "
            "pass model.default_input(batch_size)"
        )
    return names


def dynamic_axes(names: list[str], *, dynamic_batch: bool, dynamic_frames: bool) -> dict:
    """``{input or output name: {axis: axis name}}``; T is axis 1 of every input."""
    axes = {name: {} for name in [*names, OUTPUT_NAME]}
    for name in axes:
        if dynamic_batch:
            axes[name][0] = BATCH_AXIS
        if dynamic_frames and name != OUTPUT_NAME:
            axes[name][1] = FRAME_AXIS
    return {name: named for name, named in axes.items() if named}


def input_spec(batch: dict, axes: dict) -> list[dict]:
    """``[{"name", "dtype", "shape"}]`` with dynamic axes given by name, e.g. ``["batch", ...]``."""
    spec = []
    for name in input_names(batch):
        shape = [axes.get(name, {}).get(i, size) for i, size in enumerate(batch[name].shape)]
        spec.append({"name": name, "dtype": str(batch[name].dtype).removeprefix("torch."), "shape": shape})
    return spec


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _positional(batch: dict, names: list[str], device: torch.device) -> tuple:
    return tuple(batch[name].to(device) for name in names)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {FORMATS}")


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
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
    example_batch: dict,
    fmt: str,
    path: str | Path,
    *,
    dynamic_batch: bool = True,
    dynamic_frames: bool | None = None,
) -> Path:
    """Write ``model`` (in eval mode) as ``fmt`` to ``path`` by tracing it on ``example_batch``.

    ``dynamic_frames=None`` means dynamic T for feature models, the example's T for video
    models; asking for a dynamic T from a model that stores its segment count (TSM, StNet) is
    an ``ExportError``. Export with a batch of 2 or more: a size-1 axis may be specialised.
    """
    _check_format(fmt)
    names = input_names(example_batch)
    if dynamic_frames is None:
        dynamic_frames = "video" not in names
    if dynamic_frames and "video" in names:
        raise ExportError(
            "video models are exported for a fixed frame count (the trace bakes "
            "the segment count in); export with dynamic_frames=False and the T "
            "you will run (`videozoo export --frames T`)"
        )
    path = Path(path)
    # The wrapper must be in eval mode too: the ONNX exporter restores the wrapper's mode
    # (and so its children's) after exporting.
    wrapper = PositionalInputs(model, names).eval()
    args = _positional(example_batch, names, _model_device(model))
    with _eval_mode(model):
        # Eager pass first: a wrong batch fails here with the model's own message, and layers
        # that read T from the input store it as a Python int before tracing.
        wrapper(*args)
        if fmt == "onnx":
            atomic_write(
                path,
                lambda fh: torch.onnx.export(
                    wrapper,
                    args,
                    fh,
                    input_names=names,
                    output_names=[OUTPUT_NAME],
                    dynamic_axes=dynamic_axes(
                        names, dynamic_batch=dynamic_batch, dynamic_frames=dynamic_frames
                    ),
                    opset_version=ONNX_OPSET,
                    dynamo=False,
                    do_constant_folding=True,
                ),
            )
        else:
            # check_trace would re-run the model; parity_check compares on a new shape.
            traced = torch.jit.trace(wrapper, args, check_trace=False)
            atomic_write(path, lambda fh: torch.jit.save(traced, fh))
    return path


def parity_batch(example_batch: dict, *, dynamic_frames: bool, seed: int = 0) -> dict:
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


def _run_onnx(path: Path, batch: dict, names: list[str]) -> torch.Tensor:
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "checking an ONNX export needs onnxruntime: pip install 'videozoo[export]'"
        ) from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: batch[name].detach().cpu().numpy() for name in names}
    return torch.from_numpy(session.run([OUTPUT_NAME], feeds)[0])


def parity_check(model: nn.Module, exported_path: str | Path, fmt: str, batch: dict) -> float:
    """Max ``|logits_eager - logits_exported|`` on ``batch`` (eval mode, float32 compare).

    ONNX runs in onnxruntime on CPU, TorchScript in ``torch.jit.load`` on the model's device.
    Use a batch whose shape differs from the export example (``parity_batch``).
    """
    _check_format(fmt)
    names = input_names(batch)
    device = _model_device(model)
    args = _positional(batch, names, device)
    with _eval_mode(model):
        expected = PositionalInputs(model, names)(*args).float().cpu()
        if fmt == "onnx":
            exported = _run_onnx(Path(exported_path), batch, names)
        else:
            exported = torch.jit.load(str(exported_path), map_location=device)(*args)
    exported = exported.float().cpu()
    if exported.shape != expected.shape:
        raise ExportError(
            f"{exported_path}: exported model returns {list(exported.shape)} on "
            f"inputs {[list(a.shape) for a in args]}, PyTorch {list(expected.shape)}"
            "; the dynamic axes did not survive the export"
        )
    return (exported - expected).abs().max().item()


def default_output_path(weights: str | Path, fmt: str) -> Path:
    """``run/best.pt`` -> ``run/best.onnx`` or ``run/best.torchscript.pt``."""
    weights = Path(weights)
    suffix = ".onnx" if fmt == "onnx" else ".torchscript.pt"
    return weights.with_name(weights.stem + suffix)


def sidecar_path(exported_path: str | Path) -> Path:
    exported_path = Path(exported_path)
    return exported_path.with_name(exported_path.name + ".json")


def cli_export(
    model_name: str,
    weights: str | Path,
    fmt: str = "onnx",
    output: str | Path | None = None,
    device: str = "cpu",
    num_frames: int | None = None,
) -> dict:
    """``videozoo export MODEL --weights CKPT --format F [--output FILE]``.

    Builds the model from the checkpoint's config, exports it on a batch of 2
    (``num_frames`` overrides T, e.g. a test-time segment count for video models), checks
    parity on ``parity_batch``, writes the JSON sidecar and prints and returns
    ``{"path", "format", "max_abs_diff", "inputs", "dynamic_axes", "sidecar"}``.
    """
    from videozoo.engine.checkpoint import load_model
    from videozoo.engine.distributed import resolve_device
    from videozoo.engine.tasks import make_task

    _check_format(fmt)
    loaded = load_model(weights, model_name, device=resolve_device(device), purpose="`videozoo export`")
    model, cfg = loaded.model, loaded.config

    task = make_task(cfg, loaded.class_names)
    example = {name: value for name, value in task.example_input(model, 2).items() if name in INPUT_ORDER}
    if num_frames is not None:
        example = {name: _with_frames(value, num_frames) for name, value in example.items()}
    names = input_names(example)
    dynamic_frames = "video" not in names
    path = export_model(
        model, example, fmt, output or default_output_path(weights, fmt), dynamic_frames=dynamic_frames
    )
    max_abs_diff = parity_check(model, path, fmt, parity_batch(example, dynamic_frames=dynamic_frames))
    if max_abs_diff > PARITY_WARN_ABOVE:
        log.warning("%s: exported logits differ from PyTorch by up to %.3g", path, max_abs_diff)

    axes = dynamic_axes(names, dynamic_batch=True, dynamic_frames=dynamic_frames)
    num_classes = cfg["model"].get("num_classes")
    sidecar = {
        "model": model_name,
        "format": fmt,
        "file": path.name,
        "inputs": input_spec(example, axes),
        "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [BATCH_AXIS, num_classes]}],
        "dynamic_axes": axes,
        "scores": task.score_function,
        "class_names": loaded.class_names,
        "onnx_opset": ONNX_OPSET if fmt == "onnx" else None,
        "device": str(_model_device(model)),
    }
    sidecar_file = sidecar_path(path)
    atomic_write_text(sidecar_file, json.dumps(sidecar, indent=2))
    result = {
        "path": str(path),
        "format": fmt,
        "max_abs_diff": max_abs_diff,
        "inputs": sidecar["inputs"],
        "dynamic_axes": axes,
        "sidecar": str(sidecar_file),
    }
    print(json.dumps(result, indent=2))
    return result


def _with_frames(tensor: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``tensor [B, T, ...]`` with ``num_frames`` frames along T (repeating frames if longer)."""
    if num_frames < 1:
        raise ExportError(f"num_frames must be >= 1, got {num_frames}")
    return tensor[:, torch.arange(num_frames, device=tensor.device) % tensor.shape[1]]
