"""Single-label (Kinetics) metrics: top-1, top-5, mean class accuracy, confusion matrix.

``ClassificationMetrics(num_classes, class_names=None)`` streams over batches:
``update(scores [B, C], labels [B] long, valid [B] bool or None, ids=None)`` where scores are
the view-averaged softmax. A video that could not be decoded (``valid`` False) counts as wrong
for every metric and its id is listed in ``invalid_ids``; it is never dropped from the
denominator. ``compute()`` returns the scalar metrics; ``confusion_matrix()`` (rows = true
class, columns = predicted class, decoded videos only: a row can sum to less than the class's
``videos_per_class``) and ``per_class_accuracy()`` (invalid videos counted wrong) serve reports.
``state()`` / ``ClassificationMetrics.merge(states)`` combine per-rank accumulators exactly.

Ties: the rank of the true class is the number of classes with a higher score plus those with
an equal score and a lower index (``argmax`` picks the first maximum, the same rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from videozoo.errors import ConfigError, DataError


class ClassificationMetrics:
    """Streaming top-1 / top-5 / mean class accuracy accumulator (see module docstring)."""

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None):
        if class_names is not None and len(class_names) != num_classes:
            raise ConfigError(
                f"the model has {num_classes} classes but the data names "
                f"{len(class_names)}: evaluate on the dataset the model was trained "
                "for (its class list), or fine-tune it on this one first"
            )
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.videos_per_class = torch.zeros(num_classes, dtype=torch.int64)  # invalid included
        self.num_videos = 0
        self.num_top5 = 0
        self.invalid_ids: list[str] = []

    @torch.no_grad()
    def update(
        self,
        scores: torch.Tensor,
        labels: torch.Tensor,
        valid: torch.Tensor | None = None,
        ids: Sequence[str] | None = None,
    ) -> None:
        """Add a batch: ``scores [B, C]``, ``labels [B]`` in [0, C), ``valid [B]`` bool."""
        batch = labels.shape[0]
        if scores.shape != (batch, self.num_classes):
            raise ValueError(
                f"expected scores [B, {self.num_classes}] for {batch} labels, got {tuple(scores.shape)}"
            )
        labels = labels.long().cpu()
        if batch and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise DataError(
                f"labels must be in [0, {self.num_classes}) for evaluation; got "
                f"{labels.tolist()} (unknown labels, -1, belong to predict only)"
            )
        valid = torch.ones(batch, dtype=torch.bool) if valid is None else valid.bool().cpu()
        scores = scores.float().cpu()
        true_scores = scores.gather(1, labels.unsqueeze(1))
        lower_index = torch.arange(self.num_classes).unsqueeze(0) < labels.unsqueeze(1)
        ahead = (scores > true_scores) | ((scores == true_scores) & lower_index)
        true_rank = ahead.sum(dim=1)
        predicted = scores.argmax(dim=1)

        self.num_videos += batch
        self.num_top5 += int(((true_rank < 5) & valid).sum())
        self.videos_per_class += torch.bincount(labels, minlength=self.num_classes)
        flat = labels[valid] * self.num_classes + predicted[valid]
        self.confusion += torch.bincount(flat, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )
        if not bool(valid.all()):
            names = ids if ids is not None else ["<unknown id>"] * batch
            self.invalid_ids.extend(name for name, ok in zip(names, valid.tolist()) if not ok)

    def confusion_matrix(self) -> np.ndarray:
        """Counts ``[C, C]`` (int64): row = true class, column = argmax prediction."""
        return self.confusion.numpy().copy()

    def per_class_accuracy(self) -> np.ndarray:
        """Top-1 accuracy per class ``[C]`` (float64), undecodable videos counted wrong; NaN for
        classes with no video."""
        correct = self.confusion.diagonal().double()
        return (correct / self.videos_per_class.double()).numpy()

    def compute(self) -> dict:
        """``{"top1", "top5", "mean_class_accuracy", "num_videos", "num_invalid"}``."""
        num_videos = self.num_videos
        per_class = self.per_class_accuracy()
        seen = self.videos_per_class.numpy() > 0
        return {
            "top1": int(self.confusion.trace()) / num_videos if num_videos else 0.0,
            "top5": self.num_top5 / num_videos if num_videos else 0.0,
            "mean_class_accuracy": float(per_class[seen].mean()) if bool(seen.any()) else 0.0,
            "num_videos": num_videos,
            "num_invalid": len(self.invalid_ids),
            "undecodable_videos": sorted(self.invalid_ids),
        }

    def state(self) -> dict:
        """Everything needed to merge, as CPU tensors and plain Python values (picklable)."""
        return {
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "confusion": self.confusion.clone(),
            "videos_per_class": self.videos_per_class.clone(),
            "num_videos": self.num_videos,
            "num_top5": self.num_top5,
            "invalid_ids": list(self.invalid_ids),
        }

    @classmethod
    def merge(cls, states: Iterable[dict]) -> ClassificationMetrics:
        """A new accumulator holding the sum of ``states`` (e.g. gathered from every rank)."""
        states = list(states)
        if not states:
            raise ValueError("merge needs at least one state")
        merged = cls(states[0]["num_classes"], states[0]["class_names"])
        for state in states:
            if state["num_classes"] != merged.num_classes:
                raise ValueError("cannot merge classification metric states with different num_classes")
            merged.confusion += state["confusion"]
            merged.videos_per_class += state["videos_per_class"]
            merged.num_videos += state["num_videos"]
            merged.num_top5 += state["num_top5"]
            merged.invalid_ids.extend(state["invalid_ids"])
        return merged
