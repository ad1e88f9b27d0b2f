"""Shared fixtures: small synthetic datasets, written once per test session."""
import pytest

from support import YT8M_CLASSES


@pytest.fixture(scope="session")
def yt8m_dir(tmp_path_factory):
    from videozoo.data.synth import synth_youtube8m
    out = tmp_path_factory.mktemp("yt8m")
    synth_youtube8m(str(out), videos=240, classes=YT8M_CLASSES, seed=0)
    return out
