"""Parity of ``videozoo extract --features youtube8m`` with Google's own path (TensorFlow).

    PYTHONPATH=src:tests /work/peers/tf/venv/bin/python tools/parity/youtube8m_features.py \\
        [--workdir DIR] [--frames-per-video N]

Needs tensorflow-cpu, opencv-python-headless, pytorch-fid (and PyAV, torch) in that venv;
TensorFlow runs in TF1 graph mode (``tf.compat.v1``), as the starter extractor did.

0. Real encoded videos are written (H.264 with B-frames, 25 fps, 29.97 fps, a variable frame
   rate one, a phone video with a 90-degree display matrix; textured moving content).
1. A GraphDef with the 2015 graph's node names and ops (``DecodeJpeg`` -> ``Cast`` ->
   ``ExpandDims`` -> ``ResizeBilinear`` -> ``Sub`` -> ``Mul`` -> ``conv/Conv2D`` +
   ``conv/batchnorm`` (BatchNormWithGlobalNormalization) + ``Relu`` ... ``mixed_10/join`` ->
   ``pool_3`` -> ``pool_3/_reshape``), FULL size, random weights, is written as
   ``classify_image_graph_def.pb`` and executed by TensorFlow on real decoded frames fed as
   ``DecodeJpeg:0``; ours reads the same file and runs preprocessing + network. Printed:
   pool_3 relative max error = max|ours - tf| / max|tf| (target <= 1e-4).
2. The same random weights as a pytorch-fid ``pt_inception`` state dict, run by pytorch-fid's
   ``InceptionV3`` (FID blocks), against ours loaded from that state dict: max |difference|.
3. The whole RGB pipeline on the video files: the starter extractor's code path (OpenCV
   ``frame_iterator``, BGR->RGB, the TF graph, its PCA added to the graph, ``quantize`` with
   Python 2 ``round``), random PCA matrices in ``yt8m_pca.tgz``'s layout, against
   ``run_extract(features="youtube8m")`` reading the shards back: frames per video equal,
   share of identical uint8 values (target >= 99.9%), largest difference (target <= 1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]


def import_torchvision_models_only() -> None:
    """PyPI's torchvision wheels are built against CUDA torch; with the CPU torch pinned here
    their compiled ops do not load and ``import torchvision`` fails. pytorch-fid needs only the
    pure-Python ``torchvision.models``: register the package without running its __init__."""
    import importlib.util
    import types

    spec = importlib.util.find_spec("torchvision")
    package = types.ModuleType("torchvision")
    package.__path__ = list(spec.submodule_search_locations)
    from importlib.metadata import version

    package.__version__ = version("torchvision")  # pytorch-fid checks it
    sys.modules.setdefault("torchvision", package)


def write_videos(folder: Path) -> list[Path]:
    """Textured moving H.264 videos: (name, fps as a fraction, frame times or None, rotation)."""
    from fractions import Fraction

    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (120, 160, 3)).astype(np.float32)
    kernel = np.ones(9) / 9
    for axis in (0, 1):  # smooth texture, so that codecs keep detail and features vary
        base = np.apply_along_axis(lambda v: np.convolve(v, kernel, "same"), axis, base)
    cases = [
        ("pal25", Fraction(25), None, 0, 7.0),
        ("ntsc2997", Fraction(30000, 1001), None, 0, 6.5),
        ("vfr", Fraction(1000), np.cumsum(rng.uniform(0.02, 0.09, 120)), 0, None),
        ("phone", Fraction(30), None, 90, 4.2),
    ]
    paths = []
    for name, rate, times, rotation, seconds in cases:
        path = folder / f"{name}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
            stream.options = {"bf": "2", "g": "12"}
            if rotation:
                stream.set_display_rotation(rotation)
            count = len(times) if times is not None else int(seconds * float(rate))
            if times is not None:
                stream.time_base = Fraction(1, 1000)
            for i in range(count):
                shift = (3 * i) % 160
                image = np.roll(base, shift, axis=1)
                image[(2 * i) % 100 : (2 * i) % 100 + 20, 40:70] = (255, 40 + i % 200, 0)
                frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), "rgb24")
                if times is not None:
                    frame.pts, frame.time_base = int(times[i] * 1000), Fraction(1, 1000)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------ the TF graph (1)
def build_graphdef(state: dict) -> bytes:
    """The 2015 graph's nodes, built as NodeDefs so that every name is exactly the graph's."""
    import tensorflow as tf

    from videozoo.extract.inception import LAYOUT

    graph = tf.compat.v1.GraphDef()

    def node(name, op, inputs=(), **attrs):
        n = graph.node.add(name=name, op=op)
        n.input.extend(inputs)
        for key, value in attrs.items():
            n.attr[key].CopyFrom(value)
        return name

    def const(name, array, dtype=tf.float32):
        return node(
            name,
            "Const",
            dtype=tf.compat.v1.AttrValue(type=dtype.as_datatype_enum),
            value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(array, dtype)),
        )

    f32 = tf.compat.v1.AttrValue(type=tf.float32.as_datatype_enum)

    def ints(v):
        return tf.compat.v1.AttrValue(list=tf.compat.v1.AttrValue.ListValue(i=v))

    def text(v):
        return tf.compat.v1.AttrValue(s=v.encode())

    node("DecodeJpeg/contents", "Placeholder", dtype=tf.compat.v1.AttrValue(type=tf.string.as_datatype_enum))
    node("DecodeJpeg", "DecodeJpeg", ["DecodeJpeg/contents"], channels=tf.compat.v1.AttrValue(i=3))
    node(
        "Cast", "Cast", ["DecodeJpeg"], SrcT=tf.compat.v1.AttrValue(type=tf.uint8.as_datatype_enum), DstT=f32
    )
    const("ExpandDims/dim", np.int32(0), tf.int32)
    node(
        "ExpandDims",
        "ExpandDims",
        ["Cast", "ExpandDims/dim"],
        T=f32,
        Tdim=tf.compat.v1.AttrValue(type=tf.int32.as_datatype_enum),
    )
    const("ResizeBilinear/size", np.array([299, 299], np.int32), tf.int32)
    node(
        "ResizeBilinear",
        "ResizeBilinear",
        ["ExpandDims", "ResizeBilinear/size"],
        T=f32,
        align_corners=tf.compat.v1.AttrValue(b=False),
    )
    const("Sub/y", np.float32(128.0))
    node("Sub", "Sub", ["ResizeBilinear", "Sub/y"], T=f32)
    const("Mul/y", np.float32(1 / 128.0))
    x = node("Mul", "Mul", ["Sub", "Mul/y"], T=f32)

    def conv(scope, prefix, stride, same, inp):
        weight = state[f"{prefix}.conv.weight"].permute(2, 3, 1, 0).numpy()
        const(f"{scope}/conv2d_params", weight)
        node(
            f"{scope}/Conv2D",
            "Conv2D",
            [inp, f"{scope}/conv2d_params"],
            T=f32,
            strides=ints([1, stride, stride, 1]),
            padding=text("SAME" if same else "VALID"),
            data_format=text("NHWC"),
        )
        for tf_name, pt_name in (
            ("moving_mean", "running_mean"),
            ("moving_variance", "running_var"),
            ("beta", "bias"),
            ("gamma", "weight"),
        ):
            const(f"{scope}/batchnorm/{tf_name}", state[f"{prefix}.bn.{pt_name}"].numpy())
        node(
            f"{scope}/batchnorm",
            "BatchNormWithGlobalNormalization",
            [f"{scope}/Conv2D"]
            + [f"{scope}/batchnorm/{n}" for n in ("moving_mean", "moving_variance", "beta", "gamma")],
            T=f32,
            variance_epsilon=tf.compat.v1.AttrValue(f=0.001),
            scale_after_normalization=tf.compat.v1.AttrValue(b=True),
        )
        return node(scope, "Relu", [f"{scope}/batchnorm"], T=f32)

    def pool(name, kind, k, s, same, inp):
        return node(
            name,
            "AvgPool" if kind == "avg" else "MaxPool",
            [inp],
            T=f32,
            ksize=ints([1, k, k, 1]),
            strides=ints([1, s, s, 1]),
            padding=text("SAME" if same else "VALID"),
            data_format=text("NHWC"),
        )

    def concat(name, inputs):
        const(f"{name}/concat_dim", np.int32(3), tf.int32)
        return node(
            name, "Concat", [f"{name}/concat_dim", *inputs], T=f32, N=tf.compat.v1.AttrValue(i=len(inputs))
        )

    pools = iter(["pool", "pool_1"])
    for tf_block, pt_block, layout in LAYOUT:
        outs = []
        for branch in layout:
            y = x
            for op in branch:
                if op[0] in ("avg", "max"):
                    name = (
                        next(pools)
                        if not tf_block
                        else (f"{tf_block}/pool" if len(branch) == 1 else f"{tf_block}/tower_2/pool")
                    )
                    y = pool(name, *op, y)
                elif op[0] == "split":
                    parts = [conv(f"{tf_block}/{c[0]}", f"{pt_block}.{c[1]}", c[2], c[3], y) for c in op[1]]
                    y = concat(f"{tf_block}/{op[1][0][0].rsplit('/', 1)[0]}/join", parts)
                else:
                    scope = f"{tf_block}/{op[0]}" if tf_block else op[0]
                    y = conv(scope, f"{pt_block}.{op[1]}" if pt_block else op[1], op[2], op[3], y)
            outs.append(y)
        x = concat(f"{tf_block}/join", outs) if len(outs) > 1 else outs[0]
    x = pool("pool_3", "avg", 8, 1, False, x)
    const("pool_3/_reshape/shape", np.array([1, 2048], np.int32), tf.int32)
    node(
        "pool_3/_reshape",
        "Reshape",
        [x, "pool_3/_reshape/shape"],
        T=f32,
        Tshape=tf.compat.v1.AttrValue(type=tf.int32.as_datatype_enum),
    )
    return graph.SerializeToString()


def full_size_state(seed: int = 0) -> dict:
    """Random weights at the published sizes, pytorch-fid names (torchvision's shapes)."""
    import torch
    from torchvision.models import inception_v3
    from yt8m_support import random_state_dict

    real = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008).state_dict()
    state = random_state_dict(
        0,
        seed,
        shapes={
            k[: -len(".conv.weight")]: tuple(v.shape) for k, v in real.items() if k.endswith(".conv.weight")
        },
    )
    gen = torch.Generator().manual_seed(seed + 1)
    state["fc.weight"] = 0.01 * torch.randn(1008, 2048, generator=gen)
    state["fc.bias"] = torch.zeros(1008)
    return state


def tf_session(graph_bytes: bytes, pca: dict | None = None):
    """A TF1 session of the graph; with `pca`, the starter's PCA ops added as it adds them."""
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    graph_def = tf.compat.v1.GraphDef.FromString(graph_bytes)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
        if pca is not None:
            feats = graph.get_tensor_by_name("pool_3/_reshape:0")[0] - tf.constant(pca["mean"][:, 0])
            vecs = tf.constant(pca["eigenvecs"].T[:, :1024])
            feats = tf.reshape(tf.matmul(tf.reshape(feats, [1, 2048]), vecs), [1024])
            tf.divide(
                feats, tf.sqrt(tf.constant(pca["eigenvals"][:1024, 0]) + 1e-4), name="pca_final_feature"
            )
    return tf.compat.v1.Session(graph=graph)


def starter_frames(path: Path, every_ms=1000, max_num_frames=300):
    """The starter extractor's ``frame_iterator`` (OpenCV), yielding BGR frames."""
    import cv2

    capture = cv2.VideoCapture()
    if not capture.open(str(path)):
        return
    last_ts, retrieved = -99999, 0
    while retrieved < max_num_frames:
        while capture.get(cv2.CAP_PROP_POS_MSEC) < every_ms + last_ts:
            if not capture.read()[0]:
                return
        last_ts = capture.get(cv2.CAP_PROP_POS_MSEC)
        ok, frame = capture.read()
        if not ok:
            break
        yield frame
        retrieved += 1


def starter_quantize(features):
    """The starter's ``quantize``: clip, scale in float32, Python 2 ``round`` (half up here,
    all values being >= 0)."""
    features = np.clip(features, -2.0, 2.0)
    features = (features - np.float32(-2.0)) * np.float32(255.0 / 4.0)
    return np.array([int(np.floor(float(f) + 0.5)) for f in features], np.uint8)


def write_audio_video(path: Path, seconds: float = 6.5, rate: int = 44100) -> None:
    """A video with a real AAC track at 44.1 kHz: a chirp, a chord and noise bursts."""
    import av

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(1)
    wave = (
        0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)
        + 0.2 * np.sin(2 * np.pi * 440 * t) * (t % 2 < 1)
        + 0.1 * rng.normal(size=t.size) * (t % 1.5 < 0.3)
    )
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=rate, layout="mono")
        for i in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 3 % 255, np.uint8), "rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        samples = wave.astype(np.float32)
        for start in range(0, samples.size, 1024):
            chunk = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="fltp", layout="mono"
            )
            chunk.sample_rate, chunk.pts = rate, start
            for packet in audio.encode(chunk):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream at its own rate, float mono."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().mean(0) for frame in container.decode(stream)]
        return np.concatenate(chunks).astype(np.float64), stream.rate


def check_vggish(work: Path) -> None:
    """(4) VGGish front end and network vs torchvggish (AudioSet's mel_features and
    vggish_input inside it) on a real AAC track, random full-size weights."""
    import torch
    import torchvggish
    from torchvggish import mel_features, vggish_params

    from videozoo.extract import vggish

    path = work / "audio.mp4"
    write_audio_video(path)
    native, rate = decode_audio(path)
    ref_examples = torchvggish.waveform_to_examples(native, rate, return_tensor=False)
    import resampy

    samples = resampy.resample(native, rate, 16000)  # AudioSet's resampling, fed to both
    ref_mel = mel_features.log_mel_spectrogram(
        samples,
        audio_sample_rate=16000,
        log_offset=vggish_params.LOG_OFFSET,
        window_length_secs=vggish_params.STFT_WINDOW_LENGTH_SECONDS,
        hop_length_secs=vggish_params.STFT_HOP_LENGTH_SECONDS,
        num_mel_bins=vggish_params.NUM_MEL_BINS,
        lower_edge_hertz=vggish_params.MEL_MIN_HZ,
        upper_edge_hertz=vggish_params.MEL_MAX_HZ,
    )
    ours_mel = vggish.log_mel(samples)
    mel_err = float(np.abs(ours_mel - ref_mel).max() / np.abs(ref_mel).max())
    torch.manual_seed(0)
    ref_net = torchvggish.torchvggish._vgg(postprocess=False).eval()
    ours_net = vggish.VGGish()
    ours_net.load_state_dict(ref_net.state_dict())
    ours_net.eval()
    batch = torch.from_numpy(ref_examples).float()[:, None]
    with torch.inference_mode():
        ref_emb, ours_emb = ref_net(batch), ours_net(batch)
    net_err = float((ours_emb - ref_emb).abs().max() / ref_emb.abs().max())
    rng = np.random.default_rng(2)
    pca = vggish.VGGishPCA(rng.normal(size=128) * 0.1, np.linalg.qr(rng.normal(size=(128, 128)))[0])
    ref_pca = (pca.eigen_vectors @ (ref_emb.numpy().T.astype(np.float64) - pca.means[:, None])).T
    pca_err = float(np.abs(pca.transform(ours_emb.numpy()) - ref_pca).max() / np.abs(ref_pca).max())
    # our own decoding (libswresample to 16 kHz) vs resampy, through the same front end
    from videozoo.extract.audio import read_audio

    ours_samples = read_audio(path, 7)[: len(samples)]
    ours_samples_mel = vggish.log_mel(ours_samples)
    n = min(len(ours_samples_mel), len(ref_mel))
    resample_err = float(np.abs(ours_samples_mel[:n] - ref_mel[:n]).max())
    print(
        f"(4) VGGish on a real AAC track ({len(samples) / 16000:.1f} s, {len(ref_examples)} "
        f"examples): log-mel relative max error {mel_err:.2e}, embeddings {net_err:.2e}, "
        f"after PCA {pca_err:.2e} (target <= 1e-4); libswresample instead of resampy moves "
        f"log-mel values by up to {resample_err:.3f} (of max {np.abs(ref_mel).max():.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    parser.add_argument("--checks", default="1234", help="which checks to run (default: 1234)")
    parser.add_argument(
        "--frames-per-video", type=int, default=3, help="frames of each video for checks 1 and 2"
    )
    args = parser.parse_args()
    import_torchvision_models_only()
    import torch
    from pytorch_fid import inception as fid
    from yt8m_support import write_pca_tgz

    from videozoo.data.tfrecord import iter_records
    from videozoo.data.youtube8m_records import parse_frame_example
    from videozoo.extract import inception, yt8m_rgb
    from videozoo.extract.graphdef import read_graphdef
    from videozoo.extract.run import run_extract

    torch.set_num_threads(2)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="yt8m-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    videos = write_videos(work)
    state = full_size_state()
    graph_path = work / "classify_image_graph_def.pb"
    graph_path.write_bytes(build_graphdef(state))
    torch.save(state, work / "pt_inception-random.pth")
    print(f"files in {work}: {', '.join(p.name for p in sorted(work.iterdir()))}")

    # (1) TF graph vs ours from the same GraphDef, on real decoded frames
    session = tf_session(graph_path.read_bytes())
    ours = inception.from_graphdef(read_graphdef(graph_path.read_bytes()))
    worst, frames_seen = 0.0, []
    for path in videos:
        frames = yt8m_rgb.read_frames(path)[: args.frames_per_video]
        frames_seen.append(frames)
        for frame in [] if "1" not in args.checks else frames:
            ref = session.run("pool_3/_reshape:0", {"DecodeJpeg:0": frame})[0]
            with torch.inference_mode():
                got = ours(inception.preprocess(torch.from_numpy(frame[None])))[0].numpy()
            worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
    if not "1" not in args.checks:
        print(
            f"(1) pool_3, TF graph vs ours (GraphDef), {sum(map(len, frames_seen))} frames of "
            f"{len(videos)} videos: relative max error {worst:.2e} (target <= 1e-4)"
        )

    if "4" in args.checks:
        check_vggish(work)
    if "2" not in args.checks and "3" not in args.checks:
        return 0

    # (2) pytorch-fid's architecture with the same weights
    fid.load_state_dict_from_url = lambda *a, **k: state
    fid_model = fid.InceptionV3(
        [fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]],
        resize_input=False,
        normalize_input=False,
        use_fid_inception=True,
    ).eval()
    ours_pth = inception.from_pt_inception(state)
    batch = torch.cat([inception.preprocess(torch.from_numpy(f)) for f in frames_seen])
    with torch.inference_mode():
        a = fid_model(batch)[0].flatten(1)
        b = ours_pth(batch)
        c = ours(batch)
    print(
        f"(2) pytorch-fid InceptionV3 vs ours (state dict): max |diff| "
        f"{float((a - b).abs().max()):.3e}; ours from GraphDef vs from state dict: "
        f"{float((b - c).abs().max()):.3e}; max |pool_3| {float(a.abs().max()):.3f}"
    )

    if "3" not in args.checks:
        return 0
    # (3) the whole RGB pipeline vs the starter extractor's code path
    pca = write_pca_tgz(work / "yt8m_pca.tgz", 2048, components=2048)
    pca_session = tf_session(graph_path.read_bytes(), pca)
    start = time.perf_counter()
    reference = {}
    for path in videos:
        rows = [
            starter_quantize(pca_session.run("pca_final_feature:0", {"DecodeJpeg:0": bgr[:, :, ::-1]}))
            for bgr in starter_frames(path)
        ]
        reference[path.stem] = np.stack(rows)
    tf_seconds = time.perf_counter() - start
    start = time.perf_counter()
    summary = run_extract(
        [str(p) for p in videos],
        str(work / "shards"),
        features="youtube8m",
        inception=str(graph_path),
        pca=str(work / "yt8m_pca.tgz"),
        progress=False,
        overwrite=True,
    )
    our_seconds = time.perf_counter() - start
    got = {}
    for shard in summary["shards"]:
        for record in iter_records(shard):
            example = parse_frame_example(record)
            got[example.video_id] = example.rgb
    total = same = 0
    largest = 0
    for name, ref in reference.items():
        ours_rgb = got[name]
        print(f"    {name}: {len(ref)} frames (starter) vs {len(ours_rgb)} (ours)")
        if ours_rgb.shape != ref.shape:
            continue
        diff = np.abs(ours_rgb.astype(int) - ref.astype(int))
        total, same, largest = total + diff.size, same + int((diff == 0).sum()), max(largest, int(diff.max()))
    frames = sum(len(r) for r in reference.values())
    print(
        f"(3) uint8 rgb, starter path vs ours, {frames} frames: identical {same / max(total, 1):.5%} "
        f"of {total} values, largest difference {largest} (targets >= 99.9%, <= 1); "
        f"time {tf_seconds:.1f} s (TF, frame by frame) vs {our_seconds:.1f} s (ours, batched)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
