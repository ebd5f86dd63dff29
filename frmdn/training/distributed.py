"""Training across processes under torchrun: the process group, batch shards, agreement.

``torchrun --nproc_per_node=N -m frmdn train ...`` starts N processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; :func:`from_environment` joins them into one process
group (NCCL on GPUs, gloo on CPUs). Every rank draws the same global batch of sequence indices
from the same seeded generator and trains on its own contiguous slice of it, and
DistributedDataParallel averages the gradients, so N processes take exactly the steps one
process would take with the whole batch. Rank 0 alone evaluates, logs and writes checkpoints;
decisions (validation NLL, a skipped batch, a stop request) are shared so that every rank
stops together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["Distributed", "from_environment", "leave", "main_process"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_batch(self, size: int) -> None:
        """Refuse a global batch that does not split evenly over the processes."""
        if size % self.world_size:
            raise ValueError(
                f"the batch of {size} sequences does not split evenly over "
                f"{self.world_size} processes; choose a batch size divisible by it"
            )

    def shard(self, index: Tensor) -> Tensor:
        """This rank's contiguous slice of a global batch ``index`` (B,)."""
        self.check_batch(len(index))
        return index.view(self.world_size, -1)[self.rank]

    def broadcast(self, value: float) -> float:
        """Rank 0's ``value`` on every rank."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self._device)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any."""
        tensor = torch.tensor([float(flag)], device=self._device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    @property
    def _device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def from_environment() -> Distributed | None:
    """This process's :class:`Distributed` when torchrun started more than one, else None;
    joins the process group (NCCL when CUDA is available, gloo otherwise) on first use."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ["LOCAL_RANK"]))


def leave() -> None:
    """Leave the process group if this process joined one. Every torchrun process must call
    this before it exits: gloo's threads abort the interpreter (SIGABRT) when the group is
    still alive at exit."""
    if dist.is_initialized():
        dist.destroy_process_group()


def main_process() -> bool:
    """True outside torchrun and on rank 0: the process that logs and writes files."""
    if dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0
