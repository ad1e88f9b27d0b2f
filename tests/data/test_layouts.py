"""Published data set layouts (data/layouts/): detection, class lists, splits, missing videos,
malformed annotations and the flip default, on miniature copies written by the tests."""

import json
import logging
import shutil

import pytest
import torch
from layout_support import (
    HMDB_CLASSES,
    SSV2_TEMPLATES,
    UCF_CLASSES,
    make_folders,
    make_hmdb51,
    make_ssv2,
    make_ucf101,
    write_clip,
)

from videozoo.data import video_format
from videozoo.data.layouts import LAYOUTS, default_flip, detect_layout, load_records, resolve_classes
from videozoo.errors import ConfigError, DataError, DataNotFoundError

SMALL = {"short_side": 40, "crop_size": 32, "seg_num": 4, "test_seg_num": 4}


def _cfg(root, **extra):
    return {**video_format.DEFAULTS, **SMALL, "root": str(root), **extra}


def _records(root, split, **extra):
    cfg = _cfg(root, **extra)
    names = video_format.class_names(cfg)
    return names, load_records(cfg, split, names)


def _copy(src, tmp_path):
    return shutil.copytree(src, tmp_path / "data")


@pytest.fixture(scope="module")
def folders_dir(tmp_path_factory):
    return make_folders(tmp_path_factory.mktemp("folders"))


@pytest.fixture(scope="module")
def ucf_dir(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf101"), splits=(1, 2))


@pytest.fixture(scope="module")
def hmdb_dir(tmp_path_factory):
    return make_hmdb51(tmp_path_factory.mktemp("hmdb51"))


@pytest.fixture(scope="module")
def ssv2_dir(tmp_path_factory):
    return make_ssv2(tmp_path_factory.mktemp("ssv2"))


# -- one folder per class -----------------------------------------------------------------------
def test_folders_classes_are_sorted_train_folders_and_labels_follow(folders_dir, tmp_path, caplog):
    root = _copy(folders_dir, tmp_path)
    write_clip(root / "train" / "aardvark" / "deep" / "x.mp4", 0, 3, seed=1)  # nested: still its class
    (root / "train" / "empty").mkdir()  # no video: no class
    write_clip(root / "train" / "loose.mp4", 0, 3, seed=2)
    (root / "val").rename(root / "validate")
    assert detect_layout(_cfg(root)) == "folders"
    with caplog.at_level(logging.WARNING, logger="videozoo.data"):
        names, train = _records(root, "train")
    assert names == ["aardvark", "alpha", "beta", "gamma"]
    assert "1 video(s) directly in" in caplog.text and "loose.mp4" in caplog.text
    assert len(train) == 10 and all(names[r.label] == r.video_id.split("/")[0] for r in train)
    assert any(r.video_id == "aardvark/deep/x.mp4" for r in train)
    _, valid = _records(root, "validate")
    assert sorted(names[r.label] for r in valid) == ["alpha", "beta", "gamma"]
    assert all("/validate/" in r.path for r in valid)


def test_folders_class_not_in_training_and_missing_split(folders_dir, tmp_path):
    root = _copy(folders_dir, tmp_path)
    write_clip(root / "val" / "delta" / "a.mp4", 0, 3, seed=3)
    with pytest.raises(DataError, match=r"class 'delta' is not one of the 3 classes in use"):
        _records(root, "validate")
    shutil.rmtree(root / "test")
    with pytest.raises(DataNotFoundError, match=r"no 'test' split in .*test/"):
        _records(root, "test")


# -- UCF101 -------------------------------------------------------------------------------------
def test_ucf101_as_published(ucf_dir):
    assert detect_layout(_cfg(ucf_dir)) == "ucf101"
    names, train = _records(ucf_dir, "train")
    assert names == list(UCF_CLASSES)  # classInd order, 1-based -> 0-based
    assert len(train) == 12 and all(names[r.label] == r.video_id.split("/")[0] for r in train)
    # the published spelling quirk: folder HandstandPushups, files v_HandStandPushups_*
    assert any("/HandstandPushups/v_HandStandPushups_g08" in r.path for r in train)
    _, valid = _records(ucf_dir, "validate")
    _, test = _records(ucf_dir, "test")
    assert [r.path for r in valid] == [r.path for r in test]  # no validation list: the test list
    assert [names[r.label] for r in test] == list(UCF_CLASSES)  # label = folder of the test line


def test_ucf101_split_id_and_other_video_folders(ucf_dir, tmp_path):
    root = _copy(ucf_dir, tmp_path)
    (root / "ucfTrainTestlist" / "trainlist02.txt").write_text(
        "Archery/v_Archery_g08_c01.avi 2\nYoYo/v_YoYo_g09_c01.avi 4\n"
    )
    _, second = _records(root, "train", split_id=2)
    assert [(r.video_id, r.label) for r in second] == [
        ("Archery/v_Archery_g08_c01.avi", 1),
        ("YoYo/v_YoYo_g09_c01.avi", 3),
    ]
    with pytest.raises(
        DataNotFoundError, match=r"trainlist03.txt does not exist: data.split_id=3; .*\[1, 2\]"
    ):
        _records(root, "train", split_id=3)
    # videos directly in DIR/<Class>/, re-encoded to mp4 with the file names' case fixed
    for path in list((root / "UCF-101").rglob("*.avi")):
        target = root / path.parent.name / path.with_suffix(".mp4").name.replace("HandStand", "Handstand")
        target.parent.mkdir(exist_ok=True)
        path.rename(target)
    shutil.rmtree(root / "UCF-101")
    _, moved = _records(root, "train")
    assert len(moved) == 12 and all(r.path.endswith(".mp4") for r in moved)


def test_ucf101_missing_videos_counted_once(ucf_dir, tmp_path, caplog):
    root = _copy(ucf_dir, tmp_path)
    for path in list((root / "UCF-101" / "YoYo").iterdir()):
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="videozoo.data"):
        names, train = _records(root, "train")
    assert len(train) == 9 and names == list(UCF_CLASSES)  # the class list still comes from classInd
    assert caplog.text.count("annotated video(s) not found") == 1
    assert "3 annotated video(s) not found" in caplog.text


@pytest.mark.parametrize(
    "file,line,pattern",
    [
        ("trainlist01.txt", "YoYo/v_YoYo_g08_c01.avi", r"trainlist01.txt:13: malformed line"),
        ("trainlist01.txt", "YoYo/v_YoYo_g08_c01.avi 5", r"trainlist01.txt:13: .*<1..4>"),
        ("testlist01.txt", "Juggling/v_Juggling_g01_c01.avi", r"testlist01.txt:5: malformed line"),
        ("classInd.txt", "five Juggling", r"classInd.txt:5: malformed line"),
    ],
)
def test_ucf101_malformed_line_names_file_and_line(ucf_dir, tmp_path, file, line, pattern):
    root = _copy(ucf_dir, tmp_path)
    path = root / "ucfTrainTestlist" / file
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(DataError, match=pattern):
        _records(root, "test" if file == "testlist01.txt" else "train")


# -- HMDB51 -------------------------------------------------------------------------------------
def test_hmdb51_split_tags(hmdb_dir):
    assert detect_layout(_cfg(hmdb_dir)) == "hmdb51"
    names, train = _records(hmdb_dir, "train")
    assert names == sorted(HMDB_CLASSES)
    assert len(train) == 6 and all(r.video_id.endswith(("_0.avi", "_1.avi")) for r in train)  # tag 1
    _, test = _records(hmdb_dir, "test")
    assert [r.video_id for r in test] == [f"{c}/Some_Movie_{c}_f_nm_np1_fr_med_2.avi" for c in HMDB_CLASSES]
    assert [names[r.label] for r in test] == list(HMDB_CLASSES)
    _, valid = _records(hmdb_dir, "validate")
    assert [r.path for r in valid] == [r.path for r in test]  # tag 0 is used by neither


def test_hmdb51_unpacked_in_place_split_id_and_bad_tag(hmdb_dir, tmp_path):
    root = _copy(hmdb_dir, tmp_path)
    for folder in list((root / "videos").iterdir()):  # the class folders straight in DIR
        folder.rename(root / folder.name)
    (root / "videos").rmdir()
    assert len(_records(root, "train")[1]) == 6
    with pytest.raises(DataNotFoundError, match=r"split 2 files .* must be one of \[1\]"):
        _records(root, "train", split_id=2)
    split = root / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    split.write_text(split.read_text() + "Other_wave_9.avi 3\n")
    with pytest.raises(DataError, match=r"wave_test_split1.txt:5: malformed line .*<0\|1\|2>"):
        _records(root, "train")


def test_hmdb51_batches_from_the_data_source(hmdb_dir):
    source = video_format.build(_cfg(hmdb_dir), "validate", training=False, batch_size=2, seed=0)
    batches = list(source.batches(0))
    assert source.class_names == sorted(HMDB_CLASSES)
    assert [b["video"].shape for b in batches] == [(2, 1, 4, 3, 32, 32), (1, 1, 4, 3, 32, 32)]
    assert torch.cat([b["label"] for b in batches]).tolist() == [0, 1, 2]
    assert all(b["valid"].all() for b in batches)


# -- Something-Something V2 ---------------------------------------------------------------------
def test_ssv2_classes_from_label_ids_and_templates(ssv2_dir):
    assert detect_layout(_cfg(ssv2_dir)) == "ssv2"
    names, train = _records(ssv2_dir, "train")
    plain = [t.replace("[", "").replace("]", "") for t in SSV2_TEMPLATES]
    assert names == plain[::-1]  # the order of labels.json's ids, not of the names
    items = json.loads((ssv2_dir / "labels" / "train.json").read_text())
    by_id = {r.video_id: r for r in train}
    assert len(train) == 9 and all(
        names[by_id[item["id"]].label] == item["template"].replace("[", "").replace("]", "") for item in items
    )
    assert all(r.path.endswith(f"20bn-something-something-v2/{r.video_id}.webm") for r in train)
    _, valid = _records(ssv2_dir, "validate")
    _, test = _records(ssv2_dir, "test")
    assert len(valid) == 3 and {r.label for r in test} == {-1}


def test_ssv2_older_file_names_and_bad_entries(ssv2_dir, tmp_path):
    root = _copy(ssv2_dir, tmp_path)
    (root / "labels").rename(root / "annotations")
    for path in (root / "annotations").iterdir():
        path.rename(path.with_name(f"something-something-v2-{path.name}"))
    assert len(_records(root, "validate")[1]) == 3
    train = root / "annotations" / "something-something-v2-train.json"
    items = json.loads(train.read_text())
    train.write_text(json.dumps(items + [{"id": "1", "template": "Spinning [something]"}]))
    with pytest.raises(DataError, match=r"entry 10 \(id 1\): template 'Spinning something' is not a class"):
        _records(root, "train")
    train.write_text(json.dumps(items)[:-1] + ",\n{oops}]")
    with pytest.raises(DataError, match=r"something-something-v2-train.json:2: not valid JSON"):
        _records(root, "train")


# -- detection, data.layout, class names, flip --------------------------------------------------
def test_nothing_found_lists_every_layout_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("no videos here")
    with pytest.raises(DataNotFoundError) as info:
        video_format.class_names({"root": str(tmp_path)})
    message = str(info.value)
    assert str(tmp_path) in message and "\n" not in message
    assert all(f"{name}:" in message for name in LAYOUTS)
    assert "classInd.txt" in message and "train.csv" in message and "labels.json" in message


def test_detection_order_and_forced_layout(folders_dir, ucf_dir, tmp_path):
    root = _copy(folders_dir, tmp_path)
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nalpha,clip0,0,1,train\n")
    assert detect_layout(_cfg(root)) == "kinetics"  # Kinetics CSVs with per-class clip folders
    assert detect_layout(_cfg(root, layout="folders")) == "folders"
    assert len(_records(root, "train", layout="folders")[1]) == 9
    with pytest.raises(ConfigError, match="data.layout='ucf' is not a layout; use auto or one of"):
        detect_layout(_cfg(root, layout="ucf"))
    with pytest.raises(DataNotFoundError, match="no UCF101 classInd.txt"):
        video_format.class_names(_cfg(root, layout="ucf101"))
    assert detect_layout(_cfg(ucf_dir, train_annotation=str(root / "train.csv"))) == "kinetics"


def test_class_list_override_remaps_labels_by_name(ucf_dir, tmp_path):
    names = list(reversed(UCF_CLASSES))
    _, train = _records(ucf_dir, "train", classes=names)
    assert all(names[r.label] == r.video_id.split("/")[0] for r in train)
    root = _copy(ucf_dir, tmp_path)
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    assert video_format.class_names(_cfg(root)) == names
    with pytest.raises(DataError, match="class 'YoYo' is not one of the 3 classes in use"):
        _records(ucf_dir, "train", classes=names[1:])
    assert resolve_classes({"classes": "kinetics400"})[:2] == ["abseiling", "air drumming"]


def test_flip_defaults_per_layout_and_option(folders_dir, ssv2_dir):
    assert default_flip(_cfg(folders_dir)) is True
    assert default_flip(_cfg(ssv2_dir)) is False  # "from left to right" must not be mirrored
    assert default_flip(_cfg(ssv2_dir, flip="auto")) is False
    assert default_flip(_cfg(ssv2_dir, flip=True)) is True
    assert default_flip(_cfg(folders_dir, flip=False)) is False
    with pytest.raises(ConfigError, match="data.flip must be true, false or auto"):
        default_flip(_cfg(folders_dir, flip="sometimes"))
    for root, expected in ((folders_dir, True), (ssv2_dir, False)):
        source = video_format.build(_cfg(root), "train", training=True, batch_size=2, seed=0)
        assert source.dataset.transform.flip is expected


def test_predict_needs_no_data_folder(folders_dir, tmp_path):
    cfg = _cfg(tmp_path / "gone", inputs=[str(folders_dir / "test")])
    source = video_format.build(cfg, "predict", training=False, batch_size=4, seed=0)
    assert source.num_samples() == 3 and source.class_names == []


def test_kinetics_csv_bad_times_name_file_and_line(tmp_path):
    header = "label,youtube_id,time_start,time_end,split\n"
    (tmp_path / "train.csv").write_text(header + "abseiling,a,1,11,train\nabseiling,b,one,11,train\n")
    write_clip(tmp_path / "train" / "a_000001_000011.mp4", 0, 2, seed=4)
    with pytest.raises(DataError, match=r"train.csv:3: time_start/time_end 'one', '11' are not numbers"):
        _records(tmp_path, "train")


def test_folders_split_without_class_folders_is_missing(folders_dir, tmp_path):
    root = _copy(folders_dir, tmp_path)
    shutil.rmtree(root / "val")
    write_clip(root / "val" / "loose.mp4", 0, 3, seed=5)
    with pytest.raises(DataNotFoundError, match=r"val has no class folder holding videos"):
        _records(root, "validate")
