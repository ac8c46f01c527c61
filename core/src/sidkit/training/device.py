"""Turning a device string from a config into a ``torch.device`` that exists, and the CPU's
floating-point mode for the work that follows."""

from __future__ import annotations

import re

import torch

from ..errors import SidkitError

__all__ = ["resolve_device", "DeviceUnavailableError", "flush_denormals"]

_SPEC = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


class DeviceUnavailableError(SidkitError, RuntimeError):
    """The requested device does not exist on this machine."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(spec: str | torch.device = "auto", *, local_rank: int | None = None) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    ``local_rank`` (distributed runs) picks the GPU for a bare ``cuda``/``auto``.
    Raises :class:`DeviceUnavailableError` when the device is not there, ``ValueError``
    for a malformed spec.
    """
    text = str(spec).strip().lower()
    m = _SPEC.match(text)
    if not m or (m.group(2) is not None and m.group(1) != "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {str(spec)!r}")
    kind, index = m.group(1), m.group(2)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise DeviceUnavailableError("device 'mps' requested but Apple MPS is not available; use device = 'cpu'")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device {text!r} requested but CUDA is not available (torch {torch.__version__}, "
            f"built with CUDA {torch.version.cuda or 'none'}); use device = 'cpu' or 'auto'"
        )
    idx = int(index) if index is not None else (local_rank or 0)
    count = torch.cuda.device_count()
    if idx >= count:
        raise DeviceUnavailableError(
            f"device 'cuda:{idx}' requested but only {count} GPU(s) visible (cuda:0..cuda:{count - 1})"
        )
    return torch.device("cuda", idx)


def flush_denormals() -> bool:
    """Have the CPU treat float32 subnormal numbers (below 1.2e-38) as zero, on this thread
    and on the threads started after it (torch's intra-op pool included: call it before the
    first parallel torch operation). Returns whether the CPU supports it.

    A product over subnormal inputs runs an order of magnitude slower on x86 CPUs. Weights that
    the loss stops reaching decay into that range under Adam's L2 weight decay (IntRR's
    attention query/key weights do), and then every matrix product with them pays for it:
    IntRR's constrained ranking of a trained Beauty model ran 4.98x faster with this set
    (``benchmarks/denormals.py``).
    ``Pipeline.run`` (``sidkit run``, :func:`sidkit.api.run_pipeline`), the continual runner and
    :func:`sidkit.serving.load_run` (``sidkit recommend``, ``sidkit serve``) call it first."""
    return bool(torch.set_flush_denormal(True))
