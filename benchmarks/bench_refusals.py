"""Time the refusal of crafted small inputs that claim gigabytes (docs/reliability.md, "Limits
on input files"): CPU and wall seconds of the command after its imports, and the peak memory
it added.

    python benchmarks/bench_refusals.py [--dir /tmp/videozoo_refusals]

The crafted files are those of tests/faults/test_dos.py (a sparse 5 GiB tar member, fluid
headers claiming 10^12 values or a 2^62-byte LoD, .pdparams pickles asking for a 10^12-byte
array or a 2^62-byte BINBYTES8, a 10^9-value YAML alias bomb, 100k-deep YAML, a bundle with
10^9 classes and a 200k-deep config.json). Each command runs in a fresh process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
MODEL = "attention_cluster"
CHILD = r"""
import contextlib, io, resource, sys, time
import videozoo.convert, videozoo.serialization.bundle_writer
from videozoo.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu, wall = time.process_time(), time.perf_counter()
with contextlib.redirect_stderr(io.StringIO()):
    code = main(sys.argv[1:])
added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(code, time.process_time() - cpu, time.perf_counter() - wall, added / 1024)
"""


def _crafting():
    sys.path.insert(0, str(TESTS))
    spec = importlib.util.spec_from_file_location("test_dos", TESTS / "faults" / "test_dos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(folder: Path) -> list[tuple[str, Path | None, list]]:
    """(name, crafted file, CLI arguments) of each case, files written under ``folder``."""
    t = _crafting()
    folder.mkdir(parents=True, exist_ok=True)
    t._tar_gz(folder / "sparse.tar.gz", "w/fc_0.w_0", t._fluid_header([(5 << 30) // 4]), sparse_size=5 << 30)
    t._tar_gz(folder / "header.tar.gz", "w/fc_0.w_0", t._fluid_header([10**6, 10**6]) + b"\0" * 16)
    t._tar_gz(folder / "lod.tar.gz", "w/fc_0.w_0", t._fluid_header([4], lod_bytes=1 << 62) + b"\0" * 16)
    (folder / "array.pdparams").write_bytes(pickle.dumps({"w": t._HugeArray()}, protocol=2))
    (folder / "bytes8.pdparams").write_bytes(t._binbytes8(1 << 62))
    (folder / "bomb.yaml").write_text(t._alias_bomb("train.batch_size", levels=9))
    (folder / "deep.yaml").write_text("train:\n  batch_size: " + "[" * 100_000 + "]" * 100_000 + "\n")
    for name, text in (
        ("bundle", json.dumps(t._bundle_meta(10**9))),
        ("deep_bundle", '{"format": "videozoo-bundle-v1", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"),
    ):
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "config.json").write_text(text)
        (folder / name / "model.safetensors").write_bytes(b"")

    def convert(name):
        return [folder / name, ["convert", folder / name, "--model", MODEL, "--output", folder / "out.pt"]]

    def predict(name):
        return [folder / name / "config.json", ["predict", MODEL, "x.tfrecord", "--weights", folder / name]]

    return [
        ("sparse 5 GiB tar member", *convert("sparse.tar.gz")),
        ("fluid header: 10^12 values", *convert("header.tar.gz")),
        ("fluid header: 2^62-byte LoD", *convert("lod.tar.gz")),
        (".pdparams: 10^12-byte array", *convert("array.pdparams")),
        (".pdparams: 2^62-byte BINBYTES8", *convert("bytes8.pdparams")),
        (
            "YAML alias bomb (10^9 values)",
            folder / "bomb.yaml",
            ["info", MODEL, "--config", folder / "bomb.yaml"],
        ),
        ("YAML 100k deep", folder / "deep.yaml", ["info", MODEL, "--config", folder / "deep.yaml"]),
        ("info --set model.num_classes=1e9", None, ["info", MODEL, "--set", "model.num_classes=1e9"]),
        ("bundle with num_classes 10^9", *predict("bundle")),
        ("bundle config.json 200k deep", *predict("deep_bundle")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/videozoo_refusals")
    args = parser.parse_args()
    print("| crafted input | bytes | exit | CPU s | wall s | added peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, crafted, argv in cases(Path(args.dir)):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, *map(str, argv)],
            text=True,
            capture_output=True,
            timeout=600,
            check=True,
        ).stdout.split()
        code, cpu, wall, added = out[-4:]
        size = crafted.stat().st_size if crafted else 0
        print(f"| {name} | {size} | {code} | {float(cpu):.2f} | {float(wall):.2f} | {float(added):.0f} |")


if __name__ == "__main__":
    main()
