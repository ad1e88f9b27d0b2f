"""Denial of service from a few hundred bytes: crafted weight archives, pickles, YAML and
bundle configs that claim gigabytes. Each must be refused in one line (exit 2) naming the
file or key and the bound, in well under a second of CPU, before anything large is
allocated (docs/reliability.md, "Limits on input files")."""

import gzip
import json
import pickle
import struct
import tarfile
import time

import numpy as np
import pytest

import videozoo.convert  # noqa: F401  (imported here: the timed calls then import nothing)
from videozoo.cli import main
from videozoo.config import MAX_CLASSES, MAX_YAML_DEPTH, MAX_YAML_NODES, build_config
from videozoo.convert.sources import MAX_MEMBER_BYTES, fluid_tensor_bytes
from videozoo.data.protobuf_wire import encode_varint
from videozoo.errors import EXIT_USAGE, CheckpointError
from videozoo.fileio import MAX_JSON_DEPTH, load_numpy_pickle

MODEL = "attention_cluster"


def refused(argv, capsys, *fragments):
    """Run the CLI in this process: exit 2, one line on stderr holding ``fragments``, and
    under a second of CPU (wall time would measure the shared test machine instead)."""
    capsys.readouterr()
    start = time.process_time()
    code = main(argv)
    spent = time.process_time() - start
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE, err
    assert "\n" not in err and "internal error" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert spent < 1.0, f"{spent:.2f} s of CPU"
    return err


# ----------------------------------------------------------------------------- crafted files
def _octal(n: int, width: int) -> bytes:
    return (oct(n)[2:].rjust(width - 1, "0") + "\0").encode()


def _fluid_header(dims: list[int], lod_bytes: int | None = None) -> bytes:
    """A fluid LoDTensor header (float32) claiming ``dims``, without the data."""
    desc = b"\x08\x05" + b"".join(b"\x10" + encode_varint(d) for d in dims)
    lod = b"" if lod_bytes is None else struct.pack("<Q", lod_bytes)
    return (
        struct.pack("<IQ", 0, 0 if lod_bytes is None else 1) + lod + struct.pack("<Ii", 0, len(desc)) + desc
    )


def _tar_gz(path, name: str, stored: bytes, *, size: int | None = None, sparse_size=None):
    """A one-member .tar.gz whose header claims ``size`` (default: the stored bytes); with
    ``sparse_size`` an old-GNU sparse member of that logical size whose stored bytes come
    first and the rest is a hole (what turned 142 bytes into 5 GiB of reads)."""
    info = tarfile.TarInfo(name)
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[124:136] = _octal(len(stored) if size is None else size, 12)
    if sparse_size is not None:
        header[156:157] = b"S"
        header[386:398], header[398:410] = _octal(0, 12), _octal(len(stored), 12)
        header[483:495] = _octal(sparse_size, 12)
    header[148:156] = b" " * 8
    header[148:156] = (oct(sum(header[:512]))[2:].rjust(6, "0") + "\0 ").encode()
    body = stored + b"\0" * (-len(stored) % 512)
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(header[:512]) + body + b"\0" * 1024)
    return path


def _convert(source, tmp_path):
    return [
        "convert",
        str(source),
        "--model",
        MODEL,
        "--from",
        "paddle-v1.5",
        "--output",
        str(tmp_path / "out.pt"),
    ]


# ----------------------------------------------------------------------------- tarballs
def test_sparse_member_claiming_gigabytes_is_refused(tmp_path, capsys):
    values = (5 << 30) // 4
    archive = _tar_gz(tmp_path / "w.tar.gz", "w/fc_0.w_0", _fluid_header([values]), sparse_size=5 << 30)
    assert archive.stat().st_size < 300
    refused(_convert(archive, tmp_path), capsys, "w.tar.gz", "fc_0.w_0", "sparse", "5.0 GiB")


def test_member_larger_than_any_weight_file_is_refused_with_the_limit(tmp_path, capsys):
    archive = _tar_gz(tmp_path / "w.tar.gz", "w/fc_0.w_0", _fluid_header([4]), size=MAX_MEMBER_BYTES + 1)
    refused(_convert(archive, tmp_path), capsys, "fc_0.w_0", "limit 2.0 GiB")


@pytest.mark.parametrize(
    "header",
    [_fluid_header([10**6, 10**6]), _fluid_header([4], lod_bytes=1 << 62)],
    ids=["1e12-values", "2^62-byte-lod"],
)
def test_fluid_header_is_bounded_by_the_bytes_really_there(tmp_path, capsys, header):
    archive = _tar_gz(tmp_path / "w.tar.gz", "w/fc_0.w_0", header + b"\0" * 16)
    refused(_convert(archive, tmp_path), capsys, "fc_0.w_0", "claims", "holds")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "fc_0.w_0").write_bytes(header + b"\0" * 16)
    refused(_convert(folder, tmp_path), capsys, "fc_0.w_0", "claims")


@pytest.mark.parametrize("limit, value", [("MAX_ARCHIVE_BYTES", 20_000), ("MAX_ARCHIVE_MEMBERS", 2)])
def test_archive_total_is_checked_while_streaming(tmp_path, monkeypatch, capsys, limit, value):
    from videozoo.convert import sources

    monkeypatch.setattr(sources, limit, value)  # the real bounds (8 GiB) take minutes to reach
    folder = tmp_path / "w"
    folder.mkdir()
    for i in range(4):
        (folder / f"fc_{i}.w_0").write_bytes(fluid_tensor_bytes(np.zeros(2000, np.float32)))
    with tarfile.open(tmp_path / "w.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="w")
    refused(
        _convert(tmp_path / "w.tar.gz", tmp_path),
        capsys,
        "w.tar.gz",
        f"more than {value if limit == 'MAX_ARCHIVE_MEMBERS' else '20000 bytes'}",
    )


# ----------------------------------------------------------------------------- pickles
class _HugeArray:
    """Pickles as numpy's own array reconstruction, asking for 10^12 bytes."""

    def __reduce__(self):
        core = getattr(np, "_core", None) or np.core
        return core.multiarray._reconstruct, (np.ndarray, (10**12,), b"b")


def _binbytes8(length: int) -> bytes:
    """{'w': BINBYTES8 claiming ``length`` bytes, with 3 there}."""
    return b"\x80\x04}\x8c\x01w\x8e" + struct.pack("<Q", length) + b"abc" + b"s."


class _HugeCall:
    """Pickles as a call ``numpy.ndarray((10**12,))``."""

    def __reduce__(self):
        return np.ndarray, ((10**12,),)


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps({"w": _HugeArray()}, protocol=2),
        pickle.dumps({"w": _HugeCall()}, protocol=2),
        _binbytes8(1 << 62),
        _binbytes8(1 << 36),
    ],
    ids=["1e12-element-array", "1e12-ndarray-call", "2^62-binbytes8", "2^36-binbytes8"],
)
def test_pdparams_claims_are_bounded_by_the_file_size(tmp_path, capsys, data):
    path = tmp_path / "model.pdparams"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=rf"model\.pdparams: refused.*{len(data)} bytes"):
        load_numpy_pickle(path)
    refused(
        ["convert", str(path), "--model", MODEL, "--output", str(tmp_path / "o.pt")],
        capsys,
        "model.pdparams",
        f"{len(data)} bytes",
    )


# ----------------------------------------------------------------------------- YAML
def _alias_bomb(key: str, levels: int = 7, width: int = 10) -> str:
    """A config whose ``key`` is a "billion laughs" list: ``width ** levels`` values once
    expanded (10^7 here: enough to be refused, small enough not to stall an unfixed run)."""
    section, name = key.split(".")
    lines = ["train:", "  optimizer:", "    lr_mult:", "      a0: &a0 [x]"]
    lines += [f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    lines += [f"{section}:" if section != "train" else "", f"  {name}: *a{levels}"]
    return "\n".join(line for line in lines if line) + "\n"


@pytest.mark.parametrize("key", ["train.batch_size", "data.vocabulary"])
def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, capsys, key):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(key))
    refused(
        ["info", MODEL, "--config", str(path)],
        capsys,
        "bomb.yaml",
        f"expands to more than {MAX_YAML_NODES} values",
    )


def test_deep_yaml_is_refused_with_the_depth_bound(tmp_path, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.yaml"
    path.write_text(f"train:\n  batch_size: {deep}\n")
    refused(["info", MODEL, "--config", str(path)], capsys, "deep.yaml", f"more than {MAX_YAML_DEPTH} levels")
    refused(
        ["info", MODEL, "--set", f"train.batch_size={deep}"],
        capsys,
        "--set train.batch_size",
        f"more than {MAX_YAML_DEPTH} levels",
    )


def test_type_errors_show_a_bounded_value(capsys):
    err = refused(
        ["info", MODEL, "--set", "train.batch_size=[" + ", ".join(["abc"] * 5000) + "]"],
        capsys,
        "train.batch_size",
        "expects int",
    )
    assert len(err) < 400


@pytest.mark.parametrize(
    "item, bound",
    [
        ("model.num_classes=1e9", MAX_CLASSES),
        ("model.num_classes=1000000000", MAX_CLASSES),
        ("model.fc_size=1000000000", None),
        ("data.max_frames=10000000000", None),
    ],
)
def test_absurd_sizes_are_refused_with_the_key_and_the_bound(capsys, item, bound):
    key = item.split("=")[0]
    err = refused(["info", MODEL, "--set", item], capsys, f"'{key}' must be <=")
    if bound:
        assert f"<= {bound}" in err


# ----------------------------------------------------------------------------- bundles
def _bundle(tmp_path, config_text: str):
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "config.json").write_text(config_text)
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def _bundle_meta(num_classes=8):
    cfg = build_config(MODEL, overrides=["model.num_classes=8"])
    cfg["model"]["num_classes"] = num_classes
    return {"format": "videozoo-bundle-v1", "model_name": MODEL, "class_names": ["a"] * 8, "config": cfg}


def test_bundle_with_a_billion_classes_is_refused(tmp_path, capsys):
    folder = _bundle(tmp_path, json.dumps(_bundle_meta(10**9)))
    refused(
        ["predict", MODEL, "x.tfrecord", "--weights", str(folder)],
        capsys,
        "config.json",
        "model.num_classes=1000000000",
        str(MAX_CLASSES),
    )


def test_deeply_nested_bundle_config_is_refused(tmp_path, capsys):
    folder = _bundle(tmp_path, '{"format": "videozoo-bundle-v1", "x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    refused(
        ["predict", MODEL, "x.tfrecord", "--weights", str(folder)],
        capsys,
        "config.json",
        f"more than {MAX_JSON_DEPTH} levels",
    )
