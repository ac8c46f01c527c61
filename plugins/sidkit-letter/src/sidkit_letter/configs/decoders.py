"""Config of the decoder ``item-scores`` (attrs only: cheap to import)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least

__all__ = ["ItemScoresConfig"]


@attrs.frozen(kw_only=True)
class ItemScoresConfig:
    """Full-catalog top-k over ``generator.score_items(histories)``.

    ``batch_size``: histories scored together (memory grows with ``batch_size × n_items``).
    ``exclude_history``: leave the items of a history out of its ranking (a row with fewer
    than ``k`` other items is padded with -1). Off by default: sidkit evaluates without
    filtering, as the generative-recommendation papers do; when on, the run's ``markov/`` and
    ``mostpop/`` leave history items out too.
    """

    batch_size: int = attrs.field(default=256, validator=at_least(1))
    exclude_history: bool = False
