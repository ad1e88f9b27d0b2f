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
from pathlib import Path

import numpy as np

from videozoo.data.tfrecord import ShardedTFRecordWriter
from videozoo.data.youtube8m_records import RGB_SIZE, encode_frame_example
from videozoo.engine.progress import progress_bar
from videozoo.errors import ConfigError, NothingUsableError
from videozoo.extract.audio import audio_record_features
from videozoo.extract.frames import FrameFeatureExtractor, read_rgb_per_second
from videozoo.extract.inputs import find_videos, unique_ids
from videozoo.extract.outputs import MANIFEST_FILE, existing_shards, write_manifest
from videozoo.extract.pca import PCA, PCA_FILE, CovarianceAccumulator, load_matching_pca, pca_path_for_run
from videozoo.extract.records import rgb_record_features
from videozoo.runlock import hold_output

log = logging.getLogger("videozoo.extract")


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
) -> dict:
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
    from videozoo.extract import yt8m_run

    for option, value in (
        ("max-seconds", max_seconds),
        ("shard-size", shard_size),
        ("batch-size", batch_size),
    ):
        if value < 1:
            raise ConfigError(f"--{option} {value}: must be at least 1")
    if features is None and weights:  # ResNet weights given: that mode is meant
        features = "resnet50"
    with hold_output(output, "extract"):
        mode, yt8m_files = yt8m_run.choose_features(features, inception, pca, fit_pca, vggish, vggish_pca)
        if mode == "youtube8m":
            return yt8m_run.run_youtube8m(
                inputs,
                output,
                yt8m_files,
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
        return _run_resnet_extract(
            inputs,
            output,
            fit_pca=fit_pca,
            pca=pca,
            weights=weights,
            depth=depth,
            pca_dims=pca_dims,
            batch_size=batch_size,
            max_seconds=max_seconds,
            image_size=image_size,
            device=device,
            shard_size=shard_size,
            split_prefix=split_prefix,
            labels=labels,
            overwrite=overwrite,
            progress=progress,
        )


def _run_resnet_extract(
    inputs,
    output,
    *,
    fit_pca,
    pca,
    weights,
    depth,
    pca_dims,
    batch_size,
    max_seconds,
    image_size,
    device,
    shard_size,
    split_prefix,
    labels,
    overwrite,
    progress,
) -> dict:
    out = Path(output)
    prefix = split_prefix or ("train" if labels is not None else "test")
    pca_path = pca_path_for_run(out, fit_pca, pca, overwrite)
    old_shards = existing_shards(out, prefix, overwrite)
    videos = find_videos(inputs)
    out.mkdir(parents=True, exist_ok=True)

    extractor = FrameFeatureExtractor(depth, weights, device, batch_size)
    fitted = (
        None
        if fit_pca
        else load_matching_pca(pca_path, extractor.num_features, extractor.fingerprint, pca_dims)
    )
    largest = min(RGB_SIZE, extractor.num_features)
    dims = largest if pca_dims is None else pca_dims
    if not 1 <= dims <= largest:
        raise ConfigError(f"--pca-dims {dims}: must be in 1..{largest}")

    rows = [
        {
            "id": vid,
            "path": str(path),
            "split": prefix,
            "shard": "",
            "frames": 0,
            "has_audio": "",
            "status": "pending",
            "error": "",
        }
        for vid, path in zip(unique_ids(videos), videos)
    ]
    stats = CovarianceAccumulator(extractor.num_features) if fit_pca else None
    unlabelled = 0
    provenance = {
        "feature_extractor": f"resnet{depth}",
        "rgb_weights": extractor.fingerprint,
        "rgb_pca": f"{PCA_FILE} (fitted on your videos)",
        "audio_extractor": "log-mel (videozoo, not VGGish)",
    }

    with (
        ShardedTFRecordWriter(out, prefix, shard_size) as shards,
        tempfile.TemporaryDirectory(prefix=".extract-", dir=out) as cache,
    ):

        def write(index: int, features: np.ndarray, audio: np.ndarray, has_audio: bool) -> None:
            nonlocal unlabelled
            row = rows[index]
            video_labels = None if labels is None else labels.get(row["id"])
            if labels is not None and video_labels is None:
                unlabelled += 1
                video_labels = []
            record = encode_frame_example(
                row["id"],
                video_labels,
                rgb_record_features(fitted, features),
                audio,
                extra_context={"has_audio": int(has_audio), **provenance},
            )
            row.update(
                shard=shards.write(record), frames=len(features), has_audio=int(has_audio), status="ok"
            )

        for index, path in enumerate(
            progress_bar(videos, main_process=progress, desc="extract", unit="video")
        ):
            try:
                frames = read_rgb_per_second(path, max_seconds, image_size)
                audio, has_audio = audio_record_features(path, len(frames))
            except Exception as err:  # noqa: BLE001 - one bad file never stops the run
                reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
                rows[index].update(status="skipped", error=str(reason).splitlines()[0][:300])
                log.warning("%s: skipped: %s", path, rows[index]["error"])
                continue
            features = extractor(frames)
            if fitted is None:  # the PCA comes after every frame has been seen
                stats.update(features)
                np.savez(os.path.join(cache, f"{index}.npz"), rgb=features, audio=audio, has_audio=has_audio)
            else:
                write(index, features, audio, has_audio)
        if fitted is None and stats.count:
            fitted = PCA.fit(stats, dims, extractor.fingerprint)
            fitted.save(pca_path)
            log.info(
                "PCA (%d of %d dims) fitted on %d frames -> %s",
                dims,
                extractor.num_features,
                stats.count,
                pca_path,
            )
            for index in range(len(rows)):
                cached = os.path.join(cache, f"{index}.npz")
                if os.path.exists(cached):
                    with np.load(cached) as data:
                        write(index, data["rgb"], data["audio"], bool(data["has_audio"]))
    for stale in set(map(str, old_shards)) - set(shards.paths):  # --overwrite: a longer old run
        os.unlink(stale)
    manifest = out / MANIFEST_FILE
    write_manifest(manifest, prefix, rows)

    written = [row for row in rows if row["status"] == "ok"]
    if not written:
        first = next((row for row in rows if row["error"]), rows[0])
        raise NothingUsableError(
            f"no video could be read ({len(rows)} tried); first error: "
            f"{first['path']}: {first['error']}. See {manifest}"
        )
    skipped = len(rows) - len(written)
    if skipped:
        log.warning("%d of %d videos skipped (reasons in %s)", skipped, len(rows), manifest)
    if unlabelled:
        log.warning("%d videos are not in the labels mapping: written with no labels", unlabelled)
    return {
        "output": str(out),
        "split_prefix": prefix,
        "videos": len(rows),
        "written": len(written),
        "skipped": skipped,
        "without_audio": sum(1 for row in written if row["has_audio"] == 0),
        "unlabelled": unlabelled,
        "frames": sum(row["frames"] for row in written),
        "shards": shards.paths,
        "manifest": str(manifest),
        "pca": str(pca_path),
        "pca_fitted": fit_pca,
        "pca_dims": len(fitted.components),
        "extractor": extractor.fingerprint,
        "random_weights": extractor.random_weights,
    }
