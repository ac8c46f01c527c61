"""MostPop and Markov baselines on planted data."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sidkit.metrics import baseline_metrics, markov_rankings, mostpop_rankings, transition_counts
from sidkit.types import EvalSet, Ragged, SplitData


def evalset(histories, targets):
    return EvalSet(np.arange(len(histories)), Ragged.from_lists(histories), Ragged.from_lists(targets))


def test_mostpop_order_ties_and_padding():
    train = Ragged.from_lists([[0, 1, 2], [2, 1], [2, 3]])  # counts 0:1 1:2 2:3 3:1 4:0
    ex = evalset([[0], [], [3, 4]], [[1], [2], [0]])
    r = mostpop_rankings(train, 5, ex, 5)
    # 2 (3) > 1 (2) > 0 (1) = 3 (1), tie -> lower index 0 first > 4 (0)
    assert r.items.tolist() == [[2, 1, 0, 3, 4]] * 3
    r = mostpop_rankings(train, 5, ex, 7)  # more than the catalog: padded
    assert r.items.tolist()[0] == [2, 1, 0, 3, 4, -1, -1]
    # fit_extra: the validation targets count as training interactions
    valid = evalset([[1], [3]], [[3], [3]])  # item 3 now has 3 interactions, tied with 2: lower index first
    r = mostpop_rankings(train, 5, ex, 3, fit_extra=valid)
    assert r.items.tolist()[0] == [2, 3, 1]


# reading order: values [4,0,3 | 0,1,2 | 0,1 | 0,2,5]
# transitions: 4->0, 0->3, 0->1, 1->2, 0->1, 0->2, 2->5 (0->1 twice; 0->3 seen before 0->2)
# popularity: 0:4, 1:2, 2:2, 3:1, 4:1, 5:1; first seen: 4 < 0 < 3 < 1 < 2 < 5
PLANTED = [[4, 0, 3], [0, 1, 2], [0, 1], [0, 2, 5]]


def test_transition_counts():
    c = transition_counts(Ragged.from_lists(PLANTED), 6).toarray()
    expected = np.zeros((6, 6), dtype=int)
    for a, b, n in [(4, 0, 1), (0, 3, 1), (0, 1, 2), (1, 2, 1), (0, 2, 1), (2, 5, 1)]:
        expected[a, b] = n
    assert (c == expected).all()


def test_markov_first_seen_ties():
    train = Ragged.from_lists(PLANTED)
    ex = evalset([[3, 0], [5], [1, 2], []], [[1], [0], [5], [0]])
    r = markov_rankings(train, 6, ex, 6).items.tolist()
    pop_first_seen = [0, 1, 2, 4, 3, 5]  # counts desc; ties 1/2 and 4/3/5 by first sighting
    assert r[0] == [1, 3, 2, 0, 4, 5]  # successors of 0: 1 (x2), then 3 (seen first), 2; back-fill
    assert r[1] == pop_first_seen  # 5 has no successors
    assert r[2] == [5, 0, 1, 2, 4, 3]  # successor of 2 is 5, back-fill skips 5
    assert r[3] == pop_first_seen  # empty history


def test_markov_popularity_ties():
    train = Ragged.from_lists(PLANTED)
    ex = evalset([[0], [5]], [[1], [0]])
    r = markov_rankings(train, 6, ex, 6, ties="popularity").items.tolist()
    assert r[0] == [1, 2, 3, 0, 4, 5]  # 2 (pop 2) before 3 (pop 1); back-fill by count, then index
    assert r[1] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="ties must be one of"):
        markov_rankings(train, 6, ex, 6, ties="random")


def test_markov_pads_only_beyond_the_catalog():
    train = Ragged.from_lists(PLANTED)
    r = markov_rankings(train, 6, evalset([[0]], [[1]]), 8).items.tolist()
    assert r == [[1, 3, 2, 0, 4, 5, -1, -1]]


def test_markov_planted_successors_then_backfill_without_duplicates():
    rng = np.random.default_rng(0)
    n_items, k = 60, 20
    succ = {a: rng.choice(n_items, size=3, replace=False) for a in range(n_items)}
    rows = []
    for _ in range(400):
        a = int(rng.integers(n_items))
        row = [a]
        for _ in range(6):
            a = int(succ[a][rng.integers(3)]) if rng.random() < 0.9 else int(rng.integers(n_items))
            row.append(a)
        rows.append(row)
    train = Ragged.from_lists(rows)
    last = rng.integers(n_items, size=200)
    ex = evalset([[int(x)] for x in last], [[0]] * 200)
    counts = transition_counts(train, n_items)
    for ties in ("first-seen", "popularity"):
        r = markov_rankings(train, n_items, ex, k, ties=ties).items
        for row, a in zip(r, last, strict=True):
            assert len(set(row.tolist())) == k and (row >= 0).all()  # full, no duplicates, no padding
            observed = counts[a].indices
            m = min(len(observed), k)
            assert set(row[:m].tolist()) <= set(observed.tolist())  # successors first
            c = counts[a].toarray()[0]
            assert (np.diff(c[row[:m]]) <= 0).all()  # by count
            assert set(succ[a].tolist()) <= set(row[:m].tolist()) or m == k


def test_test_time_fit_includes_the_validation_transition():
    train = Ragged.from_lists([[0, 1, 2], [3, 4, 5], [1, 2, 0]])
    valid = evalset([[0, 1, 2], [3, 4, 5], [1, 2, 0]], [[5], [3], [4]])  # adds 2->5, 5->3, 0->4
    test = evalset([[0, 1, 2, 5], [3, 4, 5, 3], [1, 2, 0, 4]], [[3], [4], [1]])
    split = SplitData(train=train, valid=valid, test=test, n_items=6)
    # fitted on train only, 5 has no successor: popularity list, led by 0
    assert markov_rankings(train, 6, test, 1).items.tolist()[0] == [0]
    fitted = markov_rankings(train, 6, test, 1, fit_extra=valid).items.tolist()
    assert fitted[0] == [3]  # 5 -> 3 from user 1's validation target
    # successors of 0: 0->1 (user 0's train row) and 0->4 (user 2's validation): count tie,
    # 0->1 is read first
    assert markov_rankings(train, 6, evalset([[0]], [[4]]), 2, fit_extra=valid).items.tolist() == [[1, 4]]
    m = baseline_metrics(split, ks=(1, 2))
    # test: user 0 (5->3) and user 1 (3->4) hit at rank 1; user 2 gets [5, 0], target 1
    assert m["test"]["markov/hr@1"] == pytest.approx(2 / 3)
    assert m["test"]["markov/hr@2"] == pytest.approx(2 / 3)
    assert m["test"]["markov/ndcg@2"] == pytest.approx(2 / 3)
    # valid (train only): 2->0 (target 5), 5->nothing (popularity 0, 1; target 3), 0->1 (target 4)
    assert m["valid"]["markov/hr@2"] == pytest.approx(0.0)
    expected = {f"{b}/{name}@{k}" for b in ("mostpop", "markov") for name in ("recall", "ndcg", "hr") for k in (1, 2)}
    assert set(m["valid"]) == set(m["test"]) == expected


def test_validation_segments_are_read_after_their_users_training_row():
    # user 0: train [1, 0], valid target 3 -> 0->3; user 1: train [2, 0, 4] -> 0->4.
    # Read in user order, 0->3 is seen first, so it wins the count tie.
    train = Ragged.from_lists([[1, 0], [2, 0, 4]])
    valid = EvalSet(np.array([0, 1]), Ragged.from_lists([[1, 0], [2, 0, 4]]), Ragged.from_lists([[3], [1]]))
    test = evalset([[0]], [[3]])
    r = markov_rankings(train, 5, test, 2, fit_extra=valid).items.tolist()
    assert r == [[3, 4]]
    # train row 0 belongs to user 1 and row 1 to user 0: now 0->4 is read first
    r = markov_rankings(train, 5, test, 2, fit_extra=valid, train_users=np.array([1, 0])).items.tolist()
    assert r == [[4, 3]]


def test_baseline_errors():
    train = Ragged.from_lists([[0, 1]])
    ex = evalset([[0]], [[1]])
    with pytest.raises(ValueError, match="outside"):
        markov_rankings(Ragged.from_lists([[0, 7]]), 3, ex, 2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        mostpop_rankings(train, 3, ex, 0)
    split = SplitData(train=train, valid=ex, test=ex, n_items=3)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_metrics(split, baselines=("sasrec",))


def test_markov_is_fast_on_beauty_sized_data():
    rng = np.random.default_rng(0)
    n_users, n_items = 22_000, 12_000
    lengths = rng.integers(3, 12, size=n_users)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    train = Ragged((rng.zipf(1.3, size=offsets[-1]) - 1) % n_items, offsets)
    last = train.values[offsets[1:] - 1]
    ex = EvalSet(
        np.arange(n_users),
        Ragged(last, np.arange(n_users + 1)),
        Ragged(rng.integers(0, n_items, n_users), np.arange(n_users + 1)),
    )
    t = time.perf_counter()
    r = markov_rankings(train, n_items, ex, 500, fit_extra=ex)
    elapsed = time.perf_counter() - t
    assert r.items.shape == (n_users, 500) and (r.items >= 0).all()
    assert elapsed < 10  # about 0.3 s here; a per-example loop over the catalog takes minutes


@pytest.mark.realdata
def test_markov_reproduces_the_reference_figures_on_beauty(shared_data):
    """Beauty 5-core, leave-one-out, file-order ties: a script that reads the file user by
    user in order of first appearance and counts with ``Counter.most_common`` gets test
    R@10 0.0702 / N@10 0.0471; reading users in sorted-id order instead gives 0.0723 / 0.0485."""
    from sidkit.data import leave_one_out, load_dataset

    beauty = shared_data / "amazon-beauty"
    ds = load_dataset("delimited", path=str(beauty / "Beauty.inter.tsv"), items=str(beauty / "Beauty.items.jsonl"))
    split = leave_one_out(ds, max_len=20)
    file_order = baseline_metrics(split, (10,), user_rank=ds.user_rank)["test"]
    index_order = baseline_metrics(split, (10,))["test"]
    assert round(file_order["markov/recall@10"], 4) == 0.0702
    assert round(file_order["markov/ndcg@10"], 4) == 0.0471
    assert round(index_order["markov/recall@10"], 4) == 0.0723
    assert file_order["mostpop/recall@10"] == index_order["mostpop/recall@10"]  # lower-index ties, no reading order


def test_user_rank_changes_only_the_reading_order():
    # users 0 and 1 both go a -> b and a -> c once; first-seen picks whichever is read first
    train = Ragged(np.array([0, 1, 0, 2]), np.array([0, 2, 4]))
    ex = EvalSet(np.arange(2), Ragged(np.array([0, 0]), np.array([0, 1, 2])), Ragged(np.array([1, 2]), np.array([0, 1, 2])))
    by_index = markov_rankings(train, 3, ex, 2).items
    by_rank = markov_rankings(train, 3, ex, 2, user_rank=np.array([1, 0])).items
    assert by_index[0].tolist() == [1, 2] and by_rank[0].tolist() == [2, 1]


def test_exclude_history_drops_history_items_from_both_baselines():
    # transitions 0->1, 1->2, 1->0, 0->3, 2->1, 1->3; popularity 1 (3) before 0, 2, 3 (2 each)
    train = Ragged.from_lists([[0, 1, 2], [1, 0, 3], [2, 1, 3]])
    examples = evalset([[0, 1]], [[3]])  # after 1: 2, 0, 3 (first-seen order); 0 and 1 are history
    split = SplitData(train=train, valid=examples, test=examples, n_items=5)
    plain = baseline_metrics(split, ks=(2,))["valid"]
    excluded = baseline_metrics(split, ks=(2,), exclude_history=True)["valid"]
    assert plain["markov/hr@2"] == 0.0 and plain["mostpop/hr@2"] == 0.0  # [2, 0] and [1, 0]
    assert excluded["markov/hr@2"] == 1.0 and excluded["mostpop/hr@2"] == 1.0  # [2, 3] and [2, 3]
    assert excluded["markov/ndcg@2"] == pytest.approx(1 / np.log2(3))


def test_drop_history_items_keeps_order_scores_and_pads():
    from sidkit.metrics import drop_history_items

    items = np.array([[5, 1, 2, 3, -1], [4, 4, 0, 1, 2]])
    scores = np.array([[-1.0, -2.0, -3.0, -4.0, -np.inf], [-1.0, -1.5, -2.0, -2.5, -3.0]])
    out, kept = drop_history_items(items, Ragged.from_lists([[1, 3, 9], []]), 4, scores)
    assert out.tolist() == [[5, 2, -1, -1], [4, 4, 0, 1]]
    assert kept.tolist() == [[-1.0, -3.0, -np.inf, -np.inf], [-1.0, -1.5, -2.0, -2.5]]
    with pytest.raises(ValueError, match=r"items must be \[n_histories=1, K\]"):
        drop_history_items(items, Ragged.from_lists([[1]]), 2)
