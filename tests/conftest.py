"""Shared fixtures: small synthetic datasets, written once per test session."""

import pytest
from support import YT8M_CLASSES


@pytest.fixture(scope="session")
def yt8m_dir(tmp_path_factory):
    from videozoo.data.synth import synth_youtube8m

    out = tmp_path_factory.mktemp("yt8m")
    synth_youtube8m(str(out), videos=240, classes=YT8M_CLASSES, seed=0)
    return out


@pytest.fixture(scope="session")
def kinetics_dir(tmp_path_factory):
    """Motion-defined clips (48x48, 32 frames) in the official Kinetics layout."""
    from videozoo.data.synth_kinetics import synth_kinetics

    out = tmp_path_factory.mktemp("kinetics")
    synth_kinetics(out, videos=96, eval_videos=16, classes=4, size=48, frames=32, seed=0)
    return out
