"""Classification metrics against a plain-loop reference (ties: lower class index ranks first)."""

from __future__ import annotations

import math

import pytest
import torch

from videozoo.metrics.classification import ClassificationMetrics


def reference(scores: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> dict:
    num_classes = scores.shape[1]
    top1 = top5 = 0
    correct = [0] * num_classes
    total = [0] * num_classes
    for row, label, ok in zip(scores.tolist(), labels.tolist(), valid.tolist()):
        total[label] += 1
        if not ok:
            continue
        ranked = sorted(range(num_classes), key=lambda c: (-row[c], c))
        top1 += ranked[0] == label
        top5 += label in ranked[:5]
        correct[label] += ranked[0] == label
    per_class = [c / t for c, t in zip(correct, total) if t]
    return {
        "top1": top1 / len(labels),
        "top5": top5 / len(labels),
        "mean_class_accuracy": sum(per_class) / len(per_class),
        "num_videos": len(labels),
        "num_invalid": int((~valid).sum()),
    }


def random_inputs(num_videos: int, num_classes: int, seed: int, tied: bool = False):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (num_videos,), generator=gen)
    logits = torch.randn(num_videos, num_classes, generator=gen)
    logits[torch.arange(num_videos), labels] += 1.0
    scores = torch.softmax(logits, dim=1)
    if tied:
        scores = torch.round(scores * 5) / 5
    valid = torch.rand(num_videos, generator=gen) > 0.1
    return scores, labels, valid


@pytest.mark.parametrize("tied", [False, True])
def test_matches_reference(tied):
    scores, labels, valid = random_inputs(80, 12, seed=int(tied), tied=tied)
    metrics = ClassificationMetrics(12)
    metrics.update(scores, labels, valid, ids=[f"v{i}" for i in range(80)])
    result = metrics.compute()
    expected = reference(scores, labels, valid)
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-12), name
    assert metrics.invalid_ids == [f"v{i}" for i in range(80) if not valid[i]]


def test_invalid_video_counts_as_wrong_and_stays_in_the_denominator():
    scores = torch.eye(3)  # every video predicted right
    metrics = ClassificationMetrics(3, class_names=["a", "b", "c"])
    metrics.update(scores, torch.tensor([0, 1, 2]), torch.tensor([True, False, True]), ids=["x", "y", "z"])
    result = metrics.compute()
    assert result["top1"] == pytest.approx(2 / 3) and result["top5"] == pytest.approx(2 / 3)
    assert result["num_invalid"] == 1 and metrics.invalid_ids == ["y"]
    assert metrics.per_class_accuracy().tolist() == [1.0, 0.0, 1.0]
    assert int(metrics.confusion_matrix().sum()) == 2  # only decoded videos have a prediction


def test_confusion_matrix_and_per_class_accuracy():
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    metrics = ClassificationMetrics(4)
    metrics.update(torch.cat([scores, torch.zeros(4, 1)], dim=1), torch.tensor([0, 1, 1, 2]))
    assert metrics.confusion_matrix()[:3, :3].tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    per_class = metrics.per_class_accuracy()
    assert per_class[:3].tolist() == [1.0, 0.5, 1.0] and math.isnan(per_class[3])
    assert metrics.compute()["mean_class_accuracy"] == pytest.approx(2.5 / 3)


def test_streaming_and_merge_equal_one_shot():
    scores, labels, valid = random_inputs(50, 7, seed=3)
    ids = [f"v{i}" for i in range(50)]
    whole = ClassificationMetrics(7)
    whole.update(scores, labels, valid, ids)
    ranks = [ClassificationMetrics(7) for _ in range(2)]
    for start in range(0, 50, 8):
        part = slice(start, start + 8)
        ranks[(start // 8) % 2].update(scores[part], labels[part], valid[part], ids[part])
    merged = ClassificationMetrics.merge([r.state() for r in ranks])
    assert merged.compute() == whole.compute()
    assert (merged.confusion_matrix() == whole.confusion_matrix()).all()
    assert sorted(merged.invalid_ids) == sorted(whole.invalid_ids)


def test_bad_labels_are_rejected():
    metrics = ClassificationMetrics(3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        metrics.update(torch.rand(2, 3), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match=r"scores \[B, 3\]"):
        metrics.update(torch.rand(2, 4), torch.tensor([0, 1]))
