"""Fixtures of the ``--features youtube8m`` tests, in the published layouts, written here:

* ``write_graphdef(path, width)``: a GraphDef with the node names, ops and attrs of
  ``classify_image_graph_def.pb`` (Const ``*/conv2d_params`` [kh, kw, in, out] and
  ``*/batchnorm/*``, ``*/Conv2D`` with strides and padding, ``*/batchnorm``
  BatchNormWithGlobalNormalization), every conv `width` channels wide (the real network's
  kernel sizes); returns the weights as pytorch-fid names them (a ``pt_inception`` state dict).
* ``write_pca_tgz(path, dims)``: ``yt8m_pca.tgz`` with mean.npy [D, 1], eigenvecs.npy [K, D],
  eigenvals.npy [K, 1].
* ``write_vfr_video``: an H.264 mp4 whose frames come at uneven times.
"""

import io
import struct
import tarfile
from fractions import Fraction

import av
import numpy as np
import torch
from extract_support import mux_mono_audio

from videozoo.data.protobuf_wire import encode_varint
from videozoo.extract.inception import LAYOUT, conv_specs

# kernel sizes of the real network (pytorch-fid / torchvision names)
KERNELS = {
    "Conv2d_1a_3x3": (3, 3),
    "Conv2d_2a_3x3": (3, 3),
    "Conv2d_2b_3x3": (3, 3),
    "Conv2d_3b_1x1": (1, 1),
    "Conv2d_4a_3x3": (3, 3),
}
_BRANCH_KERNELS = {
    "branch1x1": (1, 1),
    "branch5x5_1": (1, 1),
    "branch5x5_2": (5, 5),
    "branch3x3dbl_1": (1, 1),
    "branch3x3dbl_2": (3, 3),
    "branch3x3dbl_3": (3, 3),
    "branch_pool": (1, 1),
    "branch3x3": (3, 3),
    "branch7x7_1": (1, 1),
    "branch7x7_2": (1, 7),
    "branch7x7_3": (7, 1),
    "branch7x7dbl_1": (1, 1),
    "branch7x7dbl_2": (7, 1),
    "branch7x7dbl_3": (1, 7),
    "branch7x7dbl_4": (7, 1),
    "branch7x7dbl_5": (1, 7),
    "branch3x3_1": (1, 1),
    "branch3x3_2": (3, 3),
    "branch7x7x3_1": (1, 1),
    "branch7x7x3_2": (1, 7),
    "branch7x7x3_3": (7, 1),
    "branch7x7x3_4": (3, 3),
    "branch3x3_2a": (1, 3),
    "branch3x3_2b": (3, 1),
    "branch3x3dbl_3a": (1, 3),
    "branch3x3dbl_3b": (3, 1),
}


def kernel(prefix: str) -> tuple[int, int]:
    return KERNELS.get(prefix) or _BRANCH_KERNELS[prefix.split(".")[1]]


def conv_shapes(width: int) -> dict[str, tuple[int, int, int, int]]:
    """{pytorch-fid prefix: (out, in, kh, kw)} with every conv `width` wide, channels chained
    through the blocks as the network concatenates them."""
    shapes, channels = {}, 3
    for _, pt_block, layout in LAYOUT:
        outs = []
        for branch in layout:
            c = channels
            for op in branch:
                convs = op[1] if op[0] == "split" else [] if op[0] in ("avg", "max") else [op]
                for conv in convs:
                    prefix = f"{pt_block}.{conv[1]}" if pt_block else conv[1]
                    shapes[prefix] = (width, c, *kernel(prefix))
                if convs:
                    c = width * len(convs)
            outs.append(c)
        channels = sum(outs) if len(layout) > 1 else outs[0]
    return shapes


def random_state_dict(width: int, seed: int = 0, shapes: dict | None = None) -> dict:
    """Random pytorch-fid-named weights (torch tensors) of a `width`-wide network, or of the
    conv `shapes` given (BN statistics sensible)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for prefix, shape in (shapes or conv_shapes(width)).items():
        fan_in = shape[1] * shape[2] * shape[3]
        state[f"{prefix}.conv.weight"] = torch.randn(shape, generator=gen) * (2 / fan_in) ** 0.5
        state[f"{prefix}.bn.weight"] = 0.5 + torch.rand(shape[0], generator=gen)
        state[f"{prefix}.bn.bias"] = 0.1 * torch.randn(shape[0], generator=gen)
        state[f"{prefix}.bn.running_mean"] = 0.1 * torch.randn(shape[0], generator=gen)
        state[f"{prefix}.bn.running_var"] = 0.5 + torch.rand(shape[0], generator=gen)
    return state


def _field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def _tensor(array: np.ndarray) -> bytes:
    shape = b"".join(_field(2, encode_varint(1 << 3) + encode_varint(d)) for d in array.shape)
    return (
        encode_varint(1 << 3)
        + encode_varint(1)
        + _field(2, shape)
        + _field(4, np.ascontiguousarray(array, np.float32).tobytes())
    )


def _attr(key: str, value: bytes) -> bytes:
    return _field(5, _field(1, key.encode()) + _field(2, value))


def _node(name: str, op: str, inputs=(), attrs=b"") -> bytes:
    body = _field(1, name.encode()) + _field(2, op.encode())
    body += b"".join(_field(3, i.encode()) for i in inputs)
    return _field(1, body + attrs)


def graphdef_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A GraphDef with the 2015 graph's names for the weights in `state` (pytorch-fid names)."""
    out = [_node("Mul/y", "Const", attrs=_attr("value", _field(8, _tensor(np.float32(1 / 128)))))]
    for scope, prefix, stride, same in conv_specs():
        weight = state[f"{prefix}.conv.weight"].permute(2, 3, 1, 0).numpy()
        out.append(_node(f"{scope}/conv2d_params", "Const", attrs=_attr("value", _field(8, _tensor(weight)))))
        strides = _field(1, _field(3, b"".join(encode_varint(s) for s in (1, stride, stride, 1))))
        out.append(
            _node(
                f"{scope}/Conv2D",
                "Conv2D",
                [f"{scope}/conv2d_params"],
                _attr("strides", strides) + _attr("padding", _field(2, b"SAME" if same else b"VALID")),
            )
        )
        for tf_name, pt_name in (
            ("beta", "bias"),
            ("gamma", "weight"),
            ("moving_mean", "running_mean"),
            ("moving_variance", "running_var"),
        ):
            out.append(
                _node(
                    f"{scope}/batchnorm/{tf_name}",
                    "Const",
                    attrs=_attr("value", _field(8, _tensor(state[f"{prefix}.bn.{pt_name}"].numpy()))),
                )
            )
        eps = encode_varint(4 << 3 | 5) + struct.pack("<f", 1e-3)
        scale = encode_varint(5 << 3) + encode_varint(1)
        out.append(
            _node(
                f"{scope}/batchnorm",
                "BatchNormWithGlobalNormalization",
                attrs=_attr("variance_epsilon", eps) + _attr("scale_after_normalization", scale),
            )
        )
    return b"".join(out)


def write_graphdef(path, width: int = 4, seed: int = 0, tgz: bool = False) -> dict:
    """Write the small graph (as ``classify_image_graph_def.pb``, or inside a tgz as
    ``inception-2015-12-05.tgz`` holds it); returns its weights by pytorch-fid names."""
    state = random_state_dict(width, seed)
    data = graphdef_bytes(state)
    if tgz:
        with tarfile.open(path, "w:gz") as archive:
            info = tarfile.TarInfo("classify_image_graph_def.pb")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    else:
        with open(path, "wb") as f:
            f.write(data)
    return state


def pool3_width(width: int) -> int:
    """Width of pool_3 for a `width`-wide network: the last block's concatenation."""
    return 6 * width


def write_pca_tgz(path, dims: int, components: int | None = None, seed: int = 0) -> dict:
    """``yt8m_pca.tgz`` for `dims`-d features (components = dims by default)."""
    rng = np.random.default_rng(seed)
    components = components or dims
    arrays = {
        "mean.npy": rng.normal(size=(dims, 1)).astype(np.float32),
        "eigenvecs.npy": np.linalg.qr(rng.normal(size=(dims, dims)))[0][:components].astype(np.float32),
        "eigenvals.npy": rng.uniform(0.01, 1.0, size=(components, 1)).astype(np.float32),
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            info = tarfile.TarInfo(name)
            info.size = buffer.tell()
            buffer.seek(0)
            archive.addfile(info, buffer)
    return {name.split(".")[0]: array for name, array in arrays.items()}


def write_timed_video(path, times_s, size=(32, 48), rotation=0, tone_s: float = 0.0):
    """An H.264 mp4 with one frame at each time in `times_s` (variable frame rate when they
    are uneven), frame i filled with grey level 5 * i (i < 50); optional display `rotation`
    and an AAC tone of `tone_s` seconds."""
    height, width = size
    with av.open(str(path), "w") as container:
        gaps = np.diff(times_s) if len(times_s) > 1 else [1.0]
        stream = container.add_stream("libx264", rate=max(1, round(1 / min(gaps))))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        audio = container.add_stream("aac", rate=16000, layout="mono") if tone_s else None
        for i, t in enumerate(times_s):
            frame = av.VideoFrame.from_ndarray(
                np.full((height, width, 3), min(5 * i, 250), np.uint8), format="rgb24"
            )
            frame.pts = int(round(t * 1000))
            frame.time_base = Fraction(1, 1000)  # the muxer may change the stream's
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None:
            wave = (0.3 * np.sin(np.arange(int(tone_s * 16000)) * 0.2)).astype(np.float32)
            mux_mono_audio(container, audio, wave)
