"""attrs validators shared by sidkit's config classes. Each names the field and what was
expected, so :func:`sidkit.config.structure` reports e.g. ``scenario.refresh: refresh must be
one of 'scratch', 'warm', got 'warmer' (did you mean 'warm'?)``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..errors import did_you_mean

__all__ = ["at_least", "one_of"]


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


def at_least(lo: int):
    """The value is ``>= lo`` (``None`` passes, for optional fields)."""

    def check(_inst: Any, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None and value < lo:
            raise ValueError(f"{attribute.name} must be >= {lo}, got {value}")

    return check
