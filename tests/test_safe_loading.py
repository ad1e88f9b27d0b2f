"""The numpy-only unpickler behind `.pdparams` reading: real Paddle files load (pickle protocols
2 and 4), a crafted file is refused by name and nothing in it runs."""

import os
import pickle
import time
from collections import OrderedDict

import numpy as np
import pytest

from videozoo.errors import CheckpointError
from videozoo.fileio import UnsafeFileError, load_numpy_pickle


def _params():
    return OrderedDict(
        [
            ("conv1_weights", np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)),
            ("fc_0.b_0", np.zeros(5, np.float32)),
            ("StructuredToParameterName@@", {"fc_0.b_0": "linear_0.b_0"}),
        ]
    )


@pytest.mark.parametrize("protocol", [2, 4])
def test_pdparams_pickles_load_with_arrays_intact(tmp_path, protocol):
    # Protocol 2 (Paddle < 2.1) stores the arrays' bytes through _codecs.encode.
    path = tmp_path / "model.pdparams"
    path.write_bytes(pickle.dumps(_params(), protocol=protocol))
    loaded = load_numpy_pickle(path)
    assert list(loaded) == list(_params())
    for name, value in _params().items():
        if isinstance(value, np.ndarray):
            assert loaded[name].dtype == value.dtype and (loaded[name] == value).all()


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_crafted_pickle_is_refused_by_name_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"w": np.ones(2), "x": _Payload(marker)}, protocol=4))
    with pytest.raises(UnsafeFileError, match=r"evil\.pdparams.*system"):
        load_numpy_pickle(path)
    assert not marker.exists()


def test_not_a_pickle_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "junk.pdparams"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="junk.pdparams"):
        load_numpy_pickle(path)


def test_pdparams_with_shared_containers_is_walked_once(tmp_path):
    shared = [np.zeros(2, np.float32)]
    for _ in range(40):  # 2^40 paths through 40 lists
        shared = [shared, shared]
    path = tmp_path / "dag.pdparams"
    path.write_bytes(pickle.dumps({"w": shared, "b": np.ones(3, np.float32)}, protocol=2))
    start = time.process_time()
    assert type(load_numpy_pickle(path)["b"]) is np.ndarray
    assert time.process_time() - start < 1.0
