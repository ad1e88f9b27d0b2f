"""Process-group setup and the few collectives the engine needs.

Under torchrun (RANK / WORLD_SIZE / LOCAL_RANK set) the default group is initialised with NCCL
on CUDA and gloo on CPU; otherwise everything degrades to a single process and the helpers
below become no-ops. Only rank 0 logs and writes files.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from videozoo.errors import ConfigError


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA device is available; use --device cpu")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise ConfigError(f"unknown device '{name}'; use auto, cpu or cuda")
    return torch.device("cpu")


def init_distributed(device_name: str = "auto") -> DistContext:
    """Join the torchrun process group when launched by torchrun, else run single-process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank, device)


def shutdown(synchronize: bool = True) -> None:
    """Leave the process group cleanly (a no-op in a single process).

    Order matters for a clean exit (a rank aborted with "terminate called without an active
    exception" when this was skipped): free DDP reducers first (they sit in reference cycles
    and would otherwise be destroyed during interpreter shutdown, after the group they hold),
    then wait for every rank (``synchronize``: no rank tears its connections down while a
    peer still uses them), then destroy the group. After an error on this rank, pass
    ``synchronize=False``: the others may never arrive.
    """
    if not dist.is_initialized():
        return
    gc.collect()
    if synchronize:
        try:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timedelta(seconds=120))
            else:
                dist.barrier()
        except RuntimeError:
            pass  # a rank already left: nothing to wait for
    dist.destroy_process_group()


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Sum a few scalars over ranks in one collective (a no-op in a single process)."""
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def all_gather_objects(obj, ctx: DistContext) -> list:
    """Every rank's `obj`, in rank order (a one-element list in a single process)."""
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()
