"""Multi-process training under ``torchrun``: process group set-up and the few
collectives the training loop needs (gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os
from datetime import timedelta

import attrs
import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "init_distributed",
    "dist_info",
    "is_main_process",
    "barrier",
    "cleanup",
    "broadcast_float",
    "all_reduce_sum",
    "all_gather_bytes",
]


@attrs.frozen
class DistInfo:
    """This process's place in the job; ``world_size == 1`` when not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def dist_info() -> DistInfo:
    """The initialised process group's rank/world, else what the torchrun env vars say."""
    local_rank = _env_int("LOCAL_RANK", 0)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)
    return DistInfo(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), local_rank)


def init_distributed(device: str | torch.device | None = None, timeout_s: float = 1800) -> DistInfo:
    """Join the process group described by torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
    (``MASTER_ADDR``/``MASTER_PORT``), with nccl when ``device`` is CUDA and gloo otherwise.
    A no-op for a single process or an already initialised group."""
    info = dist_info()
    if not info.distributed or dist.is_initialized():
        return info
    cuda = torch.device(device).type == "cuda" if device is not None else torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout_s))
    return dist_info()


def is_main_process() -> bool:
    """True on rank 0 (and in a non-distributed run)."""
    return dist_info().is_main


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _collective_device() -> torch.device:
    """Where tensors for collectives must live: the current GPU under nccl, else CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if _active():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_float(value: float | None, src: int = 0) -> float:
    """``value`` of rank ``src`` on every rank."""
    if not _active():
        return float(value)  # type: ignore[arg-type]
    t = torch.tensor([float("nan") if value is None else value], dtype=torch.float64, device=_collective_device())
    dist.broadcast(t, src)
    return float(t.item())


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over ranks (a new float64 tensor on ``t``'s device)."""
    out = t.detach().to(torch.float64)
    if _active():
        dev = _collective_device()
        out = out.to(dev)
        dist.all_reduce(out)
        out = out.to(t.device)
    return out


def all_gather_bytes(data: bytes) -> list[bytes]:
    """Every rank's ``data``, in rank order (length-padded tensors, no pickle)."""
    if not _active():
        return [data]
    dev = _collective_device()
    world = dist.get_world_size()
    size = torch.tensor([len(data)], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    buf = torch.zeros(longest, dtype=torch.uint8, device=dev)
    if data:
        buf[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev)
    bufs = [torch.empty_like(buf) for _ in range(world)]
    dist.all_gather(bufs, buf)
    return [b[: int(s.item())].cpu().numpy().tobytes() for b, s in zip(bufs, sizes, strict=True)]
