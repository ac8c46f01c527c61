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


def _interactions_digest(ds) -> str:
    import hashlib

    i = ds.interactions
    return hashlib.sha256(np.concatenate([i.user, i.item, i.timestamp]).tobytes()).hexdigest()[:16]


def test_item_side_drift_off_leaves_the_data_as_it_was():
    """Pinned: the digests of the default datasets before the drift options existed."""
    assert _interactions_digest(load_dataset("synthetic")) == "770afbbb0ff2523e"
    small = dict(n_users=400, n_items=150, n_topics=6, drift=0.8)
    assert _interactions_digest(load_dataset("synthetic", **small)) == "e3b19c4ab46d773e"
    assert "moved_items" not in load_dataset("synthetic", **small).meta


def _same_topic_share(ds, topics, moved, after: bool) -> float:
    """Share of the next items after a moved item that share its topic in ``topics``, among
    transitions before (``after=False``) or after the drift time."""
    i = ds.interactions
    same_user = i.user[1:] == i.user[:-1]
    late = i.timestamp[1:] >= ds.meta["drift_time"]
    pick = same_user & np.isin(i.item[:-1], moved) & (late if after else ~late)
    a, b = i.item[:-1][pick], i.item[1:][pick]
    return float(np.mean(topics[a] == topics[b]))


@pytest.mark.parametrize("activity", ["burst", "spread"])
def test_moved_items_change_their_collaborative_neighbourhood_at_the_drift(activity):
    ds = load_dataset(
        "synthetic", n_users=1500, n_items=300, n_topics=6, item_drift=0.2, follow=0.7, drift_at=0.5, activity=activity
    )
    before, after, moved = ds.meta["planted_topics"], ds.meta["planted_topics_after"], ds.meta["moved_items"]
    assert len(moved) == 60 and np.array_equal(np.flatnonzero(before != after), np.sort(moved))
    # titles still name the old topic: content cannot see the move
    names = ds.meta["topic_names"]
    assert all(ds.catalog.fields[m]["categories"] == [names[before[m]]] for m in moved)
    assert _same_topic_share(ds, before, moved, after=False) > 0.6 > _same_topic_share(ds, after, moved, after=False)
    assert _same_topic_share(ds, after, moved, after=True) > 0.6 > _same_topic_share(ds, before, moved, after=True)


def test_new_items_appear_only_after_their_release():
    ds = load_dataset("synthetic", n_users=800, n_items=200, n_topics=5, new_items=0.1, drift_at=0.6)
    release, i = ds.meta["release_day"], ds.interactions
    new = np.flatnonzero(np.isfinite(release))
    assert len(new) == 20 and np.all(release[new] >= ds.meta["drift_time"])
    assert np.all(i.timestamp >= release[i.item])
    assert np.isin(new, i.item).sum() >= 15  # released items do get interactions
    late = i.timestamp >= ds.meta["drift_time"]
    assert not np.isin(i.item[~late], new).any()


def _blocks_per_user(ds, n_blocks: int = 10) -> np.ndarray:
    """How many of ``n_blocks`` equal-count time blocks each user has an interaction in."""
    i = ds.interactions
    block = np.minimum(np.argsort(np.argsort(i.timestamp, kind="stable")) * n_blocks // len(i.timestamp), n_blocks - 1)
    pairs = np.unique(np.stack([i.user, block]), axis=1)
    return np.bincount(pairs[0], minlength=ds.n_users)


def test_spread_activity_puts_most_users_in_most_time_blocks():
    """Burst users are active a few weeks, so a time block holds a small share of them;
    spread users span the time line (what continual scenarios need to test many users)."""
    small = dict(n_users=600, n_items=300, n_topics=6, seq_len_min=10, seq_len_max=30)
    burst, spread = load_dataset("synthetic", **small), load_dataset("synthetic", activity="spread", **small)
    assert len(burst.interactions) == len(spread.interactions)  # same sequences' lengths
    assert np.median(_blocks_per_user(burst)) <= 2
    assert np.median(_blocks_per_user(spread)) >= 8
    days = (spread.interactions.timestamp - spread.interactions.timestamp.min()) / 86_400
    assert days.max() < 790 and np.all(np.diff(spread.interactions.timestamp)[np.diff(spread.interactions.user) == 0] >= 0)


def test_activity_must_be_burst_or_spread():
    with pytest.raises(ValueError, match="activity must be one of 'burst', 'spread', got 'spred'"):
        load_dataset("synthetic", activity="spred")
