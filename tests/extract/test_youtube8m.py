"""``--features youtube8m``: GraphDef reader, Inception-v3 from the graph and from pytorch-fid's
state dict, TF1 resize, Google's PCA and quantisation, the starter extractor's frame choice,
and whole runs on real encoded videos (fixtures in the published layouts, tests/yt8m_support)."""

import numpy as np
import pytest
import torch
from yt8m_support import (
    graphdef_bytes,
    pool3_width,
    random_state_dict,
    write_graphdef,
    write_pca_tgz,
    write_timed_video,
)

from videozoo.cli import main
from videozoo.data.tfrecord import iter_records
from videozoo.data.youtube8m_records import parse_frame_example
from videozoo.errors import ConfigError, DataError, DataNotFoundError
from videozoo.extract import inception, yt8m_rgb
from videozoo.extract.graphdef import read_graphdef
from videozoo.extract.run import run_extract

WIDTH = 2  # every conv 2 channels wide: the real graph's names and kernels, 12-d pool_3


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yt8m")
    state = write_graphdef(folder / "inception-2015-12-05.tgz", WIDTH, tgz=True)
    pca = write_pca_tgz(folder / "yt8m_pca.tgz", pool3_width(WIDTH))
    return {
        "folder": folder,
        "state": state,
        "pca": pca,
        "inception": folder / "inception-2015-12-05.tgz",
        "pca_file": folder / "yt8m_pca.tgz",
    }


def test_graphdef_reader_gives_const_tensors_and_attrs():
    state = random_state_dict(WIDTH)
    nodes = read_graphdef(graphdef_bytes(state))
    weight = nodes["mixed_4/tower/conv_1/conv2d_params"].value
    assert weight.shape == (1, 7, WIDTH, WIDTH)  # [kh, kw, in, out] as TF stores it
    np.testing.assert_array_equal(
        weight, state["Mixed_6b.branch7x7_2.conv.weight"].permute(2, 3, 1, 0).numpy()
    )
    assert nodes["conv/Conv2D"].attrs["strides"] == [1, 2, 2, 1]
    assert nodes["conv/Conv2D"].attrs["padding"] == b"VALID"
    assert nodes["conv/batchnorm"].attrs["scale_after_normalization"] is True
    assert abs(nodes["conv/batchnorm"].attrs["variance_epsilon"] - 1e-3) < 1e-9
    assert nodes["Mul/y"].value == np.float32(1 / 128)


def test_graph_and_pt_inception_state_dict_give_the_same_network():
    state = random_state_dict(WIDTH, seed=3)
    from_graph = inception.from_graphdef(read_graphdef(graphdef_bytes(state)))
    from_pth = inception.from_pt_inception({**state, "fc.weight": torch.zeros(3, 12)})
    x = torch.randn(2, 3, 299, 299)
    with torch.inference_mode():
        a, b = from_graph(x), from_pth(x)
    assert a.shape == (2, pool3_width(WIDTH)) and torch.equal(a, b)
    # the structure pytorch-fid uses for the 2015 graph loads the same keys
    assert set(from_pth.state_dict()) - set(state) <= {
        k for k in from_pth.state_dict() if k.endswith("num_batches_tracked")
    }


def test_truncated_or_foreign_graph_is_one_line(tmp_path):
    data = graphdef_bytes(random_state_dict(WIDTH))
    with pytest.raises(DataError, match="not a TensorFlow GraphDef"):
        read_graphdef(data[: len(data) // 2 + 1])
    nodes = read_graphdef(data)
    del nodes["mixed_10/tower_2/conv/conv2d_params"]
    with pytest.raises(DataError, match="no Const node 'mixed_10/tower_2/conv/conv2d_params'"):
        inception.from_graphdef(nodes)
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="--inception .*x.pth"):
        yt8m_rgb.load_inception(bad)
    with pytest.raises(DataNotFoundError, match="--inception .*missing.pb: no such file"):
        yt8m_rgb.load_inception(tmp_path / "missing.pb")


def test_tf1_resize_has_no_half_pixel_centres():
    image = torch.arange(4, dtype=torch.float32).view(1, 1, 4, 1)  # one row: 0 1 2 3
    out = inception.tf1_resize_bilinear(image, 1, 8)[0, 0, :, 0]
    # source x = dest * 4/8: 0, .5, 1, ... 3, 3.5 -> the last neighbour is clamped
    np.testing.assert_allclose(out.numpy(), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3])
    down = inception.tf1_resize_bilinear(torch.arange(6.0).view(1, 1, 6, 1), 1, 4)[0, 0, :, 0]
    np.testing.assert_allclose(down.numpy(), [0, 1.5, 3, 4.5])  # x = 0, 1.5, 3, 4.5


def test_opencv_frame_rule():
    at_25 = np.arange(250) / 25  # 10 s at 25 fps
    np.testing.assert_array_equal(yt8m_rgb.opencv_frame_indices(at_25)[:4], [0, 26, 51, 76])
    assert len(yt8m_rgb.opencv_frame_indices(at_25)) == 10
    assert len(yt8m_rgb.opencv_frame_indices(np.arange(1000) / 2.0)) == 300  # capped
    np.testing.assert_array_equal(yt8m_rgb.opencv_frame_indices([0.0]), [0])
    np.testing.assert_array_equal(yt8m_rgb.opencv_frame_indices([0, 0.3, 0.6]), [0])
    uneven = [0, 0.1, 1.5, 1.6, 3.2, 3.3]  # the frame after the one that crosses the second
    np.testing.assert_array_equal(yt8m_rgb.opencv_frame_indices(uneven), [0, 3, 5])


def test_pca_and_quantisation_as_google(files):
    pca = yt8m_rgb.YT8MPCA.load(files["pca_file"])
    raw = files["pca"]
    x = np.random.default_rng(1).normal(size=(3, pool3_width(WIDTH))).astype(np.float32)
    expected = (x - raw["mean"][:, 0]) @ raw["eigenvecs"].T / np.sqrt(raw["eigenvals"][:, 0] + 1e-4)
    np.testing.assert_allclose(pca.transform(x), expected, rtol=1e-5, atol=1e-5)
    q = yt8m_rgb.quantize_starter(np.array([-3, -2, 0, 1.99, 2, 5], np.float32))
    np.testing.assert_array_equal(q, [0, 0, 128, 254, 255, 255])  # round((x + 2) * 255/4)


def test_bad_pca_file_is_one_line(tmp_path):
    (tmp_path / "p.tgz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable yt8m_pca.tgz"):
        yt8m_rgb.YT8MPCA.load(tmp_path / "p.tgz")
    with pytest.raises(DataNotFoundError, match="--pca .*: no such file"):
        yt8m_rgb.YT8MPCA.load(tmp_path / "none.tgz")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_timed_video(folder / "steady.mp4", np.arange(30) / 10, tone_s=3.0)  # 3 s, sound
    write_timed_video(folder / "vfr.mp4", [0, 0.2, 0.9, 1.05, 1.1, 2.4, 2.5])
    write_timed_video(folder / "short.mp4", [0, 0.25, 0.5])  # < 1 s
    write_timed_video(folder / "phone.mp4", np.arange(20) / 10, rotation=90)
    return folder


def test_a_video_longer_than_300_s_gives_300_frames(tmp_path):
    # 2 fps, 16x16 (cheap): 300 frames, one per second, from the starter's rule
    write_timed_video(tmp_path / "long.mp4", np.arange(0, 302, 0.5), size=(16, 16))
    frames = yt8m_rgb.read_frames(tmp_path / "long.mp4")
    assert frames.shape == (300, 16, 16, 3)


def test_extract_youtube8m_on_real_videos(files, videos, tmp_path):
    out = tmp_path / "out"
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    summary = run_extract(
        [str(videos), str(tmp_path / "broken.mp4")],
        str(out),
        features="youtube8m",
        inception=str(files["inception"]),
        pca=str(files["pca_file"]),
        progress=False,
    )
    assert summary["written"] == 4 and summary["features"] == "youtube8m"
    assert summary["skipped"] == 1 and summary["frames_per_second"] > 0
    manifest = (out / "manifest.csv").read_text()
    assert "broken.mp4" in manifest and "skipped" in manifest
    records = {}
    for shard in summary["shards"]:
        for record in iter_records(shard):
            example = parse_frame_example(record, max_frames=400)
            records[example.video_id] = (example, bytes(record))
    frames = {vid: len(ex.rgb) for vid, (ex, _) in records.items()}
    # opencv rule: steady 10 fps -> 0, 11, 21; vfr -> 0, 4 (1.1 s), 6 (2.5 s)
    assert frames == {"steady": 3, "vfr": 3, "short": 1, "phone": 2}
    example, record = records["steady"]
    assert not example.audio.any()  # the starter extractor's zero audio
    assert b"feature_extractor" in record and b"youtube8m" in record
    assert b"inception-2015-12-05.tgz sha256:" in record and b"yt8m_pca.tgz sha256:" in record


def test_extracted_values_follow_the_network(files, videos, tmp_path):
    from videozoo.data.video import VideoReader

    extractor, _ = __import__("videozoo.extract.yt8m_run", fromlist=["x"]).build_rgb_extractor(
        {"inception": files["inception"], "pca": files["pca_file"]}
    )
    frames = yt8m_rgb.read_frames(videos / "vfr.mp4")
    with VideoReader(videos / "vfr.mp4") as reader:
        np.testing.assert_array_equal(frames, reader.read([0, 4, 6]))
    phone = yt8m_rgb.read_frames(videos / "phone.mp4")
    assert phone.shape[1:3] == (48, 32)  # upright, as OpenCV >= 4.5 turns it
    model = inception.from_pt_inception(files["state"])
    with torch.inference_mode():
        pool3 = model(inception.preprocess(torch.from_numpy(frames))).numpy()
    pca = yt8m_rgb.YT8MPCA.load(files["pca_file"])
    expected = np.zeros((3, 1024), np.float32)
    expected[:, : pool3.shape[1]] = pca.transform(pool3)
    got, want = extractor(frames).astype(int), yt8m_rgb.quantize_starter(expected).astype(int)
    # the extractor folds BatchNorm into the convs: float rounding may move a value one step
    assert np.abs(got - want).max() <= 1 and (got == want).mean() > 0.99


def test_default_mode_follows_the_files(files, videos, tmp_path, monkeypatch, caplog):
    from videozoo.extract.yt8m_run import choose_features

    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "empty"))
    assert choose_features(None, None, None, False)[0] == "resnet50"
    assert choose_features(None, None, "pca.npz", False)[0] == "resnet50"
    with pytest.raises(ConfigError, match="needs --inception"):
        choose_features("youtube8m", None, str(files["pca_file"]), False)
    monkeypatch.setenv("VIDEOZOO_HOME", str(files["folder"]))
    mode, found = choose_features(None, None, None, False)
    assert mode == "youtube8m" and found["pca"] == files["pca_file"]
    with pytest.raises(ConfigError, match="--fit-pca is for --features resnet50"):
        choose_features("youtube8m", None, None, True)


def test_cli_bad_inception_file_is_one_line(files, videos, tmp_path, capsys):
    bad = tmp_path / "classify_image_graph_def.pb"
    bad.write_bytes(b"\x0a\x05abc")
    code = main(
        [
            "extract",
            str(videos / "short.mp4"),
            "--output",
            str(tmp_path / "o"),
            "--features",
            "youtube8m",
            "--inception",
            str(bad),
            "--pca",
            str(files["pca_file"]),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--inception" in err[0] and "GraphDef" in err[0]


@pytest.fixture(scope="module")
def nextvlad_checkpoint(tmp_path_factory):
    """An untrained tiny NeXtVLAD with named classes (no training needed)."""
    from support import TINY

    from videozoo.config import build_config
    from videozoo.registry import build_model
    from videozoo.serialization.checkpoint import save_checkpoint
    from videozoo.serialization.format import model_checkpoint

    cfg = build_config("nextvlad", overrides=TINY["nextvlad"] + ["model.num_classes=3"])
    torch.manual_seed(0)
    model = build_model(cfg)
    path = tmp_path_factory.mktemp("nextvlad") / "nextvlad.pt"
    return save_checkpoint(
        model_checkpoint("nextvlad", model.state_dict(), cfg, ["Game", "Vehicle", "Concert"]), path
    )


def test_predict_on_video_files_with_a_feature_model(
    files, videos, nextvlad_checkpoint, tmp_path, monkeypatch, capsys
):
    import json

    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    for name in ("inception-2015-12-05.tgz", "yt8m_pca.tgz"):
        (tmp_path / "home" / name).write_bytes((files["folder"] / name).read_bytes())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    out = tmp_path / "p.jsonl"
    args = [
        "predict",
        "nextvlad",
        "--weights",
        str(nextvlad_checkpoint),
        str(videos / "vfr.mp4"),
        str(videos / "short.mp4"),
        str(broken),
        "--output",
        str(out),
        "--topk",
        "2",
    ]
    assert main(args) == 0
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {str(videos / "vfr.mp4"), str(videos / "short.mp4"), str(broken)}
    assert rows[str(videos / "vfr.mp4")]["class_names"][0] in {"Game", "Vehicle", "Concert"}
    assert "error" in rows[str(broken)]
    cached = sorted((tmp_path / "home" / "features").glob("*.npz"))
    assert len(cached) == 2  # one per video content; a second run reads them back
    stamp = [p.stat().st_mtime_ns for p in cached]
    assert main(args) == 0
    assert [p.stat().st_mtime_ns for p in cached] == stamp
    assert {r["id"]: r for r in map(json.loads, out.read_text().splitlines())} == rows


def test_predict_on_a_video_without_the_google_files_is_a_row(
    videos, nextvlad_checkpoint, tmp_path, monkeypatch
):
    import json

    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "empty"))
    out = tmp_path / "p.jsonl"
    code = main(
        [
            "predict",
            "nextvlad",
            "--weights",
            str(nextvlad_checkpoint),
            str(videos / "short.mp4"),
            "--output",
            str(out),
        ]
    )
    row = json.loads(out.read_text())
    assert code == 3 and "yt8m_pca.tgz" in row["error"]


def test_predict_and_eval_warn_once_on_resnet_features(nextvlad_checkpoint, tmp_path, capsys):
    from videozoo.data import youtube8m
    from videozoo.data.tfrecord import TFRecordWriter
    from videozoo.data.youtube8m_records import encode_frame_example

    youtube8m._WARNED_PROVENANCE.clear()
    rgb, audio = np.zeros((2, 1024), np.uint8), np.zeros((2, 128), np.uint8)
    for name, extractor in (("mine", "resnet50"), ("google", "youtube8m")):
        with TFRecordWriter(tmp_path / f"{name}.tfrecord") as writer:
            for i in range(2):
                writer.write(
                    encode_frame_example(
                        f"{name}{i}", None, rgb, audio, extra_context={"feature_extractor": extractor}
                    )
                )

    def predict(shard: str, output: str) -> int:
        weights = str(nextvlad_checkpoint)
        return main(
            [
                "predict",
                "nextvlad",
                "--weights",
                weights,
                str(tmp_path / shard),
                "--output",
                str(tmp_path / output),
            ]
        )

    for _ in range(2):
        assert predict("mine.tfrecord", "p.csv") == 0
    err = capsys.readouterr().err
    assert err.count("meaningless") == 1 and "--features resnet50" in err
    assert predict("google.tfrecord", "q.csv") == 0
    assert "meaningless" not in capsys.readouterr().err
    # eval says it too (once per process: reset as a new run would start)
    youtube8m._WARNED_PROVENANCE.clear()
    (tmp_path / "data").mkdir()
    with TFRecordWriter(tmp_path / "data" / "validate0000.tfrecord") as writer:
        writer.write(
            encode_frame_example("v0", [1], rgb, audio, extra_context={"feature_extractor": "resnet50"})
        )
    assert (
        main(
            [
                "eval",
                "nextvlad",
                "--weights",
                str(nextvlad_checkpoint),
                "--data",
                str(tmp_path / "data"),
                "--output",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().err.count("meaningless") == 1
