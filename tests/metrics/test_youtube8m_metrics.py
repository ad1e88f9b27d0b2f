"""YouTube-8M metrics against a plain-loop reference of the definitions (Google eval_util style).

The reference ranks a video's classes by (score desc, non-label first, class index asc) and
the pooled pairs by (score desc, non-label first): the documented tie rule.
"""

from __future__ import annotations

import heapq
import math

import pytest
import torch

from videozoo.metrics.youtube8m import (
    YouTube8MMetrics,
    global_average_precision,
    hit_at_one,
    mean_average_precision,
    precision_at_equal_recall_rate,
)


def reference_metrics(scores: torch.Tensor, labels: torch.Tensor, top_k: int) -> dict:
    scores, labels = scores.float().tolist(), (labels > 0).tolist()
    num_classes = len(scores[0])
    hits, perrs, pool = [], [], []
    per_class = [[] for _ in range(num_classes)]
    positives = [0] * num_classes
    for video_scores, video_labels in zip(scores, labels):
        ranked = sorted(range(num_classes), key=lambda c: (-video_scores[c], video_labels[c], c))
        k = sum(video_labels)
        hits.append(float(video_labels[ranked[0]]))
        perrs.append(sum(video_labels[c] for c in ranked[:k]) / k if k else 0.0)
        for c in ranked[:top_k]:
            heapq.heappush(pool, (-video_scores[c], video_labels[c]))
            per_class[c].append((-video_scores[c], video_labels[c]))
        for c in range(num_classes):
            positives[c] += video_labels[c]

    def average_precision(pairs, num_positives):
        found, total = 0, 0.0
        for rank, (_, is_label) in enumerate(sorted(pairs), start=1):
            if is_label:
                found += 1
                total += found / rank
        return total / num_positives if num_positives else 0.0

    ordered = [heapq.heappop(pool) for _ in range(len(pool))]
    aps = [average_precision(per_class[c], positives[c]) for c in range(num_classes) if positives[c]]
    return {
        "hit_at_one": sum(hits) / len(hits),
        "perr": sum(perrs) / len(perrs),
        "gap": average_precision(ordered, sum(positives)),
        "map": sum(aps) / len(aps) if aps else 0.0,
        "num_videos": len(hits),
    }


def random_inputs(num_videos: int, num_classes: int, seed: int, tied: bool = False):
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(num_videos, num_classes, generator=gen) < 0.15).float()
    labels[:3] = 0  # some videos without labels
    scores = torch.sigmoid(torch.randn(num_videos, num_classes, generator=gen) + 1.5 * labels)
    if tied:  # few distinct values: ties inside videos, at the top-k cut and across videos
        scores = torch.round(scores * 4) / 4
    return scores, labels


def assert_metrics_close(actual: dict, expected: dict):
    assert actual["num_videos"] == expected["num_videos"]
    for name in ("hit_at_one", "perr", "gap", "map"):
        assert actual[name] == pytest.approx(expected[name], abs=1e-12), name


def one_shot(scores, labels, top_k):
    metrics = YouTube8MMetrics(scores.shape[1], top_k)
    metrics.update(scores, labels)
    return metrics.compute()


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("top_k", [1, 5, 20])
def test_matches_reference(tied, top_k):
    scores, labels = random_inputs(60, 17, seed=top_k, tied=tied)
    assert_metrics_close(one_shot(scores, labels, top_k), reference_metrics(scores, labels, top_k))


def test_tie_rule_counts_ties_against_the_model():
    scores = torch.tensor([[0.9, 0.9, 0.1], [0.5, 0.5, 0.5]])
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    result = one_shot(scores, labels, top_k=2)
    assert result["hit_at_one"] == 0.0  # the non-label wins each tie
    assert result["perr"] == pytest.approx(0.25)  # video 1: 0/1, video 2: 1/2
    # Pool [0.9 no, 0.9 yes, 0.5 no, 0.5 yes] (video 2 keeps 0 and the lower index 1),
    # precisions 1/2 and 2/4 at the hits, M = 3.
    assert result["gap"] == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_streaming_batches_equal_one_shot():
    scores, labels = random_inputs(90, 23, seed=4, tied=True)
    streaming = YouTube8MMetrics(23, top_k=6)
    for start in range(0, 90, 16):
        streaming.update(scores[start : start + 16], labels[start : start + 16])
    assert streaming.compute() == one_shot(scores, labels, top_k=6)


def test_merged_states_equal_single_process():
    scores, labels = random_inputs(90, 23, seed=5, tied=True)
    whole = one_shot(scores, labels, top_k=6)
    # Three "ranks" with interleaved videos, states gathered in a scrambled order.
    ranks = [YouTube8MMetrics(23, top_k=6) for _ in range(3)]
    for index, metrics in enumerate(ranks):
        metrics.update(scores[index::3], labels[index::3])
    states = [metrics.state() for metrics in ranks]
    assert YouTube8MMetrics.merge([states[2], states[0], states[1]]).compute() == whole
    with pytest.raises(ValueError, match="top_k"):
        YouTube8MMetrics.merge([states[0], YouTube8MMetrics(23, top_k=5).state()])


def test_videos_without_labels_count_as_zero():
    scores, labels = random_inputs(20, 9, seed=6)
    labels[:10] = 0
    result = one_shot(scores, labels, top_k=3)
    labelled = one_shot(scores[10:], labels[10:], top_k=3)
    assert result["num_videos"] == 20
    assert result["hit_at_one"] == pytest.approx(labelled["hit_at_one"] / 2)
    assert result["perr"] == pytest.approx(labelled["perr"] / 2)


def test_invalid_videos_count_as_wrong():
    scores, labels = random_inputs(20, 9, seed=9)
    labels[:, 0] = 1.0
    valid = torch.arange(20) % 4 != 0
    metrics = YouTube8MMetrics(9, top_k=3)
    metrics.update(scores, labels, valid)
    result = metrics.compute()
    # The same as a model that scores every class of those videos below everything else.
    assert result == one_shot(torch.where(valid.unsqueeze(1), scores, -1.0), labels, top_k=3)
    assert result["num_videos"] == 20


def test_no_positive_labels_gives_zero_gap_and_map():
    scores, _ = random_inputs(8, 5, seed=7)
    result = one_shot(scores, torch.zeros(8, 5), top_k=3)
    assert result == {"hit_at_one": 0.0, "perr": 0.0, "gap": 0.0, "map": 0.0, "num_videos": 8}
    assert YouTube8MMetrics(5).compute()["num_videos"] == 0


def test_gap_counts_labels_outside_the_top_k_as_missed():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1]])
    labels = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    assert global_average_precision(scores, labels, top_k=2) == pytest.approx(0.5)
    assert global_average_precision(scores, labels, top_k=4) == pytest.approx((1 + 2 / 4) / 2)


def test_report_helpers_match_reference():
    scores, labels = random_inputs(40, 13, seed=10, tied=True)
    labels[:, 12] = 0  # a class without positives
    metrics = YouTube8MMetrics(13, top_k=4)
    metrics.update(scores, labels)
    pooled_scores, pooled_labels, num_positives = metrics.pooled_predictions()
    assert pooled_scores.shape == pooled_labels.shape == (40 * 4,)
    assert num_positives == int(labels.sum())
    ap, positives = metrics.per_class_average_precision()
    assert positives.tolist() == labels.sum(0).long().tolist()
    assert math.isnan(ap[12]) and not any(math.isnan(value) for value in ap[:12])
    assert ap[positives > 0].mean() == pytest.approx(reference_metrics(scores, labels, 4)["map"])


def test_plain_functions_agree_with_accumulator():
    scores, labels = random_inputs(30, 11, seed=8)
    result = one_shot(scores, labels, top_k=20)
    assert hit_at_one(scores, labels) == result["hit_at_one"]
    assert precision_at_equal_recall_rate(scores, labels) == result["perr"]
    assert global_average_precision(scores, labels) == result["gap"]
    assert mean_average_precision(scores, labels) == result["map"]


def test_bad_input_is_rejected_with_a_clear_message():
    metrics = YouTube8MMetrics(5)
    with pytest.raises(ValueError, match=r"\[B, 5\]"):
        metrics.update(torch.rand(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        metrics.update(torch.full((2, 5), float("nan")), torch.zeros(2, 5))
