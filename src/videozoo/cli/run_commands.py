"""Run commands: ``train``, ``eval``, ``predict``, ``embed``, ``serve`` and ``demo``: the
model runs, each a thin layer over ``videozoo.api``."""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

from videozoo import api
from videozoo.cli.arguments import (
    MODEL_OPTIONAL,
    WEIGHTS_HELP,
    Subparsers,
    add_config_args,
    add_inference_args,
    add_timeline_args,
    inference_overrides,
    model_from_weights,
    print_json,
    print_rows,
)
from videozoo.cli.timelines import check_timeline_args, predict_timelines
from videozoo.demo import run_demo
from videozoo.engine.distributed import shutdown
from videozoo.engine.evaluate import write_metrics
from videozoo.engine.predict import check_csv_escape, infer_format, write_predictions
from videozoo.errors import EXIT_INTERRUPTED, ConfigError

#: the modules of the optional 'serve' extra (pyproject.toml)
SERVE_EXTRA = ("fastapi", "multipart", "prometheus_client", "uvicorn")


def _rank_zero() -> bool:
    """Under torchrun only the first process prints."""
    return int(os.environ.get("RANK", "0")) == 0


def add_train(sub: Subparsers) -> None:
    p = sub.add_parser("train", help="train a model (single process or under torchrun)")
    p.add_argument("model", nargs="?", help=MODEL_OPTIONAL)
    p.add_argument("--data", metavar="DIR", help="dataset folder in the official layout")
    add_config_args(p)
    p.add_argument("--output", metavar="DIR", help="run folder (default: runs/MODEL)")
    p.add_argument("--epochs", type=int, help="number of epochs (overrides train.epochs)")
    p.add_argument(
        "--weights", metavar="CKPT", help="initialise from a checkpoint, bundle or published tag (fine-tune)"
    )
    p.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue a run exactly from a checkpoint, or 'auto' for the newest checkpoint in --output",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace another run's checkpoints and logs in --output (without it, "
        "a folder that holds a run is refused)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--amp",
        nargs="?",
        const="on",
        choices=["on", "off", "auto"],
        help="bfloat16 autocast (train.amp): 'auto' (the default) turns it on where "
        "the hardware has native bfloat16 (CUDA, AVX512-BF16 / AMX CPUs); "
        "--amp alone means on",
    )
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.amp:
        overrides.append("train.amp=" + {"on": "true", "off": "false"}.get(args.amp, "auto"))
    try:
        result = api.train(
            args.model,
            args.data,
            args.output,
            config=args.config,
            weights=args.weights,
            resume=args.resume,
            seed=args.seed,
            device=args.device,
            overwrite=args.overwrite,
            set=overrides,
        )
    except BaseException:
        shutdown(synchronize=False)
        raise
    shutdown()
    if _rank_zero():
        print_json(result)
    return EXIT_INTERRUPTED if result.get("interrupted") else 0


def add_eval(sub: Subparsers) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint with the dataset's official metrics")
    p.add_argument("model", nargs="?", help=MODEL_OPTIONAL)
    p.add_argument("--weights", required=True, metavar="CKPT", help=WEIGHTS_HELP)
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: the one trained on)")
    p.add_argument("--split", default="validate", help="split to evaluate (default: validate)")
    p.add_argument("--output", metavar="FILE", help="metrics JSON (default: next to CKPT)")
    p.add_argument("--report", metavar="DIR", help="also write plots and per-class tables here")
    add_config_args(p)
    add_inference_args(p)
    p.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    model_from_weights(args)
    try:
        metrics, accumulator, task = api.evaluate_with_details(
            args.weights,
            split=args.split,
            model=args.model,
            device=args.device,
            config=args.config,
            set=inference_overrides(args),
            precision=args.precision,
            compile=args.compile,
        )
    except BaseException:
        shutdown(synchronize=False)
        raise
    shutdown()
    if not _rank_zero():
        return 0
    weights = Path(args.weights)
    out = Path(args.output) if args.output else weights.with_name(f"{weights.stem}_{args.split}_metrics.json")
    write_metrics(out, metrics)
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            print(f"{key:>22s}  {value:.4f}" if isinstance(value, float) else f"{key:>22s}  {value}")
    print(f"metrics written to {out}")
    if args.report:
        for path in task.write_report(accumulator, args.report):
            print(f"report: {path}")
    return 0


def add_predict(sub: Subparsers) -> None:
    p = sub.add_parser("predict", help="top-k classes for new inputs")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] INPUT",
        help=MODEL_OPTIONAL + "; then TFRecord shards/globs or video files "
        "(YouTube-8M models: features extracted on the fly with the YouTube-8M "
        "files in $VIDEOZOO_HOME), video files, folders, list files (Kinetics "
        "models)",
    )
    p.add_argument("--weights", required=True, metavar="CKPT", help=WEIGHTS_HELP)
    p.add_argument(
        "--topk",
        type=int,
        default=None,
        help="classes per video (default: 20 for YouTube-8M, 5 for Kinetics)",
    )
    p.add_argument("--output", metavar="FILE", help="predictions file (default: next to CKPT)")
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "kaggle"],
        help="jsonl (default), csv, or kaggle (YouTube-8M submission)",
    )
    p.add_argument(
        "--csv-escape",
        action="store_true",
        help="--format csv for a spreadsheet: prefix ' to cells starting with "
        "= + - @ (ids are then no longer verbatim)",
    )
    add_timeline_args(p)
    add_config_args(p)
    add_inference_args(p)
    p.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    model_from_weights(args, takes_inputs=True)
    fmt = infer_format(args.output, args.format)
    check_csv_escape(fmt, args.csv_escape)
    check_timeline_args(args, fmt)
    with api.Predictor(
        args.weights,
        device=args.device,
        model=args.model,
        config=args.config,
        set=inference_overrides(args),
        precision=args.precision,
        compile=args.compile,
    ) as predictor:
        if args.timeline:
            return predict_timelines(args, predictor, fmt)
        rows = predictor.predict(args.inputs, topk=args.topk)
    ext = {"jsonl": "jsonl", "csv": "csv", "kaggle": "csv"}[fmt]
    out = args.output or str(Path(args.weights).with_name(f"predictions.{ext}"))
    write_predictions(rows, out, fmt, csv_escape=args.csv_escape)
    print_rows(rows, out, fmt)
    return 0


def add_embed(sub: Subparsers) -> None:
    p = sub.add_parser(
        "embed",
        help="per-video feature vectors (the layer before the classifier)",
        description="Write one feature vector per input video (the input of "
        "the model's classifier, averaged over evaluation views): one .npy per "
        "video plus index.csv, or one embeddings.npz. For retrieval, clustering "
        "and linear probes.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] INPUT",
        help=MODEL_OPTIONAL + "; then video files, folders, list files (video models) or TFRecord shards",
    )
    p.add_argument("--weights", required=True, metavar="CKPT", help=WEIGHTS_HELP)
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--format",
        choices=["npy", "npz"],
        default="npy",
        help="npy: one file per video + index.csv (default); npz: one file",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a folder that holds files (an earlier embed's files that "
        "this one does not write again are removed; other files stay)",
    )
    add_config_args(p)
    add_inference_args(p, compile=False)
    p.set_defaults(handler=cmd_embed)


def cmd_embed(args: argparse.Namespace) -> int:
    model_from_weights(args, takes_inputs=True)
    result = api.embed_videos(
        args.weights,
        args.inputs,
        args.output,
        format=args.format,
        overwrite=args.overwrite,
        model=args.model,
        device=args.device,
        config=args.config,
        set=inference_overrides(args),
        precision=args.precision,
    )
    dims = f"{result['dims']}-d " if result["dims"] else ""
    print_rows(result["rows"], result["index"], args.format, what=f"{dims}embeddings")
    return 0


def add_serve(sub: Subparsers) -> None:
    p = sub.add_parser(
        "serve",
        help="an HTTP service (and a web page) around a video model",
        description="Serve a video model over HTTP: POST /v1/predict (upload or "
        "URL; ?timeline=1 for windows), GET /v1/models, /healthz, /metrics, and "
        "a page at / to drop a video on. Needs the 'serve' extra: pip install "
        "'videozoo[serve]'. SIGTERM finishes the requests in flight, then stops.",
    )
    p.add_argument(
        "model", metavar="MODEL_OR_TAG", help="a model name with --weights, or a checkpoint / bundle folder"
    )
    p.add_argument("--weights", metavar="CKPT", help="checkpoint or bundle folder of MODEL")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=200,
        metavar="N",
        help="largest accepted upload (default 200 MB; larger: 413)",
    )
    _add_serving_limits(p)
    add_inference_args(p)
    add_config_args(p)
    p.set_defaults(handler=cmd_serve)


def _add_serving_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="requests decoded at once; the model itself runs on one batching thread",
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=16,
        metavar="N",
        help="requests waiting beyond the workers before 503 + Retry-After",
    )
    p.add_argument(
        "--timeout", type=float, default=120, metavar="S", help="seconds a request may take before 504"
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=10,
        metavar="MS",
        help="how long the model waits for other requests' clips to batch with",
    )
    p.add_argument(
        "--allow-urls",
        action="store_true",
        help='accept JSON {"url": "http(s)://..."}: the server fetches the video',
    )


def _require_serve_extra() -> None:
    """Fail early, with one line, when a package of the 'serve' extra is missing."""
    for name in SERVE_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ConfigError(
                f"serve needs the 'serve' extra ({err.name} is missing): pip install 'videozoo[serve]'"
            ) from None


def cmd_serve(args: argparse.Namespace) -> int:
    _require_serve_extra()
    from videozoo.serve import run_server  # the optional 'serve' extra: only for this command

    weights = args.weights or args.model
    predictor = api.Predictor(
        weights,
        device=args.device,
        model=args.model if args.weights else None,
        config=args.config,
        set=list(args.overrides),
        precision=args.precision,
        compile=args.compile,
    )
    name = predictor.config["model"].get("name") or (args.model if args.weights else Path(weights).stem)
    run_server(
        predictor,
        model_name=name,
        weights=weights,
        host=args.host,
        port=args.port,
        workers=args.workers,
        queue_size=args.queue_size,
        max_upload_mb=args.max_upload_mb,
        timeout=args.timeout,
        allow_urls=args.allow_urls,
        batch_wait_ms=args.batch_wait_ms,
    )
    return 0


def add_demo(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="synthesise data, train, evaluate and predict in minutes")
    p.add_argument("--track", choices=["youtube8m", "kinetics"], default="youtube8m")
    p.add_argument("--output", metavar="DIR", default="videozoo_demo", help="demo folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.track, args.output, seed=args.seed)
