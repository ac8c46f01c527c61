"""Token matching of one codebook position: co-occurrence counts, greedy and Hungarian
one-to-one matching, and the deterministic completion into a bijection.

Token ids are ``0..size-1``. ``W[a, b]`` counts the overlap items whose new token is ``a``
and whose old token is ``b``. A matching is an ``int64`` array of ``(new, old)`` rows,
sorted by the new token, in which every token appears at most once and every pair has
``W > 0``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cooccurrence", "match_greedy", "match_hungarian", "match", "complete_mapping", "SOLVER_FUNCTIONS"]


def _check_column(col: np.ndarray, n: int, what: str) -> np.ndarray:
    col = np.asarray(col)
    if col.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {col.shape}")
    if len(col) and not np.issubdtype(col.dtype, np.integer):
        raise ValueError(f"{what} must hold integer token ids, got dtype {col.dtype}")
    col = col.astype(np.int64, copy=False)
    if len(col) and (col.min() < 0 or col.max() >= n):
        raise ValueError(f"{what} has tokens in [{col.min()}, {col.max()}], outside [0, {n - 1}]")
    return col


def cooccurrence(new_col: np.ndarray, old_col: np.ndarray, n_new: int, n_old: int) -> np.ndarray:
    """``W[a, b]`` = number of positions ``i`` with ``new_col[i] == a`` and ``old_col[i] == b``.

    ``new_col`` and ``old_col`` are the tokens of the same items (the overlap) at one
    position; the result is an ``int64`` matrix ``[n_new, n_old]``, built with one
    ``bincount``.
    """
    new_col = _check_column(new_col, n_new, "new_col")
    old_col = _check_column(old_col, n_old, "old_col")
    if len(new_col) != len(old_col):
        raise ValueError(
            f"new_col has {len(new_col)} entries but old_col {len(old_col)}; both must list the same items"
        )
    flat = np.bincount(new_col * n_old + old_col, minlength=n_new * n_old)
    return flat.astype(np.int64, copy=False).reshape(n_new, n_old)


def _check_weights(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D [n_new, n_old] matrix, got shape {W.shape}")
    if W.size and W.min() < 0:
        raise ValueError("W must be non-negative (co-occurrence counts)")
    return W


def _as_pairs(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    order = np.argsort(new, kind="stable")
    return np.column_stack([new[order], old[order]]).astype(np.int64).reshape(-1, 2)


def match_greedy(W: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching: every pair with ``W > 0``, sorted by
    ``(-W, new, old)``, is accepted when neither its new nor its old token is taken yet.
    Returns the accepted ``(new, old)`` pairs sorted by new token."""
    W = _check_weights(W)
    new, old = np.nonzero(W)  # row-major: already ordered by (new, old)
    weight = W[new, old]
    order = np.argsort(-weight, kind="stable")  # stable: ties keep the (new, old) order
    new, old = new[order], old[order]
    limit = min(len(np.unique(new)), len(np.unique(old)))
    free_new = [True] * W.shape[0]
    free_old = [True] * W.shape[1]
    took_new: list[int] = []
    took_old: list[int] = []
    for a, b in zip(new.tolist(), old.tolist(), strict=True):
        if len(took_new) == limit:
            break
        if free_new[a] and free_old[b]:
            free_new[a] = free_old[b] = False
            took_new.append(a)
            took_old.append(b)
    return _as_pairs(np.asarray(took_new, dtype=np.int64), np.asarray(took_old, dtype=np.int64))


def match_hungarian(W: np.ndarray) -> np.ndarray:
    """Maximum-weight one-to-one matching: ``scipy.optimize.linear_sum_assignment(...,
    maximize=True)`` on the submatrix of active new tokens (rows with a count) × active old
    tokens (columns with a count); assigned pairs of weight 0 are dropped, so those tokens
    go to completion as with greedy. Returns ``(new, old)`` pairs sorted by new token."""
    from scipy.optimize import linear_sum_assignment

    W = _check_weights(W)
    rows = np.flatnonzero(W.sum(axis=1) > 0)
    cols = np.flatnonzero(W.sum(axis=0) > 0)
    if len(rows) == 0 or len(cols) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    sub = W[np.ix_(rows, cols)]
    r, c = linear_sum_assignment(sub, maximize=True)
    keep = sub[r, c] > 0
    return _as_pairs(rows[r[keep]], cols[c[keep]])


SOLVER_FUNCTIONS = {"greedy": match_greedy, "hungarian": match_hungarian}


def match(W: np.ndarray, solver: str) -> np.ndarray:
    """The matching of ``solver`` (``"greedy"`` or ``"hungarian"``)."""
    try:
        fn = SOLVER_FUNCTIONS[solver]
    except KeyError:
        raise ValueError(f"solver must be one of {', '.join(map(repr, SOLVER_FUNCTIONS))}, got {solver!r}") from None
    return fn(W)


def complete_mapping(pairs: np.ndarray, used_new: np.ndarray, active_old: np.ndarray, size: int) -> np.ndarray:
    """The bijection ``phi`` of ``0..size-1`` (``phi[new] = old``) that extends ``pairs``.

    ``used_new``: the new tokens the refreshed table uses at this position; ``active_old``:
    the old tokens the previous table uses. Used new tokens left unmatched (ascending) take
    the unassigned old tokens in this order: leftover active old tokens (ascending), then
    never-used old tokens (ascending). New tokens nobody uses take what remains, in the
    same order, so ``phi`` is a permutation and rewriting with it cannot create collisions.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    used = np.zeros(size, dtype=bool)
    used[_check_column(used_new, size, "used_new")] = True
    active = np.zeros(size, dtype=bool)
    active[_check_column(active_old, size, "active_old")] = True
    new, old = _check_column(pairs[:, 0], size, "pairs (new)"), _check_column(pairs[:, 1], size, "pairs (old)")
    if len(np.unique(new)) != len(new) or len(np.unique(old)) != len(old):
        raise ValueError("pairs must be one-to-one: a token appears in two pairs")
    phi = np.full(size, -1, dtype=np.int64)
    phi[new] = old
    taken = np.zeros(size, dtype=bool)
    taken[old] = True
    free_old = np.concatenate([np.flatnonzero(active & ~taken), np.flatnonzero(~active & ~taken)])
    unmatched_used = np.flatnonzero(used & (phi < 0))
    phi[unmatched_used] = free_old[: len(unmatched_used)]
    unused = np.flatnonzero(phi < 0)
    phi[unused] = free_old[len(unmatched_used) :]
    return phi
