"""Video files given to a feature model (``videozoo predict nextvlad ... clip.mp4``, the
``Predictor``): their YouTube-8M features, extracted on the fly and cached.

``shards_for_videos(inputs) -> (inputs, failures)``: every input that is a video file (by
extension) or a folder holding videos and no TFRecord shard is replaced by a one-record shard
of its ``--features youtube8m`` features, the record id being the path as given; the other
inputs pass unchanged. Failures (undecodable file, missing Google files) are
``(path, "", reason)`` rows.

Audio: VGGish when its two files are in the cache folder, else zeros (as ``extract``).

Cache (``weights_files.cache_dir()/features``): ``<content>-<settings>.npz`` (uint8 rgb and
audio) keyed by the sha256 of the file's bytes and of the extractor's provenance (weights and
PCA files by their hashes), so a video is extracted once per extractor; the shard
``<content>-<settings>-<id>.tfrecord`` is re-encoded from it when the same file comes by
another path. The Google files come from the cache folder (``resolve_file``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from videozoo.data.tfrecord import frame_record
from videozoo.data.video import find_video_files, is_video_file
from videozoo.data.youtube8m_records import AUDIO_SIZE, encode_frame_example
from videozoo.errors import VideozooError
from videozoo.fileio import atomic_write, atomic_write_bytes, sha256_of

log = logging.getLogger("videozoo.extract")


def _video_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(videos, other inputs)."""
    videos, others = [], []
    for item in inputs:
        path = Path(item)
        if path.is_file() and is_video_file(path):
            videos.append(item)
        elif path.is_dir() and not any(path.glob("*.tfrecord")) and find_video_files(path):
            videos += [str(p) for p in find_video_files(path)]
        else:
            others.append(item)
    return videos, others


def _digest(data: bytes | str, size: int = 16) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:size]


class _Extractor:
    """Built on first use (loading Inception costs seconds); None files: a failure per video."""

    def __init__(self):
        self._built = None

    def get(self):
        if self._built is None:
            from videozoo.extract.weights_files import cache_dir, resolve_file
            from videozoo.extract.yt8m_run import (
                build_audio_extractor,
                build_rgb_extractor,
            )

            files = {"inception": resolve_file("inception", None), "pca": resolve_file("pca", None)}
            if not all(files.values()):
                raise VideozooError(
                    "a feature model needs YouTube-8M features of this video, made with "
                    "Google's files: put inception-2015-12-05.tgz and yt8m_pca.tgz in "
                    f"{cache_dir()} ($VIDEOZOO_HOME), or run `videozoo extract` and predict "
                    "on its shards"
                )
            rgb, provenance = build_rgb_extractor(files)
            files.update(vggish=resolve_file("vggish", None), vggish_pca=resolve_file("vggish_pca", None))
            audio = None
            if files["vggish"] and files["vggish_pca"]:  # else zero audio, as the starter's
                audio, provenance["audio_extractor"] = build_audio_extractor(files, rgb.device)
            self._built = rgb, audio, provenance
        return self._built


def _features(path: str, extractor: _Extractor, folder: Path) -> tuple:
    """(rgb, audio, has_audio, cache key) of the video at `path`, from the cache when there."""
    rgb_extractor, audio_extractor, provenance = extractor.get()
    key = f"{sha256_of(path)[:24]}-{_digest(repr(sorted(provenance.items())))}"
    cached = folder / f"{key}.npz"
    if cached.is_file():
        try:
            with np.load(cached) as data:
                return data["rgb"], data["audio"], bool(data["has_audio"]), key
        except (OSError, KeyError, ValueError):
            log.warning("%s: unreadable cache entry, extracting again", cached)
    from videozoo.extract.yt8m_rgb import read_frames

    rgb = rgb_extractor(read_frames(path))
    audio, has_audio = (
        audio_extractor(path, len(rgb))
        if audio_extractor
        else (np.zeros((len(rgb), AUDIO_SIZE), np.uint8), False)
    )
    atomic_write(cached, lambda f: np.savez(f, rgb=rgb, audio=audio, has_audio=has_audio))
    return rgb, audio, has_audio, key


def shards_for_videos(inputs: list[str]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Inputs with every video replaced by its cached one-record feature shard, and the
    videos that failed as ``(path, "", reason)``."""
    videos, others = _video_inputs(list(inputs))
    if not videos:
        return list(inputs), []
    from videozoo.extract.weights_files import cache_dir

    folder = cache_dir() / "features"
    folder.mkdir(parents=True, exist_ok=True)
    extractor, shards, failures = _Extractor(), [], []
    log.info(
        "%d video file(s) given to a feature model: extracting YouTube-8M features (cached in %s)",
        len(videos),
        folder,
    )
    for video in videos:
        try:
            rgb, audio, has_audio, key = _features(video, extractor, folder)
        except VideozooError as err:
            failures.append((video, "", str(err)))
            continue
        except Exception as err:  # noqa: BLE001 - one bad video is a row, not a stop
            reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
            failures.append((video, "", str(reason).splitlines()[0][:300]))
            continue
        shard = folder / f"{key}-{_digest(video, 12)}.tfrecord"
        if not shard.is_file():
            provenance = extractor.get()[2]
            record = encode_frame_example(
                video, None, rgb, audio, extra_context={"has_audio": int(has_audio), **provenance}
            )
            atomic_write_bytes(shard, frame_record(record))
        shards.append(str(shard))
    return others + shards, failures
