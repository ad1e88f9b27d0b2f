"""Float features -> the uint8 values a YouTube-8M frame-level record stores.

* ``quantize_features``: float ``[..., D]`` -> uint8 ``[..., D]``: clip to [-2, 2], then the
  exact inverse of the official dequantisation ``q * 4/255 + (4/512 - 2)``
  (``videozoo.data.youtube8m_records.quantize``), so a round trip is off by at most half a
  step (2/255). Google's released extractor rounds ``(x + 2) * 255/4`` instead, which
  dequantises half a step high; we do not copy that.
* ``rgb_record_features(pca, features)``: trunk features float32 ``[T, D]`` -> PCA
  ``[T, K]`` -> zero-padded to ``[T, 1024]`` when K < 1024 (the reader and the models expect
  1024 values) -> uint8 ``[T, 1024]``.

The record itself is written by ``videozoo.data.youtube8m_records.encode_frame_example``.
"""

from __future__ import annotations

import numpy as np

from videozoo.data.youtube8m_records import RGB_SIZE, quantize
from videozoo.extract.pca import PCA


def quantize_features(features: np.ndarray) -> np.ndarray:
    """float [..., D] -> uint8: clip to [-2, 2], exact inverse of the official dequantisation."""
    return quantize(np.clip(features, -2.0, 2.0))


def rgb_record_features(pca: PCA, features: np.ndarray) -> np.ndarray:
    """Raw trunk features [T, D] -> uint8 [T, 1024] (PCA, zero-padded past pca dims, quantised)."""
    rgb = np.zeros((len(features), RGB_SIZE), np.float32)
    rgb[:, : len(pca.components)] = pca.transform(features)
    return quantize_features(rgb)
