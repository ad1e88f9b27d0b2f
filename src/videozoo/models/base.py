"""The head contract every registered model follows (timm's): features, head, classifier.

``VideozooModel`` is the base class of every model ``create_model`` builds:

* ``forward_features(batch: dict) -> features``: everything before the head; what it returns
  is the model's own (feature models: the pooled video descriptor ``[B, D_video]``; video
  models: the trunk's last feature maps, per frame or per clip; see each model).
* ``forward_head(features, pre_logits=False) -> logits [N, num_classes]``: pooling, the
  consensus over frames / segments / windows, dropout and the linear ``classifier``. With
  ``pre_logits=True`` it stops before the classifier and returns the vector it would see,
  ``[N, num_features]`` (where a head classifies several windows of a clip, their mean):
  what ``embed`` writes.
* ``forward(batch) = forward_head(forward_features(batch))``, exactly: subclasses do not
  override it.
* ``reset_classifier(num_classes)``: a new ``classifier`` for another class count, initialised
  by the model's own rule (``init_classifier``); fine-tuning calls it when the weights were
  trained for other classes. ``num_classes`` / ``num_features``: its output / input width.
* ``classifier_keys()``: the state_dict names of the classifier's tensors.

The classifier is the attribute ``classifier`` (an ``nn.Linear``): state_dict keys
(``classifier.weight``) and the optimizer rules of recipes (``decay_only: [classifier]``)
name it, and converted checkpoints depend on that name.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from videozoo.errors import ConfigError

__all__ = ["VideozooModel"]


class VideozooModel(nn.Module):
    """Base class of the registered models (see the module docstring)."""

    classifier: nn.Linear

    def forward_features(self, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.forward_head(self.forward_features(batch))

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    @property
    def num_features(self) -> int:
        return self.classifier.in_features

    def init_classifier(self, layer: nn.Linear) -> None:
        """Initialise a fresh classifier; the default keeps PyTorch's ``nn.Linear`` init."""

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``classifier`` by a fresh ``[num_classes, num_features]`` layer on the same
        device and dtype (the model's other weights are untouched)."""
        if num_classes < 1:
            raise ConfigError(
                f"num_classes must be >= 1, got {num_classes}; for features without a "
                "classifier use forward_head(features, pre_logits=True)"
            )
        old = self.classifier
        layer = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        self.init_classifier(layer)
        self.classifier = layer

    def classifier_keys(self) -> list[str]:
        """``["classifier.weight", "classifier.bias"]``: the classifier's state_dict names."""
        return [f"classifier.{key}" for key in self.classifier.state_dict()]
