"""Model size and cost: parameter counts and multiply-adds for one input batch.

MACs come from PyTorch's FlopCounterMode (it counts matmul, conv, bmm, ... at the aten level,
so einsum/LSTM-heavy models are covered too); one MAC = two FLOPs.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: torch.nn.Module) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return {"trainable": trainable, "total": total, "buffers": buffers}


def count_macs(model: torch.nn.Module, batch: dict) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(batch)
    return counter.get_total_flops() // 2
