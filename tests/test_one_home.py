"""Facts written once: where a fact has one home, the places that use it agree with it."""

from __future__ import annotations

import pytest
from support import TINY_MODELS

from videozoo import registry
from videozoo.config import build_config, packaged_config_path, read_yaml
from videozoo.convert.resnet2d import IMAGENET
from videozoo.data import video_format
from videozoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD

TRACK_FORMAT = {"youtube8m": "youtube8m", "video": "video"}


def test_every_model_has_a_track_and_reads_its_format():
    assert registry.list_models() == list(registry.MODEL_TRACKS)
    for name, track in registry.MODEL_TRACKS.items():
        assert build_config(name)["data"]["format"] == TRACK_FORMAT[track], name
    assert registry.models_of_track("video") == ["tsn", "tsm", "stnet", "nonlocal"]


@pytest.mark.parametrize("name", ["tsn", "tsm", "stnet"])
def test_default_segments_live_in_the_model_module(name):
    segments = registry.model_module(name).DEFAULT_SEGMENTS
    assert "seg_num" not in read_yaml(packaged_config_path(name)).get("data", {})
    cfg = build_config(name)
    assert cfg["data"]["seg_num"] == segments
    assert build_config(name, overrides=["data.seg_num=5"])["data"]["seg_num"] == 5
    model = registry.create_model(name, num_classes=3, **TINY_MODELS[name])
    frames = model.default_input(1, image_size=32)["video"].shape[1]
    assert frames == segments * (getattr(model, "seglen", None) or 1)


def test_nonlocal_clip_length_lives_in_the_model_module():
    clip_len = registry.model_module("nonlocal").DEFAULT_CLIP_LEN
    assert "clip_len" not in read_yaml(packaged_config_path("nonlocal")).get("data", {})
    assert build_config("nonlocal")["data"]["clip_len"] == clip_len
    model = registry.create_model("nonlocal", num_classes=3, **TINY_MODELS["nonlocal"])
    assert model.default_input(1, image_size=32)["video"].shape[1] == clip_len
    assert build_config("nonlocal")["data"]["seg_num"] == video_format.DEFAULTS["seg_num"]


def test_imagenet_normalisation_is_one_constant():
    assert IMAGENET == {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert video_format.DEFAULTS["mean"] == list(IMAGENET_MEAN)


def test_the_package_exports_exactly_the_public_api():
    """api.__all__ is the list; the package's own list (written out for static tools) and its
    docstring must name the same functions."""
    import videozoo
    from videozoo import api

    assert sorted(videozoo.__all__) == sorted(["__version__", *api.__all__])
    assert all(getattr(videozoo, name) is getattr(api, name) for name in api.__all__)
    assert all(f"``{name}``" in (videozoo.__doc__ or "") for name in api.__all__)
