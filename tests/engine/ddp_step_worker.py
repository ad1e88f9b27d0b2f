"""Launched by test_distributed.py under torchrun: one DDP training step on this rank's half
of a fixed global batch; rank 0 saves the resulting parameters."""

import sys

import torch

from videozoo.engine.distributed import init_distributed, shutdown
from videozoo.engine.optim import build_optimizer
from videozoo.engine.tasks import MultiLabelTask
from videozoo.engine.train import train_step

sys.path.insert(0, sys.argv[2])
from ddp_support import OPT_CFG, global_batch, make_model, slice_batch  # noqa: E402

ctx = init_distributed("cpu")
model = make_model()
ddp = torch.nn.parallel.DistributedDataParallel(model)
optimizer = build_optimizer(model, OPT_CFG)
task = MultiLabelTask(10, [str(i) for i in range(10)])
batch = global_batch()
half = len(batch["ids"]) // ctx.world_size
local = slice_batch(batch, ctx.rank * half, (ctx.rank + 1) * half)
out = train_step(ddp, optimizer, task, [local], ctx)
assert out["samples"] == len(batch["ids"]), out
if ctx.rank == 0:
    torch.save(model.state_dict(), sys.argv[1])
del ddp
shutdown()
