"""Options every format shares, and the validators of the config classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..model import TIES

__all__ = ["LoadOptions", "DEDUP", "one_of", "at_least", "between", "non_empty"]

DEDUP = ("first", "last", "none")


def one_of(choices: Iterable[str]):
    """Validator: the value is one of ``choices``."""
    choices = tuple(choices)

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def at_least(lo: float):
    """Validator: ``value >= lo`` (``None`` passes)."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and value < lo:
            raise ValueError(f"{attribute.name} must be >= {lo}, got {value}")

    return check


def between(lo: float, hi: float):
    """Validator: ``lo <= value <= hi``."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not lo <= value <= hi:
            raise ValueError(f"{attribute.name} must be between {lo} and {hi}, got {value}")

    return check


def non_empty(what: str):
    """Validator: a non-empty string; ``what`` says what it should name."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not value:
            raise ValueError(f"{attribute.name} must name {what}")

    return check


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
