"""Time reading the annotations of published data sets at full size (data/layouts/), no decoding.

    python benchmarks/bench_layouts.py [--dir /tmp/videozoo_layouts] [--scale 1.0]

Writes each layout's annotation files with the published entry counts and a zero-byte
placeholder for every video (not timed; reused on a second run), then times what
`videozoo train` does before the first batch: the class list (`class_names`) and the records of
the train and validate splits (`load_records`: parse, match every entry to a file on disk).
Sizes: UCF101 split 1 (9,537 / 3,783 of 13,320, 101 classes), HMDB51 split 1 (3,570 / 1,530 of
6,783, 51 classes), Something-Something V2 (168,913 / 24,777, 27,157 test, 174 classes),
Kinetics-400 CSVs (246,534 / 19,906, 400 classes, clips in one folder per class) and class
folders (UCF101's videos re-filed as train/<class>/ and val/<class>/). `--scale` shrinks all.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from videozoo.data.layouts import load_records
from videozoo.data.layouts.kinetics import kinetics400_classes
from videozoo.data.video_format import class_names


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def write_ucf101(root: Path, scale: float) -> None:
    names = [f"Class{i:03d}" for i in range(101)]
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {n}\r\n" for i, n in enumerate(names, 1)))
    train, test = [], []
    for k in range(int(13320 * scale)):
        label = k % 101
        relative = f"{names[label]}/v_{names[label]}_g{k // 101 % 25 + 1:02d}_c{k // 2525 + 1:02d}_{k}.avi"
        _touch(root / "UCF-101" / relative)
        (train if k < int(9537 * scale) else test).append((relative, label))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {c + 1}\r\n" for r, c in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\r\n" for r, _ in test))


def write_hmdb51(root: Path, scale: float) -> None:
    tags = ["1"] * max(1, round(70 * scale)) + ["2"] * max(1, round(30 * scale)) + ["0"] * round(33 * scale)
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    for c in range(51):
        name = f"action_{c:02d}"
        lines = []
        for i, tag in enumerate(tags):  # split 1: 70 train, 30 test, 33 in neither per class
            video = f"Movie_{name}_f_nm_np1_fr_med_{i}.avi"
            _touch(root / "videos" / name / video)
            lines.append(f"{video} {tag} \n")
        (splits / f"{name}_test_split1.txt").write_text("".join(lines))


def write_ssv2(root: Path, scale: float) -> None:
    templates = [f"Doing [something] number {i}" for i in range(174)]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "labels.json").write_text(
        json.dumps({t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(templates)})
    )
    video_id = 0
    for split, count in (("train", 168913), ("validation", 24777), ("test", 27157)):
        items = []
        for k in range(int(count * scale)):
            video_id += 1
            _touch(root / "20bn-something-something-v2" / f"{video_id}.webm")
            item = {"id": str(video_id)}
            if split != "test":
                template = templates[k % 174]
                item.update(
                    label=template.replace("[something]", "a cup"), template=template, placeholders=["a cup"]
                )
            items.append(item)
        (root / "labels" / f"{split}.json").write_text(json.dumps(items))


def write_kinetics(root: Path, scale: float) -> None:
    names = list(kinetics400_classes())
    for split, count in (("train", 246534), ("validate", 19906)):
        with open(root / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            for k in range(int(count * scale)):
                label, youtube_id = names[k % 400], f"{split[0]}{k:010d}"
                writer.writerow([label, youtube_id, 10, 20, split])
                _touch(root / split / label / f"{youtube_id}_000010_000020.mp4")


def write_folders(root: Path, scale: float) -> None:
    for k in range(int(13320 * scale)):
        split = "val" if k // 101 % 5 == 1 else "train"  # every class gets training videos first
        _touch(root / split / f"class_{k % 101:03d}" / f"clip_{k}.mp4")


LAYOUTS = {
    "ucf101": write_ucf101,
    "hmdb51": write_hmdb51,
    "ssv2": write_ssv2,
    "kinetics": write_kinetics,
    "folders": write_folders,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/videozoo_layouts", help="where to write the data sets")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the published sizes")
    args = parser.parse_args()
    print(
        f"{'layout':9s} {'classes':>8s} {'train':>8s} {'validate':>8s}   "
        f"{'classes s':>9s} {'train s':>8s} {'valid s':>8s}"
    )
    for layout, write in LAYOUTS.items():
        root = Path(args.dir) / f"{layout}_{args.scale:g}"
        if not (root / ".complete").exists():
            root.mkdir(parents=True, exist_ok=True)
            write(root, args.scale)
            (root / ".complete").touch()
        cfg = {"root": str(root)}
        start = time.perf_counter()
        names = class_names(cfg)
        t_classes = time.perf_counter() - start
        counts, times = [], []
        for split in ("train", "validate"):
            start = time.perf_counter()
            counts.append(len(load_records(cfg, split, names)))
            times.append(time.perf_counter() - start)
        print(
            f"{layout:9s} {len(names):8d} {counts[0]:8d} {counts[1]:8d}   "
            f"{t_classes:9.2f} {times[0]:8.2f} {times[1]:8.2f}"
        )


if __name__ == "__main__":
    main()
