"""Plain numpy building blocks for reference forwards of published graphs (float64).

The parity scripts in this folder rebuild a source framework's inference graph from its
code with these ops, so that a converted videozoo checkpoint can be checked against it
without the framework installed. Layouts follow the source frameworks: images ``[N, C, H, W]``,
clips ``[N, C, T, H, W]``, linear weights as given (pass ``w_in_out=True`` for Paddle's
``[in, out]`` fc weights). Everything is computed in float64 so the reference itself adds no
rounding error of note.
"""

from __future__ import annotations

import numpy as np


def as64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def linear(x, weight, bias=None, *, w_in_out: bool = False) -> np.ndarray:
    """``x [..., in]`` @ weight (``[out, in]``, or ``[in, out]`` with ``w_in_out``) + bias."""
    w = as64(weight)
    y = as64(x) @ (w if w_in_out else w.T)
    return y if bias is None else y + as64(bias).reshape(-1)


def relu(x):
    return np.maximum(as64(x), 0.0)


def sigmoid(x):
    x = as64(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def tanh(x):
    return np.tanh(as64(x))


def softmax(x, axis: int = -1):
    x = as64(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def l2_normalize(x, axis: int = -1, eps: float = 1e-12):
    x = as64(x)
    return x / np.maximum(np.sqrt((x * x).sum(axis=axis, keepdims=True)), eps)


def batch_norm(x, scale, offset, mean, variance, *, eps: float = 1e-5, axis: int = 1):
    """Inference BatchNorm along ``axis`` with running statistics."""
    x = as64(x)
    shape = [1] * x.ndim
    shape[axis] = -1
    inv = 1.0 / np.sqrt(as64(variance).reshape(shape) + eps)
    return (x - as64(mean).reshape(shape)) * inv * as64(scale).reshape(shape) + as64(offset).reshape(shape)


def _pad(x, pads, value=0.0):
    """Pad the trailing spatial dims of ``x [N, C, *S]`` by ``pads`` (one (lo, hi) per dim)."""
    return np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads], constant_values=value)


def conv(x, weight, bias=None, *, stride=1, padding=0, groups: int = 1):
    """N-d convolution (cross-correlation, as every framework): ``x [N, C, *S]``, ``weight
    [O, C/groups, *K]`` -> ``[N, O, *S']``. ``stride``/``padding``: int or one per dim."""
    x, w = as64(x), as64(weight)
    dims = x.ndim - 2
    stride = (stride,) * dims if np.isscalar(stride) else tuple(stride)
    padding = (padding,) * dims if np.isscalar(padding) else tuple(padding)
    x = _pad(x, [(p, p) for p in padding])
    kernel = w.shape[2:]
    out_size = [(x.shape[2 + d] - kernel[d]) // stride[d] + 1 for d in range(dims)]
    n, c = x.shape[:2]
    o = w.shape[0]
    cg, og = c // groups, o // groups
    out = np.zeros((n, o, *out_size))
    for offset in np.ndindex(*kernel):
        window = tuple(
            slice(offset[d], offset[d] + stride[d] * (out_size[d] - 1) + 1, stride[d]) for d in range(dims)
        )
        patch = x[(slice(None), slice(None)) + window]  # [N, C, *S']
        for g in range(groups):
            wk = w[(slice(g * og, (g + 1) * og), slice(None), *offset)]  # [og, cg]
            # tensordot runs on BLAS (einsum would not): [og, N, *S'] -> [N, og, *S']
            out[:, g * og : (g + 1) * og] += np.moveaxis(
                np.tensordot(wk, patch[:, g * cg : (g + 1) * cg], axes=([1], [1])), 0, 1
            )
    if bias is not None:
        out += as64(bias).reshape((1, -1) + (1,) * dims)
    return out


def max_pool(x, kernel, stride, padding=0):
    """N-d max pooling with -inf padding: ``x [N, C, *S]``."""
    x = as64(x)
    dims = x.ndim - 2
    kernel = (kernel,) * dims if np.isscalar(kernel) else tuple(kernel)
    stride = (stride,) * dims if np.isscalar(stride) else tuple(stride)
    padding = (padding,) * dims if np.isscalar(padding) else tuple(padding)
    x = _pad(x, [(p, p) for p in padding], value=-np.inf)
    out_size = [(x.shape[2 + d] - kernel[d]) // stride[d] + 1 for d in range(dims)]
    out = np.full(x.shape[:2] + tuple(out_size), -np.inf)
    for offset in np.ndindex(*kernel):
        window = tuple(
            slice(offset[d], offset[d] + stride[d] * (out_size[d] - 1) + 1, stride[d]) for d in range(dims)
        )
        out = np.maximum(out, x[(slice(None), slice(None)) + window])
    return out


def avg_pool(x, kernel, stride):
    """N-d average pooling without padding: ``x [N, C, *S]``."""
    x = as64(x)
    dims = x.ndim - 2
    kernel = (kernel,) * dims if np.isscalar(kernel) else tuple(kernel)
    stride = (stride,) * dims if np.isscalar(stride) else tuple(stride)
    out_size = [(x.shape[2 + d] - kernel[d]) // stride[d] + 1 for d in range(dims)]
    out = np.zeros(x.shape[:2] + tuple(out_size))
    for offset in np.ndindex(*kernel):
        window = tuple(
            slice(offset[d], offset[d] + stride[d] * (out_size[d] - 1) + 1, stride[d]) for d in range(dims)
        )
        out += x[(slice(None), slice(None)) + window]
    return out / float(np.prod(kernel))


def global_avg_pool(x):
    """``[N, C, *S] -> [N, C]``."""
    x = as64(x)
    return x.reshape(x.shape[0], x.shape[1], -1).mean(axis=-1)


def relative_max_error(ours, reference) -> float:
    """max |ours - reference| / max |reference| (the figure the parity scripts report)."""
    ours, reference = as64(ours), as64(reference)
    return float(np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-30))


def same_top_k(ours, reference, k: int = 5) -> bool:
    """Whether every row has the same top-k classes (as sets) in both."""
    a = np.argsort(-as64(ours), axis=-1)[..., :k]
    b = np.argsort(-as64(reference), axis=-1)[..., :k]
    return all(set(x) == set(y) for x, y in zip(a.reshape(-1, k), b.reshape(-1, k)))
