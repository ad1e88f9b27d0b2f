"""The Inception-v3 of TensorFlow's ``inception-2015-12-05`` graph (YouTube-8M's frame
feature network) in PyTorch, up to ``pool_3/_reshape`` (2048-d).

* ``InceptionPool3(sizes)``: the network; module names are pytorch-fid's
  (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_mean``, ...), so its
  ``pt_inception-2015-12-05-*.pth`` state dict loads as is. ``forward(x)``: float32
  ``[N, 3, 299, 299]`` already preprocessed -> ``[N, 2048]``.
* ``from_graphdef(nodes)``: the same network filled from the GraphDef's Const tensors by node
  name (``LAYOUT`` maps each TF scope to its module); every channel count comes from the
  tensors' shapes, so a graph with the real node names and fewer channels works too (tests).
  Conv strides and paddings, BatchNorm epsilon and ``scale_after_normalization`` are read from
  the graph and checked against the architecture.
* ``from_pt_inception(state_dict)``: from pytorch-fid's state dict.
* ``preprocess(frames, mean, scale)``: the graph's own input path: uint8 RGB ``[N, H, W, 3]``
  -> float -> ``tf1_resize_bilinear`` to 299x299 (TF1 ``ResizeBilinear``:
  ``align_corners=False`` and NO half-pixel centres: source = dest * in/out) -> ``(x - 128) *
  (1/128)`` -> ``[N, 3, 299, 299]``.

Where this differs from torchvision's Inception3, as the 2015 graph does (and pytorch-fid's
FID variants): the 3x3 average pools of the A, C and first E blocks exclude padding from their
count, and the last E block (``mixed_10``, ``Mixed_7c``) pools its branch with a max pool.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from videozoo.errors import DataError

INPUT_SIZE = 299
PROBE_SIZE = 75  # the smallest input the stride-2 VALID layers leave a 1x1 map for
FEATURES = 2048


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm + ReLU, named as pytorch-fid's ``BasicConv2d``."""

    def __init__(
        self, cin: int, cout: int, kernel: tuple[int, int], stride: int, same: bool, eps: float = 1e-3
    ):
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2) if same else 0
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=eps)  # nn.Identity once folded

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)

    @torch.no_grad()
    def fold_batchnorm(self) -> None:
        """Fold the (inference) BatchNorm into the conv's weight and bias: one pass over the
        activations instead of two (outputs move by float rounding, ~1e-6 relative)."""
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm2d):  # folded already
            return
        assert bn.running_var is not None and bn.running_mean is not None  # always tracked here
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded = copy.deepcopy(self.conv)
        folded.weight.mul_(scale[:, None, None, None])
        folded.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
        self.conv, self.bn = folded, nn.Identity()


# One conv: (TF scope inside its block, pytorch-fid name, stride, SAME padding?)
# A branch: a list of convs or pools, optionally ending in ("split", [conv, conv]) whose two
# outputs are concatenated. Pools: ("avg" | "max", kernel, stride, SAME?).
_A = [
    [("conv", "branch1x1", 1, True)],
    [("tower/conv", "branch5x5_1", 1, True), ("tower/conv_1", "branch5x5_2", 1, True)],
    [
        ("tower_1/conv", "branch3x3dbl_1", 1, True),
        ("tower_1/conv_1", "branch3x3dbl_2", 1, True),
        ("tower_1/conv_2", "branch3x3dbl_3", 1, True),
    ],
    [("avg", 3, 1, True), ("tower_2/conv", "branch_pool", 1, True)],
]
_B = [
    [("conv", "branch3x3", 2, False)],
    [
        ("tower/conv", "branch3x3dbl_1", 1, True),
        ("tower/conv_1", "branch3x3dbl_2", 1, True),
        ("tower/conv_2", "branch3x3dbl_3", 2, False),
    ],
    [("max", 3, 2, False)],
]
_C = [
    [("conv", "branch1x1", 1, True)],
    [
        ("tower/conv", "branch7x7_1", 1, True),
        ("tower/conv_1", "branch7x7_2", 1, True),
        ("tower/conv_2", "branch7x7_3", 1, True),
    ],
    [
        ("tower_1/conv", "branch7x7dbl_1", 1, True),
        ("tower_1/conv_1", "branch7x7dbl_2", 1, True),
        ("tower_1/conv_2", "branch7x7dbl_3", 1, True),
        ("tower_1/conv_3", "branch7x7dbl_4", 1, True),
        ("tower_1/conv_4", "branch7x7dbl_5", 1, True),
    ],
    [("avg", 3, 1, True), ("tower_2/conv", "branch_pool", 1, True)],
]
_D = [
    [("tower/conv", "branch3x3_1", 1, True), ("tower/conv_1", "branch3x3_2", 2, False)],
    [
        ("tower_1/conv", "branch7x7x3_1", 1, True),
        ("tower_1/conv_1", "branch7x7x3_2", 1, True),
        ("tower_1/conv_2", "branch7x7x3_3", 1, True),
        ("tower_1/conv_3", "branch7x7x3_4", 2, False),
    ],
    [("max", 3, 2, False)],
]


def _e_block(pool: str):
    return [
        [("conv", "branch1x1", 1, True)],
        [
            ("tower/conv", "branch3x3_1", 1, True),
            (
                "split",
                [
                    ("tower/mixed/conv", "branch3x3_2a", 1, True),
                    ("tower/mixed/conv_1", "branch3x3_2b", 1, True),
                ],
            ),
        ],
        [
            ("tower_1/conv", "branch3x3dbl_1", 1, True),
            ("tower_1/conv_1", "branch3x3dbl_2", 1, True),
            (
                "split",
                [
                    ("tower_1/mixed/conv", "branch3x3dbl_3a", 1, True),
                    ("tower_1/mixed/conv_1", "branch3x3dbl_3b", 1, True),
                ],
            ),
        ],
        [(pool, 3, 1, True), ("tower_2/conv", "branch_pool", 1, True)],
    ]


#: (TF scope, pytorch-fid name, layout): the stem is a block of one branch
LAYOUT = [
    (
        "",
        "",
        [
            [
                ("conv", "Conv2d_1a_3x3", 2, False),
                ("conv_1", "Conv2d_2a_3x3", 1, False),
                ("conv_2", "Conv2d_2b_3x3", 1, True),
                ("max", 3, 2, False),
                ("conv_3", "Conv2d_3b_1x1", 1, False),
                ("conv_4", "Conv2d_4a_3x3", 1, False),
                ("max", 3, 2, False),
            ]
        ],
    ),
    ("mixed", "Mixed_5b", _A),
    ("mixed_1", "Mixed_5c", _A),
    ("mixed_2", "Mixed_5d", _A),
    ("mixed_3", "Mixed_6a", _B),
    ("mixed_4", "Mixed_6b", _C),
    ("mixed_5", "Mixed_6c", _C),
    ("mixed_6", "Mixed_6d", _C),
    ("mixed_7", "Mixed_6e", _C),
    ("mixed_8", "Mixed_7a", _D),
    ("mixed_9", "Mixed_7b", _e_block("avg")),
    ("mixed_10", "Mixed_7c", _e_block("max")),
]


def _convs(layout):
    """Every conv spec of a block layout, in order."""
    for branch in layout:
        for op in branch:
            if op[0] == "split":
                yield from op[1]
            elif op[0] not in ("avg", "max"):
                yield op


def conv_specs():
    """(TF scope, state-dict prefix, stride, same) of every conv of the network, in order."""
    for tf_block, pt_block, layout in LAYOUT:
        for tf_name, pt_name, stride, same in _convs(layout):
            yield (
                f"{tf_block}/{tf_name}" if tf_block else tf_name,
                f"{pt_block}.{pt_name}" if pt_block else pt_name,
                stride,
                same,
            )


def _pool(x, kind: str, kernel: int, stride: int, same: bool):
    pad = kernel // 2 if same else 0
    if kind == "max":
        return F.max_pool2d(x, kernel, stride, pad)
    return F.avg_pool2d(x, kernel, stride, pad, count_include_pad=False)  # TF SAME average


class InceptionPool3(nn.Module):
    """Inception-v3 up to ``pool_3``: float32 ``[N, 3, 299, 299]`` -> ``[N, 2048]``.

    `shapes`: {state-dict prefix: conv weight shape (out, in, kh, kw)}; the published sizes
    when None is given (from pytorch-fid's / the graph's tensors otherwise)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], eps: float = 1e-3):
        super().__init__()
        self._layers: dict[str, ConvBN] = {}
        for _, prefix, stride, same in conv_specs():
            cout, cin, kh, kw = shapes[prefix]
            layer = ConvBN(cin, cout, (kh, kw), stride, same, eps)
            owner = self
            *parents, leaf = prefix.split(".")
            for parent in parents:
                if not hasattr(owner, parent):
                    owner.add_module(parent, nn.Module())
                owner = getattr(owner, parent)
            owner.add_module(leaf, layer)
            self._layers[prefix] = layer
        self.num_features = 0  # set by _built from a forward pass

    def _branch(self, x, pt_block: str, branch):
        for op in branch:
            if op[0] in ("avg", "max"):
                x = _pool(x, *op)
            elif op[0] == "split":
                return torch.cat([self._layers[f"{pt_block}.{c[1]}"](x) for c in op[1]], 1)
            else:
                x = self._layers[f"{pt_block}.{op[1]}" if pt_block else op[1]](x)
        return x

    def fold_batchnorm(self) -> InceptionPool3:
        """Every BatchNorm folded into its conv (for inference only; the state dict then no
        longer has pytorch-fid's layout). Returns self."""
        for layer in self._layers.values():
            layer.fold_batchnorm()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _, pt_block, layout in LAYOUT:
            outs = [self._branch(x, pt_block, branch) for branch in layout]
            x = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)  # pool_3: the 8x8 map averaged


def _check_conv_node(nodes, scope: str, stride: int, same: bool) -> None:
    node = nodes.get(f"{scope}/Conv2D")
    if node is None:
        return  # a graph of weights only: nothing to check against
    strides = list(node.attrs.get("strides") or [1, 1, 1, 1])
    padding = node.attrs.get("padding", b"")
    if strides[1:3] != [stride, stride] or padding != (b"SAME" if same else b"VALID"):
        raise DataError(
            f"GraphDef node {scope}/Conv2D has strides {strides} padding "
            f"{padding!r}; the 2015 Inception-v3 has stride {stride}, "
            f"{'SAME' if same else 'VALID'}: not the inception-2015-12-05 graph"
        )


def from_graphdef(nodes: dict, source: str = "GraphDef") -> InceptionPool3:
    """The network with the weights of a parsed ``classify_image_graph_def.pb``
    (``graphdef.read_graphdef``): conv ``{scope}/conv2d_params`` [kh, kw, in, out] and
    ``{scope}/batchnorm/{beta,gamma,moving_mean,moving_variance}``."""

    def const(name):
        node = nodes.get(name)
        if node is None or node.op != "Const":
            raise DataError(
                f"{source}: no Const node '{name}': not the inception-2015-12-05 "
                "graph (classify_image_graph_def.pb)"
            )
        return torch.from_numpy(node.value.astype("float32"))

    state, shapes, eps = {}, {}, None
    for scope, prefix, stride, same in conv_specs():
        weight = const(f"{scope}/conv2d_params")
        if weight.ndim != 4:
            raise DataError(
                f"{source}: {scope}/conv2d_params has shape {list(weight.shape)}, not [kh, kw, in, out]"
            )
        _check_conv_node(nodes, scope, stride, same)
        state[f"{prefix}.conv.weight"] = weight.permute(3, 2, 0, 1).contiguous()
        shapes[prefix] = tuple(state[f"{prefix}.conv.weight"].shape)
        bn = nodes.get(f"{scope}/batchnorm")
        gamma = const(f"{scope}/batchnorm/gamma")
        if bn is not None and bn.attrs.get("scale_after_normalization") is False:
            gamma = torch.ones_like(gamma)  # TF ignores gamma then
        if bn is not None and "variance_epsilon" in bn.attrs:
            eps = bn.attrs["variance_epsilon"] if eps is None else eps
        state[f"{prefix}.bn.weight"] = gamma
        state[f"{prefix}.bn.bias"] = const(f"{scope}/batchnorm/beta")
        state[f"{prefix}.bn.running_mean"] = const(f"{scope}/batchnorm/moving_mean")
        state[f"{prefix}.bn.running_var"] = const(f"{scope}/batchnorm/moving_variance")
    return _built(shapes, state, 1e-3 if eps is None else float(eps), source)


def from_pt_inception(state_dict: dict, source: str = "state dict") -> InceptionPool3:
    """The network from pytorch-fid's ``pt_inception-2015-12-05-*.pth`` (its ``fc`` layer and
    BatchNorm counters are not needed and ignored)."""
    shapes = {}
    for _, prefix, _, _ in conv_specs():
        weight = state_dict.get(f"{prefix}.conv.weight")
        if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
            raise DataError(
                f"{source}: no 4-d tensor '{prefix}.conv.weight': not pytorch-fid's "
                "pt_inception-2015-12-05 state dict"
            )
        shapes[prefix] = tuple(weight.shape)
    wanted = {k: v for k, v in state_dict.items() if ".conv." in k or ".bn." in k}
    wanted = {k: v for k, v in wanted.items() if not k.endswith("num_batches_tracked")}
    return _built(shapes, wanted, 1e-3, source)


def _built(shapes, state, eps: float, source: str) -> InceptionPool3:
    try:
        model = InceptionPool3(shapes, eps)
        model.load_state_dict(state, strict=False)
        missing = set(model.state_dict()) - set(state)
        missing = {k for k in missing if not k.endswith("num_batches_tracked")}
        if missing:
            raise DataError(f"{source}: missing {min(missing)} (and {len(missing) - 1} more)")
        with torch.inference_mode():  # the smallest input that reaches pool_3: cheap check
            probe = model.eval()(torch.zeros(1, shapes["Conv2d_1a_3x3"][1], PROBE_SIZE, PROBE_SIZE))
        model.num_features = probe.shape[1]
    except (RuntimeError, KeyError) as err:  # channel counts that do not chain
        raise DataError(
            f"{source}: tensor shapes do not form an Inception-v3 ({str(err).splitlines()[0][:200]})"
        ) from None
    return model.eval()


def tf1_resize_bilinear(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """TF1 ``ResizeBilinear`` (align_corners=False, half_pixel_centers=False), float32
    ``[N, H, W, C]`` -> ``[N, height, width, C]``: source = dest * (in / out) computed in
    float32, neighbours floor and min(floor + 1, in - 1), lerped along x then y as TF does."""

    def axis(in_size: int, out_size: int):
        scale = torch.tensor(in_size, dtype=torch.float32) / out_size
        src = torch.arange(out_size, dtype=torch.float32) * scale
        low = src.floor().long()
        high = torch.clamp(low + 1, max=in_size - 1)
        return low, high, (src - low.float())

    y0, y1, ly = axis(images.shape[1], height)
    x0, x1, lx = axis(images.shape[2], width)
    lx = lx.view(1, 1, -1, 1)

    def along_x(rows):
        left, right = rows.index_select(2, x0), rows.index_select(2, x1)
        return left + (right - left) * lx

    top = along_x(images.index_select(1, y0))
    bottom = along_x(images.index_select(1, y1))
    return top + (bottom - top) * ly.view(1, -1, 1, 1)


def preprocess(
    frames: torch.Tensor, mean: float = 128.0, scale: float = 1 / 128.0, size: int = INPUT_SIZE
) -> torch.Tensor:
    """uint8 RGB ``[N, H, W, 3]`` -> float32 ``[N, 3, size, size]`` as the graph feeds
    ``DecodeJpeg:0`` through Cast, ResizeBilinear, Sub and Mul."""
    resized = tf1_resize_bilinear(frames.float(), size, size)
    return ((resized - mean) * scale).permute(0, 3, 1, 2).contiguous()
