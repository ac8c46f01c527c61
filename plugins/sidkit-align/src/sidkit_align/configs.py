"""Configs of the SID updaters ``keep``, ``rebuild`` and ``align`` (attrs only: cheap to import)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import one_of

__all__ = ["DEDUP_MODES", "SOLVERS", "KeepConfig", "RebuildConfig", "AlignConfig"]

DEDUP_MODES = ("auto", "last", "none")
SOLVERS = ("hungarian", "greedy")


@attrs.frozen(kw_only=True)
class KeepConfig:
    """``keep`` has no options: it returns the previous table unchanged."""


@attrs.frozen(kw_only=True)
class RebuildConfig:
    """``dedup``: how the last level is treated. ``"last"``: it is TIGER's de-dup digit
    (not semantic) and is recomputed over the output's semantic codes; ``"none"``: every
    level is semantic; ``"auto"``: ``"last"`` when ``ctx.tokenizer.config.dedup ==
    "digit"``, else ``"none"``."""

    dedup: str = attrs.field(default="auto", validator=one_of(DEDUP_MODES))


@attrs.frozen(kw_only=True)
class AlignConfig(RebuildConfig):
    """``dedup`` as in ``rebuild``. ``solver``: the one-to-one token matching per level,
    ``"hungarian"`` (maximum total co-occurrence, scipy's ``linear_sum_assignment``) or
    ``"greedy"`` (heaviest pairs first)."""

    solver: str = attrs.field(default="hungarian", validator=one_of(SOLVERS))
