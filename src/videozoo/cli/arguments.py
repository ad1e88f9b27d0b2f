"""Argument groups several commands share (declared once here) and the small helpers their
handlers share: the model named by ``--weights``, the table of predictions they print."""

from __future__ import annotations

import argparse
import json
from typing import Any

from videozoo import registry, zoo
from videozoo.errors import NothingUsableError

#: what ``add_subparsers`` returns (argparse has no public name for it)
Subparsers = argparse._SubParsersAction

MODEL_HELP = "model name: " + ", ".join(registry.list_models())
MODEL_OPTIONAL = MODEL_HELP + " (optional when --weights is a published tag or a checkpoint)"
WEIGHTS_HELP = (
    "checkpoint (.pt), bundle folder, or a published tag (`videozoo models "
    "--pretrained`; downloaded, converted and cached on first use)"
)
DEVICES = ["auto", "cpu", "cuda"]


def add_set_arg(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_device_arg(p: argparse.ArgumentParser, default: str = "auto", help: str | None = None) -> None:
    choices = DEVICES if default == "auto" else DEVICES[1:]
    p.add_argument("--device", default=default, choices=choices, help=help)


def add_config_args(p: argparse.ArgumentParser) -> None:
    """``--config FILE``, ``--set KEY=VALUE`` and ``--device``: the commands that build a config."""
    p.add_argument("--config", metavar="FILE", help="YAML config overriding the packaged one")
    add_set_arg(p, "override one config key, e.g. --set train.optimizer.lr=0.01 (repeatable)")
    add_device_arg(p, help="where to run (default: cuda if available)")


def add_inference_args(p: argparse.ArgumentParser, compile: bool = True) -> None:
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
        "$VIDEOZOO_HOME/inductor, so a machine compiles a model once). Off by "
        "default: on the CPUs measured it was no faster than the fused eager path and "
        "the first compile takes minutes; try it on a GPU (docs/fast_inference.md)",
    )


def add_timeline_args(p: argparse.ArgumentParser) -> None:
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


def model_from_weights(args: argparse.Namespace, takes_inputs: bool = False) -> None:
    """``model`` is optional when ``--weights`` implies it (a tag or a checkpoint); for
    predict / embed it is the first positional when that is a model name."""
    if takes_inputs:
        first_is_model = len(args.inputs) > 1 and args.inputs[0] in registry.list_models()
        args.model = args.inputs.pop(0) if first_is_model else None
    if args.model is None:
        args.model = zoo.model_of(args.weights)


def inference_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` items plus ``--data`` as ``data.root``."""
    return list(args.overrides) + ([f"data.root={args.data}"] if getattr(args, "data", None) else [])


def print_json(result: Any) -> None:
    print(json.dumps(result, indent=2, default=str))


def print_rows(rows: list[dict[str, Any]], out: str, fmt: str, what: str = "predictions") -> None:
    """The first 20 rows (top-3 classes or the failure), then the counts; none usable ->
    ``NothingUsableError``."""
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
        raise NothingUsableError(
            f"none of the {len(rows)} input(s) could be used (reasons in {out})"
            if rows
            else "the inputs hold nothing to process (no video, no record)"
        )
