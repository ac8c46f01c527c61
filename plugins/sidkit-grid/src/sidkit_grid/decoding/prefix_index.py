"""The valid SID prefixes of a :class:`~sidkit.types.SIDTable` as per-level CSR tables.

The unique SIDs are sorted lexicographically. Depth ``l`` holds the distinct prefixes of
length ``l`` (depth 0 is the root), in sorted order, so the children of a node are a
contiguous run of the next depth: ``child_ptr[l][p] : child_ptr[l][p + 1]``, each with
its last code ``code[l + 1][c]``. Depth ``L`` nodes are the unique SIDs ("leaves"), and
``item_ptr``/``items`` list the items of each SID. Memory is ``O(n_items * L)`` integers,
independent of the ``W ** L`` code space, and every query is one vectorised gather over
all beams at once.
"""

from __future__ import annotations

import numpy as np
import torch
from sidkit.types import Ragged, SIDTable

__all__ = ["PrefixIndex", "sid_order"]


def sid_order(codes: np.ndarray, codebook_sizes: tuple[int, ...], collision_order: str = "index", seed: int = 0):
    """Item order sorted by SID (lexicographically), items of one SID by index or, with
    ``collision_order="random"``, in a random order drawn with ``seed``. When the codes fit
    in 63 bits they are packed into one int64 key and sorted once (a stable sort keeps item
    order among equal SIDs), instead of a lexsort over every level."""
    n = len(codes)
    tie = np.random.default_rng(seed).permutation(n) if collision_order == "random" else None
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits = [max(int(w) - 1, 1).bit_length() for w in codebook_sizes]
    if sum(bits) > 63:
        return np.lexsort((np.arange(n) if tie is None else tie, *codes.T[::-1]))
    key = np.zeros(n, dtype=np.int64)
    for level, b in enumerate(bits):
        key <<= b
        key |= codes[:, level]
    return np.argsort(key, kind="stable") if tie is None else np.lexsort((tie, key))


class PrefixIndex:
    """Children lookups and SID -> items expansion for batches of beams (torch tensors).

    ``collision_order``: items sharing a SID are listed by item index (``"index"``) or in
    a random order drawn with ``seed`` (``"random"``, for tokenizers with ``dedup="random"``).
    """

    def __init__(
        self, sids: SIDTable, device: str | torch.device = "cpu", collision_order: str = "index", seed: int = 0
    ):
        codes = sids.codes
        n, levels = codes.shape
        self.codebook_sizes = tuple(sids.codebook_sizes)
        self.n_levels = levels
        order = sid_order(codes, self.codebook_sizes, collision_order, seed)
        s = codes[order]
        # differs[i, l]: row i's length-(l+1) prefix differs from row i-1's (row 0 starts every node)
        differs = np.ones((n, levels), dtype=bool)
        if n > 1:
            differs[1:] = np.logical_or.accumulate(s[1:] != s[:-1], axis=1)
        child_ptr, code = [], [np.zeros(1, dtype=np.int64)]  # depth 0: the root
        parent_of_row, n_parents = np.zeros(n, dtype=np.int64), 1
        for lev in range(levels):
            starts = np.flatnonzero(differs[:, lev])
            ptr = np.zeros(n_parents + 1, dtype=np.int64)
            np.cumsum(np.bincount(parent_of_row[starts], minlength=n_parents), out=ptr[1:])
            child_ptr.append(ptr)
            code.append(s[starts, lev])
            parent_of_row, n_parents = np.cumsum(differs[:, lev]) - 1, len(starts)
        leaf_starts = np.flatnonzero(differs[:, -1]) if levels else np.zeros(0, dtype=np.int64)
        self.n_sids = len(leaf_starts)
        self.child_ptr = [torch.from_numpy(p) for p in child_ptr]
        self.code = [torch.from_numpy(np.ascontiguousarray(c)) for c in code]
        self.item_ptr = torch.from_numpy(np.append(leaf_starts, n).astype(np.int64))
        self.items = torch.from_numpy(order.astype(np.int64))
        item_leaf = np.empty(n, dtype=np.int64)  # the SID (leaf id) of every item
        item_leaf[order] = np.repeat(np.arange(self.n_sids, dtype=np.int64), np.diff(self.item_ptr.numpy()))
        self.item_leaf = item_leaf
        self.to(device)

    def to(self, device: str | torch.device) -> PrefixIndex:
        self.device = torch.device(device)
        self.child_ptr = [t.to(self.device) for t in self.child_ptr]
        self.code = [t.to(self.device) for t in self.code]
        self.item_ptr, self.items = self.item_ptr.to(self.device), self.items.to(self.device)
        return self

    def nbytes(self) -> int:
        tensors = [*self.child_ptr, *self.code, self.item_ptr, self.items]
        return sum(t.numel() * t.element_size() for t in tensors) + self.item_leaf.nbytes

    def children(self, level: int, nodes: torch.Tensor) -> torch.Tensor:
        """``[*nodes.shape, W_level]``: for every code of ``level``, the child (a depth
        ``level + 1`` node) of each depth-``level`` node, -1 where that prefix is not a valid
        SID prefix (always for ``nodes < 0``)."""
        width = self.codebook_sizes[level]
        flat = nodes.reshape(-1)
        out = torch.full((flat.numel(), width), -1, dtype=torch.long, device=flat.device)
        ptr = self.child_ptr[level]
        alive = flat >= 0
        safe = flat.clamp(min=0)
        lo = torch.where(alive, ptr[safe], 0)
        counts = torch.where(alive, ptr[safe + 1] - lo, 0)
        total = int(counts.sum())
        if total:
            row = torch.repeat_interleave(torch.arange(flat.numel(), device=flat.device), counts, output_size=total)
            first = torch.cumsum(counts, 0) - counts
            child = lo[row] + torch.arange(total, device=flat.device) - first[row]
            out[row, self.code[level + 1][child]] = child
        return out.view(*nodes.shape, width)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Leaf id of each ``[n, L]`` row of codes (-1 where it is not a SID of the table)."""
        node = torch.zeros(codes.shape[0], dtype=torch.long, device=codes.device)
        for lev in range(self.n_levels):
            c = codes[:, lev]
            ok = (c >= 0) & (c < self.codebook_sizes[lev])
            child = self.children(lev, node).gather(1, torch.where(ok, c, 0)[:, None])[:, 0]
            node = torch.where(ok, child, -1)
        return node

    def covered_leaves(self, histories: Ragged) -> torch.Tensor:
        """``[len(histories), S]``: per history, the sorted leaf ids of the SIDs whose every
        item is in it, padded with ``n_sids`` (never a leaf id), for ``searchsorted``."""
        n_items, n = len(self.item_leaf), len(histories)
        rows = np.repeat(np.arange(n, dtype=np.int64), histories.lengths)
        seen = np.unique(rows * n_items + histories.values.astype(np.int64))  # each (row, item) once
        leaf = self.item_leaf[seen % n_items]
        keys, hits = np.unique((seen // n_items) * self.n_sids + leaf, return_counts=True)
        sizes = np.diff(self.item_ptr.cpu().numpy())
        keys = keys[hits == sizes[keys % self.n_sids]]
        row = keys // self.n_sids
        width = int(np.bincount(row, minlength=n).max(initial=0))
        out = np.full((n, max(width, 1)), self.n_sids, dtype=np.int64)
        out[row, np.arange(len(keys)) - np.searchsorted(row, row)] = keys % self.n_sids
        return torch.from_numpy(out).to(self.device)

    def item_counts(self, leaves: torch.Tensor) -> torch.Tensor:
        """Number of items of each leaf id (0 for -1)."""
        safe = leaves.clamp(min=0)
        return torch.where(leaves >= 0, self.item_ptr[safe + 1] - self.item_ptr[safe], 0)

    def expand(self, leaves: torch.Tensor, scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``k`` items of ranked SIDs (``leaves [n, beams]``, best first, -1 = none):
        every item of a shared SID in turn, each with its SID's score. Returns ``(items,
        scores)`` of shape ``[n, k]``, padded with -1 / -inf."""
        n, beams = leaves.shape
        count = self.item_counts(leaves)
        start = self.item_ptr[leaves.clamp(min=0)]
        cum = torch.cumsum(count, dim=1)
        slot = torch.arange(k, device=leaves.device).expand(n, k).contiguous()
        beam = torch.searchsorted(cum, slot, right=True)  # the beam that fills slot j
        filled = beam < beams
        beam = beam.clamp(max=beams - 1)
        offset = slot - (cum.gather(1, beam) - count.gather(1, beam))
        pos = (start.gather(1, beam) + offset).clamp(0, max(len(self.items) - 1, 0))
        items = torch.where(filled, self.items[pos] if len(self.items) else -1, -1)
        return items, torch.where(filled, scores.gather(1, beam), float("-inf"))
