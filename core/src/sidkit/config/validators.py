"""attrs validators shared by sidkit's config classes and the plugins' (the one home for
them: plugins import these instead of keeping their own). Each names the field and what was
expected, so :func:`sidkit.config.structure` reports e.g. ``scenario.refresh: refresh must be
one of 'scratch', 'warm', got 'warmer' (did you mean 'warm'?)``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from ..errors import did_you_mean

__all__ = ["one_of", "at_least", "greater_than", "between", "in_range", "each_at_least", "non_empty"]


def one_of(choices: Iterable[str]):
    """The value is one of ``choices`` (with a did-you-mean)."""
    choices = tuple(choices)

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise ValueError(
                f"{attribute.name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
                + did_you_mean(str(value), choices)
            )

    return check


def at_least(lo: float):
    """``value >= lo`` (``None`` passes, for optional fields)."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and value < lo:
            raise ValueError(f"{attribute.name} must be >= {lo}, got {value!r}")

    return check


def greater_than(lo: float):
    """``value > lo``."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not value > lo:
            raise ValueError(f"{attribute.name} must be > {lo}, got {value!r}")

    return check


def between(lo: float, hi: float):
    """``lo <= value <= hi``."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not lo <= value <= hi:
            raise ValueError(f"{attribute.name} must be between {lo} and {hi}, got {value!r}")

    return check


def in_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False):
    """``lo <(=) value <(=) hi`` (either bound may be left out); NaN fails, ``None`` passes
    (for optional fields). The message states the bounds: ``must be >= 0.0 and < 1.0``."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi}")
    expected = " and ".join(parts)

    def bad(value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return True
        too_low = lo is not None and (value <= lo if lo_open else value < lo)
        too_high = hi is not None and (value >= hi if hi_open else value > hi)
        return too_low or too_high

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and bad(value):
            raise ValueError(f"{attribute.name} must be {expected}, got {value!r}")

    return check


def each_at_least(lo: float, *, min_len: int = 0):
    """A sequence of numbers, each ``>= lo``, with at least ``min_len`` entries."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if len(value) < min_len:
            raise ValueError(f"{attribute.name} must have at least {min_len} entries, got {list(value)!r}")
        if any(v < lo for v in value):
            raise ValueError(f"{attribute.name} must contain only values >= {lo}, got {list(value)!r}")

    return check


def non_empty(what: str):
    """A non-empty value (e.g. a string); ``what`` says what it should name."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not value:
            raise ValueError(f"{attribute.name} must name {what}")

    return check
