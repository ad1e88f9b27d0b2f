"""Miniature copies of the published data set layouts (data/layouts/), for the tests.

Every video is a few frames of a textured square moving in its class's direction
(`motion_video`), 48 x 48 pixels, so a tiny model can train on it in seconds.
"""

import json
from pathlib import Path

import numpy as np

from videozoo.data.synth_kinetics import encode_video, motion_video

SIZE, FRAMES = 48, 8


def write_clip(path, label: int, classes: int, seed: int, codec: str = "h264") -> Path:
    """A small clip of class `label` (of `classes` directions) at `path` (folders made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    video = motion_video(np.random.default_rng(seed), 360 * label / classes, SIZE, FRAMES)
    return encode_video(path, video, fps=8, codec=codec)


def make_folders(root, classes=("alpha", "beta", "gamma"), counts=(("train", 3), ("val", 1), ("test", 1))):
    """DIR/<split>/<class>/clip<i>.mp4 for each (split, videos per class) in `counts`."""
    root = Path(root)
    for s, (split, count) in enumerate(counts):
        for label, name in enumerate(classes):
            for i in range(count):
                write_clip(
                    root / split / name / f"clip{i}.mp4",
                    label,
                    len(classes),
                    seed=(s * 100 + label) * 100 + i,
                )
    return root


UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "HandstandPushups", "YoYo")


def make_ucf101(
    root,
    classes=UCF_CLASSES,
    groups=(("train", (8, 9, 10)), ("test", (1,))),
    splits=(1,),
    video_folder="UCF-101",
):
    """UCF101 as unpacked: DIR/UCF-101/<Class>/v_<Class>_gXX_c01.avi and
    DIR/ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt with Windows line ends.

    HandstandPushups keeps the published spelling quirk: its files are v_HandStandPushups_*.
    Every split id in `splits` gets the same lists."""
    root = Path(root)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_bytes(
        "".join(f"{i} {name}\r\n" for i, name in enumerate(classes, 1)).encode()
    )
    lines = {"train": [], "test": []}
    for kind, group_ids in groups:
        for label, name in enumerate(classes):
            stem = "HandStandPushups" if name == "HandstandPushups" else name
            for group in group_ids:
                relative = f"{name}/v_{stem}_g{group:02d}_c01.avi"
                write_clip(
                    root / video_folder / relative,
                    label,
                    len(classes),
                    seed=group * 100 + label,
                    codec="mpeg4",
                )
                lines[kind].append(f"{relative} {label + 1}" if kind == "train" else relative)
    for split_id in splits:
        for kind in ("train", "test"):
            (lists / f"{kind}list{split_id:02d}.txt").write_bytes(
                "".join(line + "\r\n" for line in lines[kind]).encode()
            )
    return root


HMDB_CLASSES = ("brush_hair", "climb_stairs", "wave")


def make_hmdb51(root, classes=HMDB_CLASSES, tags=(1, 1, 2, 0), video_folder="videos"):
    """HMDB51 as unpacked: DIR/<video_folder>/<class>/<name>.avi and
    DIR/testTrainMulti_7030_splits/<class>_test_split1.txt ("<name>.avi <tag> " lines)."""
    root = Path(root)
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(classes):
        lines = []
        for i, tag in enumerate(tags):
            video = f"Some_Movie_{name}_f_nm_np1_fr_med_{i}.avi"
            write_clip(
                root / video_folder / name / video, label, len(classes), seed=label * 10 + i, codec="mpeg4"
            )
            lines.append(f"{video} {tag} \n")
        (splits / f"{name}_test_split1.txt").write_text("".join(lines))
    return root


SSV2_TEMPLATES = (
    "Pushing [something] from left to right",
    "Pushing [something] from right to left",
    "Moving [something] up",
)


def make_ssv2(root, templates=SSV2_TEMPLATES, counts=(("train", 3), ("validation", 1), ("test", 1))):
    """Something-Something V2 as unpacked: DIR/labels/{labels,train,validation,test}.json and
    DIR/20bn-something-something-v2/<id>.webm. labels.json ids run opposite to the templates'
    order, so a reader that sorts names instead of using the ids is caught."""
    root = Path(root)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    names = [t.replace("[", "").replace("]", "") for t in templates]
    labels = {name: str(len(names) - 1 - i) for i, name in enumerate(names)}
    (root / "labels" / "labels.json").write_text(json.dumps(labels, indent=1))
    next_id = 1000
    for split, count in counts:
        items = []
        for label, template in enumerate(templates):
            for _ in range(count):
                next_id += 1
                write_clip(
                    root / "20bn-something-something-v2" / f"{next_id}.webm",
                    label,
                    len(templates),
                    seed=next_id,
                    codec="vp9",
                )
                item = {"id": str(next_id)}
                if split != "test":
                    item.update(
                        label=template.replace("[something]", "a cup"),
                        template=template,
                        placeholders=["a cup"],
                    )
                items.append(item)
        (root / "labels" / f"{split}.json").write_text(json.dumps(items, indent=1))
    return root
