"""Data commands: ``synth`` (a synthetic data set), ``check`` (scan one for damage),
``extract`` (your videos -> YouTube-8M features) and ``plot`` (a run's curves)."""

from __future__ import annotations

import argparse

from videozoo import api
from videozoo.cli.arguments import Subparsers, add_device_arg, print_json
from videozoo.errors import NothingUsableError


def add_synth(sub: Subparsers) -> None:
    p = sub.add_parser("synth", help="write a small synthetic dataset in the official layout")
    p.add_argument("dataset", choices=["youtube8m", "kinetics"])
    p.add_argument("dir", help="output folder")
    p.add_argument(
        "--videos",
        type=int,
        default=None,
        help="youtube8m: videos over all splits (default 1000); kinetics: training "
        "clips (default 48, plus 16 each for validate and test)",
    )
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a dataset already in DIR (without it, such a folder is refused)",
    )
    p.set_defaults(handler=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    print_json(
        api.synth_dataset(
            args.dataset,
            args.dir,
            videos=args.videos,
            classes=args.classes,
            seed=args.seed,
            overwrite=args.overwrite,
        )
    )
    return 0


def add_check(sub: Subparsers) -> None:
    p = sub.add_parser(
        "check",
        help="scan a dataset for unreadable videos and damaged records",
        description="Open and decode a few frames of every video, check the "
        "framing, CRCs and contents of every TFRecord record, in parallel; "
        "write one CSV row per problem. Exit code 3 when problems were found.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="DATA_DIR_OR_FILE",
        help="dataset folders (searched recursively) or files",
    )
    p.add_argument("--output", metavar="CSV", help="problem list (default: check_report.csv)")
    p.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    p.add_argument("--frames", type=int, default=3, help="frames decoded per video (default 3)")
    p.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    summary = api.check_data(
        args.inputs, args.output or "check_report.csv", workers=args.workers, frames=args.frames
    )
    print_json(summary)
    if summary["problems"]:
        raise NothingUsableError(
            f"{summary['problems']} problem(s) in {summary['bad_files']} "
            f"file(s): listed in {summary['report']}"
        )
    return 0


def add_extract(sub: Subparsers) -> None:
    p = sub.add_parser("extract", help="your own videos -> YouTube-8M-format frame-level TFRecords")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="VIDEO_OR_DIR",
        help="video files, folders (searched recursively) or globs",
    )
    p.add_argument(
        "--output", required=True, metavar="DIR", help="folder for the shards, manifest.csv and pca.npz"
    )
    _add_resnet_args(p)
    p.add_argument("--labels", metavar="CSV", help="lines 'video,3;17' (stem or path, class ids)")
    p.add_argument(
        "--split-prefix",
        metavar="NAME",
        help="shard names NAME0000.tfrecord... (default: train with --labels, else "
        "test); train/validate/test are what `videozoo train/eval --data DIR` read",
    )
    p.add_argument("--shard-size", type=int, default=1000, help="videos per shard")
    p.add_argument("--batch-size", type=int, default=32, help="frames per trunk forward pass")
    p.add_argument("--max-seconds", type=int, default=300, help="seconds (frames) kept per video")
    p.add_argument("--image-size", type=int, default=224, help="centre crop size")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace shards with the same prefix (and pca.npz with --fit-pca)",
    )
    add_device_arg(p)
    _add_youtube8m_args(p)
    p.set_defaults(handler=cmd_extract)


def _add_resnet_args(p: argparse.ArgumentParser) -> None:
    """The PCA and the trunk (resnet50 features; --pca also names Google's PCA)."""
    p.add_argument(
        "--fit-pca", action="store_true", help="fit the PCA on these videos and save DIR/pca.npz (first run)"
    )
    p.add_argument(
        "--pca",
        metavar="FILE",
        help="youtube8m: Google's yt8m_pca.tgz; resnet50: the PCA to use (default: DIR/pca.npz)",
    )
    p.add_argument(
        "--pca-dims",
        type=int,
        metavar="K",
        help="PCA components kept by --fit-pca (default: min(1024, trunk width)); "
        "rgb is zero-padded to 1024 values",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="torchvision ImageNet ResNet state_dict (without it: random trunk, "
        "features only good for testing)",
    )
    p.add_argument("--depth", type=int, default=50, choices=[18, 34, 50, 101], help="ResNet depth")


def _add_youtube8m_args(p: argparse.ArgumentParser) -> None:
    """The feature mode and Google's published files."""
    p.add_argument(
        "--features",
        choices=["youtube8m", "resnet50"],
        help="youtube8m: Google's Inception-v3 + PCA, what the published YouTube-8M "
        "models expect (default when --inception/--pca or the files in "
        "$VIDEOZOO_HOME are found); resnet50: ImageNet ResNet + a PCA fitted "
        "on your videos, for models you train yourself",
    )
    p.add_argument(
        "--inception",
        metavar="FILE",
        help="youtube8m: inception-2015-12-05.tgz, its classify_image_graph_def.pb, "
        "or pytorch-fid's pt_inception-2015-12-05-*.pth",
    )
    p.add_argument(
        "--vggish",
        metavar="FILE",
        help="youtube8m audio: torchvggish's vggish-*.pth (without it: zero audio, "
        "as Google's starter extractor)",
    )
    p.add_argument(
        "--vggish-pca", metavar="FILE", help="youtube8m audio: torchvggish's vggish_pca_params-*.pth"
    )


def cmd_extract(args: argparse.Namespace) -> int:
    options = ["fit_pca", "pca", "weights", "depth", "pca_dims", "batch_size", "max_seconds"]
    options += ["image_size", "shard_size", "split_prefix", "overwrite", "features", "inception"]
    options += ["vggish", "vggish_pca"]
    summary = api.extract_features(
        args.inputs,
        args.output,
        labels=args.labels,
        device=args.device,
        **{name: getattr(args, name) for name in options},
    )
    print_json(summary)
    return 0


def add_plot(sub: Subparsers) -> None:
    p = sub.add_parser("plot", help="draw loss / lr / metric curves of a training run (PNG)")
    p.add_argument("run_dir", help="a folder written by `videozoo train`")
    p.add_argument("--output", metavar="FILE", help="PNG path (default: RUN_DIR/curves.png)")
    p.set_defaults(handler=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    print(f"curves written to {api.plot_run(args.run_dir, args.output)}")
    return 0
