"""Class folders without split folders (`my_videos/<class>/*.mp4`): the `flat` layout, its
seeded stratified validation split (data/holdout.py) and the split file a run keeps."""

import json
import logging

import pytest

from videozoo.data.holdout import read_split_file, stratified_split, write_split_file
from videozoo.data.layouts import detect_layout, load_records, resolve_classes
from videozoo.data.video_format import DEFAULTS, freeze_split
from videozoo.errors import ConfigError, DataError, DataNotFoundError


def _flat(root, counts):
    """DIR/<class>/v<i>.mp4 placeholders (layouts look at names, not contents)."""
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"v{i}.mp4").write_bytes(b"")
    return root


def _cfg(root, **extra):
    return {**DEFAULTS, "root": str(root), **extra}


def test_split_is_stratified_seeded_and_keeps_one_per_class():
    videos = {"a": [f"a/{i}" for i in range(20)], "b": [f"b/{i}" for i in range(3)], "c": ["c/0"]}
    split = stratified_split(videos, 0.1, seed=0)
    held = {name: [v for v in split["validate"] if v.startswith(name)] for name in videos}
    assert [len(held[name]) for name in "abc"] == [2, 1, 0]  # 10%, at least 1, never a lone one
    assert sorted(split["train"] + split["validate"]) == sorted(sum(videos.values(), []))
    assert stratified_split(videos, 0.1, seed=0) == split
    assert stratified_split(videos, 0.1, seed=1)["validate"] != split["validate"]
    more = {**videos, "d": [f"d/{i}" for i in range(5)]}  # a new class leaves the others alone
    assert set(split["validate"]) < set(stratified_split(more, 0.1, seed=0)["validate"])
    assert stratified_split(videos, 0.0, seed=0)["validate"] == []


def test_flat_folders_are_detected_and_split(tmp_path):
    root = _flat(tmp_path / "my_videos", {"cat": 10, "dog": 10, "owl": 1})
    cfg = _cfg(root)
    assert detect_layout(cfg) == "flat"
    names = resolve_classes(cfg)
    assert names == ["cat", "dog", "owl"]
    train = load_records(cfg, "train", names)
    valid = load_records(cfg, "validate", names)
    assert (len(train), len(valid)) == (19, 2)
    assert sorted(names[r.label] for r in valid) == ["cat", "dog"]
    assert not {r.path for r in train} & {r.path for r in valid}
    assert all(r.video_id.split("/")[0] == names[r.label] for r in train + valid)
    with pytest.raises(DataNotFoundError, match="no test split"):
        load_records(cfg, "test", names)
    with pytest.raises(ConfigError, match=r"val_fraction .* \[0, 1\)"):
        load_records(_cfg(root, val_fraction=1.0), "train", names)
    _flat(root / "train", {"cat": 1})  # split folders make it the `folders` layout
    assert detect_layout(cfg) == "folders"


def test_the_run_keeps_its_split(tmp_path, caplog):
    root = _flat(tmp_path / "my_videos", {"cat": 6, "dog": 4, "owl": 1})
    run = tmp_path / "run"
    data_cfg = _cfg(root)
    with caplog.at_level(logging.INFO, logger="videozoo.data"):
        assert freeze_split(data_cfg, run, reuse=False, write=True)
    assert "2 of its 11 videos validate" in caplog.text and "split.json" in caplog.text
    assert "1 class(es) have a single video" in caplog.text and "owl" in caplog.text
    assert data_cfg["split_file"] == str((run / "split.json").resolve())
    names = resolve_classes(data_cfg)
    valid = {r.video_id for r in load_records(data_cfg, "validate", names)}
    # videos added later and a new class do not change the run's split or class list
    for i in range(6, 30):
        (root / "cat" / f"v{i}.mp4").write_bytes(b"")
    (root / "eel").mkdir()
    (root / "eel" / "e.mp4").write_bytes(b"")
    assert resolve_classes(data_cfg) == names
    assert {r.video_id for r in load_records(data_cfg, "validate", names)} == valid
    # resuming reuses the file; a fresh run with the same folder draws the split again
    again = _cfg(root)
    assert freeze_split(again, run, reuse=True, write=True)
    assert json.loads((run / "split.json").read_text())["validate"] == sorted(valid)
    assert not freeze_split(data_cfg, run, reuse=True, write=True)  # already frozen
    other = _flat(tmp_path / "other" / "train", {"cat": 2}).parent  # train/<class>/: no hold-out
    assert not freeze_split(_cfg(other), tmp_path / "run2", reuse=False, write=True)
    assert not (tmp_path / "run2").exists()


def test_split_file_errors_are_one_line(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist; it is written to the run folder"):
        read_split_file(tmp_path / "gone.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a videozoo split file"):
        read_split_file(bad)
    path = write_split_file(tmp_path / "s.json", ["a"], {"train": ["a/1"], "validate": [3]}, 0.1, 0)
    with pytest.raises(DataError, match='"validate" must be a list of strings'):
        read_split_file(path)
