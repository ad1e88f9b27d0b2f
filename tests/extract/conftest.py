"""Fixtures of the extract tests: the test videos and one extraction of them, made once."""

import pytest
from extract_support import FAST, LABELS, MAX_SECONDS, TONES, write_video


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    """tone.mp4 (4 s, a rising tone), silent.mp4 (3 s, no audio), sub/long.mp4 (5 s, longer
    than MAX_SECONDS), broken.mp4 (not a video) and notes.txt (not a video extension)."""
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "tone.mp4", len(TONES), TONES)
    write_video(folder / "silent.mp4", 3, shade=1)
    (folder / "sub").mkdir()
    write_video(folder / "sub" / "long.mp4", MAX_SECONDS + 1, shade=2)
    (folder / "broken.mp4").write_bytes(b"this is not a video" * 20)
    (folder / "notes.txt").write_text("not a video extension: ignored in folders")
    return folder


@pytest.fixture(scope="session")
def extracted(videos, tmp_path_factory):
    """(output folder, summary) of `run_extract` over `videos` with a PCA fit and labels."""
    from videozoo.extract import run_extract

    out = tmp_path_factory.mktemp("features")
    summary = run_extract([str(videos)], str(out), fit_pca=True, labels=LABELS, **FAST)
    return out, summary
