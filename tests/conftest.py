"""Shared fixtures: small synthetic datasets, written once per test session."""

import os
import shutil
import tempfile

import pytest
from support import YT8M_CLASSES


def pytest_configure(config):
    """The tests never read or fill the user's cache (weights, features, compiled kernels):
    ``$VIDEOZOO_HOME`` is a fresh folder for the session (subprocesses inherit it)."""
    os.environ["VIDEOZOO_HOME"] = tempfile.mkdtemp(prefix="videozoo-home-")


def pytest_unconfigure(config):
    shutil.rmtree(os.environ.pop("VIDEOZOO_HOME", ""), ignore_errors=True)


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
