"""Pieces every GRID tokenizer shares: seeding, progress, chunked nearest-code search,
k-means++ initialisation, dead-code re-seeding, de-duplication and state files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sidkit.artifacts import load_arrays, read_json, save_arrays, write_json
from sidkit.errors import ArtifactError, SidkitError
from sidkit.types import SIDTable
from tqdm.auto import tqdm

__all__ = [
    "DIST_BUDGET",
    "run_seed",
    "ctx_device",
    "progress_bar",
    "nearest",
    "kmeans_plus_plus",
    "reseed_codes",
    "deduplicate",
    "collision_order",
    "save_state",
    "load_state",
]

DIST_BUDGET = 1 << 24
"""Entries of a distance matrix computed at once (64 MiB of float32), whatever n and W."""

STATE, META = "state.safetensors", "meta.json"
FORMAT_VERSION = 1


# -- run plumbing ----------------------------------------------------------------------------
def run_seed(config_seed: int, ctx: Any) -> int:
    """The tokenizer's seed: its own ``seed`` plus the run's (``ctx.seed``)."""
    return int(config_seed) + (0 if ctx is None else int(ctx.seed or 0))


def ctx_device(ctx: Any) -> torch.device:
    device = "cpu" if ctx is None else ctx.device or "cpu"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def progress_bar(total: int, ctx: Any, desc: str) -> tqdm:
    """A tqdm bar that honours ``ctx.progress`` (no context: no bar)."""
    enabled = ctx is not None and bool(ctx.progress)
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


# -- distances ---------------------------------------------------------------------------------
def _sq_dist(x: torch.Tensor, codebook: torch.Tensor, c_sq: torch.Tensor) -> torch.Tensor:
    d2 = (x * x).sum(1, keepdim=True) - 2.0 * (x @ codebook.T) + c_sq
    return d2.clamp_min_(0.0)


@torch.no_grad()
def nearest(x: torch.Tensor, codebook: torch.Tensor, budget: int = DIST_BUDGET) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest code of every row of ``x`` and the squared distance to it.

    Rows are processed in chunks so that at most ``budget`` distances exist at once: 1M
    items × 256 codes never builds the full ``[n, W]`` matrix.
    """
    n = x.shape[0]
    idx = torch.empty(n, dtype=torch.long, device=x.device)
    dist = torch.empty(n, dtype=x.dtype, device=x.device)
    c_sq = (codebook * codebook).sum(1)[None, :]
    rows = max(1, budget // max(1, codebook.shape[0]))
    for s in range(0, n, rows):
        d2 = _sq_dist(x[s : s + rows], codebook, c_sq)
        dist[s : s + rows], idx[s : s + rows] = d2.min(1)
    return idx, dist


@torch.no_grad()
def kmeans_plus_plus(x: torch.Tensor, k: int, gen: torch.Generator, sample: int | None = None) -> torch.Tensor:
    """``k`` initial centres by greedy k-means++ (Arthur & Vassilvitskii 2007; ``2 + ln k``
    candidates per centre, the one lowering the potential most wins, as in scikit-learn).

    Runs on at most ``sample`` rows drawn at random (default ``max(40·k, 10000)``) so the
    cost does not grow with the catalogue. With fewer distinct points than ``k`` the
    remaining centres are random points (the caller's re-seeding cannot do better).
    """
    n = x.shape[0]
    if n == 0:
        raise ValueError("k-means++ needs at least one point")
    sample = max(40 * k, 10_000) if sample is None else sample
    if n > sample:
        x = x[torch.randperm(n, generator=gen)[:sample].to(x.device)]
        n = sample
    trials = 2 + int(math.log(k))
    centres = torch.empty((k, x.shape[1]), dtype=x.dtype, device=x.device)
    first = int(torch.randint(n, (1,), generator=gen))
    centres[0] = x[first]
    closest = ((x - x[first]) ** 2).sum(1)
    for c in range(1, k):
        total = float(closest.sum())
        if total <= 0.0:  # every point already is a centre
            centres[c:] = x[torch.randint(n, (k - c,), generator=gen).to(x.device)]
            break
        probs = (closest / total).double().cpu()
        cand = torch.multinomial(probs, trials, replacement=True, generator=gen).to(x.device)
        d_cand = torch.cdist(x[cand], x).pow_(2)  # [trials, n]
        pot = torch.minimum(closest[None, :], d_cand).sum(1)
        best = int(pot.argmin())
        centres[c] = x[cand[best]]
        closest = torch.minimum(closest, d_cand[best])
    return centres


@torch.no_grad()
def reseed_codes(
    codebook: torch.Tensor, x: torch.Tensor, idx: torch.Tensor, dist: torch.Tensor, dead: torch.Tensor
) -> torch.Tensor:
    """Move every dead code (``dead[j]`` true) onto a point of ``x`` farthest from its code.

    ``idx``/``dist`` are each point's nearest code and squared distance. Chosen points are
    distinct from one another, lie at a positive distance from their code, and are never
    taken from a code left with no other point, so re-seeding cannot empty a live code.
    Returns the indices of the codes that were moved (fewer than requested when ``x`` has
    too few distinct points). ``codebook`` is changed in place.
    """
    dead_ids = torch.nonzero(dead).flatten().tolist()
    if not dead_ids:
        return torch.zeros(0, dtype=torch.long)
    n = x.shape[0]
    m = min(n, 4 * len(dead_ids) + 64)
    top = torch.topk(dist, m).indices.cpu().numpy()
    counts = torch.bincount(idx, minlength=codebook.shape[0]).cpu().numpy()
    dist_np, idx_np = dist.cpu().numpy(), idx.cpu().numpy()
    chosen: list[int] = []
    for p in top:
        if dist_np[p] <= 0.0 or len(chosen) == len(dead_ids):
            break
        if counts[idx_np[p]] < 2 or any(torch.equal(x[p], x[q]) for q in chosen):
            continue
        counts[idx_np[p]] -= 1
        chosen.append(int(p))
    moved = torch.tensor(dead_ids[: len(chosen)], dtype=torch.long)
    if chosen:
        codebook[moved.to(codebook.device)] = x[torch.tensor(chosen, device=x.device)].to(codebook.dtype)
    return moved


# -- collisions ----------------------------------------------------------------------------------
def deduplicate(
    codes: np.ndarray, codebook_size: int, mode: str, dedup_size: int = 0, *, wrap: bool = False
) -> SIDTable:
    """The SID table of raw ``[n, L]`` codes under the de-duplication ``mode``.

    ``"digit"`` (TIGER): append a level numbering the items that share all ``L`` codes
    0, 1, 2 ... in item-index order; that level's codebook size is the largest group (1
    when there is no collision: the level is always present so the SID length is fixed),
    or ``dedup_size`` when it is > 0: then a larger group is a :class:`SidkitError` naming
    its size and codes, unless ``wrap``, which numbers modulo ``dedup_size`` (items past
    the ``dedup_size``-th of a group share a SID with an earlier one; for callers that
    re-assign SIDs mid-training and must not stop). ``"random"``/``"none"``: the codes as
    they are; items may share a SID.
    """
    codes = np.asarray(codes, dtype=np.int64)
    n, levels = codes.shape
    sizes = (codebook_size,) * levels
    if mode != "digit":
        return SIDTable(codes, sizes)
    if n == 0:
        return SIDTable(np.zeros((0, levels + 1), dtype=np.int64), sizes + (dedup_size or 1,))
    _, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")  # item-index order inside each group
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    lengths = np.diff(np.r_[starts, n])
    digit = np.empty(n, dtype=np.int64)
    digit[order] = np.arange(n) - np.repeat(starts, lengths)
    largest = int(lengths.max())
    if not dedup_size:
        return SIDTable(np.column_stack([codes, digit]), sizes + (largest,))
    if largest > dedup_size and not wrap:
        first = order[starts[int(lengths.argmax())]]
        raise SidkitError(
            f"dedup_size = {dedup_size}, but {largest} items share the codes {tuple(codes[first].tolist())}: "
            f"raise dedup_size to at least {largest} (or use dedup = 'random')"
        )
    return SIDTable(np.column_stack([codes, digit % dedup_size]), sizes + (dedup_size,))


def collision_order(mode: str) -> str:
    """How a decoder orders the items sharing one SID: ``"random"`` (seeded) for
    ``dedup="random"``, ``"index"`` otherwise (with ``"digit"`` a SID has one item)."""
    return "random" if mode == "random" else "index"


# -- state files -----------------------------------------------------------------------------------
def save_state(path: Path | str, name: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """``state.safetensors`` (arrays) + ``meta.json`` (shapes, options) in ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_arrays(path / STATE, arrays)
    write_json(path / META, {"tokenizer": name, "format_version": FORMAT_VERSION, **meta})


def load_state(
    path: Path | str, name: str, expect: Any, check: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read what :func:`save_state` wrote; ``expect(meta)`` gives the tensor shapes to check
    and ``check`` the meta values the current config requires. Every problem is an
    :class:`~sidkit.errors.ArtifactError` naming the tokenizer and the file."""
    path = Path(path)
    where = f"tokenizer {name}: cannot load state from {path}"
    try:
        meta = read_json(path / META)
        if meta.get("tokenizer") != name:
            raise ArtifactError(f"{path / META}: written by tokenizer {meta.get('tokenizer')!r}, not {name!r}")
        bad = [f"{k}={meta.get(k)!r} (config: {v!r})" for k, v in (check or {}).items() if meta.get(k) != v]
        if bad:
            raise ArtifactError(f"{path / META}: state has " + ", ".join(bad))
        arrays = load_arrays(path / STATE, expect(meta))
    except ArtifactError as exc:
        raise ArtifactError(f"{where}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"{where}: {path / META} lacks or garbles {exc}") from None
    return arrays, meta
