"""Which files `extract` takes, the ids it gives them, and the labels CSV."""

from pathlib import Path

import pytest

from videozoo.errors import DataError, DataNotFoundError
from videozoo.extract import find_videos, read_labels_csv
from videozoo.extract.inputs import unique_ids


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_find_videos_searches_folders_takes_named_files_and_globs(tmp_path):
    folder = tmp_path / "in"
    for name in ("b.mp4", "Z.MKV", "notes.txt", "sub/c.webm", "sub/deeper/d.avi", "e.mov"):
        touch(folder / name)
    named = touch(tmp_path / "clip.dat")  # named explicitly: taken whatever its type
    found = find_videos([str(folder), str(named), str(folder / "b.mp4"), str(folder / "*.mov")])
    relative = [p.relative_to(tmp_path).as_posix() for p in found]
    # A folder's videos sorted by path, then the other inputs in order; b.mp4 only once.
    assert relative == [
        "in/Z.MKV",
        "in/b.mp4",
        "in/e.mov",
        "in/sub/c.webm",
        "in/sub/deeper/d.avi",
        "clip.dat",
    ]


def test_find_videos_errors_name_the_input(tmp_path):
    with pytest.raises(DataNotFoundError, match="nothing_here.mp4: no such"):
        find_videos([str(tmp_path / "nothing_here.mp4")])
    touch(tmp_path / "only" / "readme.txt")
    with pytest.raises(DataNotFoundError, match="no video files in .*only"):
        find_videos([str(tmp_path / "only")])


def test_unique_ids_number_repeated_stems():
    paths = [Path("a/clip.mp4"), Path("b/clip.mp4"), Path("other.webm"), Path("c/clip.webm")]
    assert unique_ids(paths) == ["clip", "clip_2", "other", "clip_3"]


def test_labels_csv_header_paths_and_empty_labels(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("video,labels\nclips/a.mp4,3;17\nb, 4 \n\nc,\nd\n")
    assert read_labels_csv(str(path)) == {"a": [3, 17], "b": [4], "c": [], "d": []}


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,1\nb,x;2\n", r"line 2: labels must be integers"),
        ("a,1;-3\n", r"line 1: negative class index"),
    ],
)
def test_bad_labels_csv_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_labels_csv(str(path))


def test_missing_labels_csv(tmp_path):
    with pytest.raises(DataNotFoundError, match="--labels .*nope.csv: no such file"):
        read_labels_csv(str(tmp_path / "nope.csv"))
