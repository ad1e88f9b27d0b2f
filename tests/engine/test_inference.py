"""The inference fast path: Predictor scores equal the plain fp32 path's; decoding in-process."""

import pytest
import torch
from support import KIN_CLASSES, kinetics_overrides

import videozoo
from videozoo.config import build_config
from videozoo.data import video_format
from videozoo.engine import inference
from videozoo.engine.distributed import DistContext
from videozoo.engine.predict import predict_rows
from videozoo.registry import build_model
from videozoo.serialization.checkpoint import save_checkpoint
from videozoo.serialization.format import model_checkpoint
from videozoo.serialization.loading import load_checkpoint_model

NAMES = [f"class{i}" for i in range(KIN_CLASSES)]


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory):
    import numpy as np

    from videozoo.data.synth_kinetics import encode_video, motion_video

    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    return [encode_video(folder / f"v{i}.mp4", motion_video(rng, 90.0 * i, 48, 20), gop=8) for i in range(3)]


@pytest.fixture(scope="module")
def tsm_checkpoint(tmp_path_factory):
    """A tiny TSM with BatchNorm statistics far from 0 / 1 (a wrong fold would show)."""
    cfg = build_config("tsm", overrides=kinetics_overrides("tsm", ["train.num_workers=2"]))
    torch.manual_seed(0)
    model = build_model(cfg)
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2, generator=gen)
            m.running_var.uniform_(0.5, 1.5, generator=gen)
            m.weight.data.uniform_(0.5, 1.0, generator=gen)
            m.bias.data.normal_(0, 0.2, generator=gen)
    path = tmp_path_factory.mktemp("tsm") / "tsm.pt"
    return save_checkpoint(model_checkpoint("tsm", model.state_dict(), cfg, NAMES), path)


def plain_fp32_rows(checkpoint, videos):
    """The reference: the model as loaded (no folding, no channels_last), DataLoader decoding."""
    loaded = load_checkpoint_model(checkpoint)
    loaded.config["train"]["num_workers"] = 0
    return predict_rows(
        loaded.model,
        loaded.config,
        [str(v) for v in videos],
        NAMES,
        DistContext(),
        topk=KIN_CLASSES,
        batch_size=2,
    )


def assert_same_scores(fast, plain):
    assert [r["id"] for r in fast] == [r["id"] for r in plain]
    for a, b in zip(fast, plain):
        assert a["class_ids"] == b["class_ids"]
        # rows hold scores rounded to 6 decimals
        assert a["scores"] == pytest.approx(b["scores"], rel=1e-4, abs=2e-6)


def test_predictor_matches_plain_fp32_and_keeps_its_decoding_threads(
    tsm_checkpoint, tiny_videos, monkeypatch
):
    plain = plain_fp32_rows(tsm_checkpoint, tiny_videos)

    def no_dataloader(*args, **kwargs):
        raise AssertionError("the Predictor must not start DataLoader workers")

    monkeypatch.setattr(video_format, "DataLoader", no_dataloader)
    with videozoo.Predictor(tsm_checkpoint, device="cpu", batch_size=2, workers=2) as predictor:
        assert (
            predictor.plan.folded_bn > 0 and predictor.plan.fused_blocks > 0 and predictor.plan.channels_last
        )
        assert_same_scores(predictor.predict(tiny_videos, topk=KIN_CLASSES), plain)
        pool = predictor._pool
        single = predictor.predict(str(tiny_videos[1]), topk=KIN_CLASSES)  # decoded in-process
        assert_same_scores(single, plain[1:2])
        assert_same_scores(predictor.predict(tiny_videos[::-1], topk=KIN_CLASSES), plain[::-1])
        assert predictor._pool is pool  # the same threads across calls
    assert predictor._pool is None


def test_predictor_precision_argument(tsm_checkpoint, tiny_videos):
    with videozoo.Predictor(tsm_checkpoint, device="cpu", precision="bf16") as predictor:
        assert predictor.plan.amp_dtype == "bfloat16"
        (row,) = predictor.predict(tiny_videos[:1])
        assert len(row["class_ids"]) == 4 and sum(row["scores"]) == pytest.approx(1, abs=0.05)
    with pytest.raises(videozoo.errors.ConfigError, match="fp16 needs CUDA"):
        videozoo.Predictor(tsm_checkpoint, device="cpu", precision="fp16")


def test_compile_uses_static_shapes_and_the_persistent_cache(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(kw) or model)
    plan = inference.prepare_inference(torch.nn.Linear(2, 2).eval(), torch.device("cpu"), compile=True)
    assert plan.compiled and calls == [{"dynamic": False}]
    import os

    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "inductor")
    assert (tmp_path / "inductor").is_dir()
