"""What a dataset's kind of label means for loss, scores, metrics, reports and example inputs.

* ``multilabel`` (YouTube-8M): features arrive uint8 and are dequantized here, on the device;
  sigmoid scores, BCE summed over classes and averaged over the batch, Hit@1 / PERR / GAP /
  mAP, PR-curve report; predictions default to the top 20.
* ``singlelabel`` (Kinetics): in evaluation the batch holds V views per video
  (``video`` [B, V, T, 3, H, W]) whose softmax scores are averaged; top-1 / top-5 / mean class
  accuracy with undecodable videos counted wrong, confusion report; top 5 by default.

The engine, export and the CLI only call the ``Task`` protocol below, so none of them needs
to know the dataset. ``make_task(cfg, class_names)`` picks the task the data format declares
(its module's ``TASK``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from videozoo import registry
from videozoo.data.youtube8m_records import dequantize
from videozoo.metrics.classification import ClassificationMetrics
from videozoo.metrics.youtube8m import YouTube8MMetrics
from videozoo.reports import write_multilabel_report, write_singlelabel_report

#: a batch dict (docs/ARCHITECTURE.md, section 2): tensors, ids, skip records
Batch = dict[str, Any]


class Scorer(Protocol):
    """What a scoring pass needs of a task: scores ``[B, ...]`` for one batch."""

    def scores(self, model: Any, batch: Batch) -> torch.Tensor: ...


class Task(Protocol):
    name: str
    score_function: str  # applied to logits: "sigmoid" or "softmax"
    default_monitor: str  # metric that picks best.pt
    default_top_k: int  # classes per video in predictions
    num_classes: int
    class_names: list[str]

    def batch_size(self, batch: Batch) -> int: ...
    def model_inputs(self, batch: Batch) -> Batch: ...
    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor: ...
    def scores(self, model: Callable[[Batch], torch.Tensor], batch: Batch) -> torch.Tensor: ...
    def make_metrics(self) -> Any: ...  # a metric accumulator (metrics/*.py)
    def update_metrics(self, metrics: Any, scores: torch.Tensor, batch: Batch) -> None: ...
    def write_report(self, metrics: Any, out_dir: str | Path) -> list[Path]: ...
    def example_input(self, model: Any, batch_size: int, training: bool = False) -> Batch: ...


def to_device(batch: Batch, device: torch.device, non_blocking: bool = False) -> Batch:
    """``batch`` with its tensors on ``device`` (other values as they are)."""
    return {
        k: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v)
        for k, v in batch.items()
    }


class _TaskBase:
    default_top_k = 5

    def __init__(
        self,
        num_classes: int,
        class_names: list[str],
        data_cfg: dict[str, Any] | None = None,
        metric_top_k: int | None = None,
    ):
        self.num_classes, self.class_names = num_classes, list(class_names)
        self.data_cfg = data_cfg or {}
        self.metric_top_k = metric_top_k

    @staticmethod
    def batch_size(batch: Batch) -> int:
        return len(batch["ids"])

    def example_input(self, model: Any, batch_size: int, training: bool = False) -> Batch:
        """A random model input of the shape this data section feeds (for info and export)."""
        if "format" not in self.data_cfg:
            batch: Batch = model.default_input(batch_size)
            return batch
        spec = registry.dataset_module(self.data_cfg["format"]).model_input_spec(self.data_cfg, training)
        batch = model.default_input(batch_size, **spec)
        return batch


class MultiLabelTask(_TaskBase):
    name = "multilabel"
    score_function = "sigmoid"
    default_monitor = "gap"
    default_top_k = 20

    @staticmethod
    def model_inputs(batch: Batch) -> Batch:
        """uint8 features -> float, on whatever device the batch is (GPU: after the copy)."""
        inputs = dict(batch)
        for key in ("rgb", "audio"):
            if inputs[key].dtype == torch.uint8:
                inputs[key] = dequantize(inputs[key])
        return inputs

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return (
            F.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float(), reduction="sum")
            / logits.shape[0]
        )

    def scores(self, model: Callable[[Batch], torch.Tensor], batch: Batch) -> torch.Tensor:
        return torch.sigmoid(model(self.model_inputs(batch)).float())

    def make_metrics(self) -> YouTube8MMetrics:
        return YouTube8MMetrics(self.num_classes, top_k=self.metric_top_k or 20)

    @staticmethod
    def update_metrics(metrics: YouTube8MMetrics, scores: torch.Tensor, batch: Batch) -> None:
        metrics.update(scores.cpu(), batch["labels"].cpu())

    def write_report(self, metrics: YouTube8MMetrics, out_dir: str | Path) -> list[Path]:
        return write_multilabel_report(metrics, self.class_names, out_dir, self.metric_top_k or 20)


class SingleLabelTask(_TaskBase):
    name = "singlelabel"
    score_function = "softmax"
    default_monitor = "top1"
    default_top_k = 5

    @staticmethod
    def model_inputs(batch: Batch) -> Batch:
        """Fold views into the batch: [B, V, T, 3, H, W] -> [B*V, T, 3, H, W]."""
        return {"video": batch["video"].flatten(0, 1)}

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        views = logits.shape[0] // batch["label"].shape[0]
        return F.cross_entropy(logits.float(), batch["label"].repeat_interleave(views))

    def scores(self, model: Callable[[Batch], torch.Tensor], batch: Batch) -> torch.Tensor:
        b, v = batch["video"].shape[:2]
        logits = model(self.model_inputs(batch)).float()
        return torch.softmax(logits, dim=-1).view(b, v, -1).mean(dim=1)

    def make_metrics(self) -> ClassificationMetrics:
        return ClassificationMetrics(self.num_classes, class_names=self.class_names)

    @staticmethod
    def update_metrics(metrics: ClassificationMetrics, scores: torch.Tensor, batch: Batch) -> None:
        metrics.update(scores.cpu(), batch["label"].cpu(), valid=batch["valid"].cpu(), ids=batch["ids"])

    def write_report(self, metrics: ClassificationMetrics, out_dir: str | Path) -> list[Path]:
        return write_singlelabel_report(metrics, self.class_names, out_dir)


TASKS: dict[str, Callable[..., Task]] = {"multilabel": MultiLabelTask, "singlelabel": SingleLabelTask}


def make_task(cfg: dict[str, Any], class_names: list[str]) -> Task:
    """The task of ``cfg``'s data format (its module's ``TASK``), for these class names."""
    kind = registry.dataset_module(cfg["data"]["format"]).TASK
    return TASKS[kind](
        cfg["model"]["num_classes"] or len(class_names), class_names, cfg["data"], cfg["eval"].get("top_k")
    )
