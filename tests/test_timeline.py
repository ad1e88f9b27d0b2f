"""Timelines: the model's clip slid over long videos, damaged files, live streams and stdin."""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc

import av
import numpy as np
import pytest
import torch
from stream_support import encode_levels, free_port, start_sender, tiny_tsn_checkpoint
from support import kinetics_overrides

from videozoo import timeline as tl
from videozoo.cli import main
from videozoo.config import build_config
from videozoo.data.stream import open_source, sniff_container
from videozoo.data.transforms import build_transform
from videozoo.data.video import VideoReader
from videozoo.errors import DataError, DataNotFoundError

DATA_CFG = build_config("tsn", overrides=kinetics_overrides("tsn"))["data"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    out = tmp_path_factory.mktemp("timeline")
    return {
        "short": encode_levels(out / "short.mp4", 30),
        "ckpt": tiny_tsn_checkpoint(out / "tsn.pt"),
        "dir": out,
    }


def grey_levels(videos):
    """A score function that remembers its inputs and scores 4 classes by grey level."""
    seen = []

    def score(batch):
        seen.append(batch)
        level = batch.mean(dim=(1, 2, 3, 4, 5))  # normalised grey, rising with the level
        return torch.softmax(torch.stack([level * k for k in (-4.0, 0.0, 4.0, 8.0)], 1), 1)

    return score, seen


def test_windows_take_the_frames_evaluation_would_take(videos):
    score, seen = grey_levels(videos)
    result = tl.video_timeline(
        str(videos["short"]), DATA_CFG, score, window=4, stride=3, batch_size=4, show_progress=False
    )
    assert [(s, e) for s, e, _ in result.windows][:3] == [(0.0, 4.0), (3.0, 7.0), (6.0, 10.0)]
    assert len(result.windows) == 10  # starts 0..27; 27 + 4 > 30 still half covered
    got = torch.cat(seen)
    transform = build_transform(DATA_CFG, training=False)
    with VideoReader(videos["short"]) as reader:
        for k in (0, 4, 9):
            start = int(round(result.windows[k][0] * reader.fps))
            rel = tl.window_frame_times(DATA_CFG, 4, reader.fps) * reader.fps
            indices = np.minimum(start + np.round(rel).astype(int).reshape(-1), reader.num_frames - 1)
            frames = reader.read(indices, size=DATA_CFG["short_side"])
            expected = transform(frames[None])
            assert torch.allclose(got[k], expected, atol=1e-5), k


def test_rows_segments_and_smoothing():
    names = ["walk", "run", "jump"]
    hot = [np.eye(3, dtype=np.float32)[c] * 0.8 + 0.1 for c in (0, 0, 1, 1, 1, 2)]
    result = tl.Timeline(
        "v.mp4",
        [(2.0 * i, 2.0 * i + 4, s) for i, s in enumerate(hot)],
        damaged=[(12.5, 14.0, "undecodable data")],
    )
    rows = tl.timeline_rows(result, names, topk=2)
    assert [r.get("class_names", ["-"])[0] for r in rows] == [
        "walk",
        "walk",
        "run",
        "run",
        "run",
        "jump",
        "-",
    ]
    assert rows[-1] == {"id": "v.mp4", "start": 12.5, "end": 14.0, "error": "damaged: undecodable data"}
    segs = tl.segments(rows)
    assert [tl.segment_line(s) for s in segs] == [
        "0:00-0:05 walk 0.90",
        "0:05-0:11 run 0.90",
        "0:11-0:14 jump 0.90",
        "0:12-0:14 damaged: undecodable data",
    ]
    smooth = tl.timeline_rows(result, names, topk=3, smooth=3)
    first = dict(zip(smooth[0]["class_names"], smooth[0]["scores"]))
    assert first["walk"] == pytest.approx(0.9) and first["run"] == pytest.approx(0.1)
    second = dict(zip(smooth[1]["class_names"], smooth[1]["scores"]))
    assert second["run"] == pytest.approx((0.1 + 0.1 + 0.9) / 3)
    assert tl.clock(3723) == "1:02:03" and tl.clock(42) == "0:42"


def test_memory_is_bounded_by_the_window_not_the_video(videos):
    long = encode_levels(videos["dir"] / "long.mp4", 300, fps=10, gop=50)

    def peak(path):
        tracemalloc.start()
        result = tl.video_timeline(
            str(path), DATA_CFG, lambda v: torch.ones(len(v), 4), window=4, stride=2, show_progress=False
        )
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return used, result

    short_peak, short = peak(videos["short"])
    long_peak, result = peak(long)
    assert len(result.windows) == 149 and len(short.windows) == 14
    assert long_peak < 2 * short_peak + 1_000_000, (short_peak, long_peak)


def test_a_damaged_stretch_is_skipped_and_reported(videos, tmp_path):
    data = bytearray(videos["short"].read_bytes())
    with av.open(str(videos["short"])) as c:
        packets = [(float(p.pts * p.time_base), p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    rng = np.random.default_rng(0)
    for t, pos, size in packets:
        if 12 <= t < 16:
            data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    result = tl.video_timeline(
        str(damaged), DATA_CFG, lambda v: torch.ones(len(v), 4), window=2, stride=2, show_progress=False
    )
    assert len(result.damaged) == 1
    start, end, reason = result.damaged[0]
    assert 11 <= start <= 12.5 and 15.5 <= end <= 18, result.damaged
    starts = [s for s, _, _ in result.windows]
    assert 0.0 in starts and 28.0 in starts  # before and after: kept
    rel = tl.window_frame_times(DATA_CFG, 2, 10).reshape(-1)
    needing = [s for s in np.arange(0, 30, 2.0) if ((s + rel >= start) & (s + rel < end)).any()]
    assert needing and not set(needing) & set(starts)  # windows needing the stretch: gone
    assert len(starts) + len(needing) == 15


def test_sources_and_container_sniffing(tmp_path):
    with pytest.raises(DataNotFoundError):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(DataError, match="unsupported scheme"):
        open_source("file:///etc/passwd")
    assert open_source("rtsp://cam/1").live and open_source("udp://127.0.0.1:1234").live
    assert open_source("http://host/v.mp4").live is False
    assert open_source("/dev/video0").format == "v4l2"
    assert sniff_container(b"\x00\x00\x00\x20ftypisom" + bytes(8)) == "mp4"
    assert sniff_container(b"\x1a\x45\xdf\xa3" + bytes(8)) == "matroska"
    assert sniff_container(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_container(b"#!/bin/sh\necho hi\n") is None


def test_cli_timeline_writes_rows_segments_and_plot(videos, tmp_path, capsys):
    out = tmp_path / "timeline.csv"
    missing = tmp_path / "missing.mp4"
    assert (
        main(
            [
                "predict",
                "tsn",
                "--weights",
                str(videos["ckpt"]),
                str(videos["short"]),
                str(missing),
                "--timeline",
                "--window",
                "6",
                "--smooth",
                "2",
                "--output",
                str(out),
                "--plot",
                str(tmp_path / "t.png"),
            ]
        )
        == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "id,start,end,rank,class_id,class_name,score,error"
    assert len(lines) == 1 + 9 * 4 + 1  # windows 0, 3, ..., 24 (27 covers half), 4 ranks each
    assert lines[-1] == f"{missing},,,,,,,no such file"
    segments = out.with_suffix(".segments.txt").read_text().splitlines()
    assert segments[0] == f"# {videos['short']}" and segments[1].startswith("0:00-")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "9 windows of 1 input(s)" in printed
    assert (
        main(["predict", "tsn", "--weights", str(videos["ckpt"]), str(videos["short"]), "--window", "6"]) == 2
    )  # --window without --timeline: a clear error


def test_feature_model_timeline_over_per_second_features(tmp_path):
    from support import yt8m_overrides

    import videozoo
    from videozoo.registry import build_model
    from videozoo.serialization.checkpoint import save_checkpoint
    from videozoo.serialization.format import model_checkpoint

    cfg = build_config("attention_cluster", overrides=yt8m_overrides("attention_cluster"))
    ckpt = save_checkpoint(
        model_checkpoint(
            "attention_cluster", build_model(cfg).state_dict(), cfg, [f"c{i}" for i in range(8)]
        ),
        tmp_path / "f.pt",
    )
    predictor = videozoo.Predictor(ckpt, device="cpu")
    rng = np.random.default_rng(0)
    features = {
        "rgb": rng.integers(0, 255, (47, 1024), dtype=np.uint8),
        "audio": rng.integers(0, 255, (47, 128), dtype=np.uint8),
    }
    result = predictor.predict_timeline(features, window=20, stride=10, topk=3)
    assert [(w["start"], w["end"]) for w in result["windows"]] == [(0, 20), (10, 30), (20, 40), (27, 47)]
    whole = predictor.predict_timeline({k: v[10:30] for k, v in features.items()}, window=20, topk=3)
    assert whole["windows"][0]["scores"] == pytest.approx(result["windows"][1]["scores"], abs=1e-5)

    from videozoo.data.synth import synth_youtube8m

    synth_youtube8m(str(tmp_path / "yt"), videos=8, classes=8, seed=0, shards=1)
    shard = sorted((tmp_path / "yt").glob("train*.tfrecord"))[0]
    per_record = predictor.predict_timeline(shard, window=30, stride=30)
    assert per_record and all(r["windows"] and r["windows"][0]["start"] == 0 for r in per_record)
    assert len({r["id"] for r in per_record}) == len(per_record)


def test_live_stream_follow_reconnect_and_ctrl_c(videos, tmp_path):
    port = free_port()
    first = start_sender(port, 2.5)
    out = tmp_path / "live.jsonl"
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "videozoo",
            "predict",
            "tsn",
            "--weights",
            str(videos["ckpt"]),
            f"tcp://127.0.0.1:{port}",
            "--timeline",
            "--window",
            "1",
            "--stride",
            "1",
            "--follow",
            "--reconnect",
            "4",
            "--output",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = None
    try:
        first.wait(timeout=120)
        second = start_sender(port, 30)  # the stream comes back on the same address
        lines, deadline = [], time.monotonic() + 90
        while time.monotonic() < deadline:
            line = cli.stdout.readline()
            lines.append(line)
            if line.startswith("0:0") and int(line[2:4]) >= 5:  # a window after the outage
                break
        cli.send_signal(signal.SIGTERM)  # as a supervisor stops it; Ctrl-C takes the same path
        rest, err = cli.communicate(timeout=30)
    finally:
        for proc in (cli, first, second):
            if proc and proc.poll() is None:
                proc.kill()
    assert cli.returncode == 0, err[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    windows = [r for r in rows if "error" not in r]
    drops = [r for r in rows if "reconnected" in r.get("error", "")]
    assert len(drops) == 1 and windows[0]["start"] == 0.0
    assert any(w["start"] >= drops[0]["end"] for w in windows)  # windows after the reconnect
    printed = [line for line in lines if line[:1].isdigit()]
    assert len(printed) >= 3 and "interrupted" in rest


def test_stdin_input(videos, tmp_path):
    ts = tmp_path / "clip.ts"
    with av.open(str(videos["short"])) as src, av.open(str(ts), "w", format="mpegts") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    saved = os.dup(0)
    try:
        with open(ts, "rb") as stdin:
            os.dup2(stdin.fileno(), 0)  # what `videozoo predict ... - < clip.ts` reads
            result = tl.video_timeline(
                "-", DATA_CFG, lambda v: torch.ones(len(v), 4), window=10, show_progress=False
            )
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    assert [s for s, _, _ in result.windows] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert result.id == "-" and 29 <= result.duration <= 30.5


def test_http_url_input(videos):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(videos["short"].parent))
    handler.log_message = lambda *a: None
    web = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{web.server_address[1]}/{videos['short'].name}"
        result = tl.video_timeline(
            url, DATA_CFG, lambda v: torch.ones(len(v), 4), window=10, show_progress=False
        )
    finally:
        web.shutdown()
    assert [s for s, _, _ in result.windows] == [0.0, 5.0, 10.0, 15.0, 20.0] and not result.damaged


@pytest.mark.parametrize("gop", [10, 600])
def test_sparse_windows_seek_instead_of_decoding_everything(videos, tmp_path, monkeypatch, gop):
    video = encode_levels(tmp_path / f"gop{gop}.mp4", 60, fps=10, gop=gop)
    yielded = []

    class Counting(tl.FrameStream):
        def __iter__(self):
            for item in super().__iter__():
                yielded.append(item[0])
                yield item

    monkeypatch.setattr(tl, "FrameStream", Counting)
    score, seen = grey_levels(videos)
    result = tl.video_timeline(str(video), DATA_CFG, score, window=20, stride=20, show_progress=False)
    assert [s for s, _, _ in result.windows] == [0.0, 20.0, 40.0]
    if gop == 10:  # 1 s keyframe interval: seeks skip most of the 600 frames
        assert len(yielded) < 300, len(yielded)
    with VideoReader(video) as reader:  # the same frames as without seeking
        rel = np.round(tl.window_frame_times(DATA_CFG, 20, 10) * 10).astype(int).reshape(-1)
        expected = [
            build_transform(DATA_CFG, training=False)(
                reader.read(int(s * 10) + rel, size=DATA_CFG["short_side"])[None]
            )
            for s in (0, 20, 40)
        ]
    assert torch.allclose(torch.cat(seen), torch.stack(expected), atol=1e-5)
