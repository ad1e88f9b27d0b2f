"""Shared by test_distributed.py and its torchrun worker: a tiny deterministic model/batch."""

import torch

from videozoo.registry import create_model

# SGD, not Adam: Adam turns the ~0 gradient of softmax-invariant biases into full-size
# steps of random sign, which no two summation orders agree on.
OPT_CFG = {
    "name": "sgd",
    "lr": 0.5,
    "weight_decay": 0.0,
    "decay_only": [],
    "no_decay": [],
    "lr_mult": {},
    "momentum": 0.9,
    "nesterov": False,
    "betas": [0.9, 0.999],
    "eps": 1e-8,
    "alpha": 0.99,
    "centered": False,
}


def make_model():
    torch.manual_seed(0)
    # No dropout and no BatchNorm: one step must not depend on how the batch is split.
    return create_model(
        "attention_lstm",
        num_classes=10,
        rgb_size=16,
        audio_size=8,
        embedding_size=8,
        lstm_size=8,
        drop_rate=0.0,
        fusion_relu_size=16,
        fusion_tanh_size=8,
    )


def global_batch(n=8, t=12):
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(2, t + 1, (n,), generator=g)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    return {
        "rgb": torch.randn(n, t, 16, generator=g) * mask[..., None],
        "audio": torch.randn(n, t, 8, generator=g) * mask[..., None],
        "mask": mask,
        "labels": (torch.rand(n, 10, generator=g) < 0.3).float(),
        "ids": [f"v{i}" for i in range(n)],
        "skipped": [],
    }


def slice_batch(batch, start, stop):
    return {k: v[start:stop] for k, v in batch.items()}
