"""Options every format shares."""

from __future__ import annotations

import attrs

from ...config.validators import at_least, one_of
from ..model import TIES

__all__ = ["LoadOptions", "DEDUP"]

DEDUP = ("first", "last", "none")


@attrs.frozen(kw_only=True)
class LoadOptions:
    """Options of every format.

    ``ties``: order of a user's interactions with equal timestamps: ``keep`` (file order),
    ``shuffle`` (seeded by ``tie_seed``) or ``item-id`` (by external item id).
    ``min_rating``: drop interactions rated below it. ``dedup``: of repeated (user, item)
    pairs keep the ``first`` or ``last`` (in time), or keep all (``none``).
    ``kcore``: then keep repeatedly only users and items with at least ``kcore``
    interactions (0 = off). ``strict_items``: with an item file, an interaction whose item
    is not in it is an error (otherwise the item gets empty text).
    """

    ties: str = attrs.field(default="keep", validator=one_of(TIES))
    tie_seed: int = 0
    min_rating: float | None = attrs.field(default=None, converter=attrs.converters.optional(float))
    kcore: int = attrs.field(default=0, validator=at_least(0))
    dedup: str = attrs.field(default="first", validator=one_of(DEDUP))
    strict_items: bool = True
