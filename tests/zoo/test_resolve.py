"""A tag, end to end: the published file (the convert tests' fixture in the zoo's real layout)
comes from a local HTTP server, is verified, converted once into a cached bundle, and used by
predict / eval-style loading / export / train; later uses load the bundle."""

import hashlib
import json
import tarfile

import numpy as np
import pytest
import torch
from zoo_support import ZooServer, serve_entry

import videozoo
from videozoo.cli import main
from videozoo.errors import CheckpointError
from videozoo.serialization.bundle import is_bundle
from videozoo.zoo import bundles_dir, resolve_weights, table

pytestmark = pytest.mark.slow  # converts and runs small models

TAG = "tsn_r50_1x1x3_k400.mmaction2"
TINY = ("model.depth=18", "model.num_classes=5", "data.test_seg_num=2", "data.test_crops=1")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from videozoo.data.synth_kinetics import synth_kinetics

    out = tmp_path_factory.mktemp("clips")
    synth_kinetics(out, videos=2, eval_videos=1, classes=2, size=48, frames=16, seed=0)
    return sorted(out.rglob("*.mp4"))


@pytest.fixture(scope="module")
def mmaction_file(tmp_path_factory):
    """A ResNet-18 TSN .pth as MMAction2 publishes it (the convert tests' writer)."""
    from convert.test_resnet2d import _write_zoo_file

    path, ours, _ = _write_zoo_file(tmp_path_factory.mktemp("mm"), "mmaction2", "tsn")
    return path.read_bytes(), ours


@pytest.fixture
def zoo(tmp_path, monkeypatch, mmaction_file):
    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDEOZOO_MIRROR", raising=False)
    monkeypatch.delenv("VIDEOZOO_OFFLINE", raising=False)
    data, _ = mmaction_file
    with ZooServer() as server:
        entry = serve_entry(
            monkeypatch, server, TAG, data, overrides=TINY, sha256=hashlib.sha256(data).hexdigest()
        )
        yield server, entry


def test_tag_downloads_converts_once_and_predicts(zoo, clips, mmaction_file):
    server, entry = zoo
    predictor = videozoo.Predictor(TAG, device="cpu")
    rows = predictor.predict([str(clips[0])], topk=3)
    assert rows[0]["id"] and len(rows[0]["class_names"]) == 3
    folder = bundles_dir() / TAG
    assert is_bundle(folder)
    # the converted weights are the fixture's, renamed
    _, ours = mmaction_file
    model = videozoo.load_model(TAG)
    assert torch.equal(
        model.state_dict()["backbone.layer4.1.conv2.weight"],
        ours.state_dict()["backbone.layer4.1.conv2.weight"],
    )
    assert model.videozoo_config["model"]["depth"] == 18
    # the model card and config carry the table's facts
    card = (folder / "README.md").read_text()
    assert TAG in card and "72.83" in card and entry.urls[0] in card
    meta = json.loads((folder / "config.json").read_text())
    assert meta["source"]["sha256"] == entry.sha256
    assert len(server.gets[f"/zoo/{entry.file}"]) == 1  # downloaded once, converted once
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    videozoo.Predictor(TAG, device="cpu")
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_cli_predict_and_export_take_a_tag_without_the_model(zoo, clips, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--weights", TAG, str(clips[0]), str(clips[1]), "--output", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 2
    assert main(["embed", "--weights", TAG, str(clips[0]), "--output", str(tmp_path / "emb")]) == 0
    assert (tmp_path / "emb" / "index.csv").is_file()
    data = clips[0].parents[1]
    for name in ("validate.csv", "classes.txt"):  # the converted model's class names
        text = (data / name).read_text()
        (data / name).write_text(text.replace("motion_000deg", "class_0").replace("motion_180deg", "class_1"))
    assert main(["eval", "--weights", TAG, "--data", str(data), "--output", str(tmp_path / "m.json")]) == 0
    assert "top1" in json.loads((tmp_path / "m.json").read_text())
    assert main(["export", "--weights", TAG, "--format", "bundle"]) == 0
    assert is_bundle(tmp_path / "tsn_r50_1x1x3_k400_bundle")  # in the working folder
    assert main(["cache", "list"]) == 0
    listing = capsys.readouterr().out
    assert TAG in listing and zoo[1].file in listing
    assert main(["cache", "clear"]) == 0
    assert not (bundles_dir() / TAG).exists()


def test_fine_tuning_from_a_tag(zoo, tmp_path):
    from videozoo.data.synth_kinetics import synth_kinetics

    data = synth_kinetics(tmp_path / "k", videos=2, eval_videos=1, classes=2, size=48, frames=16, seed=1)
    result = videozoo.train(
        None,
        data=data,
        output=tmp_path / "run",
        weights=TAG,
        epochs=1,
        batch_size=2,
        set=["data.seg_num=2", "data.test_seg_num=2", "data.crop_size=32", "train.amp=false"],
    )
    assert list((tmp_path / "run").glob("*.pt")), result


def test_create_model_with_a_published_tag(zoo):
    model = videozoo.create_model("tsn", pretrained=TAG)
    assert model.class_names and not model.training
    with pytest.raises(videozoo.errors.ConfigError, match="holds 'tsn' weights"):
        videozoo.create_model("tsm", pretrained=TAG)


def test_feature_model_tag_gets_the_youtube8m_vocabulary(tmp_path, monkeypatch):
    from convert.test_feature_models import SMALL, sets, v15_folder, write_vocabulary

    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDEOZOO_OFFLINE", raising=False)
    folder = v15_folder(tmp_path, "nextvlad", SMALL["nextvlad"])
    archive = tmp_path / "nextvlad_youtube8m.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(folder, arcname=folder.name)
    vocabulary = write_vocabulary(tmp_path / "vocabulary.csv", SMALL["nextvlad"]["num_classes"])
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for path in (archive, vocabulary):
        (mirror / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("VIDEOZOO_MIRROR", str(mirror))
    tag = "nextvlad_youtube8m.paddle15"
    model = videozoo.load_model(resolve_weights(tag, convert_overrides=sets(SMALL["nextvlad"])))
    assert model.class_names[3] == "Entity 3"
    batch = model.default_input(batch_size=1) if hasattr(model, "default_input") else None
    if batch is not None:
        assert torch.isfinite(model(batch)).all()


def test_tags_that_cannot_load_say_why():
    with pytest.raises(CheckpointError, match="non-local"):
        resolve_weights("tsm_r50_nl_gaussian_1x1x8_k400.mmaction2")
    with pytest.raises(CheckpointError, match="auxiliary file"):
        resolve_weights("vocabulary.youtube8m")
    with pytest.raises(CheckpointError, match="did you mean 'tsm_r50_1x1x8_k400.mit'"):
        resolve_weights("tsm_r50_1x1x8_k40.mit")
    assert np.all([t in table.tags() for t in videozoo.list_pretrained()])


def test_convert_recognises_a_published_file_and_applies_its_options(mmaction_file, tmp_path):
    from videozoo.serialization.loading import load_checkpoint_model

    entry = table.get("tsn_r50_1x1x8_k400.mmaction2")
    path = tmp_path / entry.file  # the published name
    path.write_bytes(mmaction_file[0])
    out = tmp_path / "tsn.pt"
    assert (
        main(
            [
                "convert",
                str(path),
                "--model",
                "tsn",
                "--output",
                str(out),
                "--set",
                "model.depth=18",
                "--set",
                "model.num_classes=5",
            ]
        )
        == 0
    )
    loaded = load_checkpoint_model(out, "tsn")
    assert loaded.config["data"]["seg_num"] == 8  # from the table entry
    assert loaded.source["tag"] == entry.tag and loaded.source["reference_metrics"]["top1"] == 74.12


def test_model_pretrained_takes_an_imagenet_tag(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDEOZOO_MIRROR", raising=False)
    trunk = videozoo.create_model("tsn", depth=18, num_classes=3).backbone.state_dict()
    trunk = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in trunk.items()}
    torch.save(trunk, tmp_path / "r18.pth")  # a torchvision-layout state_dict
    data = (tmp_path / "r18.pth").read_bytes()
    with ZooServer() as server:
        serve_entry(
            monkeypatch,
            server,
            "resnet50_imagenet.torchvision",
            data,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        model = videozoo.create_model(
            "tsn", depth=18, num_classes=3, pretrained="resnet50_imagenet.torchvision"
        )
    assert torch.equal(model.backbone.state_dict()["layer3.1.conv2.weight"], trunk["layer3.1.conv2.weight"])
