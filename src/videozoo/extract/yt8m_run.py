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

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from videozoo.data.tfrecord import ShardedTFRecordWriter
from videozoo.data.youtube8m_records import AUDIO_SIZE, encode_frame_example
from videozoo.engine.progress import progress_bar
from videozoo.errors import ConfigError, NothingUsableError
from videozoo.extract import yt8m_rgb
from videozoo.extract.inputs import find_videos, unique_ids
from videozoo.extract.outputs import MANIFEST_FILE, existing_shards, write_manifest
from videozoo.extract.weights_files import resolve_file

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
) -> tuple[str, dict]:
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
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{path.name} sha256:{digest.hexdigest()[:16]}"


def build_rgb_extractor(files: dict, device: str = "cpu", batch_size: int = 32):
    """(YT8MRGBExtractor, provenance dict) from the resolved files."""
    from videozoo.engine.distributed import resolve_device

    try:
        device = resolve_device(device)
    except RuntimeError as err:
        raise ConfigError(str(err)) from None
    network = yt8m_rgb.load_inception(files["inception"])
    pca = yt8m_rgb.YT8MPCA.load(files["pca"])
    extractor = yt8m_rgb.YT8MRGBExtractor(network, pca, device, batch_size)
    provenance = {
        "feature_extractor": "youtube8m",
        "rgb_weights": file_label(files["inception"]),
        "rgb_pca": file_label(files["pca"]),
        "audio_extractor": ZERO_AUDIO,
    }
    return extractor, provenance


def build_audio_extractor(files: dict, device, batch_size: int = 32):
    """(VGGishAudio or None, audio provenance text)."""
    if not files.get("vggish"):
        return None, ZERO_AUDIO
    from videozoo.extract import vggish

    audio = vggish.VGGishAudio(
        vggish.load_vggish(files["vggish"]), vggish.VGGishPCA.load(files["vggish_pca"]), device, batch_size
    )
    return audio, (f"vggish {file_label(files['vggish'])}, pca {file_label(files['vggish_pca'])}")


def frames_ahead(videos: list, max_seconds: int):
    """Yield (path, uint8 frames [T, H, W, 3] or the exception reading them) per video; the
    next video decodes in a thread while the caller runs the networks on this one (PyAV and
    torch both release the GIL)."""

    def read(path):
        try:
            return yt8m_rgb.read_frames(path, max_seconds)
        except Exception as err:  # noqa: BLE001 - reported per video by the caller
            return err

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(read, videos[0]) if videos else None
        for index, path in enumerate(videos):
            frames = pending.result()
            pending = pool.submit(read, videos[index + 1]) if index + 1 < len(videos) else None
            yield path, frames


def run_youtube8m(
    inputs: list[str],
    output: str,
    files: dict,
    *,
    batch_size: int = 32,
    max_seconds: int = 300,
    device: str = "cpu",
    shard_size: int = 1000,
    split_prefix: str | None = None,
    labels: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    pca_dims: int | None = None,
) -> dict:
    """``run_extract`` for ``--features youtube8m`` (same outputs, same summary keys)."""
    if pca_dims is not None:
        raise ConfigError("--pca-dims is for --features resnet50 (youtube8m keeps Google's 1024)")
    out = Path(output)
    prefix = split_prefix or ("train" if labels is not None else "test")
    old_shards = existing_shards(out, prefix, overwrite)
    videos = find_videos(inputs)
    extractor, provenance = build_rgb_extractor(files, device, batch_size)
    audio_extractor, provenance["audio_extractor"] = build_audio_extractor(
        files, extractor.device, batch_size
    )
    if audio_extractor is None:
        log.warning(
            "audio: no VGGish weights given (--vggish/--vggish-pca): every record gets "
            "zero audio features, as Google's starter extractor writes them"
        )
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "id": vid,
            "path": str(path),
            "split": prefix,
            "shard": "",
            "frames": 0,
            "has_audio": 0,
            "status": "pending",
            "error": "",
        }
        for vid, path in zip(unique_ids(videos), videos)
    ]
    unlabelled, started = 0, time.perf_counter()
    with ShardedTFRecordWriter(out, prefix, shard_size) as shards:
        for row, (path, frames) in zip(
            rows,
            progress_bar(
                frames_ahead(videos, max_seconds),
                main_process=progress,
                desc="extract",
                unit="video",
                total=len(videos),
            ),
        ):
            if isinstance(frames, Exception):  # one bad file never stops the run
                err = frames
                reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
                row.update(status="skipped", error=str(reason).splitlines()[0][:300])
                log.warning("%s: skipped: %s", path, row["error"])
                continue
            rgb = extractor(frames)
            audio, has_audio = (
                audio_extractor(path, len(rgb))
                if audio_extractor
                else (np.zeros((len(rgb), AUDIO_SIZE), np.uint8), False)
            )
            video_labels = None if labels is None else labels.get(row["id"])
            if labels is not None and video_labels is None:
                unlabelled, video_labels = unlabelled + 1, []
            record = encode_frame_example(
                row["id"], video_labels, rgb, audio, extra_context={"has_audio": int(has_audio), **provenance}
            )
            row.update(shard=shards.write(record), frames=len(rgb), status="ok", has_audio=int(has_audio))
    for stale in set(map(str, old_shards)) - set(shards.paths):
        Path(stale).unlink()
    manifest = out / MANIFEST_FILE
    write_manifest(manifest, prefix, rows)
    written = [row for row in rows if row["status"] == "ok"]
    frames, seconds = sum(row["frames"] for row in written), time.perf_counter() - started
    log.info(
        "%d frames of %d videos in %.1f s: %.1f frames/s (decoding, Inception, PCA%s)",
        frames,
        len(written),
        seconds,
        frames / max(seconds, 1e-9),
        ", VGGish" if audio_extractor else "",
    )
    if not written:
        first = next((row for row in rows if row["error"]), rows[0])
        raise NothingUsableError(
            f"no video could be read ({len(rows)} tried); first error: "
            f"{first['path']}: {first['error']}. See {manifest}"
        )
    return {
        "output": str(out),
        "features": "youtube8m",
        "split_prefix": prefix,
        "videos": len(rows),
        "written": len(written),
        "skipped": len(rows) - len(written),
        "without_audio": sum(1 for row in written if not row["has_audio"]),
        "unlabelled": unlabelled,
        "frames": frames,
        "frames_per_second": round(frames / max(seconds, 1e-9), 2),
        "shards": shards.paths,
        "manifest": str(manifest),
        **provenance,
    }
