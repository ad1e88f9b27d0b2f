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

from videozoo import __version__, registry
from videozoo.config import build_config
from videozoo.errors import (
    EXIT_ABORTED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConfigError,
    VideozooError,
)
from videozoo.fileio import describe_os_error, is_user_os_error

log = logging.getLogger("videozoo")

MODEL_HELP = "model name: " + ", ".join(registry.list_models())
MODEL_OPTIONAL = MODEL_HELP + " (optional when --weights is a published tag or a checkpoint)"
WEIGHTS_HELP = (
    "checkpoint (.pt), bundle folder, or a published tag (`videozoo models "
    "--pretrained`; downloaded, converted and cached on first use)"
)


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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set train.optimizer.lr=0.01 (repeatable)",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to run (default: cuda if available)",
    )


def _add_inference_args(p: argparse.ArgumentParser, compile: bool = True) -> None:
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16", "auto"],
        help="numeric precision of the forward pass: fp32 (the default, exact), bf16, "
        "fp16 (CUDA), or auto: bf16 only where it is faster (CUDA with bf16 "
        "tensor cores, CPUs with AMX)",
    )
    if not compile:
        return
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (static shapes; kernels cached under "
        "$VIDEOZOO_HOME/inductor, so a machine compiles a model once). Pays "
        "off for many videos: the first compile takes a minute or more on CPU",
    )


def _add_timeline_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("timelines (long videos, URLs, live streams: docs/timelines_and_serving.md)")
    g.add_argument(
        "--timeline",
        action="store_true",
        help="top-k per window slid over each input (inputs may also be http(s) URLs, "
        "rtsp/rtmp/udp/tcp/hls streams, - for stdin, /dev/videoN)",
    )
    g.add_argument(
        "--window",
        type=float,
        metavar="S",
        help="window length in seconds (default: 10 s for segment-sampling and feature "
        "models, the clip's span for dense sampling)",
    )
    g.add_argument(
        "--stride", type=float, metavar="S", help="seconds between window starts (default: half the window)"
    )
    g.add_argument(
        "--smooth",
        type=int,
        default=1,
        metavar="K",
        help="average scores over K neighbouring windows before top-k (default 1: off)",
    )
    g.add_argument("--plot", metavar="PNG", help="also draw the timeline as a PNG")
    g.add_argument(
        "--follow",
        action="store_true",
        help="print each window as it completes (live streams); Ctrl-C stops and writes everything so far",
    )
    g.add_argument(
        "--reconnect",
        type=int,
        default=5,
        metavar="N",
        help="live streams: reconnect attempts after a drop (backoff 0.5 s to 30 s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videozoo",
        description="Video classification: YouTube-8M feature models "
        f"({', '.join(registry.models_of_track('youtube8m'))}) and video models "
        f"({', '.join(registry.models_of_track('video'))}).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"videozoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    p = sub.add_parser("train", help="train a model (single process or under torchrun)")
    p.add_argument("model", nargs="?", help=MODEL_OPTIONAL)
    p.add_argument("--data", metavar="DIR", help="dataset folder in the official layout")
    _add_config_args(p)
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

    p = sub.add_parser("eval", help="evaluate a checkpoint with the dataset's official metrics")
    p.add_argument("model", nargs="?", help=MODEL_OPTIONAL)
    p.add_argument("--weights", required=True, metavar="CKPT", help=WEIGHTS_HELP)
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: the one trained on)")
    p.add_argument("--split", default="validate", help="split to evaluate (default: validate)")
    p.add_argument("--output", metavar="FILE", help="metrics JSON (default: next to CKPT)")
    p.add_argument("--report", metavar="DIR", help="also write plots and per-class tables here")
    _add_config_args(p)
    _add_inference_args(p)

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
    _add_timeline_args(p)
    _add_config_args(p)
    _add_inference_args(p)

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
    _add_config_args(p)
    _add_inference_args(p, compile=False)

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

    p = sub.add_parser("info", help="parameter count and multiply-adds of a model")
    p.add_argument("model", help=MODEL_HELP)
    _add_config_args(p)

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
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="bundle: write into a folder that holds files (its model.safetensors, "
        "config.json and README.md are replaced; other files stay)",
    )

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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. --set model.num_classes=101 (repeatable)",
    )
    p.add_argument(
        "--classes",
        metavar="FILE",
        help="class names: one per line, or a YouTube-8M vocabulary.csv "
        "(default: Kinetics-400 for Kinetics sources)",
    )

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
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
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

    p = sub.add_parser("cache", help="list or clear the downloaded and converted weights")
    p.add_argument("action", choices=["list", "clear"])

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
    _add_inference_args(p)
    _add_config_args(p)

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
    kwargs = {k: v for k, v in (("videos", args.videos), ("classes", args.classes)) if v is not None}
    if args.dataset == "youtube8m":
        from videozoo.data.synth import synth_youtube8m as make
    else:
        from videozoo.data.synth_kinetics import synth_kinetics as make
    summary = make(args.dir, seed=args.seed, overwrite=args.overwrite, **kwargs)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _model_from_weights(args, takes_inputs: bool = False) -> None:
    """``model`` is optional when ``--weights`` implies it (a tag or a checkpoint); for
    predict / embed it is the first positional when that is a model name."""
    if takes_inputs:
        first_is_model = len(args.inputs) > 1 and args.inputs[0] in registry.list_models()
        args.model = args.inputs.pop(0) if first_is_model else None
    if args.model is None:
        from videozoo.zoo import model_of

        args.model = model_of(args.weights)


def cmd_train(args) -> int:
    from videozoo.api import train
    from videozoo.engine.distributed import shutdown

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.amp:
        overrides.append("train.amp=" + {"on": "true", "off": "false"}.get(args.amp, "auto"))
    _model_from_weights(args)
    try:
        result = train(
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
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result, indent=2, default=str))
    return EXIT_INTERRUPTED if result.get("interrupted") else 0


def _inference_overrides(args) -> list[str]:
    return list(args.overrides) + ([f"data.root={args.data}"] if getattr(args, "data", None) else [])


def cmd_eval(args) -> int:
    from videozoo.api import evaluate_with_details
    from videozoo.engine.distributed import shutdown
    from videozoo.engine.evaluate import write_metrics

    _model_from_weights(args)
    try:
        metrics, accumulator, task = evaluate_with_details(
            args.weights,
            split=args.split,
            model=args.model,
            device=args.device,
            config=args.config,
            set=_inference_overrides(args),
            precision=args.precision,
            compile=args.compile,
        )
    except BaseException:
        shutdown(synchronize=False)
        raise
    shutdown()
    if int(os.environ.get("RANK", "0")) == 0:
        out = (
            Path(args.output)
            if args.output
            else Path(args.weights).with_name(f"{Path(args.weights).stem}_{args.split}_metrics.json")
        )
        write_metrics(out, metrics)
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                print(f"{key:>22s}  {value:.4f}" if isinstance(value, float) else f"{key:>22s}  {value}")
        print(f"metrics written to {out}")
        if args.report:
            for path in task.write_report(accumulator, args.report):
                print(f"report: {path}")
    return 0


def _print_rows(rows: list[dict], out: str, fmt: str, what: str = "predictions") -> None:
    failed = [row for row in rows if "error" in row]
    for row in rows[:20]:
        if "error" in row:
            print(f"{row['id']}: FAILED ({row['error']})")
        elif "class_names" in row:
            top = ", ".join(f"{n} {s:.3f}" for n, s in zip(row["class_names"][:3], row["scores"][:3]))
            print(f"{row['id']}: {top}")
    if len(rows) > 20:
        print(f"... {len(rows) - 20} more")
    note = "; failures are not part of the Kaggle format" if fmt == "kaggle" and failed else ""
    print(f"{len(rows) - len(failed)} {what} and {len(failed)} failures written to {out} ({fmt}{note})")
    if len(failed) == len(rows):
        from videozoo.errors import NothingUsableError

        raise NothingUsableError(
            f"none of the {len(rows)} input(s) could be used (reasons in {out})"
            if rows
            else "the inputs hold nothing to process (no video, no record)"
        )


def cmd_predict(args) -> int:
    from videozoo.api import Predictor
    from videozoo.engine.predict import check_csv_escape, infer_format, write_predictions

    _model_from_weights(args, takes_inputs=True)
    fmt = infer_format(args.output, args.format)
    check_csv_escape(fmt, args.csv_escape)
    _check_timeline_args(args, fmt)
    with Predictor(
        args.weights,
        device=args.device,
        model=args.model,
        config=args.config,
        set=_inference_overrides(args),
        precision=args.precision,
        compile=args.compile,
    ) as predictor:
        if args.timeline:
            return _predict_timelines(args, predictor, fmt)
        rows = predictor.predict(args.inputs, topk=args.topk)
    ext = {"jsonl": "jsonl", "csv": "csv", "kaggle": "csv"}[fmt]
    out = args.output or str(Path(args.weights).with_name(f"predictions.{ext}"))
    write_predictions(rows, out, fmt, csv_escape=args.csv_escape)
    _print_rows(rows, out, fmt)
    return 0


def _check_timeline_args(args, fmt: str) -> None:
    from videozoo.errors import ConfigError

    if not args.timeline:
        given = [
            flag
            for flag, value in (
                ("--window", args.window),
                ("--stride", args.stride),
                ("--plot", args.plot),
                ("--follow", args.follow),
                ("--smooth", args.smooth != 1),
            )
            if value
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --timeline")
    elif fmt == "kaggle":
        raise ConfigError("--timeline writes jsonl or csv rows per window, not --format kaggle")
    elif args.smooth < 1:
        raise ConfigError(f"--smooth must be at least 1 window, got {args.smooth}")


def _timeline_inputs(inputs: list[str], video_model: bool) -> list[str]:
    """Folders -> their videos (video models); everything else as given."""
    from videozoo.data.video import find_video_files

    out = []
    for item in inputs:
        out += [str(p) for p in find_video_files(item)] if video_model and Path(item).is_dir() else [item]
    return out


def _predict_timelines(args, predictor, fmt: str) -> int:
    """SIGTERM (a supervisor stopping a live timeline) ends it like Ctrl-C: what was scored
    so far is written."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return _write_timelines(args, predictor, fmt)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_timelines(args, predictor, fmt: str) -> int:
    from videozoo import timeline as tl
    from videozoo.data.video import VideoReadError
    from videozoo.engine.predict import write_timeline
    from videozoo.errors import DataError, NothingUsableError

    out = args.output or str(Path(args.weights).with_name(f"timeline.{fmt}"))
    video_model = predictor.config["data"]["format"] == "video"

    def follow(start, end, scores):
        top = tl.top_k(scores, predictor.class_names, 3)
        print(
            f"{tl.clock(start)}-{tl.clock(end)} "
            + ", ".join(f"{n} {s:.2f}" for n, s in zip(top["class_names"], top["scores"])),
            flush=True,
        )

    results, failures, interrupted = [], [], False
    for item in _timeline_inputs(args.inputs, video_model):
        try:
            found = predictor.predict_timeline(
                item,
                window=args.window,
                stride=args.stride,
                topk=args.topk,
                smooth=args.smooth,
                **(
                    {"reconnect": args.reconnect, "on_window": follow if args.follow else None}
                    if video_model
                    else {}
                ),
            )
        except (VideoReadError, DataError) as err:
            reason = getattr(err, "reason", None) or str(err).removeprefix(f"{item}: ")
            failures.append({"id": item, "error": reason})
            print(f"{item}: FAILED ({reason})")
            continue
        found = found if isinstance(found, list) else [found]
        results += found
        if any(r["interrupted"] for r in found):
            interrupted = True
            break
    rows = [row for r in results for row in r["windows"]] + failures
    segments_path = write_timeline(rows, out, fmt)
    for result in results:
        print(f"{result['id']} ({tl.clock(result['duration'] or 0)}):")
        for seg in result["segments"][:40]:
            print("  " + tl.segment_line(seg))
        if len(result["segments"]) > 40:
            print(f"  ... {len(result['segments']) - 40} more segments in {segments_path}")
    if args.plot and results:
        tl.plot_timeline({r["id"]: r["windows"] for r in results}, args.plot)
        print(f"plot written to {args.plot}")
    windows = sum(1 for row in rows if "error" not in row)
    print(
        f"{windows} windows of {len(results)} input(s) written to {out} ({fmt}), segments to "
        f"{segments_path}" + (" (interrupted: everything so far)" if interrupted else "")
    )
    if not windows:
        raise NothingUsableError(f"no window could be scored (reasons in {out})")
    return 0


def cmd_embed(args) -> int:
    from videozoo.api import Predictor
    from videozoo.engine.embed import claim_output, embed_rows, write_embeddings
    from videozoo.runlock import hold_output

    _model_from_weights(args, takes_inputs=True)
    with hold_output(args.output, "embed"):
        claim_output(args.output, args.overwrite)
        # the classifier's input is captured by a hook: run the uncompiled (but prepared) module
        with Predictor(
            args.weights,
            device=args.device,
            model=args.model,
            config=args.config,
            set=_inference_overrides(args),
            precision=args.precision,
        ) as predictor:
            done, failed = embed_rows(
                predictor.model,
                predictor.config,
                args.inputs,
                predictor.ctx,
                batch_size=predictor.batch_size,
                amp=predictor.plan.amp,
                amp_dtype=predictor.plan.amp_dtype or "bfloat16",
                decode_pool=predictor.decode_pool(),
            )
        index = write_embeddings(done, failed, args.output, args.format)
    rows = [{"id": vid, "embedding": len(vector)} for vid, vector in done] + [
        {"id": vid, "error": reason} for vid, reason in failed
    ]
    dims = f"{len(done[0][1])}-d " if done else ""
    _print_rows(rows, str(index), args.format, what=f"{dims}embeddings")
    return 0


def cmd_upgrade(args) -> int:
    from videozoo.serialization.checkpoint import upgrade_checkpoint

    path = upgrade_checkpoint(args.checkpoint, args.output)
    print(f"{args.checkpoint} -> {path} (plain-data checkpoint, loads without unpickling code)")
    return 0


def cmd_check(args) -> int:
    from videozoo.check import run_check
    from videozoo.errors import NothingUsableError

    output = args.output or "check_report.csv"
    summary = run_check(args.inputs, output, workers=args.workers, frames=args.frames)
    print(json.dumps(summary, indent=2))
    if summary["problems"]:
        raise NothingUsableError(
            f"{summary['problems']} problem(s) in {summary['bad_files']} "
            f"file(s): listed in {summary['report']}"
        )
    return 0


def cmd_info(args) -> int:
    from videozoo.engine.tasks import make_task
    from videozoo.models.complexity import count_macs, count_parameters
    from videozoo.registry import build_model

    cfg = build_config(args.model, args.config, args.overrides)
    model = build_model(cfg).eval()
    # one training view of this config's data section (frames, crop size)
    batch = make_task(cfg, []).example_input(model, 1, training=True)
    params = count_parameters(model)
    macs = count_macs(model, batch)
    shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
    print(
        json.dumps(
            {
                "model": args.model,
                "parameters": params["trainable"],
                "parameters_total": params["total"],
                "buffers": params["buffers"],
                "input": shapes,
                "macs": macs,
                "gmacs": round(macs / 1e9, 3),
            },
            indent=2,
        )
    )
    return 0


def cmd_export(args) -> int:
    from videozoo.zoo import resolve_weights

    _model_from_weights(args)
    weights = resolve_weights(args.weights)
    if weights != Path(args.weights):  # a tag: outputs go to the working folder, not the cache
        weights_name = Path.cwd() / args.weights
    else:
        weights_name = weights
    if args.format == "bundle":
        from videozoo.serialization.bundle_writer import write_bundle

        out = args.output or weights_name.with_name(f"{weights_name.stem}_bundle")
        print(f"bundle written to {write_bundle(weights, out, args.model, args.overwrite)}")
        return 0
    from videozoo.engine.export import export_checkpoint
    from videozoo.runlock import hold_output
    from videozoo.serialization.graph_export import default_output_path

    out = args.output or default_output_path(weights_name, args.format)
    with hold_output(out, "export", folder=False):
        result = export_checkpoint(args.model, weights, args.format, out, args.device, args.frames)
    print(json.dumps(result, indent=2))
    return 0


def cmd_models(args) -> int:
    from videozoo.zoo import render

    if args.format == "markdown":
        print(render.markdown(), end="")
        return 0
    rows = render.entries_for(args.model, pretrained=args.pretrained)
    if args.format == "json":
        print(json.dumps(render.json_rows(rows), indent=2))
    else:
        print(render.text_table(rows))
    return 0


def cmd_download(args) -> int:
    from videozoo.zoo.hub import fetch_file, pin_sha256

    if args.sha256:
        if len(args.tags) != 1:
            raise ConfigError("--sha256 pins the checksum of one file: give one TAG")
        pin_sha256(args.tags[0], args.sha256, args.to)
    for tag in args.tags:
        print(f"{tag}: {fetch_file(tag, args.to)}")
    return 0


def cmd_cache(args) -> int:
    from videozoo.zoo import cache

    if args.action == "list":
        rows = cache.list_cache()
        for row in rows:
            print(f"{row['size']:>14,d}  {row['kind']:<7}  {row['path']}")
        print(f"{len(rows)} item(s), {sum(r['size'] for r in rows):,d} bytes in {cache.home()}")
    else:
        removed = cache.clear_cache()
        print(f"removed {removed} item(s) from {cache.home()}")
    return 0


def cmd_convert(args) -> int:
    from videozoo.convert import convert_weights
    from videozoo.zoo import entry_for_file, provenance

    entry = entry_for_file(args.source, args.model)
    overrides, facts = list(args.overrides), None
    if entry is not None and args.source_format in ("auto", entry.source):
        # a published file: its table entry knows the options (--set still wins)
        overrides = list(entry.overrides) + overrides
        facts = provenance(entry, None)
        log.info(
            "%s is the published file of %s%s",
            Path(args.source).name,
            entry.tag,
            f"; applying --set {' '.join(entry.overrides)}" if entry.overrides else "",
        )
    convert_weights(
        args.source,
        args.model,
        args.output,
        fmt=args.source_format,
        overrides=overrides,
        classes=args.classes,
        provenance=facts,
    )
    return 0


def cmd_extract(args) -> int:
    from videozoo.extract import read_labels_csv, run_extract

    summary = run_extract(
        args.inputs,
        args.output,
        fit_pca=args.fit_pca,
        pca=args.pca,
        weights=args.weights,
        depth=args.depth,
        pca_dims=args.pca_dims,
        batch_size=args.batch_size,
        max_seconds=args.max_seconds,
        image_size=args.image_size,
        device=args.device,
        shard_size=args.shard_size,
        split_prefix=args.split_prefix,
        labels=read_labels_csv(args.labels) if args.labels else None,
        overwrite=args.overwrite,
        features=args.features,
        inception=args.inception,
        vggish=args.vggish,
        vggish_pca=args.vggish_pca,
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_serve(args) -> int:
    from videozoo.api import Predictor
    from videozoo.errors import ConfigError

    try:
        # imported only to fail early, with one line, when the [serve] extra is missing
        import fastapi  # noqa: F401
        import multipart  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"serve needs the 'serve' extra ({err.name} is missing): pip install 'videozoo[serve]'"
        ) from None
    from videozoo.serve import run_server

    weights = args.weights or args.model
    predictor = Predictor(
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


def cmd_plot(args) -> int:
    from videozoo.reports import plot_run

    print(f"curves written to {plot_run(args.run_dir, args.output)}")
    return 0


def cmd_demo(args) -> int:
    from videozoo.demo import run_demo

    return run_demo(args.track, args.output, seed=args.seed)


COMMANDS = {
    "synth": cmd_synth,
    "train": cmd_train,
    "eval": cmd_eval,
    "predict": cmd_predict,
    "info": cmd_info,
    "export": cmd_export,
    "convert": cmd_convert,
    "check": cmd_check,
    "upgrade": cmd_upgrade,
    "embed": cmd_embed,
    "extract": cmd_extract,
    "plot": cmd_plot,
    "serve": cmd_serve,
    "demo": cmd_demo,
    "models": cmd_models,
    "download": cmd_download,
    "cache": cmd_cache,
}


def parse_command_line(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line; predict / embed inputs may also follow an option
    (`predict tsm --weights W a.mp4`). Exits with usage (2) on a bad command line."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        if (
            getattr(args, "inputs", None) is not None
            and args.command in ("predict", "embed")
            and not any(e.startswith("-") for e in extras)
        ):
            args.inputs += extras
        else:
            parser.error("unrecognized arguments: " + " ".join(extras))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code says how it ended (``errors.EXIT_MEANINGS``)."""
    args = parse_command_line(argv)
    setup_logging(args.verbose)
    debug = bool(os.environ.get("VIDEOZOO_DEBUG"))
    try:
        return COMMANDS[args.command](args) or 0
    except KeyboardInterrupt:
        print(f"videozoo {args.command}: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except VideozooError as err:  # one clear line: the message says what to fix
        if debug:
            raise
        print(f"videozoo {args.command}: {err.kind}: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        if debug:
            raise
        if is_user_os_error(err):  # a path the OS refuses, a full disk: the real file, one line
            print(f"videozoo {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(err, UnicodeDecodeError):  # a binary file where text was expected
            print(
                f"videozoo {args.command}: error: an input text file is not UTF-8 (byte "
                f"{err.object[err.start : err.start + 1]!r} at {err.start}); save it as UTF-8",
                file=sys.stderr,
            )
            return EXIT_USAGE
        # a bug: say so, and how to get the traceback
        print(
            f"videozoo {args.command}: internal error: {type(err).__name__}: {err}\n"
            "(this is a bug in videozoo; rerun with VIDEOZOO_DEBUG=1 for the traceback "
            "and report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
