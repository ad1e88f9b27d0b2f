"""The `video` data format: Kinetics annotations, class ids, its DataSource; synthetic Kinetics."""

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from videozoo.data.layouts import load_records, resolve_classes
from videozoo.data.layouts.kinetics import find_annotation, kinetics400_classes
from videozoo.data.synth_kinetics import class_names, motion_video, synth_kinetics
from videozoo.data.video_format import DEFAULTS, build, predict_records
from videozoo.registry import dataset_builder

SMALL = {"short_side": 32, "crop_size": 28, "seg_num": 4, "test_seg_num": 4}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("kinetics")
    return synth_kinetics(out, videos=8, eval_videos=5, classes=4, size=32, frames=16, seed=0)


def _copy(src, tmp_path):
    return shutil.copytree(src, tmp_path / "data")


def _cfg(root, **extra):
    return {**DEFAULTS, **SMALL, "root": str(root), **extra}


def _all_batches(source, epoch=0, start_batch=0):
    return list(source.batches(epoch, start_batch))


def test_synth_layout_and_csv(synth_dir):
    assert (synth_dir / "classes.txt").read_text().split("\n")[:4] == class_names(4) == sorted(class_names(4))
    for split, count in (("train", 8), ("validate", 5), ("test", 5)):
        with open(synth_dir / f"{split}.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == count and set(rows[0]) == {
            "label",
            "youtube_id",
            "time_start",
            "time_end",
            "split",
        }
        for row in rows:
            name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
            assert (synth_dir / split / name).is_file() and row["split"] == split


@pytest.mark.parametrize("direction,moving_axis", [(0, 1), (90, 0), (180, 1)])
def test_synth_motion_is_along_the_class_direction(direction, moving_axis):
    video = motion_video(np.random.default_rng(1), direction, 64, 6)
    changed = (video[0] != video[4]).any(-1)
    spread = [changed.any(axis=1 - axis).sum() for axis in (0, 1)]  # rows, columns touched
    assert spread[moving_axis] > spread[1 - moving_axis]
    assert spread[1 - moving_axis] <= int(64 * 0.4)


def test_csv_split_folder_records(synth_dir):
    cfg = _cfg(synth_dir)
    names = resolve_classes(cfg)
    assert names == class_names(4)
    records = load_records(cfg, "validate", names)
    with open(synth_dir / "validate.csv") as f:
        labels = [names.index(row["label"]) for row in csv.DictReader(f)]
    assert sorted(r.label for r in records) == sorted(labels) and len(records) == 5
    assert all("/validate/" in r.path for r in records)


def test_per_class_folders_and_missing_videos(synth_dir, tmp_path, caplog):
    root = _copy(synth_dir, tmp_path)
    with open(root / "train.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows[1:]:  # the first one is "not downloaded"
        name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
        (root / "train" / row["label"]).mkdir(exist_ok=True)
        (root / "train" / name).rename(root / "train" / row["label"] / name)
    (next((root / "train").glob("*.mp4"))).unlink()
    with caplog.at_level(logging.WARNING, logger="videozoo.data"):
        records = load_records(_cfg(root), "train", class_names(4))
    assert len(records) == len(rows) - 1
    assert all(r.label == class_names(4).index(r.path.split("/")[-2]) for r in records)
    assert "1 annotated video(s) not found" in caplog.text


def test_list_file_records(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    for name in ("train.csv", "validate.csv", "test.csv"):
        (root / name).unlink()
    files = sorted((root / "validate").glob("*.mp4"))
    (root / "val_list.txt").write_text("".join(f"validate/{p.name} {i % 4}\n" for i, p in enumerate(files)))
    cfg = _cfg(root, classes="kinetics400")
    assert find_annotation(cfg, "validate").name == "val_list.txt"
    records = load_records(cfg, "validate", list(kinetics400_classes()))
    assert [r.label for r in records] == [i % 4 for i in range(len(files))]
    assert [r.path for r in records] == [str(p) for p in files]


def test_class_id_rules(tmp_path):
    kinetics = list(kinetics400_classes())
    assert len(kinetics) == 400 and kinetics == sorted(kinetics)
    header = "label,youtube_id,time_start,time_end,split\n"
    (tmp_path / "train.csv").write_text(header + "air drumming,a,1,11,train\nabseiling,b,1,11,train\n")
    assert resolve_classes({"root": str(tmp_path)}) == kinetics  # a Kinetics-400 subset keeps K400 ids
    (tmp_path / "train.csv").write_text(header + "zebra,a,1,11,train\napple,b,1,11,train\n")
    assert resolve_classes({"root": str(tmp_path)}) == ["apple", "zebra"]
    (tmp_path / "classes.txt").write_text("zebra\napple\n")
    assert resolve_classes({"root": str(tmp_path)}) == ["zebra", "apple"]
    assert resolve_classes({"root": str(tmp_path), "classes": ["x", "y"]}) == ["x", "y"]


def test_missing_annotation_names_folder_and_candidates(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        build(_cfg(tmp_path), "train", training=True, batch_size=2, seed=0)
    assert str(tmp_path) in str(info.value) and "train.csv" in str(info.value)


def test_training_batches_shapes_determinism_and_resume(synth_dir):
    source = dataset_builder("video")(_cfg(synth_dir), "train", training=True, batch_size=3, seed=5)
    assert source.task == "singlelabel" and source.num_batches(0) == 3
    batches = _all_batches(source)
    first = batches[0]
    assert first["video"].shape == (3, 1, 4, 3, 28, 28) and first["video"].dtype == torch.float32
    assert first["label"].dtype == torch.long and first["valid"].all() and first["skipped"] == []
    assert sorted(sum((b["ids"] for b in batches), [])) == sorted(r.path for r in source.dataset.records)
    resumed = _all_batches(source, start_batch=1)
    assert [b["ids"] for b in resumed] == [b["ids"] for b in batches[1:]]
    assert torch.equal(resumed[0]["video"], batches[1]["video"])
    other_epoch = _all_batches(source, epoch=1)
    assert [b["ids"] for b in other_epoch] != [b["ids"] for b in batches]


def test_workers_do_not_change_batches(synth_dir):
    kwargs = dict(training=True, batch_size=4, seed=1)
    single = _all_batches(build(_cfg(synth_dir), "train", num_workers=0, **kwargs))
    multi = _all_batches(build(_cfg(synth_dir), "train", num_workers=2, **kwargs))
    assert [b["ids"] for b in single] == [b["ids"] for b in multi]
    assert all(torch.equal(a["video"], b["video"]) for a, b in zip(single, multi))


def test_eval_ranks_cover_every_video_exactly_once(synth_dir):
    seen = []
    for rank in range(3):
        source = build(
            _cfg(synth_dir), "validate", training=False, batch_size=2, seed=0, rank=rank, world_size=3
        )
        seen += sum((b["ids"] for b in _all_batches(source)), [])
    assert sorted(seen) == sorted(r.path for r in source.dataset.records)


def test_training_ranks_are_disjoint(synth_dir):
    ids = [
        sum(
            (
                b["ids"]
                for b in _all_batches(
                    build(_cfg(synth_dir), "train", training=True, batch_size=8, seed=0, rank=r, world_size=3)
                )
            ),
            [],
        )
        for r in range(3)
    ]
    assert all(len(part) == 8 // 3 for part in ids)
    assert len(set(sum(ids, []))) == 3 * (8 // 3)


@pytest.fixture()
def with_broken_video(synth_dir, tmp_path):
    root = _copy(synth_dir, tmp_path)
    victim = sorted((root / "train").glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated: mp4 index lost
    shutil.copy(victim, root / "validate" / victim.name)
    with open(root / "validate.csv", "a") as f:
        stem = victim.stem.split("_")
        f.write(f"{class_names(4)[0]},{'_'.join(stem[:-2])},{int(stem[-2])},{int(stem[-1])},validate\n")
    return root, str(victim)


def test_training_skips_unreadable_video(with_broken_video, caplog):
    root, victim = with_broken_video
    source = build(_cfg(root), "train", training=True, batch_size=8, seed=0)
    with caplog.at_level(logging.WARNING, logger="videozoo.data"):
        (batch,) = _all_batches(source)
    assert batch["video"].shape[0] == 7 and victim not in batch["ids"]
    assert [s[0] for s in batch["skipped"]] == [victim] and batch["skipped"][0][2]
    assert victim in caplog.text


def test_evaluation_marks_unreadable_video_invalid(with_broken_video):
    root, victim = with_broken_video
    source = build(_cfg(root, test_crops=3, crop_size=32), "validate", training=False, batch_size=8, seed=0)
    (batch,) = _all_batches(source)
    position = batch["ids"].index(str(root / "validate" / victim.split("/")[-1]))
    assert batch["video"].shape == (6, 3, 4, 3, 32, 32)
    assert not batch["valid"][position] and batch["valid"].sum() == 5
    assert batch["video"][position].abs().sum() == 0 and batch["label"][position] == 0
    assert batch["skipped"] == []


def test_dense_sampling_multi_view_batch(synth_dir):
    cfg = _cfg(synth_dir, sampling="dense", clip_len=4, frame_interval=2, test_num_clips=2, test_crops=3)
    source = build(cfg, "test", training=False, batch_size=5, seed=0)
    (batch,) = _all_batches(source)
    assert batch["video"].shape == (5, 6, 4, 3, 28, 28) and batch["valid"].all()


def test_predict_inputs(synth_dir, tmp_path):
    videos = sorted((synth_dir / "validate").glob("*.mp4"))
    (tmp_path / "list.txt").write_text(f"{videos[0]}\n{videos[1]} 2\n")
    inputs = [str(synth_dir / "validate"), str(videos[2]), str(tmp_path / "list.txt")]
    records, failures = predict_records(inputs)
    # The same file named three ways is one row; ids are the paths as given.
    assert sorted(r.path for r in records) == sorted(map(str, videos)) and failures == []
    assert all(r.video_id == r.path for r in records)
    source = build(
        {**SMALL, "inputs": inputs, "classes": str(synth_dir / "classes.txt")},
        "predict",
        training=False,
        batch_size=16,
        seed=0,
    )
    (batch,) = _all_batches(source)
    assert batch["video"].shape[0] == len(videos) and batch["valid"].all()
    assert source.class_names == class_names(4)


def test_predict_keeps_same_named_files_apart_and_reports_non_videos(synth_dir, tmp_path):
    video = sorted((synth_dir / "validate").glob("*.mp4"))[0]
    for sub in ("cat", "dog"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        (tmp_path / "in" / sub / "0001.mp4").write_bytes(video.read_bytes())
    (tmp_path / "in" / "cat" / "0001.avi").write_bytes(video.read_bytes())  # other container, same stem
    (tmp_path / "song.mp3").write_bytes(b"ID3")
    (tmp_path / "x.mp4").mkdir()  # a folder with a video's name
    inputs = [
        str(tmp_path / "in"),
        str(tmp_path / "song.mp3"),
        str(tmp_path / "x.mp4"),
        str(tmp_path / "nope.mp4"),
    ]
    records, failures = predict_records(inputs)
    assert sorted(Path(r.path).relative_to(tmp_path / "in").as_posix() for r in records) == [
        "cat/0001.avi",
        "cat/0001.mp4",
        "dog/0001.mp4",
    ]
    reasons = {Path(path).name: why for path, _, why in failures}
    assert "not a video file (.mp3" in reasons["song.mp3"]
    assert "no video files" in reasons["x.mp4"] and "no such file" in reasons["nope.mp4"]
    source = build(
        {**SMALL, "inputs": inputs, "classes": str(synth_dir / "classes.txt")},
        "predict",
        training=False,
        batch_size=16,
        seed=0,
    )
    (batch,) = _all_batches(source)
    assert len(batch["ids"]) == 3 and len(batch["skipped"]) == 3


def test_multi_view_evaluation_decodes_each_video_once(synth_dir, monkeypatch):
    """10 clips x 3 crops per video (Non-local testing): one open, one read, and no packet
    decoded twice, however much the clips overlap."""
    import videozoo.data.video_format as video_format
    from videozoo.data.video import VideoReader

    opened, reads, fed = [], [], []

    class CountingReader(VideoReader):
        def __init__(self, path, **kwargs):
            super().__init__(path, **kwargs)
            opened.append(self.path)

        def read(self, indices, size=None):
            reads.append((self.path, np.asarray(indices).size))
            return super().read(indices, size)

        def _packets_from(self, slot):
            for pos, packet in super()._packets_from(slot):
                fed.append((self.path, pos))
                yield pos, packet

    monkeypatch.setattr(video_format, "VideoReader", CountingReader)
    cfg = _cfg(synth_dir, sampling="dense", clip_len=4, frame_interval=2, test_num_clips=10, test_crops=3)
    source = build(cfg, "test", training=False, batch_size=5, seed=0)
    (batch,) = _all_batches(source)
    assert batch["video"].shape == (5, 30, 4, 3, 28, 28) and batch["valid"].all()
    videos = sorted(set(opened))
    assert len(videos) == 5 and sorted(opened) == videos  # each video opened once
    assert sorted(path for path, _ in reads) == videos  # and read once,
    assert all(count == 10 * 4 for _, count in reads)  # all clips in that read
    assert len(fed) == len(set(fed))  # no packet decoded twice
