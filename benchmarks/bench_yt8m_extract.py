"""Frames/s of YouTube-8M's RGB features: ours (PyTorch) vs Google's path (TensorFlow graph,
one frame per ``session.run`` as the starter extractor feeds it), on the same frames.

    PYTHONPATH=src python benchmarks/bench_yt8m_extract.py --graph classify_image_graph_def.pb \\
        [--frames 16] [--turns 3] [--size 240x320]

`--graph`: the 2015 GraphDef (or any with its node names, e.g. the random one
``tools/parity/youtube8m_features.py`` writes). Each turn times, one after the other on the same
random uint8 frames: ours at batch 1 and at batch `--frames` (preprocessing + Inception to
pool_3, BatchNorm folded and channels_last as ``YT8MRGBExtractor`` runs it), and, when
TensorFlow is importable, the TF graph frame by frame (``DecodeJpeg:0`` fed,
``pool_3/_reshape:0`` fetched). Printed: median frames/s per path over the turns.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", required=True, help="classify_image_graph_def.pb")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--size", default="240x320", help="frame height x width")
    args = parser.parse_args()
    from videozoo.extract import inception
    from videozoo.extract.graphdef import read_graphdef

    height, width = map(int, args.size.split("x"))
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, height, width, 3), np.uint8)
    data = Path(args.graph).read_bytes()
    ours = inception.from_graphdef(read_graphdef(data)).fold_batchnorm()
    ours = ours.to(memory_format=torch.channels_last)
    session = None
    try:
        import tensorflow as tf

        tf.compat.v1.disable_eager_execution()
        graph = tf.Graph()
        with graph.as_default():
            tf.import_graph_def(tf.compat.v1.GraphDef.FromString(data), name="")
        session = tf.compat.v1.Session(graph=graph)
    except ImportError:
        print("TensorFlow not installed: ours only")

    def run_ours(batch: int) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                images = inception.preprocess(torch.from_numpy(frames[i : i + batch]))
                ours(images.contiguous(memory_format=torch.channels_last))  # as the extractor
        return len(frames) / (time.perf_counter() - start)

    def run_tf() -> float:
        start = time.perf_counter()
        for frame in frames:
            session.run("pool_3/_reshape:0", {"DecodeJpeg:0": frame})
        return len(frames) / (time.perf_counter() - start)

    results: dict[str, list[float]] = {"ours, batch 1": [], f"ours, batch {args.frames}": []}
    if session is not None:
        results["TensorFlow graph, frame by frame"] = []
    for _ in range(args.turns):
        results["ours, batch 1"].append(run_ours(1))
        results[f"ours, batch {args.frames}"].append(run_ours(args.frames))
        if session is not None:
            results["TensorFlow graph, frame by frame"].append(run_tf())
    print(f"| path | frames/s (median of {args.turns}) |\n|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
