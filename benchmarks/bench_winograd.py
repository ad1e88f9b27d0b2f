"""Would Winograd convolutions buy the last 1.5x on a CPU without AVX512? An upper bound.

oneDNN (PyTorch's CPU convolutions) runs 3x3 convolutions with Winograd only on AVX512; on
AVX2 it computes them directly, and the fast path already runs TSM-R50's forward at ~0.94 of
the matmul peak (``bench_roofline.py``). Winograd F(2x2, 3x3) needs 16 multiplies per 2x2
output tile instead of 36 (2.25x fewer) but adds input and output transforms that pass over
~4x the activations. This benchmark writes F(2x2, 3x3) in PyTorch ops (channels-last, one
batched matmul per tile position) and times it against the direct convolution at every
stride-1 3x3 shape of the model, in turns in one run, and prints the model's forward with
each such convolution replaced by the faster of the two: an upper bound, since the fast
path's direct convolutions also carry the folded BatchNorm's bias and the fused ReLU/add,
which Winograd would pay for in extra passes.

    python benchmarks/bench_winograd.py [--model tsm] [--turns 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from harness import timed_rounds

HERE = Path(__file__).resolve().parent

# F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A (Lavin & Gray, 2016)
WEIGHT_MATRIX = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """[K, C, 3, 3] -> [16, C, K]: the transformed kernel, one C x K matrix per tile position."""
    out_ch, in_ch = weight.shape[:2]
    transformed = WEIGHT_MATRIX @ weight @ WEIGHT_MATRIX.T  # [K, C, 4, 4]
    return transformed.permute(2, 3, 1, 0).reshape(16, in_ch, out_ch).contiguous()


def _input_transform(x: torch.Tensor, dim: int) -> list[torch.Tensor]:
    """B^T along `dim` for 4-wide tiles at stride 2: the 4 transformed rows of every tile."""
    tiles = (x.shape[dim] - 2) // 2
    every_other = (slice(None),) * dim + (slice(None, None, 2),)
    d0, d1, d2, d3 = (x.narrow(dim, k, 2 * tiles - 1)[every_other] for k in range(4))
    return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _output_transform(m: list[torch.Tensor]) -> list[torch.Tensor]:
    """A^T over the 4 tile positions of one axis: 2 outputs."""
    return [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]


def winograd_conv3x3(x: torch.Tensor, weight16: torch.Tensor) -> torch.Tensor:
    """3x3 convolution, stride 1, padding 1, no bias: x [N, H, W, C] -> [N, H, W, K].

    `weight16` from `winograd_weight`. Odd H or W are padded by one zero row/column at the end
    (the extra output row/column is cut off: it never reaches the kept outputs).
    """
    n, height, width, channels = x.shape
    pad_h, pad_w = height % 2, width % 2
    padded = F.pad(x, (0, 0, 1, 1 + pad_w, 1, 1 + pad_h))
    tiles_h, tiles_w = (height + pad_h) // 2, (width + pad_w) // 2
    v = torch.stack([col for row in _input_transform(padded, 1) for col in _input_transform(row, 2)])
    m = torch.bmm(v.reshape(16, -1, channels), weight16).view(4, 4, n, tiles_h, tiles_w, -1)
    rows = _output_transform(list(m))
    y = torch.stack([torch.stack(_output_transform(list(row))) for row in rows])  # [2, 2, N, h, w, K]
    y = y.permute(2, 3, 0, 4, 1, 5).reshape(n, 2 * tiles_h, 2 * tiles_w, -1)
    return y[:, :height, :width]


def winograd_shapes(model: torch.nn.Module, batch: dict) -> Counter:
    """(N, C, H, W, K) -> how many stride-1, padding-1, dense 3x3 convolutions see that shape."""
    shapes: Counter = Counter()

    def record(conv, inputs, _output):
        shapes[(*inputs[0].shape, conv.out_channels)] += 1

    hooks = [
        conv.register_forward_hook(record)
        for conv in model.modules()
        if isinstance(conv, torch.nn.Conv2d)
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    ]
    with torch.inference_mode():
        model(batch)
    for hook in hooks:
        hook.remove()
    return shapes


def _median_seconds(contenders: dict, turns: int) -> dict[str, float]:
    """Median seconds per call of each contender, timed in alternating turns after a warm-up."""
    seconds = timed_rounds(contenders, warmup=1, rounds=turns, alternate=True)
    return {label: float(np.median(values)) for label, values in seconds.items()}


def compare_shape(shape: tuple, turns: int) -> dict:
    """Direct vs Winograd at one shape: median seconds and the largest error relative to the
    largest direct output."""
    n, channels, height, width, out_ch = shape
    torch.manual_seed(0)
    x = torch.randn(n, channels, height, width).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(out_ch, channels, 3, 3) / (3 * channels**0.5)
    weight16, x_nhwc = winograd_weight(weight), x.permute(0, 2, 3, 1)
    with torch.inference_mode():
        direct = F.conv2d(x, weight, padding=1)
        error = (winograd_conv3x3(x_nhwc, weight16).permute(0, 3, 1, 2) - direct).abs().max()
        seconds = _median_seconds(
            {
                "direct_s": lambda: F.conv2d(x, weight, padding=1),
                "winograd_s": lambda: winograd_conv3x3(x_nhwc, weight16),
            },
            turns,
        )
    return {**seconds, "rel_error": float(error / direct.abs().max())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tsm")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "winograd.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from videozoo.engine.inference import prepare_inference
    from videozoo.registry import create_model

    torch.manual_seed(0)
    model = create_model(args.model).eval()
    batch = model.default_input(batch_size=1)
    shapes = winograd_shapes(model, batch)
    fast = prepare_inference(copy.deepcopy(model), torch.device("cpu")).model
    with torch.inference_mode():
        forward_s = _median_seconds({"forward": lambda: fast(batch)}, args.turns)["forward"]
    rows, saved = [], 0.0
    for shape, count in shapes.items():
        row = {"shape_nchw_k": list(shape), "count": count, **compare_shape(shape, args.turns)}
        saved += count * max(0.0, row["direct_s"] - row["winograd_s"])
        rows.append(row)
        print(
            f"N,C,H,W={shape[:4]} K={shape[4]} x{count}: direct {row['direct_s'] * 1e3:6.1f} ms, "
            f"winograd {row['winograd_s'] * 1e3:6.1f} ms, speed-up "
            f"{row['direct_s'] / row['winograd_s']:.2f}, rel error {row['rel_error']:.1e}",
            flush=True,
        )
    bound = forward_s - saved
    print(
        f"{args.model} forward (fast path, {args.threads} threads) {forward_s:.3f} s; with Winograd "
        f"wherever it wins at most {bound:.3f} s saved {saved:.3f} s: forward speed-up <= "
        f"{forward_s / bound:.2f}x"
    )
    result = {"model": args.model, "threads": args.threads, "forward_s": forward_s, "bound_s": bound}
    result["rows"] = rows
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
