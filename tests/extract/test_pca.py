"""PCA fitting, whitening, pca.npz, and the checks that keep one extractor per feature set."""

import numpy as np
import pytest

from videozoo.errors import ConfigError, DataError, DataNotFoundError, OutputExistsError
from videozoo.extract import PCA, CovarianceAccumulator
from videozoo.extract.pca import load_matching_pca, pca_path_for_run


def fitted_pca(dims=3, features=6, frames=500, extractor=""):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(frames, features)) @ rng.normal(size=(features, features)) + 3.0
    stats = CovarianceAccumulator(features)
    stats.update(data[:200])
    stats.update(data[200:])
    return PCA.fit(stats, dims, extractor), data


def test_pca_fit_whitens_and_matches_svd():
    pca, data = fitted_pca()
    singular = np.linalg.svd(data - data.mean(0), compute_uv=False)
    np.testing.assert_allclose(pca.eigenvalues, singular[:3] ** 2 / 499, rtol=1e-4)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-5)
    white = pca.transform(data.astype(np.float32))
    np.testing.assert_allclose(np.cov(white.T), np.eye(3), atol=1e-3)
    assert pca.num_frames == 500


def test_pca_needs_more_frames_than_dims():
    stats = CovarianceAccumulator(8)
    stats.update(np.random.default_rng(2).normal(size=(6, 8)))
    with pytest.raises(DataError, match="needs at least 7 frames .* gave 6"):
        PCA.fit(stats, 6)


def test_pca_file_round_trip_and_bad_files(tmp_path):
    pca, _ = fitted_pca(extractor="resnet18 random init (seed 0)")
    path = tmp_path / "pca.npz"
    pca.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["pca.npz"]  # no temporary left behind
    loaded = PCA.load(path)
    for key in ("mean", "components", "eigenvalues"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(pca, key))
    assert (loaded.num_frames, loaded.extractor) == (500, pca.extractor)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not an npz")
    with pytest.raises(DataError, match="junk.npz: not a PCA file"):
        PCA.load(junk)
    # An npz holding a pickled object is refused: loading never runs code from the file.
    pickled = tmp_path / "pickled.npz"
    np.savez(
        pickled,
        mean=np.array([object()], dtype=object),
        components=pca.components,
        eigenvalues=pca.eigenvalues,
        num_frames=1,
        extractor="",
    )
    with pytest.raises(DataError, match="pickled.npz: not a PCA file"):
        PCA.load(pickled)


def test_pca_path_for_run(tmp_path):
    target = tmp_path / "pca.npz"
    assert pca_path_for_run(tmp_path, True, None, overwrite=False) == target
    with pytest.raises(ConfigError, match="exclude each other"):
        pca_path_for_run(tmp_path, True, "other.npz", overwrite=False)
    with pytest.raises(DataNotFoundError, match="no pca.npz in .*--fit-pca"):
        pca_path_for_run(tmp_path, False, None, overwrite=False)
    with pytest.raises(DataNotFoundError, match="--pca .*other.npz: no such file"):
        pca_path_for_run(tmp_path, False, str(tmp_path / "other.npz"), overwrite=False)
    target.write_bytes(b"")
    assert pca_path_for_run(tmp_path, False, None, overwrite=False) == target
    with pytest.raises(OutputExistsError, match="pca.npz exists"):
        pca_path_for_run(tmp_path, True, None, overwrite=False)
    assert pca_path_for_run(tmp_path, True, None, overwrite=True) == target


def test_load_matching_pca_checks_width_extractor_and_dims(tmp_path):
    pca, _ = fitted_pca(extractor="resnet18 random init (seed 0)")
    path = tmp_path / "pca.npz"
    pca.save(path)
    assert len(load_matching_pca(path, 6, pca.extractor, None).components) == 3
    assert len(load_matching_pca(path, 6, pca.extractor, 3).components) == 3
    with pytest.raises(DataError, match="projects 6-d features but the trunk .* gives 512"):
        load_matching_pca(path, 512, pca.extractor, None)
    with pytest.raises(DataError, match="same --weights/--depth"):
        load_matching_pca(path, 6, "resnet18 weights sha256:0123", None)
    with pytest.raises(ConfigError, match="--pca-dims 4, but .* keeps 3"):
        load_matching_pca(path, 6, pca.extractor, 4)
