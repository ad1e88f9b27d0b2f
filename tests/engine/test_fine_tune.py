"""Fine-tuning's load (load_weights) on a real model: the trunk comes from the weights, and a
classifier trained for other classes is replaced through the model's reset_classifier."""

import pytest
import torch
from support import tiny_kwargs

from videozoo.registry import create_model
from videozoo.serialization.checkpoint import save_checkpoint
from videozoo.serialization.format import FORMAT
from videozoo.serialization.loading import load_weights


def _weights(tmp_path, model):
    state = {"format": FORMAT, "model_name": "attention_cluster", "model": model.state_dict()}
    return save_checkpoint(state, tmp_path / "weights.pt")


def _tiny(num_classes):
    return create_model("attention_cluster", num_classes=num_classes, **tiny_kwargs("attention_cluster"))


@pytest.mark.parametrize("classes", [5, 3])
def test_load_weights_resets_the_classifier_only_when_the_class_count_differs(tmp_path, monkeypatch, classes):
    torch.manual_seed(0)
    source = _tiny(5)
    path = _weights(tmp_path, source)
    target = _tiny(classes)
    resets = []
    reset = type(target).reset_classifier
    monkeypatch.setattr(type(target), "reset_classifier", lambda m, n: (resets.append(n), reset(m, n)))
    report = load_weights(target, path, "attention_cluster")
    assert torch.equal(target.fc[0].weight, source.fc[0].weight)
    if classes == 5:
        assert resets == [] and torch.equal(target.classifier.weight, source.classifier.weight)
        assert report["mismatched"] == []
    else:
        assert resets == [3] and target.classifier.weight.shape == (3, target.num_features)
        assert sorted(m.split()[0] for m in report["mismatched"]) == ["classifier.bias", "classifier.weight"]
