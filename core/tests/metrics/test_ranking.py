"""Ranking metrics against numbers computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sidkit.metrics import ranking_metrics
from sidkit.types import Ragged, Rankings


def log2(x):
    return math.log2(x)


def test_single_positive_hits_at_rank_1_at_k_beyond_k_and_miss():
    items = np.array(
        [
            [7, 3, 5, 1, 9, 4],  # positive 7 at rank 1
            [2, 4, 6, 8, 0, 1],  # positive 8 at rank 4
            [1, 2, 3, -1, -1, -1],  # positive 9 absent (padded row)
            [5, 6, 7, 8, 9, 0],  # positive 0 at rank 6, beyond max(ks) = 5
            [1, 2, 3, 4, 5, 6],  # positive 5 at rank 5 = K
        ]
    )
    targets = Ragged.from_lists([[7], [8], [9], [0], [5]])
    m = ranking_metrics(Rankings(items), targets, ks=(3, 5), metrics=("recall", "ndcg", "hr", "mrr"))
    assert m["n_examples"] == 5
    # @3: only example 0 hits (rank 1)
    assert m["recall@3"] == pytest.approx(1 / 5)
    assert m["hr@3"] == pytest.approx(1 / 5)
    assert m["ndcg@3"] == pytest.approx((1 / log2(2)) / 5)
    assert m["mrr@3"] == pytest.approx(1 / 5)
    # @5: examples 0 (rank 1), 1 (rank 4), 4 (rank 5); IDCG = 1/log2(2) = 1 for one positive
    assert m["recall@5"] == pytest.approx(3 / 5)
    assert m["hr@5"] == pytest.approx(3 / 5)
    assert m["ndcg@5"] == pytest.approx((1 / log2(2) + 1 / log2(5) + 1 / log2(6)) / 5)
    assert m["mrr@5"] == pytest.approx((1 + 1 / 4 + 1 / 5) / 5)


def test_several_positives_padding_and_an_example_without_positives():
    items = np.array(
        [
            [1, 2, 3, 4, 5],  # positives {1, 3, 9}: hits at ranks 1 and 3
            [8, 7, -1, -1, -1],  # positives {7, 6}: hit at rank 2, rest padding
            [1, 2, 3, 4, 5],  # no positives: left out of the means
        ]
    )
    targets = Ragged.from_lists([[1, 3, 9], [7, 6], []])
    m = ranking_metrics(items, targets, ks=(2, 5))
    assert m["n_examples"] == 2
    # example 0 @2: 1 hit of 3 positives; IDCG over min(3, 2) = 2 ideal hits
    r0_2 = 1 / 3
    n0_2 = (1 / log2(2)) / (1 / log2(2) + 1 / log2(3))
    # example 1 @2: 1 hit of 2 at rank 2; IDCG over min(2, 2) = 2
    r1_2 = 1 / 2
    n1_2 = (1 / log2(3)) / (1 / log2(2) + 1 / log2(3))
    assert m["recall@2"] == pytest.approx((r0_2 + r1_2) / 2)
    assert m["ndcg@2"] == pytest.approx((n0_2 + n1_2) / 2)
    assert m["hr@2"] == pytest.approx(1.0)
    # @5: example 0 has hits at ranks 1 and 3 of 3 positives; IDCG over min(3, 5) = 3
    r0_5 = 2 / 3
    n0_5 = (1 / log2(2) + 1 / log2(4)) / (1 / log2(2) + 1 / log2(3) + 1 / log2(4))
    r1_5, n1_5 = r1_2, n1_2  # nothing more in the padded tail; IDCG still over 2 ideal hits
    assert m["recall@5"] == pytest.approx((r0_5 + r1_5) / 2)
    assert m["ndcg@5"] == pytest.approx((n0_5 + n1_5) / 2)
    assert m["hr@5"] == pytest.approx(1.0)
    assert set(m) == {f"{name}@{k}" for name in ("recall", "ndcg", "hr") for k in (2, 5)} | {"n_examples"}


def test_duplicate_positives_and_duplicate_ranked_items_count_once():
    items = np.array([[7, 7, 3, 4]])
    targets = Ragged.from_lists([[7, 3, 3]])  # two distinct positives
    m = ranking_metrics(items, targets, ks=(4,))
    assert m["recall@4"] == pytest.approx(1.0)  # 2 of 2, not 3 of 2
    # hits at ranks 1 and 3 (the repeated 7 at rank 2 is not a second hit)
    assert m["ndcg@4"] == pytest.approx((1 + 1 / log2(4)) / (1 + 1 / log2(3)))


def test_padding_never_hits_even_when_keys_could_collide():
    # row 1 is padding only; with keys row * (max_item + 1) + item, (1, -1) has the same key
    # as (0, max_item) -- the positive of row 0. It must still not count.
    items = np.array([[9, 1], [-1, -1]])
    targets = Ragged.from_lists([[9], [9]])
    m = ranking_metrics(items, targets, ks=(2,))
    assert m["recall@2"] == pytest.approx(0.5)


def test_deeper_rankings_are_cut_to_the_cutoffs():
    items = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    targets = Ragged.from_lists([[8]])
    m = ranking_metrics(items, targets, ks=(5,))
    assert m["recall@5"] == 0.0 and m["ndcg@5"] == 0.0


def test_no_example_with_positives_gives_zeros():
    m = ranking_metrics(np.array([[1, 2]]), Ragged.from_lists([[]]), ks=(2,))
    assert m == {"recall@2": 0.0, "ndcg@2": 0.0, "hr@2": 0.0, "n_examples": 0.0}


def _naive(items, targets, k):
    rec, nd, hr = [], [], []
    for row, pos in zip(items, targets, strict=True):
        pos = set(pos.tolist())
        if not pos:
            continue
        seen, dcg, hits = set(), 0.0, 0
        for r, it in enumerate(row[:k]):
            if it in pos and it not in seen:
                hits += 1
                dcg += 1 / math.log2(r + 2)
            seen.add(it)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(pos), k)))
        rec.append(hits / len(pos))
        nd.append(dcg / idcg)
        hr.append(float(hits > 0))
    return np.mean(rec), np.mean(nd), np.mean(hr)


def test_matches_a_naive_loop_on_random_data():
    rng = np.random.default_rng(0)
    n, n_items, K = 300, 40, 25
    items = np.stack([rng.permutation(n_items)[:K] for _ in range(n)])
    items[rng.random((n, K)) < 0.1] = -1
    targets = Ragged.from_lists([rng.choice(n_items, size=rng.integers(0, 5), replace=False) for _ in range(n)])
    m = ranking_metrics(items, targets, ks=(1, 10, 25))
    for k in (1, 10, 25):
        rec, nd, hr = _naive(items, targets, k)
        assert m[f"recall@{k}"] == pytest.approx(rec)
        assert m[f"ndcg@{k}"] == pytest.approx(nd)
        assert m[f"hr@{k}"] == pytest.approx(hr)


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rankings have 2 rows but there are 3 examples"):
        ranking_metrics(np.zeros((2, 10), dtype=np.int64), Ragged.from_lists([[1], [2], [3]]), ks=(10,))


def test_rankings_shallower_than_the_largest_cutoff_is_a_clear_error():
    with pytest.raises(ValueError, match=r"K=5 columns but the largest cutoff is 10"):
        ranking_metrics(np.zeros((1, 5), dtype=np.int64), Ragged.from_lists([[1]]), ks=(5, 10))


@pytest.mark.parametrize("ks", [(), (0,), (-3, 5), (2.5,), (True,)])
def test_bad_cutoffs(ks):
    with pytest.raises(ValueError, match="ks must be a non-empty list of positive integers"):
        ranking_metrics(np.zeros((1, 5), dtype=np.int64), Ragged.from_lists([[1]]), ks=ks)


def test_unknown_metric_and_negative_targets():
    with pytest.raises(ValueError, match="unknown metric"):
        ranking_metrics(np.zeros((1, 5), dtype=np.int64), Ragged.from_lists([[1]]), ks=(5,), metrics=("map",))
    with pytest.raises(ValueError, match="negative item indices"):
        ranking_metrics(np.zeros((1, 5), dtype=np.int64), Ragged.from_lists([[-1]]), ks=(5,))


def test_large_input_is_vectorised():
    rng = np.random.default_rng(1)
    n, n_items, K = 22_000, 12_000, 500
    items = rng.integers(0, n_items, size=(n, K))
    targets = Ragged(rng.integers(0, n_items, size=3 * n), np.arange(0, 3 * n + 1, 3))
    m = ranking_metrics(items, targets, ks=(10, 500))
    assert m["n_examples"] == n
    assert 0.0 <= m["recall@10"] <= m["recall@500"] <= 1.0


class TestCappedRecall:
    # user 0: 5 positives {0..4}, ranked [0, 9] -> 1 hit at rank 1
    # user 1: 1 positive {7}, ranked [8, 7] -> 1 hit at rank 2
    RANKS = np.array([[0, 9], [8, 7]])
    TARGETS = Ragged.from_lists([[0, 1, 2, 3, 4], [7]])

    def test_capped_vs_uncapped(self):
        capped = ranking_metrics(self.RANKS, self.TARGETS, ks=(1, 2), metrics=("recall", "ndcg"), capped_recall=True)
        plain = ranking_metrics(self.RANKS, self.TARGETS, ks=(1, 2), metrics=("recall", "ndcg"))
        # K=2: user 0 hits / min(5, 2) = 1/2, user 1 1/min(1, 2) = 1
        assert capped["recall@2"] == pytest.approx((0.5 + 1.0) / 2)
        assert plain["recall@2"] == pytest.approx((1 / 5 + 1.0) / 2)
        # K=1: user 0 1/min(5, 1) = 1 vs 1/5; user 1 no hit in the top 1
        assert capped["recall@1"] == pytest.approx(0.5)
        assert plain["recall@1"] == pytest.approx(0.1)

    def test_ndcg_unchanged(self):
        capped = ranking_metrics(self.RANKS, self.TARGETS, ks=(1, 2), metrics=("recall", "ndcg"), capped_recall=True)
        plain = ranking_metrics(self.RANKS, self.TARGETS, ks=(1, 2), metrics=("recall", "ndcg"))
        for k in (1, 2):
            assert capped[f"ndcg@{k}"] == plain[f"ndcg@{k}"]
        idcg2 = 1.0 + 1.0 / math.log2(3)
        user0 = 1.0 / idcg2
        user1 = (1.0 / math.log2(3)) / 1.0
        assert capped["ndcg@2"] == pytest.approx((user0 + user1) / 2)
        assert capped["ndcg@1"] == pytest.approx(0.5)
        assert capped["n_examples"] == plain["n_examples"] == 2.0

    def test_all_hits_capped_is_one(self):
        ranks = np.array([[0, 1]])
        targets = Ragged.from_lists([[0, 1, 2, 3, 4]])
        out = ranking_metrics(ranks, targets, ks=(2,), metrics=("recall",), capped_recall=True)
        assert out["recall@2"] == 1.0
