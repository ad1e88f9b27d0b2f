"""VGGish audio of ``--features youtube8m``: AudioSet's log-mel front end, the network in
torchvggish's layout (small widths here), its PCA and quantisation, one example per second."""

import numpy as np
import pytest
import torch
from yt8m_support import pool3_width, write_graphdef, write_pca_tgz, write_timed_video

from videozoo.errors import ConfigError, DataError
from videozoo.extract import vggish
from videozoo.extract.run import run_extract

CHANNELS, HIDDEN = (2, 2, 3, 3, 4, 4), 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vggish")
    torch.manual_seed(0)
    torch.save(vggish.VGGish(CHANNELS, HIDDEN).state_dict(), folder / "vggish-10086976.pth")
    rng = np.random.default_rng(0)
    torch.save(
        {
            "pca_eigen_vectors": torch.from_numpy(np.linalg.qr(rng.normal(size=(128, 128)))[0]),
            "pca_means": torch.from_numpy(rng.normal(size=(128, 1)) * 0.01),
        },
        folder / "vggish_pca_params-970ea276.pth",
    )
    write_graphdef(folder / "inception-2015-12-05.tgz", 2, tgz=True)
    write_pca_tgz(folder / "yt8m_pca.tgz", pool3_width(2))
    write_timed_video(folder / "tone.mp4", np.arange(25) / 10, tone_s=2.5)
    write_timed_video(folder / "silent.mp4", np.arange(15) / 10)
    return folder


def test_state_dict_names_are_torchvggish_s():
    model = vggish.VGGish(CHANNELS, HIDDEN)
    layers = [f"features.{i}" for i in (0, 3, 6, 8, 11, 13)] + [f"embeddings.{i}" for i in (0, 2, 4)]
    assert set(model.state_dict()) == {f"{layer}.{p}" for layer in layers for p in ("weight", "bias")}
    assert model.embeddings[0].in_features == CHANNELS[-1] * 6 * 4  # [6, 4] map flattened
    with torch.inference_mode():
        assert model(torch.zeros(2, 1, 96, 64)).shape == (2, 128)


def test_log_mel_front_end():
    weights = vggish.mel_matrix()
    assert weights.shape == (257, 64) and not weights[0].any()  # the DC bin is weighted 0
    t = np.arange(16000) / 16000
    mel = vggish.log_mel(np.sin(2 * np.pi * 1000 * t))
    assert mel.shape == (1 + (16000 - 400) // 160, 64)
    centres = 700 * (
        np.exp(np.linspace(vggish._hz_to_mel(125), vggish._hz_to_mel(7500), 66)[1:-1] / 1127) - 1
    )
    assert abs(int(mel.mean(0).argmax()) - int(np.abs(centres - 1000).argmin())) <= 1
    silence = vggish.log_mel(np.zeros(4000))
    np.testing.assert_allclose(silence, np.log(0.01))
    examples = vggish.examples_per_second(np.zeros(100), 3)  # short audio: padded silence
    assert examples.shape == (3, 96, 64)


def test_quantisation_truncates_as_audioset():
    np.testing.assert_array_equal(
        vggish.quantize_vggish(np.array([-3, 0, 0.01, 1.999, 3])), [0, 127, 128, 254, 255]
    )  # 2.01 * 63.75 = 128.1


def test_extract_with_vggish(files, tmp_path):
    from videozoo.data.tf_example import SequenceExample
    from videozoo.data.tfrecord import iter_records
    from videozoo.data.youtube8m_records import parse_frame_example

    summary = run_extract(
        [str(files / "tone.mp4"), str(files / "silent.mp4")],
        str(tmp_path / "o"),
        features="youtube8m",
        inception=str(files / "inception-2015-12-05.tgz"),
        pca=str(files / "yt8m_pca.tgz"),
        vggish=str(files / "vggish-10086976.pth"),
        vggish_pca=str(files / "vggish_pca_params-970ea276.pth"),
        progress=False,
    )
    assert summary["without_audio"] == 1 and summary["audio_extractor"].startswith("vggish")
    records = {}
    for record in iter_records(summary["shards"][0]):
        example = parse_frame_example(record)
        context = SequenceExample.FromString(bytes(record)).context.feature
        records[example.video_id] = (example, context["has_audio"].int64_list.value[0])
    tone, has_audio = records["tone"]
    assert has_audio == 1 and len(tone.audio) == len(tone.rgb) == 3
    audio = vggish.VGGishAudio(
        vggish.load_vggish(files / "vggish-10086976.pth"),
        vggish.VGGishPCA.load(files / "vggish_pca_params-970ea276.pth"),
    )
    np.testing.assert_array_equal(tone.audio, audio(files / "tone.mp4", 3)[0])
    silent, has_audio = records["silent"]
    assert has_audio == 0 and not silent.audio.any()


def test_bad_vggish_files_are_one_line(files, tmp_path):
    bad = tmp_path / "v.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(DataError, match="--vggish .*v.pth: not torchvggish"):
        vggish.load_vggish(bad)
    with pytest.raises(DataError, match="--vggish-pca .*: no pca_eigen_vectors"):
        vggish.VGGishPCA.load(bad)
    from videozoo.extract.yt8m_run import choose_features

    with pytest.raises(ConfigError, match="needs both --vggish FILE and --vggish-pca FILE"):
        choose_features(
            "youtube8m",
            str(files / "inception-2015-12-05.tgz"),
            str(files / "yt8m_pca.tgz"),
            False,
            vggish=str(bad),
        )
