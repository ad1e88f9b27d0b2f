"""YouTube-8M evaluation metrics: Hit@1, PERR, GAP@20 and mAP, as Google's eval_util defines them.

``YouTube8MMetrics(num_classes, top_k=20)`` streams over batches: ``update(scores [B, C],
labels [B, C])`` with sigmoid scores and multi-hot labels keeps only each video's ``top_k``
(score, class, is_label) triplets plus a few counters, never the full score matrix, so the
1.1M x 3862 validation set needs about 200 MB. ``compute()`` does one global sort.
``pooled_predictions()`` and ``per_class_average_precision()`` feed reports (PR curve,
per-class AP). ``state()`` / ``YouTube8MMetrics.merge(states)`` combine per-rank accumulators and give
exactly the single-process result, whatever the split and order.

Definitions (N videos, M = all positive labels of the set, including those that never reach a
video's top k):
* Hit@1: mean over videos of "the top-ranked class is a label"; a label-less video scores 0.
* PERR: per video with k labels, the fraction of its top-k classes that are labels (0 if k=0).
* GAP: pool every video's top-``top_k`` (score, is_label) pairs, rank them by score, and take
  ``sum_i is_label_i * precision_at_i / M`` (0 if M = 0). Global, not a mean over batches.
* mAP: per class, the same average precision over the retained pairs of that class divided by
  the class's positives; mean over classes that have positives (0 if none do).

Ties: Google's code breaks equal scores at random. Here the ranking is a fixed total order:
higher score first; among equal scores a non-label ranks before a label (ties count against
the model); then the lower class index first. The result thus never depends on batch
boundaries, video order or the number of ranks. Scores are compared in float32.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from videozoo.errors import NonFiniteError

_LOW_31_BITS = (1 << 31) - 1


def _sortable_bits(scores: torch.Tensor) -> torch.Tensor:
    """int64 tensor ordered like float32 ``scores`` (-0.0 == 0.0); NaN is rejected earlier."""
    bits = (scores.float() + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into 0.0
    return torch.where(bits < 0, bits ^ _LOW_31_BITS, bits).long()


def _video_ranking_key(scores: torch.Tensor, is_label: torch.Tensor) -> torch.Tensor:
    """int64 key ``[B, C]``, larger = ranked first: score, then non-label, then lower index."""
    class_index = torch.arange(scores.shape[1], device=scores.device)
    low_bits = ((~is_label).long() << 31) | (_LOW_31_BITS - class_index)
    return (_sortable_bits(scores) << 32) + low_bits


def _pool_ranking_key(scores: torch.Tensor, is_label: torch.Tensor) -> torch.Tensor:
    """int64 key of pooled pairs, larger = ranked first: score, then non-label."""
    return (_sortable_bits(scores) << 1) | (~is_label).long()


def _class_then_rank_key(classes: torch.Tensor, scores: torch.Tensor, is_label: torch.Tensor) -> torch.Tensor:
    """int64 key, smaller = first: class ascending, then score descending, then non-label."""
    score_rank = (1 << 32) - 1 - (_sortable_bits(scores) + (1 << 31))  # in [0, 2^32)
    return (classes.long() << 33) | (score_rank << 1) | is_label.long()


def _top_classes(scores: torch.Tensor, labels: torch.Tensor, depth: int) -> torch.Tensor:
    """The ``depth`` best classes ``[B, depth]`` of each video, in the documented order.

    A plain float topk is exact unless equal scores meet within the first depth + 1 places;
    only those (rare) rows are re-ranked with the full tie-breaking key.
    """
    num_classes = scores.shape[1]
    top_scores, top_classes = torch.topk(scores, min(depth + 1, num_classes), dim=1)
    if bool(torch.isnan(top_scores[:, 0]).any()):  # topk ranks NaN first
        raise NonFiniteError(
            "the model gives NaN scores, so no metric can be computed: its "
            "weights hold NaN/Inf (a diverged run?); use an earlier checkpoint"
        )
    top_classes = top_classes[:, :depth]
    tied = (top_scores[:, 1:] == top_scores[:, :-1]).any(dim=1)
    if bool(tied.any()):
        rows = tied.nonzero().squeeze(1)
        key = _video_ranking_key(scores[rows], labels[rows] > 0)
        top_classes[rows] = torch.topk(key, depth, dim=1).indices
    return top_classes


class YouTube8MMetrics:
    """Streaming Hit@1 / PERR / GAP@top_k / mAP accumulator (see module docstring)."""

    def __init__(self, num_classes: int, top_k: int = 20):
        if num_classes < 1 or num_classes >= 1 << 30:
            raise ValueError(f"num_classes must be in [1, 2^30), got {num_classes}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.num_classes = num_classes
        self.top_k = top_k
        self.num_videos = 0
        self.num_hits = 0
        # Index k: labels found in the top k of videos that have k labels (exact PERR sums).
        self.perr_hits_by_label_count = torch.zeros(num_classes + 1, dtype=torch.int64)
        self.positives_per_class = torch.zeros(num_classes, dtype=torch.int64)
        self._top_scores: list[torch.Tensor] = []  # [B, k] float32
        self._top_classes: list[torch.Tensor] = []  # [B, k] int32
        self._top_is_label: list[torch.Tensor] = []  # [B, k] bool

    @torch.no_grad()
    def update(self, scores: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Add a batch: ``scores [B, C]`` (sigmoid probabilities), ``labels [B, C]`` multi-hot.

        ``valid [B]`` (optional, bool): a video marked False counts as wrong (all its scores
        become -inf) but stays in every denominator.
        """
        if scores.dim() != 2 or scores.shape != labels.shape or scores.shape[1] != self.num_classes:
            raise ValueError(
                f"expected scores and labels of shape [B, {self.num_classes}], got "
                f"{tuple(scores.shape)} and {tuple(labels.shape)}"
            )
        if scores.shape[0] == 0:
            return
        scores = scores.float()
        if valid is not None:
            scores = scores.masked_fill(~valid.to(scores.device, torch.bool).unsqueeze(1), float("-inf"))
        labels = labels.float()  # float sums are exact here and much faster than bool sums
        label_counts = labels.sum(dim=1).long()
        depth = min(self.num_classes, max(self.top_k, int(label_counts.max())))
        top_classes = _top_classes(scores, labels, depth)
        top_is_label = labels.gather(1, top_classes) > 0
        ranks = torch.arange(depth, device=scores.device)
        perr_hits = (top_is_label & (ranks < label_counts.unsqueeze(1))).sum(dim=1)

        width = min(self.top_k, self.num_classes)
        self.num_videos += scores.shape[0]
        self.num_hits += int(top_is_label[:, 0].sum())
        self.perr_hits_by_label_count.index_add_(0, label_counts.cpu(), perr_hits.cpu())
        self.positives_per_class += labels.sum(dim=0).long().cpu()
        self._top_classes.append(top_classes[:, :width].int().cpu())
        self._top_scores.append(scores.gather(1, top_classes[:, :width]).cpu())
        self._top_is_label.append(top_is_label[:, :width].cpu())

    def _retained(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All retained (scores, classes, is_label), each ``[N, k]``, concatenated once."""
        width = min(self.top_k, self.num_classes)
        for name, dtype in (
            ("_top_scores", torch.float32),
            ("_top_classes", torch.int32),
            ("_top_is_label", torch.bool),
        ):
            parts = getattr(self, name)
            if len(parts) != 1:
                setattr(self, name, [torch.cat(parts) if parts else torch.zeros(0, width, dtype=dtype)])
        return self._top_scores[0], self._top_classes[0], self._top_is_label[0]

    def compute(self) -> dict:
        """``{"hit_at_one", "perr", "gap", "map", "num_videos"}`` over everything seen so far."""
        num_videos = self.num_videos
        scores, classes, is_label = self._retained()
        label_counts = torch.arange(1, self.num_classes + 1, dtype=torch.float64)
        perr_sum = float((self.perr_hits_by_label_count[1:].double() / label_counts).sum())
        return {
            "hit_at_one": self.num_hits / num_videos if num_videos else 0.0,
            "perr": perr_sum / num_videos if num_videos else 0.0,
            "gap": _global_average_precision(
                scores.flatten(), is_label.flatten(), int(self.positives_per_class.sum())
            ),
            "map": _mean_average_precision(
                scores.flatten(), classes.flatten(), is_label.flatten(), self.positives_per_class
            ),
            "num_videos": num_videos,
        }

    def pooled_predictions(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The pooled top-k pairs as ``(scores [N*k] float32, is_label [N*k] bool, M)``.

        Unsorted; M counts every positive label of the set (the recall denominator of GAP).
        """
        scores, _, is_label = self._retained()
        return (scores.flatten().numpy(), is_label.flatten().numpy(), int(self.positives_per_class.sum()))

    def per_class_average_precision(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ap [C] float64, NaN for classes without positives; positives [C] int64)``."""
        scores, classes, is_label = self._retained()
        ap = _per_class_average_precision(
            scores.flatten(), classes.flatten(), is_label.flatten(), self.positives_per_class
        )
        return ap.numpy(), self.positives_per_class.numpy().copy()

    def state(self) -> dict:
        """Everything needed to resume or merge, as CPU tensors and ints (picklable)."""
        scores, classes, is_label = self._retained()
        return {
            "num_classes": self.num_classes,
            "top_k": self.top_k,
            "num_videos": self.num_videos,
            "num_hits": self.num_hits,
            "perr_hits_by_label_count": self.perr_hits_by_label_count.clone(),
            "positives_per_class": self.positives_per_class.clone(),
            "top_scores": scores,
            "top_classes": classes,
            "top_is_label": is_label,
        }

    @classmethod
    def merge(cls, states: Iterable[dict]) -> YouTube8MMetrics:
        """A new accumulator holding the sum of ``states`` (e.g. gathered from every rank)."""
        states = list(states)
        if not states:
            raise ValueError("merge needs at least one state")
        merged = cls(states[0]["num_classes"], states[0]["top_k"])
        for state in states:
            if (state["num_classes"], state["top_k"]) != (merged.num_classes, merged.top_k):
                raise ValueError("cannot merge YouTube-8M metric states with different num_classes or top_k")
            merged.num_videos += state["num_videos"]
            merged.num_hits += state["num_hits"]
            merged.perr_hits_by_label_count += state["perr_hits_by_label_count"]
            merged.positives_per_class += state["positives_per_class"]
            merged._top_scores.append(state["top_scores"])
            merged._top_classes.append(state["top_classes"])
            merged._top_is_label.append(state["top_is_label"])
        return merged


def _global_average_precision(scores: torch.Tensor, is_label: torch.Tensor, num_positives: int) -> float:
    if num_positives == 0:
        return 0.0
    order = torch.argsort(_pool_ranking_key(scores, is_label), descending=True)
    ranked = is_label[order].double()
    precision = torch.cumsum(ranked, 0) / torch.arange(1, ranked.numel() + 1, dtype=torch.float64)
    return float((ranked * precision).sum()) / num_positives


def _per_class_average_precision(
    scores: torch.Tensor, classes: torch.Tensor, is_label: torch.Tensor, positives_per_class: torch.Tensor
) -> torch.Tensor:
    """AP ``[C]`` (float64) of each class over its retained pairs; NaN without positives."""
    num_classes = positives_per_class.numel()
    order = torch.argsort(_class_then_rank_key(classes, scores, is_label))
    classes, ranked = classes[order].long(), is_label[order].long()
    # Rank and hit count of each pair inside its own class's run of the sorted list.
    pairs_per_class = torch.bincount(classes, minlength=num_classes)
    hits_per_class = torch.zeros(num_classes, dtype=torch.int64).index_add_(0, classes, ranked)
    first_pair = torch.cumsum(pairs_per_class, 0) - pairs_per_class
    hits_before = torch.cumsum(hits_per_class, 0) - hits_per_class
    rank_in_class = torch.arange(ranked.numel()) - first_pair[classes] + 1
    hits_in_class = torch.cumsum(ranked, 0) - hits_before[classes]
    terms = ranked.double() * hits_in_class.double() / rank_in_class.double()
    ap_sums = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, classes, terms)
    return ap_sums / positives_per_class.double()  # 0 / 0 = NaN for classes without positives


def _mean_average_precision(
    scores: torch.Tensor, classes: torch.Tensor, is_label: torch.Tensor, positives_per_class: torch.Tensor
) -> float:
    has_positives = positives_per_class > 0
    if not bool(has_positives.any()):
        return 0.0
    ap = _per_class_average_precision(scores, classes, is_label, positives_per_class)
    return float(ap[has_positives].mean())


def _one_shot(scores: torch.Tensor, labels: torch.Tensor, top_k: int = 20) -> dict:
    metrics = YouTube8MMetrics(scores.shape[-1], top_k)
    metrics.update(scores, labels)
    return metrics.compute()


def hit_at_one(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Hit@1 of ``scores [N, C]`` against multi-hot ``labels [N, C]``."""
    return _one_shot(scores, labels)["hit_at_one"]


def precision_at_equal_recall_rate(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """PERR of ``scores [N, C]`` against multi-hot ``labels [N, C]``."""
    return _one_shot(scores, labels)["perr"]


def global_average_precision(scores: torch.Tensor, labels: torch.Tensor, top_k: int = 20) -> float:
    """GAP@top_k of ``scores [N, C]`` against multi-hot ``labels [N, C]``."""
    return _one_shot(scores, labels, top_k)["gap"]


def mean_average_precision(scores: torch.Tensor, labels: torch.Tensor, top_k: int = 20) -> float:
    """Mean over classes with positives of AP over each video's top-k predictions."""
    return _one_shot(scores, labels, top_k)["map"]
