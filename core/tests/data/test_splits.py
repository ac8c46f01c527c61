"""Splits: leave-one-out, chronological blocks, rolling-origin block splits, period streams."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import (
    block_eval_set,
    blocks_split,
    chronological_blocks,
    leave_one_out,
    load_dataset,
    period_split,
    period_stream,
)

# a: 5 items, b: 3, c: 2 (too short to evaluate)
ROWS = [("a", f"i{k}", k) for k in range(5)] + [
    ("b", "i7", 1),
    ("b", "i8", 2),
    ("b", "i9", 3),
    ("c", "i1", 1),
    ("c", "i2", 2),
]


def ids(ds, rows):
    return [ds.catalog.item_ids[i] for i in rows]


def test_leave_one_out_exact(tiny):
    ds = tiny(ROWS)
    split = leave_one_out(ds)
    assert [ids(ds, s) for s in split.train] == [["i0", "i1", "i2"], ["i7"], ["i1", "i2"]]
    assert split.train_users.tolist() == [0, 1, 2] and split.n_items == ds.n_items == 8
    assert split.valid.users.tolist() == split.test.users.tolist() == [0, 1]
    assert [ids(ds, h) for h in split.valid.histories] == [["i0", "i1", "i2"], ["i7"]]
    assert [ids(ds, t) for t in split.valid.targets] == [["i3"], ["i8"]]
    assert [ids(ds, h) for h in split.test.histories] == [["i0", "i1", "i2", "i3"], ["i7", "i8"]]
    assert [ids(ds, t) for t in split.test.targets] == [["i4"], ["i9"]]
    short = leave_one_out(ds, max_len=2)
    assert [ids(ds, h) for h in short.test.histories] == [["i2", "i3"], ["i7", "i8"]]
    assert [ids(ds, s) for s in short.train] == [["i0", "i1", "i2"], ["i7"], ["i1", "i2"]]  # train is not cut


def test_leave_one_out_shapes_on_synthetic():
    ds = load_dataset("synthetic", n_users=300)
    split = leave_one_out(ds, max_len=10)
    n_users, n = ds.n_users, len(ds.interactions)
    assert len(split.train) == len(split.valid) == len(split.test) == n_users
    assert split.train.lengths.sum() == n - 2 * n_users
    assert split.test.histories.lengths.max() == 10 and np.all(split.test.targets.lengths == 1)
    assert np.array_equal(split.valid.histories.lengths, np.minimum(split.train.lengths, 10))


@pytest.fixture(scope="module")
def synth():
    return load_dataset("synthetic", n_users=400)


@pytest.mark.parametrize("n_blocks", [1, 3, 7, 10])
def test_blocks_equal_and_contiguous(synth, n_blocks):
    blocks = chronological_blocks(synth, n_blocks)
    sizes = [len(b) for b in blocks]
    assert len(blocks) == n_blocks and max(sizes) - min(sizes) <= 1
    all_rows = np.concatenate(blocks)
    assert np.array_equal(np.sort(all_rows), np.arange(len(synth.interactions)))
    ts = synth.interactions.timestamp
    assert np.all(np.diff(ts[all_rows]) >= 0)  # time order inside and across blocks


def test_block_eval_set(tiny):
    rows = [("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("a", "x", 4), ("a", "w", 5), ("b", "z", 4), ("c", "y", 1)]
    ds = tiny(rows, dedup="none")
    history, target = np.flatnonzero(ds.interactions.timestamp <= 2), np.flatnonzero(ds.interactions.timestamp > 2)
    ev = block_eval_set(ds, history, target, max_len=1)
    assert [ds.interactions.user_ids[u] for u in ev.users] == ["a"]  # b has no history, c no target
    assert [ids(ds, h) for h in ev.histories] == [["y"]]
    assert [ids(ds, t) for t in ev.targets] == [["z", "x", "w"]]  # distinct, first-seen order
    allowed = np.array([ds.catalog.item_ids.index(i) for i in ("x", "w")])
    ev = block_eval_set(ds, history, target, allowed_items=allowed)
    assert [ids(ds, h) for h in ev.histories] == [["x"]] and [ids(ds, t) for t in ev.targets] == [["x", "w"]]


def test_blocks_split(synth):
    blocks = chronological_blocks(synth, 5)
    split = blocks_split(synth, n_blocks=5, k=3, max_len=20)
    assert split.train.lengths.sum() == sum(len(b) for b in blocks[:3])
    assert len(split.train) == len(split.train_users)
    inter = synth.interactions
    for ev, target_block, history_blocks in ((split.valid, blocks[3], blocks[:3]), (split.test, blocks[4], blocks[:4])):
        history_rows = np.concatenate(history_blocks)
        for u, h, t in zip(ev.users[:50], ev.histories, ev.targets, strict=False):
            user_hist = inter.item[np.sort(history_rows[inter.user[history_rows] == u])]
            assert h.tolist() == user_hist[-20:].tolist()
            assert sorted(t.tolist()) == sorted(set(inter.item[target_block[inter.user[target_block] == u]].tolist()))
    assert blocks_split(synth, n_blocks=5).name == "blocks-3-of-5"
    with pytest.raises(ValueError, match="k must be between 1 and n_blocks - 2"):
        blocks_split(synth, n_blocks=5, k=4)


def test_period_stream(synth):
    parts = period_stream(synth, first_share=0.6, n_periods=4)
    n = len(synth.interactions)
    assert len(parts) == 5 and len(parts[0]) == round(0.6 * n)
    sizes = [len(p) for p in parts[1:]]
    assert sum(sizes) == n - len(parts[0]) and max(sizes) - min(sizes) <= 1
    ts = synth.interactions.timestamp[np.concatenate(parts)]
    assert np.all(np.diff(ts) >= 0)


# period split: users a (6 interactions), b (4), c (2), d (1), in time order t = 1..6
PERIOD_ROWS = [("a", f"a{k}", k) for k in range(1, 7)] + [
    ("b", "b1", 1), ("b", "b2", 2), ("b", "b5", 5), ("b", "b6", 6),
    ("c", "c3", 3), ("c", "c5", 5),
    ("d", "d6", 6),
]


def _periods(ds, cut_time):
    """Two periods: interactions before ``cut_time``, then the rest."""
    ts = ds.interactions.timestamp
    rows = np.arange(len(ts))
    return [rows[ts < cut_time], rows[ts >= cut_time]]


def test_period_split_by_hand(tiny):
    ds = tiny(PERIOD_ROWS)
    periods = _periods(ds, 4)  # period 1: a4 a5 a6, b5 b6, c5, d6
    split = period_split(ds, periods, 1, max_len=3)
    # a has 3 in the period: test a6, valid a5, train target a4 after context a1..a3 (max_len 3)
    assert [ids(ds, s) for s in split.train] == [["a1", "a2", "a3", "a4"]]
    assert split.train_first_target.tolist() == [3]
    assert split.train_users.tolist() == [0]
    # b (2 in the period): valid b5, test b6; c and d (1 each): test only
    assert split.valid.users.tolist() == [0, 1]
    assert [ids(ds, t) for t in split.valid.targets] == [["a5"], ["b5"]]
    assert [ids(ds, h) for h in split.valid.histories] == [["a2", "a3", "a4"], ["b1", "b2"]]
    assert split.test.users.tolist() == [0, 1, 2, 3]
    assert [ids(ds, t) for t in split.test.targets] == [["a6"], ["b6"], ["c5"], ["d6"]]
    assert [ids(ds, h) for h in split.test.histories] == [["a3", "a4", "a5"], ["b1", "b2", "b5"], ["c3"], []]
    assert split.name == "period-1-of-2" and split.n_items == ds.n_items


def test_period_split_first_period_and_unbounded_history(tiny):
    ds = tiny(PERIOD_ROWS)
    split = period_split(ds, _periods(ds, 4), 0)  # period 0: a1..a3, b1 b2, c3
    assert [ids(ds, s) for s in split.train] == [["a1"]] and split.train_first_target.tolist() == [0]
    assert [ids(ds, t) for t in split.valid.targets] == [["a2"], ["b1"]]
    assert [ids(ds, t) for t in split.test.targets] == [["a3"], ["b2"], ["c3"]]
    assert [ids(ds, h) for h in split.test.histories] == [["a1", "a2"], ["b1"], []]
    with pytest.raises(ValueError, match="period 2 does not exist: there are 2 periods"):
        period_split(ds, _periods(ds, 4), 2)


def test_period_split_targets_cover_each_period_once(synth):
    """Every interaction of a period is exactly one target (train, valid or test)."""
    periods = period_stream(synth, first_share=0.6, n_periods=3)
    for t in range(len(periods)):
        split = period_split(synth, periods, t, max_len=5)
        n_train = int(sum(len(s) for s in split.train) - split.train_first_target.sum())
        assert n_train + len(split.valid) + len(split.test) == len(periods[t])
        assert all(len(h) <= 5 for h in split.test.histories)
