"""Data-parallel training across processes started by `torchrun` (gloo backend, CPU).

`torchrun --nproc_per_node N -m siamese_text train ...` sets WORLD_SIZE, RANK and the rendezvous
address; every process then builds the same vocabulary and batches (same seed), takes every
N-th batch, and DistributedDataParallel averages the gradients so all copies stay identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a data-parallel job (world_size 1 = a plain run)."""

    world_size: int = 1
    rank: int = 0

    @classmethod
    def from_environment(cls) -> "Distributed":
        """Join the process group torchrun describes in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return cls(dist.get_world_size(), dist.get_rank())

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and reports progress."""
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """Whether `flag` is true on any rank: a collective, so every rank must call it at the
        same step (world_size 1: the flag itself)."""
        if self.world_size == 1:
            return flag
        import torch.distributed as dist

        votes = torch.tensor([int(flag)], dtype=torch.int32)
        dist.all_reduce(votes, op=dist.ReduceOp.MAX)
        return bool(votes.item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's `tensor` (same shape and dtype on all), in rank order; a collective."""
        if self.world_size == 1:
            return [tensor]
        import torch.distributed as dist

        out = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(out, tensor.contiguous())
        return out

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. until rank 0 has written a checkpoint)."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module, wrapped in DistributedDataParallel when there are several processes."""
        if self.world_size == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(module)

    def shard(self, batches: list) -> list:
        """This process's batches: every world_size-th one, the same count on every rank."""
        if self.world_size == 1:
            return batches
        usable = len(batches) - len(batches) % self.world_size
        if usable == 0:  # fewer batches than processes: all take the first one
            return batches[:1]
        return batches[:usable][self.rank :: self.world_size]
