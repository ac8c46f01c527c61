"""Options shared by every format: ties policies, de-duplication, k-core, id order."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import order_interactions

# user a: t=5 holds three tied items written in the order z, x, y
ROWS = [("a", "z", 5), ("b", "q", 1), ("a", "w", 9), ("a", "x", 5), ("a", "v", 1), ("a", "y", 5)]


def test_keep_is_file_order_within_ties(tiny, seqs):
    assert seqs(tiny(ROWS))["a"] == ["v", "z", "x", "y", "w"]


def test_item_id_orders_ties_by_external_id(tiny, seqs):
    assert seqs(tiny(ROWS, ties="item-id"))["a"] == ["v", "x", "y", "z", "w"]
    numeric = [("a", "10", 1), ("a", "9", 1), ("a", "100", 1)]
    assert seqs(tiny(numeric, ties="item-id"))["a"] == ["9", "10", "100"]


def test_shuffle_is_seeded_and_only_permutes_ties(tiny, seqs):
    orders = {tuple(seqs(tiny(ROWS, ties="shuffle", tie_seed=s))["a"]) for s in range(20)}
    assert all(o[0] == "v" and o[4] == "w" and sorted(o[1:4]) == ["x", "y", "z"] for o in orders)
    assert len(orders) > 1  # different seeds give different tie orders
    assert seqs(tiny(ROWS, ties="shuffle", tie_seed=3)) == seqs(tiny(ROWS, ties="shuffle", tie_seed=3))


def test_order_interactions_random():
    rng = np.random.default_rng(0)
    user = rng.integers(0, 50, 5000)
    ts = rng.integers(0, 20, 5000)
    item = rng.permutation(5000)
    for ties in ("keep", "shuffle", "item-id"):
        order = order_interactions(user, ts, ties, item_rank=item, seed=1)
        assert sorted(order) == list(range(5000))
        key = user[order] * 100 + ts[order]
        assert np.all(np.diff(key) >= 0)  # sorted by (user, timestamp)
        same = np.diff(key) == 0
        if ties == "keep":
            assert np.all(np.diff(order)[same] > 0)
        if ties == "item-id":
            assert np.all(np.diff(item[order])[same] > 0)
    a = order_interactions(user, ts, "shuffle", seed=1)
    assert np.array_equal(a, order_interactions(user, ts, "shuffle", seed=1))
    assert not np.array_equal(a, order_interactions(user, ts, "shuffle", seed=2))
    with pytest.raises(ValueError, match="ties must be one of"):
        order_interactions(user, ts, "random")


DUPES = [("a", "x", 1), ("a", "y", 2), ("a", "x", 3), ("a", "z", 4)]


@pytest.mark.parametrize(
    "dedup, expected", [("first", ["x", "y", "z"]), ("last", ["y", "x", "z"]), ("none", ["x", "y", "x", "z"])]
)
def test_dedup(tiny, seqs, dedup, expected):
    ds = tiny(DUPES, dedup=dedup)
    assert seqs(ds)["a"] == expected
    assert ds.meta["counts"]["duplicates_dropped"] == 4 - len(expected)


def naive_kcore(pairs: set[tuple[str, str]], k: int) -> set[tuple[str, str]]:
    while True:
        users, items = {}, {}
        for u, i in pairs:
            users[u] = users.get(u, 0) + 1
            items[i] = items.get(i, 0) + 1
        kept = {(u, i) for u, i in pairs if users[u] >= k and items[i] >= k}
        if kept == pairs:
            return pairs
        pairs = kept


def test_kcore_matches_naive_and_holds(tiny):
    rng = np.random.default_rng(1)
    users = rng.zipf(1.6, 3000) % 200
    items = rng.zipf(1.4, 3000) % 150
    rows = list({(f"u{u}", f"i{i}"): None for u, i in zip(users, items, strict=True)})  # distinct pairs
    ds = tiny([(u, i, t) for t, (u, i) in enumerate(rows)], kcore=5)
    inter = ds.interactions
    assert np.bincount(inter.user).min() >= 5 and np.bincount(inter.item).min() >= 5
    got = {(inter.user_ids[u], ds.catalog.item_ids[i]) for u, i in zip(inter.user, inter.item, strict=True)}
    assert got == naive_kcore(set(rows), 5)
    assert 0 < len(got) < len(rows)
    assert ds.meta["filters"]["kcore"] == 5 and ds.meta["counts"]["interactions"] == len(got)


def test_ids_sort_numerically_only_when_all_integers(tiny):
    assert list(tiny([("10", "2", 1), ("9", "10", 1)]).interactions.user_ids) == ["9", "10"]
    assert list(tiny([("u", "10", 1), ("u", "9", 2), ("u", "x", 3)]).catalog.item_ids) == ["10", "9", "x"]
    assert list(tiny([("u", "07", 1), ("u", "7", 2)]).catalog.item_ids) == ["07", "7"]  # kept apart


def test_meta_records_provenance(tiny):
    ds = tiny(ROWS, ties="shuffle", tie_seed=7, dedup="last")
    assert ds.meta["format"] == "delimited" and ds.meta["ties"] == "shuffle" and ds.meta["tie_seed"] == 7
    assert ds.meta["filters"] == {"min_rating": None, "dedup": "last", "kcore": 0}
    assert ds.meta["counts"] == {"rows": 6, "duplicates_dropped": 0, "interactions": 6, "users": 2, "items": 6}
