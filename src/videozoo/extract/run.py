"""``run_extract``: videos -> YouTube-8M frame-level TFRecord shards + ``manifest.csv``.

For each video (``inputs.find_videos``): rgb ``frames.read_rgb_per_second`` -> trunk
features float32 ``[T, D]`` (``frames.FrameFeatureExtractor``) -> uint8 ``[T, 1024]``
(``records.rgb_record_features``: PCA, padding, quantisation); audio uint8 ``[T, 128]`` and
``has_audio`` (``audio.audio_record_features``). One record per video, encoded once by
``encode_frame_example`` with the extra int64 context feature ``has_audio`` (1 or 0; readers
ignore it).

PCA: with ``fit_pca`` the trunk runs over every video first, the mean and covariance of all
their frames are accumulated, and the raw features wait in a temporary folder inside the
output folder (4 bytes x D per second of video) until the PCA is fitted and saved as
``pca.npz``; then the records are written. Without ``fit_pca``, ``pca=FILE`` or the output
folder's ``pca.npz`` is used (and checked against the trunk).

Output (``output/``): shards ``{split_prefix}0000.tfrecord``, ... of ``shard_size`` videos in
the official schema (context ``id`` = file stem, ``labels`` from ``labels`` or none), so
``videozoo train/eval`` (``--data DIR``: globs ``train*``, ``validate*``, ``test*``) and
``videozoo predict`` read them unchanged. The default prefix is ``train`` when ``labels`` are
given, else ``test`` (unlabelled, for prediction). ``manifest.csv`` lists every video (id,
path, split, shard, frames, has_audio, status, error; text starting with = + - @ gets a
leading ' as in every CSV videozoo writes); rows of earlier runs with another prefix are kept.
Unreadable videos are logged, listed there with the reason and skipped.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from videozoo.data.tfrecord import ShardedTFRecordWriter
from videozoo.data.youtube8m_records import RGB_SIZE
from videozoo.engine.progress import progress_bar
from videozoo.errors import ConfigError
from videozoo.extract import yt8m_run
from videozoo.extract.audio import audio_record_features
from videozoo.extract.frames import FrameFeatureExtractor, read_rgb_per_second
from videozoo.extract.inputs import find_videos, unique_ids
from videozoo.extract.outputs import (
    ExtractSettings,
    RecordWriter,
    existing_shards,
    finish_outputs,
    manifest_rows,
    skip,
    summary,
)
from videozoo.extract.pca import PCA, PCA_FILE, CovarianceAccumulator, load_matching_pca, pca_path_for_run
from videozoo.extract.records import rgb_record_features
from videozoo.runlock import hold_output

log = logging.getLogger("videozoo.extract")

# one video's features before the PCA: (manifest row, float32 [T, D], uint8 [T, 128], has_audio)
VideoFeatures = tuple[dict[str, Any], np.ndarray, np.ndarray, bool]


def run_extract(
    inputs: list[str],
    output: str,
    *,
    fit_pca: bool = False,
    pca: str | None = None,
    weights: str | None = None,
    depth: int = 50,
    pca_dims: int | None = None,
    batch_size: int = 32,
    max_seconds: int = 300,
    image_size: int = 224,
    device: str = "cpu",
    shard_size: int = 1000,
    split_prefix: str | None = None,
    labels: dict[str, list[int]] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    features: str | None = None,
    inception: str | None = None,
    vggish: str | None = None,
    vggish_pca: str | None = None,
) -> dict[str, Any]:
    """Extract frame-level features of the videos in `inputs` into TFRecord shards in `output`.

    See the module docstring for the pipeline and the files written. `pca_dims`: components
    kept when fitting (default min(1024, trunk width)). `labels`: {file stem: class indices}.
    Returns a summary dict (counts, shard paths, manifest and PCA paths). `output` is locked
    for the run (``runlock.hold_output``): a second extract into it is refused.

    `features`: ``youtube8m`` (Google's Inception-v3 + PCA, ``yt8m_run``; `inception` and
    `pca` are the published files) or ``resnet50`` (this module's trunk + fitted PCA); None
    picks youtube8m when its files are found (``yt8m_run.choose_features``) and no ResNet
    `weights` are given.
    """
    settings = ExtractSettings(
        batch_size=batch_size,
        max_seconds=max_seconds,
        device=device,
        shard_size=shard_size,
        split_prefix=split_prefix,
        labels=labels,
        overwrite=overwrite,
        progress=progress,
        pca_dims=pca_dims,
    )
    if features is None and weights:  # ResNet weights given: that mode is meant
        features = "resnet50"
    with hold_output(output, "extract"):
        mode, yt8m_files = yt8m_run.choose_features(features, inception, pca, fit_pca, vggish, vggish_pca)
        if mode == "youtube8m":
            return yt8m_run.run_youtube8m(inputs, output, yt8m_files, settings)
        return run_resnet_extract(
            inputs,
            output,
            settings,
            fit_pca=fit_pca,
            pca=pca,
            weights=weights,
            depth=depth,
            image_size=image_size,
        )


def run_resnet_extract(
    inputs: list[str],
    output: str,
    settings: ExtractSettings,
    *,
    fit_pca: bool,
    pca: str | None,
    weights: str | None,
    depth: int,
    image_size: int,
) -> dict[str, Any]:
    """``run_extract`` for ``--features resnet50``: the ResNet trunk and a PCA fitted on the
    videos (`fit_pca`) or read from `pca` / the output folder's ``pca.npz``."""
    out, prefix = Path(output), settings.prefix
    pca_path = pca_path_for_run(out, fit_pca, pca, settings.overwrite)
    old_shards = existing_shards(out, prefix, settings.overwrite)
    videos = find_videos(inputs)
    out.mkdir(parents=True, exist_ok=True)
    extractor = FrameFeatureExtractor(depth, weights, device=settings.device, batch_size=settings.batch_size)
    fitted = None
    if not fit_pca:
        fitted = load_matching_pca(pca_path, extractor.num_features, extractor.fingerprint, settings.pca_dims)
    dims = pca_dims_to_fit(settings.pca_dims, extractor.num_features)
    rows = manifest_rows(unique_ids(videos), videos, prefix)
    provenance = {
        "feature_extractor": f"resnet{depth}",
        "rgb_weights": extractor.fingerprint,
        "rgb_pca": f"{PCA_FILE} (fitted on your videos)",
        "audio_extractor": "log-mel (videozoo, not VGGish)",
    }
    with ShardedTFRecordWriter(out, prefix, settings.shard_size) as shards:
        records = RecordWriter(shards, settings.labels, provenance)
        found = features_per_video(videos, rows, extractor, settings, image_size)
        if fitted is None:  # the PCA comes after every frame has been seen
            fitted = fit_pca_then_write(found, records, extractor, dims, pca_path, out)
        else:
            for row, rgb, audio, has_audio in found:
                records.write(row, rgb_record_features(fitted, rgb), audio, has_audio)
    manifest, written = finish_outputs(out, prefix, rows, old_shards, shards.paths)
    assert fitted is not None  # finish_outputs refuses a run with no video, the only unfitted one
    return {
        **summary(out, prefix, rows, written, records, manifest),
        "pca": str(pca_path),
        "pca_fitted": fit_pca,
        "pca_dims": len(fitted.components),
        "extractor": extractor.fingerprint,
        "random_weights": extractor.random_weights,
    }


def pca_dims_to_fit(pca_dims: int | None, num_features: int) -> int:
    """The components a fitted PCA keeps: `pca_dims`, by default as many as a record holds."""
    largest = min(RGB_SIZE, num_features)
    dims = largest if pca_dims is None else pca_dims
    if not 1 <= dims <= largest:
        raise ConfigError(f"--pca-dims {dims}: must be in 1..{largest}")
    return dims


def features_per_video(
    videos: list[Path],
    rows: list[dict[str, Any]],
    extractor: FrameFeatureExtractor,
    settings: ExtractSettings,
    image_size: int,
) -> Iterator[VideoFeatures]:
    """Each readable video's row, trunk features float32 ``[T, D]``, audio uint8 ``[T, 128]``
    and has_audio; a video that cannot be read is marked skipped in its row."""
    bar = progress_bar(videos, main_process=settings.progress, desc="extract", unit="video")
    for row, path in zip(rows, bar):
        try:
            frames = read_rgb_per_second(path, settings.max_seconds, image_size)
            audio, has_audio = audio_record_features(path, len(frames))
        except Exception as err:  # noqa: BLE001 - one bad file never stops the run
            skip(row, err)
            continue
        yield row, extractor(frames), audio, has_audio


def fit_pca_then_write(
    found: Iterator[VideoFeatures],
    records: RecordWriter,
    extractor: FrameFeatureExtractor,
    dims: int,
    pca_path: Path,
    out: Path,
) -> PCA | None:
    """Accumulate the frames' covariance while the raw features wait in a temporary folder in
    `out`, fit and save the PCA (None when no video was read), then write every record."""
    stats = CovarianceAccumulator(extractor.num_features)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=out) as cache:
        waiting: list[tuple[dict[str, Any], str]] = []
        for row, rgb, audio, has_audio in found:
            stats.update(rgb)
            cached = os.path.join(cache, f"{len(waiting)}.npz")
            np.savez(cached, rgb=rgb, audio=audio, has_audio=has_audio)
            waiting.append((row, cached))
        if not stats.count:
            return None
        fitted = PCA.fit(stats, dims, extractor.fingerprint)
        fitted.save(pca_path)
        log.info(
            "PCA (%d of %d dims) fitted on %d frames -> %s",
            dims,
            extractor.num_features,
            stats.count,
            pca_path,
        )
        for row, cached in waiting:
            with np.load(cached) as data:
                records.write(
                    row, rgb_record_features(fitted, data["rgb"]), data["audio"], bool(data["has_audio"])
                )
    return fitted
