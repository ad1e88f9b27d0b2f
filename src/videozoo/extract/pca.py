"""The PCA that turns trunk features ``[T, D]`` into the record's rgb values ``[T, K]``.

* ``CovarianceAccumulator(D)``: running mean and covariance of feature rows ``[N, D]``
  (float64 sums, so any number of frames fits in D * D * 8 bytes: 32 MB for D = 2048).
* ``PCA.fit(stats, K)``: the top K eigenvectors of that covariance; ``transform`` is the
  whitened projection ``(x - mean) @ components.T / sqrt(eigenvalues + 1e-4)`` (as Google's
  extractor does), float32 ``[T, D] -> [T, K]``. A K-dim PCA needs at least K + 1 frames.
* ``pca.npz`` (``save`` / ``load``): keys ``mean [D]``, ``components [K, D]``,
  ``eigenvalues [K]``, ``num_frames``, ``extractor`` (the trunk's fingerprint, checked when
  the file is used again: ``load_matching_pca``).
* ``pca_path_for_run``: which file a run fits or uses (``--fit-pca``, ``--pca FILE`` or the
  output folder's ``pca.npz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videozoo.errors import ConfigError, DataError, DataNotFoundError, OutputExistsError
from videozoo.fileio import atomic_write

PCA_EPSILON = 1e-4  # sqrt(eigenvalue + 1e-4), as in Google's extractor
PCA_FILE = "pca.npz"


class CovarianceAccumulator:
    """Running mean and covariance of feature rows ``[N, D]`` (float64 sums)."""

    def __init__(self, dims: int):
        self.count = 0
        self.total = np.zeros(dims)
        self.outer = np.zeros((dims, dims))

    def update(self, features: np.ndarray) -> None:
        x = np.asarray(features, np.float64)
        self.count += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x

    def mean_and_covariance(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        return mean, (self.outer - self.count * np.outer(mean, mean)) / max(1, self.count - 1)


@dataclass
class PCA:
    """mean [D], components [K, D] (eigenvectors by decreasing eigenvalue), eigenvalues [K]."""

    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    num_frames: int = 0
    extractor: str = ""

    @classmethod
    def fit(cls, stats: CovarianceAccumulator, dims: int, extractor: str = "") -> PCA:
        if stats.count <= dims:
            raise DataError(
                f"fitting a {dims}-dim PCA needs at least {dims + 1} frames (seconds of video); "
                f"the inputs gave {stats.count}. Add videos to the --fit-pca run or lower "
                f"--pca-dims (below {stats.count})."
            )
        mean, covariance = stats.mean_and_covariance()
        eigenvalues, vectors = np.linalg.eigh(covariance)  # ascending
        order = np.argsort(eigenvalues)[::-1][:dims]
        return cls(
            mean.astype(np.float32),
            vectors[:, order].T.astype(np.float32),
            np.clip(eigenvalues[order], 0, None).astype(np.float32),
            stats.count,
            extractor,
        )

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Whitened projection: float32 [T, D] -> [T, K]."""
        projected = (features - self.mean) @ self.components.T
        return (projected / np.sqrt(self.eigenvalues + PCA_EPSILON)).astype(np.float32)

    def save(self, path) -> None:
        """Write ``path`` (npz) atomically."""
        atomic_write(
            path,
            lambda f: np.savez(
                f,
                mean=self.mean,
                components=self.components,
                eigenvalues=self.eigenvalues,
                num_frames=self.num_frames,
                extractor=self.extractor,
            ),
        )

    @classmethod
    def load(cls, path) -> PCA:
        try:
            with np.load(path) as data:  # allow_pickle stays False: no code runs from the file
                return cls(
                    data["mean"],
                    data["components"],
                    data["eigenvalues"],
                    int(data["num_frames"]),
                    str(data["extractor"]),
                )
        except (OSError, KeyError, ValueError) as err:
            raise DataError(
                f"{path}: not a PCA file written by `videozoo extract --fit-pca` ({err})"
            ) from None


def pca_path_for_run(output: Path, fit_pca: bool, pca: str | None, overwrite: bool) -> Path:
    """The PCA file a run fits (``fit_pca``: ``output/pca.npz``) or uses (``pca`` or
    ``output/pca.npz``); refuses to refit over an existing one without ``overwrite``."""
    target = output / PCA_FILE
    if fit_pca:
        if pca:
            raise ConfigError("--fit-pca and --pca FILE exclude each other: fit a PCA or use one")
        if target.exists() and not overwrite:
            raise OutputExistsError(
                f"{target} exists (features already in {output} were made with it); drop "
                "--fit-pca to reuse it, pass --overwrite to refit (and re-extract the other "
                "shards there), or choose another --output"
            )
        return target
    path = Path(pca) if pca else target
    if not path.is_file():
        where = f"--pca {pca}: no such file" if pca else f"no {PCA_FILE} in {output}"
        raise DataNotFoundError(
            f"{where}. Run `videozoo extract VIDEOS --output {output} "
            "--fit-pca` first (it fits the PCA on those videos and saves "
            f"{target}), or pass --pca FILE"
        )
    return path


def load_matching_pca(path: Path, num_features: int, fingerprint: str, pca_dims: int | None) -> PCA:
    """The PCA in `path`, checked against the trunk that will feed it (its width and
    fingerprint) and against ``--pca-dims`` (which only applies when fitting)."""
    pca = PCA.load(path)
    if pca.components.shape[1] != num_features:
        raise DataError(
            f"{path} projects {pca.components.shape[1]}-d features but the trunk "
            f"('{fingerprint}') gives {num_features}; use the --depth it was fitted "
            "with or refit with --fit-pca"
        )
    if pca.extractor and pca.extractor != fingerprint:
        raise DataError(
            f"{path} was fitted on features of '{pca.extractor}', not "
            f"'{fingerprint}'; use the same --weights/--depth or refit with "
            "--fit-pca (features must come from one extractor)"
        )
    if pca_dims is not None and pca_dims != len(pca.components):
        raise ConfigError(
            f"--pca-dims {pca_dims}, but {path} keeps {len(pca.components)} "
            "components (--pca-dims only applies with --fit-pca)"
        )
    return pca
