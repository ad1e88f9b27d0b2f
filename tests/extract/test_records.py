"""Quantisation of features into record bytes."""

import numpy as np

from videozoo.data.youtube8m_records import RGB_SIZE, dequantize
from videozoo.extract import PCA, quantize_features
from videozoo.extract.records import rgb_record_features


def test_quantize_round_trip_within_half_a_step():
    x = np.random.default_rng(0).uniform(-2, 2, 10_000).astype(np.float32)
    assert np.abs(dequantize(quantize_features(x)) - x).max() <= 2 / 255 + 1e-6
    assert (
        quantize_features(np.array([-9.0, 9.0], np.float32)).tolist()
        == quantize_features(np.array([-2.0, 2.0], np.float32)).tolist()
    )
    assert abs(float(dequantize(quantize_features(np.float32(0.0))))) < 2 / 255


def test_rgb_record_features_project_then_pad_to_1024():
    rng = np.random.default_rng(3)
    components = np.linalg.qr(rng.normal(size=(5, 5)))[0][:3].astype(np.float32)
    pca = PCA(
        mean=rng.normal(size=5).astype(np.float32),
        components=components,
        eigenvalues=np.array([4.0, 2.0, 1.0], np.float32),
    )
    features = rng.normal(size=(7, 5)).astype(np.float32)
    rgb = rgb_record_features(pca, features)
    assert rgb.shape == (7, RGB_SIZE) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[:, :3], quantize_features(pca.transform(features)))
    assert (rgb[:, 3:] == quantize_features(np.float32(0.0))).all()
