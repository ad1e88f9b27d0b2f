"""The `videozoo` command line: synth, train, eval, predict, info, demo (and more).

Every command reads its model's packaged YAML config, the user's `--config FILE` and any
`--set key=value` overrides (validated before data is touched), then calls the engine.
Set VIDEOZOO_DEBUG=1 to see full tracebacks instead of one-line errors.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from videozoo import registry
from videozoo.config import build_config
from videozoo.errors import (EXIT_ABORTED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE,
                             VideozooError)

log = logging.getLogger("videozoo")

MODEL_HELP = "model name: " + ", ".join(registry.list_models())


class _TqdmHandler(logging.StreamHandler):
    """Log lines that do not tear progress bars apart."""

    def emit(self, record):
        try:
            from tqdm import tqdm
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(verbose: bool = False) -> None:
    rank = int(os.environ.get("RANK", "0"))
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("videozoo")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else (logging.INFO if rank == 0 else logging.WARNING))


# ----------------------------------------------------------------------------- arguments
def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config overriding the packaged one")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set train.optimizer.lr=0.01 (repeatable)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to run (default: cuda if available)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videozoo",
        description="Video classification: YouTube-8M feature models (nextvlad, attention_lstm, "
                    "attention_cluster) and Kinetics video models (tsn, tsm, stnet, nonlocal).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("synth", help="write a small synthetic dataset in the official layout")
    p.add_argument("dataset", choices=["youtube8m", "kinetics"])
    p.add_argument("dir", help="output folder")
    p.add_argument("--videos", type=int, default=None,
                   help="youtube8m: videos over all splits (default 1000); kinetics: training "
                        "clips (default 48, plus 16 each for validate and test)")
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true",
                   help="replace a dataset already in DIR (without it, such a folder is refused)")

    p = sub.add_parser("train", help="train a model (single process or under torchrun)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--data", metavar="DIR", help="dataset folder in the official layout")
    _add_config_args(p)
    p.add_argument("--output", metavar="DIR", help="run folder (default: runs/MODEL)")
    p.add_argument("--epochs", type=int, help="number of epochs (overrides train.epochs)")
    p.add_argument("--weights", metavar="CKPT", help="initialise from a checkpoint (fine-tune)")
    p.add_argument("--resume", metavar="CKPT",
                   help="continue a run exactly from a checkpoint, or 'auto' for the newest "
                        "checkpoint in --output")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another run's checkpoints and logs in --output (without it, "
                        "a folder that holds a run is refused)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", nargs="?", const="on", choices=["on", "off", "auto"],
                   help="bfloat16 autocast (train.amp): 'auto' (the default) turns it on where "
                        "the hardware has native bfloat16 (CUDA, AVX512-BF16 / AMX CPUs); "
                        "--amp alone means on")

    p = sub.add_parser("eval", help="evaluate a checkpoint with the dataset's official metrics")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--weights", required=True, metavar="CKPT")
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: the one trained on)")
    p.add_argument("--split", default="validate", help="split to evaluate (default: validate)")
    p.add_argument("--output", metavar="FILE", help="metrics JSON (default: next to CKPT)")
    p.add_argument("--report", metavar="DIR", help="also write plots and per-class tables here")
    _add_config_args(p)

    p = sub.add_parser("predict", help="top-k classes for new inputs")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="TFRecord shards/globs (YouTube-8M models) or video files, folders, "
                        "list files (Kinetics models)")
    p.add_argument("--weights", required=True, metavar="CKPT")
    p.add_argument("--topk", type=int, default=None,
                   help="classes per video (default: 20 for YouTube-8M, 5 for Kinetics)")
    p.add_argument("--output", metavar="FILE", help="predictions file (default: next to CKPT)")
    p.add_argument("--format", choices=["jsonl", "csv", "kaggle"],
                   help="jsonl (default), csv, or kaggle (YouTube-8M submission)")
    _add_config_args(p)

    p = sub.add_parser("upgrade", help="rewrite an older videozoo checkpoint in the safe format",
                       description="Rewrite a checkpoint written by an older videozoo in the "
                       "current format (tensors and plain data only). Files that need "
                       "arbitrary unpickling are refused unless you vouch for them with "
                       "--trust-unsafe-pickle.")
    p.add_argument("checkpoint", help="the old checkpoint (.pt)")
    p.add_argument("--output", required=True, metavar="NEW", help="where to write the new one")
    p.add_argument("--trust-unsafe-pickle", action="store_true",
                   help="allow unrestricted unpickling of CHECKPOINT (it can run code: only "
                        "for a file you wrote yourself)")

    p = sub.add_parser("check", help="scan a dataset for unreadable videos and damaged records",
                       description="Open and decode a few frames of every video, check the "
                       "framing, CRCs and contents of every TFRecord record, in parallel; "
                       "write one CSV row per problem. Exit code 3 when problems were found.")
    p.add_argument("inputs", nargs="+", metavar="DATA_DIR_OR_FILE",
                   help="dataset folders (searched recursively) or files")
    p.add_argument("--output", metavar="CSV", help="problem list (default: check_report.csv)")
    p.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    p.add_argument("--frames", type=int, default=3, help="frames decoded per video (default 3)")

    p = sub.add_parser("info", help="parameter count and multiply-adds of a model")
    p.add_argument("model", help=MODEL_HELP)
    _add_config_args(p)

    p = sub.add_parser("export", help="export a checkpoint to ONNX or TorchScript (+ parity check)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--weights", required=True, metavar="CKPT")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--output", metavar="FILE", help="default: next to CKPT (.onnx / .torchscript.pt)")
    p.add_argument("--frames", type=int, metavar="T",
                   help="frame count of the exported input (video models export a fixed T)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])

    p = sub.add_parser("convert", help="published model-zoo weights -> a videozoo checkpoint",
                       description="Convert weights published by PaddleVideo v1.5 (folder or "
                       ".tar.gz), PaddleVideo 2.x (.pdparams), MMAction2 or MIT TSM (.pth) "
                       "into a videozoo checkpoint that eval, predict, export and "
                       "train --weights take. Prints what happened to every tensor.")
    p.add_argument("source", help="weights folder, .tar.gz, .pdparams or .pth")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--output", required=True, metavar="CKPT", help="checkpoint to write (.pt)")
    p.add_argument("--from", dest="source_format", default="auto",
                   choices=["auto", "paddle-v1.5", "paddlevideo", "mmaction2", "mit-tsm"],
                   help="source format (default: recognised from the file)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set model.num_classes=101 (repeatable)")
    p.add_argument("--classes", metavar="FILE",
                   help="class names: one per line, or a YouTube-8M vocabulary.csv "
                        "(default: Kinetics-400 for Kinetics sources)")

    p = sub.add_parser("extract", help="your own videos -> YouTube-8M-format frame-level TFRecords")
    from videozoo.extract import add_extract_arguments
    add_extract_arguments(p)

    p = sub.add_parser("plot", help="draw loss / lr / metric curves of a training run (PNG)")
    p.add_argument("run_dir", help="a folder written by `videozoo train`")
    p.add_argument("--output", metavar="FILE", help="PNG path (default: RUN_DIR/curves.png)")

    p = sub.add_parser("demo", help="synthesise data, train, evaluate and predict in minutes")
    p.add_argument("--track", choices=["youtube8m", "kinetics"], default="youtube8m")
    p.add_argument("--output", metavar="DIR", default="videozoo_demo", help="demo folder")
    p.add_argument("--seed", type=int, default=0)
    return parser


# ----------------------------------------------------------------------------- commands
def cmd_synth(args) -> int:
    kwargs = {k: v for k, v in (("videos", args.videos), ("classes", args.classes)) if v}
    if args.dataset == "youtube8m":
        from videozoo.data.synth import synth_youtube8m as make
    else:
        from videozoo.data.synth_kinetics import synth_kinetics as make
    summary = make(args.dir, seed=args.seed, overwrite=args.overwrite, **kwargs)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _config_with_data(args, base=None) -> dict:
    overrides = list(args.overrides)
    if getattr(args, "data", None):
        overrides.append(f"data.root={args.data}")
    return build_config(args.model, args.config, overrides, base=base)


def cmd_train(args) -> int:
    from videozoo.engine.checkpoint import resolve_resume
    from videozoo.engine.distributed import shutdown
    from videozoo.engine.train import train

    output = args.output or str(Path("runs") / args.model)
    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.amp:
        overrides.append("train.amp=" + {"on": "true", "off": "false"}.get(args.amp, "auto"))
    args.overrides = overrides
    resume = None
    if args.resume:  # continue with the run's own config unless told otherwise
        resume = resolve_resume(args.resume, output, args.model)
    cfg = _config_with_data(args, base=resume.state["config"] if resume else None)
    try:
        result = train(cfg, output_dir=output, resume=resume or args.resume, weights=args.weights,
                       device=args.device, seed=args.seed, overwrite=args.overwrite)
    except BaseException:
        shutdown(synchronize=False)
        raise
    shutdown()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result, indent=2, default=str))
    return EXIT_INTERRUPTED if result.get("interrupted") else 0


def _load_for_inference(args):
    """Model + config + class names from a checkpoint (config overridable)."""
    from videozoo.engine.checkpoint import load_model

    overrides = list(args.overrides) + ([f"data.root={args.data}"] if getattr(args, "data", None) else [])
    loaded = load_model(args.weights, args.model, overrides=overrides, config_file=args.config,
                        purpose=f"`videozoo {args.command}`")
    return loaded.model, loaded.config, loaded.class_names


def cmd_eval(args) -> int:
    from videozoo.data import build_source
    from videozoo.engine.distributed import init_distributed, shutdown
    from videozoo.engine.evaluate import evaluate, write_metrics
    from videozoo.engine.tasks import make_task

    ctx = init_distributed(args.device)
    try:
        model, cfg, class_names = _load_for_inference(args)
        model.to(ctx.device)
        per_rank = max(1, cfg["eval"]["batch_size"] // ctx.world_size)
        source = build_source(cfg, args.split, training=False, batch_size=per_rank,
                              rank=ctx.rank, world_size=ctx.world_size)
        task = make_task(cfg, class_names or source.class_names)
        metrics, accumulator = evaluate(model, source, task, ctx, amp=cfg["train"]["amp"],
                                        amp_dtype=cfg["train"]["amp_dtype"], desc=args.split,
                                        return_metrics_object=True)
    except BaseException:
        shutdown(synchronize=False)
        raise
    shutdown()
    if ctx.is_main:
        out = Path(args.output) if args.output else \
            Path(args.weights).with_name(f"{Path(args.weights).stem}_{args.split}_metrics.json")
        write_metrics(out, metrics)
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                print(f"{key:>22s}  {value:.4f}" if isinstance(value, float) else f"{key:>22s}  {value}")
        print(f"metrics written to {out}")
        if args.report:
            for path in task.write_report(accumulator, args.report):
                print(f"report: {path}")
    return 0


def cmd_predict(args) -> int:
    from videozoo.engine.distributed import DistContext, resolve_device
    from videozoo.engine.predict import infer_format, predict_rows, write_predictions
    from videozoo.errors import NothingUsableError

    fmt = infer_format(args.output, args.format)
    model, cfg, class_names = _load_for_inference(args)
    ctx = DistContext(device=resolve_device(args.device))
    model.to(ctx.device)
    rows = predict_rows(model, cfg, args.inputs, class_names or [], ctx, topk=args.topk,
                        batch_size=max(1, cfg["eval"]["batch_size"]), amp=cfg["train"]["amp"])
    ext = {"jsonl": "jsonl", "csv": "csv", "kaggle": "csv"}[fmt]
    out = args.output or str(Path(args.weights).with_name(f"predictions.{ext}"))
    write_predictions(rows, out, fmt)
    failed = [row for row in rows if "error" in row]
    for row in rows[:20]:
        if "error" in row:
            print(f"{row['id']}: FAILED ({row['error']})")
        else:
            top = ", ".join(f"{n} {s:.3f}" for n, s in
                            zip(row["class_names"][:3], row["scores"][:3]))
            print(f"{row['id']}: {top}")
    if len(rows) > 20:
        print(f"... {len(rows) - 20} more")
    print(f"{len(rows) - len(failed)} predictions and {len(failed)} failures written to {out} "
          f"({fmt}{'; failures are not part of the Kaggle format' if fmt == 'kaggle' and failed else ''})")
    if len(failed) == len(rows):
        raise NothingUsableError(f"none of the {len(rows)} input(s) could be predicted "
                                 f"(reasons in {out})")
    return 0


def cmd_upgrade(args) -> int:
    from videozoo.engine.checkpoint import upgrade_checkpoint
    path = upgrade_checkpoint(args.checkpoint, args.output,
                              trust_unsafe_pickle=args.trust_unsafe_pickle)
    print(f"{args.checkpoint} -> {path} (plain-data checkpoint, loads without unpickling code)")
    return 0


def cmd_check(args) -> int:
    from videozoo.check import run_check
    from videozoo.errors import NothingUsableError

    output = args.output or "check_report.csv"
    summary = run_check(args.inputs, output, workers=args.workers, frames=args.frames)
    print(json.dumps(summary, indent=2))
    if summary["problems"]:
        raise NothingUsableError(f"{summary['problems']} problem(s) in {summary['bad_files']} "
                                 f"file(s): listed in {summary['report']}")
    return 0


def cmd_info(args) -> int:
    from videozoo.models.complexity import count_macs, count_parameters
    from videozoo.registry import build_model

    cfg = build_config(args.model, args.config, args.overrides)
    model = build_model(cfg).eval()
    batch = model.default_input(1)
    params = count_parameters(model)
    macs = count_macs(model, batch)
    shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
    print(json.dumps({"model": args.model, "parameters": params["trainable"],
                      "parameters_total": params["total"], "buffers": params["buffers"],
                      "input": shapes, "macs": macs, "gmacs": round(macs / 1e9, 3)}, indent=2))
    return 0


def cmd_export(args) -> int:
    from videozoo.engine.export import cli_export
    cli_export(args.model, args.weights, args.format, args.output, args.device, args.frames)
    return 0


def cmd_convert(args) -> int:
    from videozoo.convert import convert_weights
    convert_weights(args.source, args.model, args.output, fmt=args.source_format,
                    overrides=args.overrides, classes=args.classes)
    return 0


def cmd_extract(args) -> int:
    from videozoo.extract import extract_from_args
    print(json.dumps(extract_from_args(args), indent=2, default=str))
    return 0


def cmd_plot(args) -> int:
    from videozoo.reports import plot_run
    print(f"curves written to {plot_run(args.run_dir, args.output)}")
    return 0


def cmd_demo(args) -> int:
    from videozoo.demo import run_demo
    return run_demo(args.track, args.output, seed=args.seed)


COMMANDS = {"synth": cmd_synth, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict,
            "info": cmd_info, "export": cmd_export, "convert": cmd_convert, "check": cmd_check, "upgrade": cmd_upgrade, "extract": cmd_extract, "plot": cmd_plot, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code says how it ended (README: "What happens when things
    go wrong")."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    debug = bool(os.environ.get("VIDEOZOO_DEBUG"))
    try:
        return COMMANDS[args.command](args) or 0
    except KeyboardInterrupt:
        print(f"videozoo {args.command}: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except VideozooError as err:  # one clear line: the message says what to fix
        if debug:
            raise
        print(f"videozoo {args.command}: {err.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
            ValueError) as err:
        if debug:
            raise
        print(f"videozoo {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # a bug: say so, and how to get the traceback
        if debug:
            raise
        print(f"videozoo {args.command}: internal error: {type(err).__name__}: {err}\n"
              "(this is a bug in videozoo; rerun with VIDEOZOO_DEBUG=1 for the traceback "
              "and report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
