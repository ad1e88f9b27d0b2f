"""Real Paddle as the reference for the YouTube-8M feature models (optional, outside CI).

Runs in a throwaway venv with Paddle (about 700 MB; PaddleVideo itself need not install)::

    python3.11 -m venv /tmp/paddle-venv && /tmp/paddle-venv/bin/pip install paddlepaddle==3.3.1

``head CHECKOUT OUT``: PaddleVideo 2.x's own ``AttentionLstmHead``, loaded from
``paddlevideo/modeling/heads/attention_lstm_head.py`` of a PaddleVideo checkout with stand-ins
for the four package modules it imports (head registry, base class, weight init, metrics; none
computes anything in the forward pass), built with its defaults (3862 classes, lstm 1024, ...)
and Paddle's own initialisers. Writes into OUT ``AttentionLSTM_yt8.pdparams`` (``paddle.save``
of the recognizer's ``state_dict``, names under ``head.`` as the published file),
``videos.npz`` (uint8 ``rgb_<i>``, ``audio_<i>``) and ``logits.npy``: the head's eval-mode
logits on those videos fed as 2.x's ``FeatureDecoder`` feeds them (dequantised, zero-padded
to 512 frames, lengths, masks). Then, here, ``PYTHONPATH=src python
tools/parity/paddle_features.py --paddle-reference OUT`` converts the file and compares::

    git clone https://github.com/PaddlePaddle/PaddleVideo /tmp/PaddleVideo
    OMP_NUM_THREADS=1 /tmp/paddle-venv/bin/python tools/parity/paddle_reference.py head \\
        /tmp/PaddleVideo /tmp/al2x

``lstm-op``: fluid's ``lstm`` operator (what v1.5's ``dynamic_lstm`` appends; Paddle 3 still
runs it in the old static graph) with peepholes, forward and ``is_reverse``, on a LoD batch
of sequences, against ``paddle_features.lstm_sequence`` (the numpy LSTM of the v1.5 parity
graphs); prints the largest difference::

    OMP_NUM_THREADS=1 /tmp/paddle-venv/bin/python tools/parity/paddle_reference.py lstm-op
"""

from __future__ import annotations

import argparse
import os
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paddle_features  # noqa: E402  (numpy only)

HEAD_FILE = "paddlevideo/modeling/heads/attention_lstm_head.py"
MAX_LEN = 512  # FeatureDecoder's padding
LENGTHS = (299, 120, 37, 5)


# ----------------------------------------------------------------------------- 2.x head
def load_head_class(checkout: Path):
    """``AttentionLstmHead`` from the checkout's source, its package imports stood in."""
    import paddle

    class BaseHead(paddle.nn.Layer):  # keeps what the head's __init__ passes; no parameters
        def __init__(self, num_classes=None, in_channels=None, loss_cfg=None, ls_eps=0.0):
            super().__init__()
            self.num_classes, self.in_channels = num_classes, in_channels

    class Registry:
        def register(self, cls=None):
            return cls if cls is not None else (lambda c: c)

    stand_ins = {
        "pv": {},
        "pv.metrics": {},
        "pv.metrics.youtube8m": {},
        "pv.metrics.youtube8m.eval_util": {},
        "pv.modeling": {},
        "pv.modeling.registry": {"HEADS": Registry()},
        "pv.modeling.weight_init": {"weight_init_": None},
        "pv.modeling.heads": {},
        "pv.modeling.heads.base": {"BaseHead": BaseHead},
    }
    for name, attributes in stand_ins.items():
        module = types.ModuleType(name)
        module.__path__ = []
        module.__dict__.update(attributes)
        sys.modules[name] = module
    sys.modules["pv.metrics.youtube8m"].eval_util = sys.modules["pv.metrics.youtube8m.eval_util"]
    module = types.ModuleType("pv.modeling.heads.attention_lstm_head")
    module.__package__ = "pv.modeling.heads"
    source = (checkout / HEAD_FILE).read_text()
    exec(compile(source, str(checkout / HEAD_FILE), "exec"), module.__dict__)
    return module.AttentionLstmHead


def feature_decoder_inputs(videos: list[np.ndarray]):
    """2.x ``FeatureDecoder``: dequantise (float64, then float32), pad to 512, length, mask."""
    import paddle

    data = np.zeros((len(videos), MAX_LEN, videos[0].shape[1]), np.float32)
    mask = np.zeros_like(data)
    for i, v in enumerate(videos):
        data[i, : len(v)] = paddle_features.reader_dequantize(v)
        mask[i, : len(v)] = 1.0
    lengths = np.array([len(v) for v in videos], np.int64)
    return paddle.to_tensor(data), paddle.to_tensor(lengths), paddle.to_tensor(mask)


def run_head(checkout: Path, out: Path, seed: int) -> None:
    import paddle

    paddle.seed(seed)
    recognizer = paddle.nn.Layer()
    recognizer.head = load_head_class(checkout)()
    recognizer.eval()
    out.mkdir(parents=True, exist_ok=True)
    paddle.save(recognizer.state_dict(), str(out / "AttentionLSTM_yt8.pdparams"))
    rgb, audio = paddle_features.random_videos(np.random.default_rng(seed), LENGTHS)
    np.savez(
        out / "videos.npz",
        **{f"rgb_{i}": v for i, v in enumerate(rgb)},
        **{f"audio_{i}": v for i, v in enumerate(audio)},
    )
    with paddle.no_grad():
        logits, _ = recognizer.head([feature_decoder_inputs(rgb), feature_decoder_inputs(audio)])
    np.save(out / "logits.npy", logits.numpy())
    print(f"wrote {out}: {len(LENGTHS)} videos, logits {list(logits.shape)}")


# ----------------------------------------------------------------------------- fluid lstm op
def run_lstm_op(seed: int, hidden: int = 16, lengths=(9, 4, 1, 6)) -> float:
    os.environ["FLAGS_enable_pir_api"] = "0"  # the old static graph, where the op lives
    import paddle
    from paddle.base import core
    from paddle.base.layer_helper import LayerHelper

    paddle.enable_static()
    rng = np.random.default_rng(seed)
    gates_x = rng.normal(0.0, 1.0, (sum(lengths), 4 * hidden)).astype(np.float32)
    weight = rng.uniform(-0.5, 0.5, (hidden, 4 * hidden)).astype(np.float32)
    bias = rng.normal(0.0, 0.5, (1, 7 * hidden)).astype(np.float32)
    place, worst = paddle.CPUPlace(), 0.0
    for reverse in (False, True):
        main, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, startup):
            x = paddle.static.data("x", [-1, 4 * hidden], "float32", lod_level=1)
            w = paddle.static.create_parameter([hidden, 4 * hidden], "float32", name="w")
            b = paddle.static.create_parameter([1, 7 * hidden], "float32", name="b")
            helper = LayerHelper("lstm")
            outputs = {
                key: helper.create_variable_for_type_inference("float32")
                for key in ("Hidden", "Cell", "BatchGate", "BatchCellPreAct")
            }
            helper.append_op(
                type="lstm",
                inputs={"Input": x, "Weight": w, "Bias": b},
                outputs=outputs,
                attrs={
                    "use_peepholes": True,
                    "is_reverse": reverse,
                    "gate_activation": "sigmoid",
                    "cell_activation": "tanh",
                    "candidate_activation": "tanh",
                },
            )
        executor = paddle.static.Executor(place)
        executor.run(startup)
        scope = paddle.static.global_scope()
        scope.find_var("w").get_tensor().set(weight, place)
        scope.find_var("b").get_tensor().set(bias, place)
        feed = core.LoDTensor()
        feed.set(gates_x, place)
        feed.set_recursive_sequence_lengths([list(lengths)])
        (result,) = executor.run(main, feed={"x": feed}, fetch_list=[outputs["Hidden"]], return_numpy=False)
        gate_bias, peepholes = bias[0, : 4 * hidden], np.split(bias[0, 4 * hidden :], 3)
        starts = np.cumsum((0,) + tuple(lengths))
        expected = np.concatenate(
            [
                paddle_features.lstm_sequence(
                    gates_x[s:e] + gate_bias, weight, fluid=True, peepholes=peepholes, reverse=reverse
                )
                for s, e in zip(starts[:-1], starts[1:])
            ]
        )
        error = float(np.abs(np.array(result) - expected).max())
        print(
            f"fluid lstm op (peepholes, is_reverse={reverse}) vs lstm_sequence: max abs "
            f"difference {error:.2e} (outputs up to {np.abs(expected).max():.2f})"
        )
        worst = max(worst, error)
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    head = commands.add_parser("head", help="PaddleVideo 2.x AttentionLstmHead")
    head.add_argument("checkout", type=Path, help="a PaddleVideo 2.x checkout")
    head.add_argument("out", type=Path)
    commands.add_parser("lstm-op", help="fluid's lstm operator vs the numpy LSTM")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "head":
        run_head(args.checkout, args.out, args.seed)
        return 0
    return 0 if run_lstm_op(args.seed) < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
