"""The frame-level record encoder's extra context features and its deterministic bytes."""

import numpy as np
import pytest

from videozoo.data.tf_example import SequenceExample
from videozoo.data.youtube8m_records import (
    AUDIO_SIZE,
    RGB_SIZE,
    encode_frame_example,
    encode_video_example,
    parse_frame_example,
)

RGB = np.arange(3 * RGB_SIZE, dtype=np.int64).reshape(3, RGB_SIZE).astype(np.uint8)
AUDIO = np.full((3, AUDIO_SIZE), 7, np.uint8)


def test_extra_int64_context_features():
    record = encode_frame_example("vid", [2, 5], RGB, AUDIO, extra_context={"has_audio": 0, "extra": [4, -1]})
    context = SequenceExample.FromString(record).context.feature
    assert list(context["has_audio"].int64_list.value) == [0]
    assert list(context["extra"].int64_list.value) == [4, -1]
    example = parse_frame_example(record)  # readers ignore what they do not know
    assert example.video_id == "vid" and example.labels.tolist() == [2, 5]
    assert np.array_equal(example.rgb, RGB) and np.array_equal(example.audio, AUDIO)
    with pytest.raises(ValueError, match="'labels' would replace"):
        encode_frame_example("vid", [1], RGB, AUDIO, extra_context={"labels": 3})


def test_context_entries_are_written_in_key_order():
    # Protobuf maps serialise in hash order unless asked otherwise, which changes from one
    # process to the next; records must be the same bytes for the same content.
    names = ["zeta", "alpha", "mid", "has_audio", "beta", "omega"]
    record = encode_frame_example("vid", [1], RGB, AUDIO, extra_context={name: 1 for name in names})
    keys = sorted(names + ["id", "labels"])
    positions = [record.index(b"\n" + bytes([len(key)]) + key.encode()) for key in keys]
    assert positions == sorted(positions)
    video = encode_video_example("vid", [1], np.zeros(RGB_SIZE), np.zeros(AUDIO_SIZE))
    positions = [video.index(key) for key in (b"id", b"labels", b"mean_audio", b"mean_rgb")]
    assert positions == sorted(positions)
