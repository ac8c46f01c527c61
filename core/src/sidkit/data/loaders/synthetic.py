"""Format ``synthetic``: a seeded generated dataset with planted structure (no files).

Items belong to topics; an item's title is built from its topic's own words (no word is
shared between topics), e.g. ``"velvet matte lipstick rose"``. Each user has a mixture
over topics that drifts from a start mixture towards an end mixture along the sequence.
The next item is, with probability ``follow``, the *successor* of the previous item (a
fixed cycle through each topic's items), else a popular item of a topic drawn from the
user's current mixture. Users never repeat an item. Timestamps have day resolution;
about one step in five shares the previous step's day. ``Dataset.meta["planted_topics"]``
holds each catalog item's topic.

Item-side drift (off by default; the dataset is then unchanged): at ``drift_at`` (a share of
the interactions in time order) a share ``item_drift`` of the items move to another topic's
collaborative neighbourhood (its successor cycle and popularity list; titles keep the old
topic's words), and a share ``new_items`` of the items exist only from a release day after
it. ``meta["planted_topics_after"]``, ``meta["moved_items"]`` and ``meta["release_day"]``
record what was planted.

``activity = "spread"`` (default ``"burst"``: a user's steps a few days apart, so a user is
active for a few weeks) spreads each user's steps over the whole time line instead, so that
every time block holds most users: continual scenarios then test many users per block.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ...config.validators import at_least, between, one_of
from ..model import Dataset
from .build import RawInteractions, build_dataset
from .options import LoadOptions

__all__ = ["SyntheticConfig", "load_synthetic", "TOPIC_WORDS", "topic_words", "topic_names"]

# topic name -> (modifiers, nouns, variants); every word belongs to one topic only
TOPIC_WORDS: dict[str, tuple[str, str, str]] = {
    "makeup": ("velvet matte glossy satin sheer creamy shimmer longwear",
               "lipstick mascara eyeliner blush foundation concealer bronzer eyeshadow",
               "rose coral plum nude berry mauve ruby peach"),
    "skincare": ("hydrating soothing gentle brightening firming clarifying nourishing renewing",
                 "serum moisturizer cleanser toner sunscreen mask exfoliant lotion",
                 "aloe retinol ceramide niacinamide hyaluronic collagen squalane chamomile"),
    "haircare": ("volumizing smoothing repairing curling defrizz keratin strengthening thickening",
                 "shampoo conditioner hairspray mousse pomade hairgel hairoil detangler",
                 "argan coconut biotin jojoba silk avocado macadamia rosemary"),
    "fragrance": ("floral woody citrus musky amber oriental fresh powdery",
                  "perfume cologne mist parfum toilette rollerball diffuser candle",
                  "jasmine sandalwood bergamot vanilla oud patchouli neroli vetiver"),
    "nails": ("chrome crackle holographic glitter pastel neon quickdry metallic",
              "polish topcoat basecoat nailfile cuticle manicure stickers remover",
              "lilac scarlet teal lemon cobalt flamingo mint seafoam"),
    "kitchen": ("nonstick stainless castiron ceramic copper enameled forged tempered",
                "skillet saucepan wok casserole kettle colander spatula whisk",
                "basil saffron paprika oregano cumin thyme ginger nutmeg"),
    "outdoor": ("waterproof ultralight insulated breathable rugged packable thermal windproof",
                "tent backpack sleepingbag lantern trekking compass hammock canteen",
                "alpine summit trail canyon glacier ridge forest river"),
    "electronics": ("wireless bluetooth portable smart rechargeable noisecancelling digital compact",
                    "headphones speaker charger keyboard mouse webcam router tablet",
                    "graphite silver titanium onyx obsidian pearl slate arctic"),
    "books": ("illustrated paperback hardcover annotated bestselling classic collected unabridged",
              "novel memoir anthology atlas cookbook biography thriller poetry",
              "victorian medieval modern gothic nordic tropical cosmic urban"),
    "toys": ("wooden plush magnetic interactive educational musical stacking racing",
             "puzzle blocks dinosaur robot train doll kite yoyo",
             "rainbow jungle pirate rocket unicorn safari dragon castle"),
}  # fmt: skip
_SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ta", "ri", "vo", "ze", "pu", "gi", "ba", "do", "fe", "hu", "jo")
MAX_TOPICS = 2000
TIE_SHARE = 0.2  # share of steps on the same day as the previous one
START = 1_577_836_800  # 2020-01-01 UTC
DAY = 86_400
ACTIVITY = ("burst", "spread")
HORIZON = 790  # days: burst users start within 730 days and stay a few weeks; spread users span it


@attrs.frozen(kw_only=True)
class SyntheticConfig(LoadOptions):
    """Sizes, sequence lengths (uniform in ``[seq_len_min, seq_len_max]``), ``drift`` (share
    of a user's topic mixture replaced by the end of the sequence), ``follow`` (probability
    of moving to the previous item's successor) and ``seed``."""

    n_users: int = attrs.field(default=1000, validator=at_least(1))
    n_items: int = attrs.field(default=500, validator=at_least(2))
    n_topics: int = attrs.field(default=10, validator=between(1, MAX_TOPICS))
    seq_len_min: int = attrs.field(default=8, validator=at_least(2))
    seq_len_max: int = attrs.field(default=30, validator=at_least(2))
    drift: float = attrs.field(default=0.3, validator=between(0.0, 1.0))
    follow: float = attrs.field(default=0.5, validator=between(0.0, 1.0))
    item_drift: float = attrs.field(default=0.0, validator=between(0.0, 1.0))
    new_items: float = attrs.field(default=0.0, validator=between(0.0, 0.9))
    drift_at: float = attrs.field(default=0.6, validator=between(0.0, 1.0))
    activity: str = attrs.field(default="burst", validator=one_of(ACTIVITY))
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.seq_len_max < self.seq_len_min:
            raise ValueError(f"seq_len_max must be >= seq_len_min ({self.seq_len_min}), got {self.seq_len_max}")
        if self.seq_len_max > self.n_items:
            raise ValueError(f"seq_len_max must be <= n_items ({self.n_items}): users never repeat an item")
        if self.n_topics > self.n_items:
            raise ValueError(f"n_topics must be <= n_items ({self.n_items}), got {self.n_topics}")
        if self.item_drift and self.n_topics < 2:
            raise ValueError("item_drift moves items to another topic: it needs n_topics >= 2")

    @property
    def item_side_drift(self) -> bool:
        return bool(self.item_drift or self.new_items)


def _pseudo_word(n: int) -> str:
    return "".join(_SYLLABLES[(n >> shift) & 15] for shift in (12, 8, 4, 0))


def topic_words(topic: int) -> tuple[str, list[str], list[str], list[str]]:
    """``(name, modifiers, nouns, variants)`` of topic ``topic`` (invented words past the 10 named topics)."""
    names = list(TOPIC_WORDS)
    if topic < len(names):
        name = names[topic]
        return (name, *(words.split() for words in TOPIC_WORDS[name]))
    words = [_pseudo_word(topic * 25 + k) for k in range(25)]
    return words[0], words[1:9], words[9:17], words[17:25]


def topic_names(n_topics: int) -> list[str]:
    return [topic_words(t)[0] for t in range(n_topics)]


def _titles(topic: int, n: int, rng: np.random.Generator) -> list[str]:
    _, mods, nouns, variants = topic_words(topic)
    shape = (len(mods), len(mods) - 1, len(nouns), len(variants))
    total = int(np.prod(shape))
    picks = rng.choice(total, size=min(n, total), replace=False)
    picks = np.concatenate([picks, rng.integers(0, total, size=n - len(picks))])
    out = []
    for a, b, c, d in zip(*np.unravel_index(picks, shape), strict=True):
        out.append(f"{mods[a]} {mods[b + (b >= a)]} {nouns[c]} {variants[d]}")
    return out


def _topic_mixtures(rng: np.random.Generator, lengths: np.ndarray, n_topics: int, drift: float) -> np.ndarray:
    """Cumulative topic mixture of every step ``[sum(lengths), n_topics]``."""
    start = rng.dirichlet(np.full(n_topics, 0.3), size=len(lengths))
    end = rng.dirichlet(np.full(n_topics, 0.3), size=len(lengths))
    user = np.repeat(np.arange(len(lengths)), lengths)
    step = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    frac = (drift * step / np.maximum(lengths[user] - 1, 1))[:, None]
    return np.cumsum((1 - frac) * start[user] + frac * end[user], axis=1)


def _structure(order: list[np.ndarray], popularity: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Successor cycles (through ``order[t]``, topic t's members in cycle order) and the
    popularity pool/keys (``popularity[t]``: topic t's members, most popular first): a
    popular item of topic t is ``pool[searchsorted(keys, t + u)]`` for ``u`` in (0, 1)."""
    successor = np.empty(sum(len(m) for m in order), dtype=np.int64)
    weights = []
    for t, members in enumerate(order):
        successor[members] = np.roll(members, -1)
        cdf = np.cumsum(1.0 / np.arange(1, len(members) + 1))  # Zipf popularity
        weights.append(t + cdf / cdf[-1])  # topic t owns keys in (t, t + 1]
    return successor, np.concatenate(popularity), np.concatenate(weights)


def _drifted(
    cfg: SyntheticConfig, topic: np.ndarray, order: list[np.ndarray], popularity: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The moved items, the topics after the move, and each topic's cycle order and
    popularity order after it (an arriving item takes a random place in both)."""
    rng = np.random.default_rng([cfg.seed, 1])
    moved = np.sort(rng.choice(cfg.n_items, size=int(round(cfg.item_drift * cfg.n_items)), replace=False))
    after = topic.copy()
    after[moved] = (topic[moved] + rng.integers(1, cfg.n_topics, size=len(moved))) % cfg.n_topics

    def regroup(lists: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for t, members in enumerate(lists):
            stay = members[after[members] == t]
            arriving = rng.permutation(moved[after[moved] == t])
            out.append(np.insert(stay, np.sort(rng.integers(0, len(stay) + 1, size=len(arriving))), arriving))
        return out

    return moved, after, regroup(order), regroup(popularity)


def _step_days(cfg: SyntheticConfig, lengths: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Every step's day: ``gaps`` after a start day within 730 days (``"burst"``), or sorted
    uniform days over the whole time line (``"spread"``)."""
    if cfg.activity == "spread":
        rng = np.random.default_rng([cfg.seed, 5])
        return np.concatenate([np.sort(rng.integers(0, HORIZON, size=n)) for n in lengths])
    first = np.cumsum(lengths) - lengths
    starts = np.random.default_rng([cfg.seed, 2]).integers(0, 730, size=cfg.n_users)
    g = gaps.copy()
    g[first] = starts
    return np.cumsum(g) - np.repeat(np.cumsum(g)[first] - starts, lengths)


def _generate(cfg: SyntheticConfig) -> tuple[list[list[int]], np.ndarray, np.ndarray, list[dict[str, Any]], dict[str, Any]]:
    """Item sequences, their days, each item's topic, each item's fields and what item-side
    drift planted."""
    rng = np.random.default_rng(cfg.seed)
    topic = rng.permutation(np.arange(cfg.n_items) % cfg.n_topics)
    titles = [""] * cfg.n_items
    order, popularity = [], []
    for t in range(cfg.n_topics):
        members = rng.permutation(np.flatnonzero(topic == t))
        for i, title in zip(members, _titles(t, len(members), rng), strict=True):
            titles[i] = title
        order.append(members)
        popularity.append(rng.permutation(members))
    successor, pool, keys = _structure(order, popularity)

    lengths = rng.integers(cfg.seq_len_min, cfg.seq_len_max + 1, size=cfg.n_users)
    cum = _topic_mixtures(rng, lengths, cfg.n_topics, cfg.drift)
    step_topic = np.minimum((cum < rng.random(len(cum))[:, None] * cum[:, -1:]).sum(axis=1), cfg.n_topics - 1)
    u = rng.random(len(cum))
    popular = pool[np.minimum(np.searchsorted(keys, step_topic + u), len(pool) - 1)]
    follows = rng.random(len(cum)) < cfg.follow
    gaps = np.where(rng.random(len(cum)) < TIE_SHARE, 0, rng.geometric(0.3, size=len(cum)))

    planted: dict[str, Any] = {}
    step_day = after_drift = release = None
    if cfg.item_side_drift or cfg.activity == "spread":  # every step's day is known before its item is drawn
        step_day = _step_days(cfg, lengths, gaps)
    if cfg.item_side_drift:
        drift_day = float(np.quantile(step_day, cfg.drift_at))
        after_drift = step_day >= drift_day
        moved, after, order_after, popularity_after = _drifted(cfg, topic, order, popularity)
        successor_after, pool_after, keys_after = _structure(order_after, popularity_after)
        popular = np.where(after_drift, pool_after[np.minimum(np.searchsorted(keys_after, step_topic + u), len(pool_after) - 1)], popular)
        rel_rng = np.random.default_rng([cfg.seed, 4])
        release = np.full(cfg.n_items, -np.inf)
        fresh = rel_rng.choice(cfg.n_items, size=int(round(cfg.new_items * cfg.n_items)), replace=False)
        release[fresh] = rel_rng.uniform(drift_day, np.quantile(step_day, 0.95), size=len(fresh))
        planted = {"planted_topics_after": after, "moved_items": moved, "release_day": release, "drift_day": drift_day}

    sequences, days, j = [], [], 0
    for n in lengths:
        seen: set[int] = set()
        seq: list[int] = []
        for k in range(j, j + n):
            succ = successor_after if after_drift is not None and after_drift[k] else successor
            item = int(succ[seq[-1]] if seq and follows[k] else popular[k])
            blocked = seen if release is None else seen | set(np.flatnonzero(release > step_day[k]).tolist())
            for _ in range(len(succ)):  # walk the successor cycle past seen (or unreleased) items
                if item not in blocked:
                    break
                item = int(succ[item])
            while item in blocked:  # the whole topic blocked: any other item
                item = int(rng.integers(cfg.n_items))
            seen.add(item)
            seq.append(item)
        if step_day is None:
            gap = gaps[j : j + n].copy()
            gap[0] = rng.integers(0, 730)
            days.append(np.cumsum(gap))
        else:
            days.append(step_day[j : j + n])
        sequences.append(seq)
        j += n
    names = topic_names(cfg.n_topics)
    fields = [{"title": titles[i], "categories": [names[topic[i]]]} for i in range(cfg.n_items)]
    return sequences, np.concatenate(days), topic, fields, planted


def load_synthetic(config: SyntheticConfig) -> Dataset:
    """Generate the synthetic dataset of ``config`` (the same for the same config)."""
    sequences, days, topic, fields, planted = _generate(config)
    lengths = [len(s) for s in sequences]
    items = np.concatenate(sequences)
    raw = RawInteractions(
        users=np.repeat(np.arange(len(sequences)), lengths).astype(str),
        items=items.astype(str),
        timestamps=START + DAY * days,
        ratings=None,
        lines=np.arange(1, len(items) + 1),
        path="<synthetic>",
    )
    catalog = {str(i): f for i, f in enumerate(fields)}
    params = attrs.asdict(config)
    ds = build_dataset(raw, config, fmt="synthetic", name="synthetic", items=catalog, meta={"generator": params})
    kept = np.array([int(i) for i in ds.catalog.item_ids], dtype=np.int64)
    meta = {**ds.meta, "planted_topics": topic[kept], "topic_names": topic_names(config.n_topics)}
    if planted:
        index = np.full(config.n_items, -1, dtype=np.int64)
        index[kept] = np.arange(len(kept))
        meta.update(
            planted_topics_after=planted["planted_topics_after"][kept],
            moved_items=index[planted["moved_items"]][index[planted["moved_items"]] >= 0],
            release_day=START + DAY * planted["release_day"][kept],
            drift_time=START + DAY * planted["drift_day"],
        )
    return attrs.evolve(ds, meta=meta)
