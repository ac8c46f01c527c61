"""attrs validators whose messages start with the field name and state the valid range
(sidkit's config errors attach them to the right key path)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["at_least", "greater_than", "between", "one_of", "each_at_least"]


def at_least(lo):
    """``value >= lo``."""

    def check(_inst, attribute, value):
        if value < lo:
            raise ValueError(f"{attribute.name} must be >= {lo}, got {value!r}")

    return check


def greater_than(lo):
    """``value > lo``."""

    def check(_inst, attribute, value):
        if not value > lo:
            raise ValueError(f"{attribute.name} must be > {lo}, got {value!r}")

    return check


def between(lo, hi):
    """``lo <= value <= hi``."""

    def check(_inst, attribute, value):
        if not lo <= value <= hi:
            raise ValueError(f"{attribute.name} must be between {lo} and {hi}, got {value!r}")

    return check


def one_of(choices: Iterable[str]):
    """``value in choices``."""
    choices = tuple(choices)

    def check(_inst, attribute, value):
        if value not in choices:
            valid = ", ".join(repr(c) for c in choices)
            raise ValueError(f"{attribute.name} must be one of {valid}, got {value!r}")

    return check


def each_at_least(lo, *, min_len: int = 0):
    """A sequence of numbers, each ``>= lo``, with at least ``min_len`` entries."""

    def check(_inst, attribute, value):
        if len(value) < min_len:
            raise ValueError(f"{attribute.name} must have at least {min_len} entries, got {list(value)!r}")
        bad = [v for v in value if v < lo]
        if bad:
            raise ValueError(f"{attribute.name} must contain only values >= {lo}, got {list(value)!r}")

    return check
