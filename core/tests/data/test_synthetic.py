"""Format synthetic: determinism, planted topics, drift, and learnable next-item structure."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import leave_one_out, load_dataset
from sidkit.data.loaders.synthetic import TOPIC_WORDS, topic_words


@pytest.fixture(scope="module")
def ds():
    return load_dataset("synthetic")


def test_defaults(ds):
    assert ds.n_users == 1000 and ds.n_items <= 500
    lengths = np.diff(ds.interactions.user_offsets())
    assert lengths.min() >= 8 and lengths.max() <= 30
    assert len(ds.meta["planted_topics"]) == ds.n_items
    assert set(ds.meta["planted_topics"].tolist()) == set(range(10))
    for u in range(ds.n_users):  # time never goes back; no item repeats
        rows = slice(*ds.interactions.user_offsets()[u : u + 2])
        assert np.all(np.diff(ds.interactions.timestamp[rows]) >= 0)
        assert len(set(ds.interactions.item[rows].tolist())) == rows.stop - rows.start
    tied = np.diff(ds.interactions.timestamp)[np.diff(ds.interactions.user) == 0] == 0
    assert 0.1 < tied.mean() < 0.3


def test_deterministic_from_seed(ds):
    again = load_dataset("synthetic")
    for a, b in zip((ds.interactions.user, ds.interactions.item, ds.interactions.timestamp),
                    (again.interactions.user, again.interactions.item, again.interactions.timestamp), strict=True):  # fmt: skip
        assert np.array_equal(a, b)
    assert ds.catalog.fields == again.catalog.fields
    other = load_dataset("synthetic", seed=1)
    assert not np.array_equal(other.interactions.item[:100], ds.interactions.item[:100])


def test_topic_words_are_disjoint():
    words = [w for t in range(30) for group in topic_words(t)[1:] for w in group] + [
        topic_words(t)[0] for t in range(30)
    ]
    assert len(words) == len(set(words))
    assert len(TOPIC_WORDS) == 10


def test_titles_carry_the_planted_topic(ds):
    vocab = [set(w for group in topic_words(t)[1:] for w in group) for t in range(10)]
    for fields, topic in zip(ds.catalog.fields, ds.meta["planted_topics"], strict=True):
        words = fields["title"].split()
        assert len(words) == 4 and set(words) <= vocab[topic]
        assert fields["categories"] == [ds.meta["topic_names"][topic]]
    assert len({f["title"] for f in ds.catalog.fields}) == ds.n_items


def _topic_change(ds) -> float:
    """Mean share of a user's last 4 items whose topic is absent from the user's first 4."""
    topics, off = ds.meta["planted_topics"][ds.interactions.item], ds.interactions.user_offsets()
    return float(
        np.mean(
            [
                np.isin(topics[e - 4 : e], topics[s : s + 4], invert=True).mean()
                for s, e in zip(off[:-1], off[1:], strict=True)
            ]
        )
    )


def test_drift_moves_topic_preferences():
    still = load_dataset("synthetic", n_users=400, drift=0.0, follow=0.0)
    moving = load_dataset("synthetic", n_users=400, drift=1.0, follow=0.0)
    assert _topic_change(moving) > _topic_change(still) + 0.1


def test_transitions_beat_popularity(ds):
    """A first-order transition count model beats popularity on the leave-one-out test set."""
    split = leave_one_out(ds)
    n = ds.n_items
    counts = np.zeros((n, n))
    for seq in split.train:
        np.add.at(counts, (seq[:-1], seq[1:]), 1)
    popular = np.argsort(-np.bincount(split.train.values, minlength=n))[:10]
    last = np.array([h[-1] for h in split.test.histories])
    target = split.test.targets.values
    top_next = np.argsort(-(counts[last] + 1e-3 * np.bincount(split.train.values, minlength=n)), axis=1)[:, :10]
    hit_transition = np.mean([t in row for t, row in zip(target, top_next, strict=True)])
    hit_popular = np.isin(target, popular).mean()
    assert hit_transition > 0.4 and hit_transition > 3 * hit_popular


def test_more_topics_than_named(tmp_path):
    ds = load_dataset("synthetic", n_users=50, n_items=300, n_topics=25, seq_len_max=12)
    assert ds.meta["planted_topics"].max() <= 24 and len(ds.meta["topic_names"]) == 25
