"""What a DataSource's `task` means for loss, scores and metrics.

* ``multilabel`` (YouTube-8M): sigmoid scores, BCE summed over classes and averaged over the
  batch, Hit@1 / PERR / GAP / mAP.
* ``singlelabel`` (Kinetics): softmax cross-entropy; in evaluation the batch holds V views per
  video (``video`` [B, V, T, 3, H, W]) whose softmax scores are averaged; top-1 / top-5 / mean
  class accuracy, with undecodable videos counted wrong.

The engine calls only these methods, so it never needs to know the dataset.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def to_device(batch: dict, device: torch.device, non_blocking: bool = False) -> dict:
    return {k: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items()}


class _Task:
    default_top_k = 5

    def __init__(self, num_classes: int, class_names: list[str], top_k: int | None = None):
        self.num_classes, self.class_names = num_classes, class_names
        self.top_k = top_k or self.default_top_k

    @staticmethod
    def batch_size(batch: dict) -> int:
        return len(batch["ids"])


class MultiLabelTask(_Task):
    name = "multilabel"
    default_monitor = "gap"
    default_top_k = 20  # GAP@20

    @staticmethod
    def model_inputs(batch: dict) -> dict:
        return batch

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        labels = batch["labels"].to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float(),
                                                  reduction="sum") / logits.shape[0]

    @staticmethod
    def scores(model, batch: dict) -> torch.Tensor:
        return torch.sigmoid(model(batch).float())

    def make_metrics(self):
        from videozoo.metrics.youtube8m import YouTube8MMetrics
        return YouTube8MMetrics(self.num_classes, top_k=self.top_k)

    @staticmethod
    def update_metrics(metrics, scores: torch.Tensor, batch: dict) -> None:
        metrics.update(scores.cpu(), batch["labels"].cpu())


class SingleLabelTask(_Task):
    name = "singlelabel"
    default_monitor = "top1"

    @staticmethod
    def model_inputs(batch: dict) -> dict:
        """Fold views into the batch: [B, V, T, 3, H, W] -> [B*V, T, 3, H, W]."""
        return {"video": batch["video"].flatten(0, 1)}

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        views = logits.shape[0] // batch["label"].shape[0]
        return F.cross_entropy(logits.float(), batch["label"].repeat_interleave(views))

    def scores(self, model, batch: dict) -> torch.Tensor:
        b, v = batch["video"].shape[:2]
        logits = model(self.model_inputs(batch)).float()
        return torch.softmax(logits, dim=-1).view(b, v, -1).mean(dim=1)

    def make_metrics(self):
        from videozoo.metrics.classification import ClassificationMetrics
        return ClassificationMetrics(self.num_classes, class_names=self.class_names)

    @staticmethod
    def update_metrics(metrics, scores: torch.Tensor, batch: dict) -> None:
        metrics.update(scores.cpu(), batch["label"].cpu(), valid=batch["valid"].cpu(),
                       ids=batch["ids"])


def make_task(source, num_classes: int, eval_cfg: dict | None = None):
    if source.task == "multilabel":
        return MultiLabelTask(num_classes, source.class_names, (eval_cfg or {}).get("top_k", 20))
    if source.task == "singlelabel":
        return SingleLabelTask(num_classes, source.class_names)
    raise ValueError(f"unknown task '{source.task}'")
