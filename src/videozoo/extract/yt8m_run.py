"""``videozoo extract --features youtube8m``: videos -> records with Google's own features.

Per video (the next one decoding in a thread meanwhile, ``frames_ahead``):
``yt8m_rgb.read_frames`` (the starter extractor's frames) -> ``YT8MRGBExtractor``
(Inception-v3 pool_3, Google's PCA, its quantisation) -> uint8 rgb ``[T, 1024]``; audio:
``vggish.VGGishAudio`` (one example per second, beside rgb frame k) with ``--vggish`` and
``--vggish-pca``, else the starter extractor's zero vectors (uint8 0, ``[T, 128]``; said once
per run, and in each record's ``audio_extractor``). Records carry their provenance
in the context: ``feature_extractor`` (``youtube8m``), ``rgb_weights`` and ``rgb_pca`` (file
name + sha256 prefix), ``audio_extractor``, plus ``has_audio`` as in resnet50 mode.

``choose_features(features, inception, pca, fit_pca)``: which mode a run uses (youtube8m when
asked, or by default when both its files are found) and those files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videozoo.data.tfrecord import ShardedTFRecordWriter
from videozoo.data.youtube8m_records import AUDIO_SIZE
from videozoo.engine.distributed import resolve_device
from videozoo.engine.progress import progress_bar
from videozoo.errors import ConfigError
from videozoo.extract import vggish, yt8m_rgb
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
from videozoo.extract.weights_files import resolve_file
from videozoo.fileio import sha256_of

log = logging.getLogger("videozoo.extract")

FEATURE_MODES = ("youtube8m", "resnet50")
ZERO_AUDIO = "none: zero vectors (no --vggish weights), as Google's starter extractor"


def choose_features(
    features: str | None,
    inception: str | None,
    pca: str | None,
    fit_pca: bool,
    vggish: str | None = None,
    vggish_pca: str | None = None,
) -> tuple[str, dict[str, Path | None]]:
    """(mode, {"inception", "pca", "vggish", "vggish_pca": Path or None}) for a run. With
    `features` None, youtube8m when the Inception file and Google's PCA are given or in the
    cache folder (a ``--pca`` ending in .npz is a resnet50 PCA), else resnet50 (logged)."""
    if features not in (None, *FEATURE_MODES):
        raise ConfigError(f"--features {features}: choose one of {', '.join(FEATURE_MODES)}")
    yt8m_pca = None if (pca or "").endswith(".npz") else pca
    files = {"inception": resolve_file("inception", inception), "pca": resolve_file("pca", yt8m_pca)}
    if features is None:
        if fit_pca or not all(files.values()):
            if inception or files["inception"]:
                log.warning(
                    "--features resnet50: Google's yt8m_pca.tgz was not given "
                    "(--pca FILE) nor found in the cache folder"
                )
            elif not (fit_pca or pca):  # a resnet50 PCA given or fitted: that mode is meant
                log.info(
                    "--features resnet50 (the default here: the YouTube-8M files were not "
                    "found; pass --inception FILE --pca FILE for Google-compatible features)"
                )
            return "resnet50", {}
        features = "youtube8m"
    if features == "youtube8m":
        if fit_pca:
            raise ConfigError(
                "--fit-pca is for --features resnet50; youtube8m features use "
                "Google's PCA (--pca yt8m_pca.tgz)"
            )
        for option, path in files.items():
            if path is None:
                raise ConfigError(
                    f"--features youtube8m needs --{option} FILE (or "
                    f"{'inception-2015-12-05.tgz' if option == 'inception' else 'yt8m_pca.tgz'}"
                    " in $VIDEOZOO_HOME, default ~/.cache/videozoo)"
                )
        files["vggish"] = resolve_file("vggish", vggish)
        files["vggish_pca"] = resolve_file("vggish_pca", vggish_pca)
        if bool(files["vggish"]) != bool(files["vggish_pca"]):
            raise ConfigError(
                "VGGish audio needs both --vggish FILE and --vggish-pca FILE "
                "(torchvggish's vggish-*.pth and vggish_pca_params-*.pth)"
            )
    return features, files


def file_label(path: Path) -> str:
    """``name sha256:<16 hex>``: which file made a feature (record provenance)."""
    return f"{path.name} sha256:{sha256_of(path)[:16]}"


def build_rgb_extractor(
    files: dict[str, Path | None], device: str = "cpu", batch_size: int = 32
) -> tuple[yt8m_rgb.YT8MRGBExtractor, dict[str, str]]:
    """(YT8MRGBExtractor, provenance dict) from the resolved files."""
    assert files["inception"] and files["pca"]  # choose_features refuses youtube8m without them
    try:
        resolved = resolve_device(device)
    except RuntimeError as err:
        raise ConfigError(str(err)) from None
    network = yt8m_rgb.load_inception(files["inception"])
    pca = yt8m_rgb.YT8MPCA.load(files["pca"])
    extractor = yt8m_rgb.YT8MRGBExtractor(network, pca, resolved, batch_size)
    provenance = {
        "feature_extractor": "youtube8m",
        "rgb_weights": file_label(files["inception"]),
        "rgb_pca": file_label(files["pca"]),
        "audio_extractor": ZERO_AUDIO,
    }
    return extractor, provenance


def build_audio_extractor(
    files: dict[str, Path | None], device: torch.device, batch_size: int = 32
) -> tuple[vggish.VGGishAudio | None, str]:
    """(VGGishAudio or None, audio provenance text)."""
    weights, pca = files.get("vggish"), files.get("vggish_pca")
    if not weights or not pca:
        return None, ZERO_AUDIO
    audio = vggish.VGGishAudio(vggish.load_vggish(weights), vggish.VGGishPCA.load(pca), device, batch_size)
    return audio, f"vggish {file_label(weights)}, pca {file_label(pca)}"


def frames_ahead(videos: list[Path], max_seconds: int) -> Iterator[tuple[Path, np.ndarray | Exception]]:
    """Yield (path, uint8 frames [T, H, W, 3] or the exception reading them) per video; the
    next video decodes in a thread while the caller runs the networks on this one (PyAV and
    torch both release the GIL)."""
    with ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(read_or_error, path, max_seconds) for path in videos[:1]]
        for index, path in enumerate(videos):
            if index + 1 < len(videos):
                pending.append(pool.submit(read_or_error, videos[index + 1], max_seconds))
            yield path, pending.pop(0).result()


def read_or_error(path: Path, max_seconds: int) -> np.ndarray | Exception:
    """``yt8m_rgb.read_frames``, or the exception it raised (reported per video by the caller)."""
    try:
        return yt8m_rgb.read_frames(path, max_seconds)
    except Exception as err:  # noqa: BLE001 - one bad file never stops the run
        return err


def write_records(
    videos: list[Path],
    rows: list[dict[str, Any]],
    records: RecordWriter,
    extractor: yt8m_rgb.YT8MRGBExtractor,
    audio_extractor: vggish.VGGishAudio | None,
    settings: ExtractSettings,
) -> None:
    """One record per readable video: rgb from `extractor`, audio from `audio_extractor` or
    zeros (``has_audio`` 0); a video that cannot be read is marked skipped in its row."""
    decoded = frames_ahead(videos, settings.max_seconds)
    bar = progress_bar(
        decoded, main_process=settings.progress, desc="extract", unit="video", total=len(videos)
    )
    for row, (path, frames) in zip(rows, bar):
        if isinstance(frames, Exception):
            skip(row, frames)
            continue
        rgb = extractor(frames)
        if audio_extractor is None:
            records.write(row, rgb, np.zeros((len(rgb), AUDIO_SIZE), np.uint8), False)
        else:
            records.write(row, rgb, *audio_extractor(path, len(rgb)))


def run_youtube8m(
    inputs: list[str], output: str, files: dict[str, Path | None], settings: ExtractSettings
) -> dict[str, Any]:
    """``run_extract`` for ``--features youtube8m`` (same outputs, same summary keys)."""
    if settings.pca_dims is not None:
        raise ConfigError("--pca-dims is for --features resnet50 (youtube8m keeps Google's 1024)")
    out, prefix = Path(output), settings.prefix
    old_shards = existing_shards(out, prefix, settings.overwrite)
    videos = find_videos(inputs)
    extractor, provenance = build_rgb_extractor(files, settings.device, settings.batch_size)
    audio_extractor, provenance["audio_extractor"] = build_audio_extractor(
        files, extractor.device, settings.batch_size
    )
    if audio_extractor is None:
        log.warning(
            "audio: no VGGish weights given (--vggish/--vggish-pca): every record gets "
            "zero audio features, as Google's starter extractor writes them"
        )
    out.mkdir(parents=True, exist_ok=True)
    rows = manifest_rows(unique_ids(videos), videos, prefix)
    started = time.perf_counter()
    with ShardedTFRecordWriter(out, prefix, settings.shard_size) as shards:
        records = RecordWriter(shards, settings.labels, provenance)
        write_records(videos, rows, records, extractor, audio_extractor, settings)
    manifest, written = finish_outputs(out, prefix, rows, old_shards, shards.paths)
    result = summary(out, prefix, rows, written, records, manifest)
    seconds = time.perf_counter() - started
    log.info(
        "%d frames of %d videos in %.1f s: %.1f frames/s (decoding, Inception, PCA%s)",
        result["frames"],
        len(written),
        seconds,
        result["frames"] / max(seconds, 1e-9),
        ", VGGish" if audio_extractor else "",
    )
    return {
        **result,
        "features": "youtube8m",
        "frames_per_second": round(result["frames"] / max(seconds, 1e-9), 2),
        **provenance,
    }
