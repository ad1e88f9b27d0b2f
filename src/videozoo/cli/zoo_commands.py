"""Model-zoo commands: ``models`` (the weights table), ``download``, ``cache``, ``convert``
(published weights -> a checkpoint), ``export`` (ONNX / TorchScript / bundle), ``upgrade``
(an old checkpoint) and ``info`` (a model's size and cost)."""

from __future__ import annotations

import argparse

from videozoo import api
from videozoo.cli.arguments import (
    MODEL_HELP,
    MODEL_OPTIONAL,
    WEIGHTS_HELP,
    Subparsers,
    add_config_args,
    add_device_arg,
    add_set_arg,
    print_json,
)
from videozoo.zoo import cache, render


def add_upgrade(sub: Subparsers) -> None:
    p = sub.add_parser(
        "upgrade",
        help="rewrite an older videozoo checkpoint in the current format",
        description="Rewrite a checkpoint written by videozoo 0.1 in the current "
        "format (tensors and plain data only, readable by a bare "
        "torch.load(weights_only=True)). Old checkpoints also load as they are; "
        "files that would need arbitrary unpickling are refused.",
    )
    p.add_argument("checkpoint", help="the old checkpoint (.pt)")
    p.add_argument("--output", required=True, metavar="NEW", help="where to write the new one")
    p.set_defaults(handler=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace) -> int:
    path = api.upgrade_checkpoint(args.checkpoint, args.output)
    print(f"{args.checkpoint} -> {path} (plain-data checkpoint, loads without unpickling code)")
    return 0


def add_info(sub: Subparsers) -> None:
    p = sub.add_parser("info", help="parameter count and multiply-adds of a model")
    p.add_argument("model", help=MODEL_HELP)
    add_config_args(p)
    p.set_defaults(handler=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    print_json(api.model_info(args.model, args.config, set=args.overrides))
    return 0


def add_export(sub: Subparsers) -> None:
    p = sub.add_parser(
        "export", help="export a checkpoint: ONNX / TorchScript (+ parity check) or a shareable bundle folder"
    )
    p.add_argument("model", nargs="?", help=MODEL_OPTIONAL)
    p.add_argument("--weights", required=True, metavar="CKPT", help=WEIGHTS_HELP)
    p.add_argument(
        "--format",
        choices=["onnx", "torchscript", "bundle"],
        default="onnx",
        help="onnx (default), torchscript, or bundle: a folder with model.safetensors "
        "(no pickle), config.json and a README.md model card",
    )
    p.add_argument(
        "--output", metavar="PATH", help="default: next to CKPT (.onnx / .torchscript.pt / <name>_bundle/)"
    )
    p.add_argument(
        "--frames",
        type=int,
        metavar="T",
        help="frame count of the exported input (video models export a fixed T)",
    )
    add_device_arg(p, default="cpu")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="bundle: write into a folder that holds files (its model.safetensors, "
        "config.json and README.md are replaced; other files stay)",
    )
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    result = api.export_weights(
        args.weights,
        args.format,
        args.output,
        model=args.model,
        device=args.device,
        frames=args.frames,
        overwrite=args.overwrite,
    )
    if args.format == "bundle":
        print(f"bundle written to {result['path']}")
    else:
        print_json(result)
    return 0


def add_convert(sub: Subparsers) -> None:
    p = sub.add_parser(
        "convert",
        help="published model-zoo weights -> a videozoo checkpoint",
        description="Convert weights published by PaddleVideo v1.5 (folder or "
        ".tar.gz), PaddleVideo 2.x (.pdparams), MMAction2 or MIT TSM (.pth) "
        "into a videozoo checkpoint that eval, predict, export and "
        "train --weights take. Prints what happened to every tensor.",
    )
    p.add_argument("source", help="weights folder, .tar.gz, .pdparams or .pth")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--output", required=True, metavar="CKPT", help="checkpoint to write (.pt)")
    p.add_argument(
        "--from",
        dest="source_format",
        default="auto",
        choices=["auto", "paddle-v1.5", "paddlevideo", "mmaction2", "mit-tsm"],
        help="source format (default: recognised from the file)",
    )
    add_set_arg(p, "config override, e.g. --set model.num_classes=101 (repeatable)")
    p.add_argument(
        "--classes",
        metavar="FILE",
        help="class names: one per line, or a YouTube-8M vocabulary.csv "
        "(default: Kinetics-400 for Kinetics sources)",
    )
    p.set_defaults(handler=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    # the converter prints its per-tensor report itself
    api.convert_weights(
        args.source,
        args.model,
        args.output,
        source_format=args.source_format,
        set=args.overrides,
        classes=args.classes,
    )
    return 0


def add_models(sub: Subparsers) -> None:
    p = sub.add_parser(
        "models",
        help="the weights table: every published file, by tag",
        description="Every published weight file in the weights table (tag, "
        "model, zoo, status, reference metrics with their test protocol, checksum "
        "state, cached or not), auxiliary files included.",
    )
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="only the model weights videozoo loads (the tags --weights takes)",
    )
    p.add_argument("--model", metavar="M", help="only the weights of model M")
    p.add_argument(
        "--format",
        choices=["table", "json", "markdown"],
        default="table",
        help="table (default), json (a stable list of objects), or markdown (docs/pretrained.md)",
    )
    p.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    if args.format == "markdown":
        print(render.markdown(), end="")
        return 0
    rows = api.published_weights(args.model, pretrained=args.pretrained)
    if args.format == "json":
        print_json(render.json_rows(rows))
    else:
        print(render.text_table(rows))
    return 0


def add_download(sub: Subparsers) -> None:
    p = sub.add_parser(
        "download",
        help="fetch published files into the cache (or --to DIR)",
        description="Download and verify published files by tag (models and "
        "auxiliary files), e.g. on a connected machine before copying them to an "
        "air-gapped one (use DIR there as VIDEOZOO_MIRROR).",
    )
    p.add_argument("tags", nargs="+", metavar="TAG")
    p.add_argument("--to", metavar="DIR", help="folder to put the files in (default: the cache)")
    p.add_argument(
        "--sha256", metavar="HEX", help="pin the sha256 of a file the zoo publishes no checksum for (one TAG)"
    )
    p.set_defaults(handler=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    for tag, path in zip(
        args.tags, api.download_weights(args.tags, args.to, sha256=args.sha256), strict=True
    ):
        print(f"{tag}: {path}")
    return 0


def add_cache(sub: Subparsers) -> None:
    p = sub.add_parser("cache", help="list or clear the downloaded and converted weights")
    p.add_argument("action", choices=["list", "clear"])
    p.set_defaults(handler=cmd_cache)


def cmd_cache(args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = api.cache_contents()
        for row in rows:
            print(f"{row['size']:>14,d}  {row['kind']:<7}  {row['path']}")
        print(f"{len(rows)} item(s), {sum(r['size'] for r in rows):,d} bytes in {cache.home()}")
    else:
        removed = api.clear_cache()
        print(f"removed {removed} item(s) from {cache.home()}")
    return 0
