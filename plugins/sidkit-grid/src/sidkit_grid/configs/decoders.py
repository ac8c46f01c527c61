"""Config of the decoder ``beam`` (attrs only: cheap to import)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least

__all__ = ["BeamConfig"]


@attrs.frozen(kw_only=True)
class BeamConfig:
    """Beam search over SIDs with a KV cache.

    ``beam_width``: beams kept per history at every SID level (raised to ``k`` with a
    warning when the run asks for more items than beams). ``constrained``: every step may
    only extend a beam into a valid SID prefix of the table (a per-level trie of the
    catalog's SIDs, memory linear in the number of items); ``false`` decodes freely within
    each level's codes, drops generated SIDs that belong to no item, and back-fills rows left
    with fewer than ``k`` items from a constrained search. ``batch_size``: histories decoded
    together, lowered so that at most ``MAX_BEAMS`` = 8,192 beams advance together (memory
    grows linearly with histories × beams; measured in ``sdk_docs/results.md``).
    """

    beam_width: int = attrs.field(default=20, validator=at_least(1))
    constrained: bool = True
    batch_size: int = attrs.field(default=256, validator=at_least(1))
