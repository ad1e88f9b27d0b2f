"""benchmarks/bench_e2e.py's pieces on tiny inputs, without the MMAction2 peer."""

import pytest
from test_bench_speed import load_bench

from videozoo.data.video import VideoReader


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_e2e.py")


def test_videos_checkpoint_and_both_modes_agree(bench, tmp_path):
    import videozoo

    videos = bench.make_videos(tmp_path / "videos", 3, seconds=0.8, width=64, height=48)
    with VideoReader(videos[0]) as reader:
        assert (reader.num_frames, reader.height, reader.width) == (20, 48, 64)
    ckpt = bench.our_checkpoint("tsm", tmp_path, None, overrides=("model.depth=18",))
    views = bench.SAME_VIEWS["tsm"] + ["data.test_crops=1", "data.test_crop_size=32", "data.short_side=40"]
    with videozoo.Predictor(ckpt, device="cpu", set=views, batch_size=2, workers=2) as predictor:
        latency = bench.ours_run(predictor, videos, one_at_a_time=True)
        throughput = bench.ours_run(predictor, videos, one_at_a_time=False)
    assert len(latency["times"]) == 3 and latency["total"] >= sum(latency["times"])
    assert all(len(top) == 5 for top in latency["top5"])
    assert bench.top5_agreement(latency["top5"], throughput["top5"]) == (3, 3)
    assert bench.top5_agreement([[1, 2]], [[2, 1]]) == (0, 1)  # order matters


def test_the_peer_is_skipped_with_a_message_when_its_venv_is_absent(bench, tmp_path, capsys, monkeypatch):
    def stop(*args, **kwargs):
        raise SystemExit("stopped after the peer check")

    monkeypatch.setattr(bench, "our_checkpoint", stop)
    monkeypatch.setattr(bench, "make_videos", lambda *a, **k: [])
    with pytest.raises(SystemExit):
        bench.main(["--peer-python", str(tmp_path / "none" / "python"), "--workdir", str(tmp_path)])
    assert "MMAction2 peer skipped: no venv at" in capsys.readouterr().out
