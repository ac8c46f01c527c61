"""Seeding: one call for every global RNG, and derived generators for named streams."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "derive_seed", "make_generator"]


def derive_seed(seed: int, *streams: int) -> int:
    """A 63-bit seed derived from ``seed`` and stream numbers (e.g. the epoch), stable
    across runs and platforms; different streams give independent seeds."""
    words = np.random.SeedSequence([seed & (2**64 - 1), *streams]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31 | int(words[1])) & (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed & (2**32 - 1))
    torch.manual_seed(seed)


def make_generator(seed: int, *streams: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed`` (and ``streams``, via :func:`derive_seed`)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *streams) if streams else seed)
    return gen
