"""Config of the decoder ``beam`` (attrs only: cheap to import)."""

from __future__ import annotations

import attrs
from sidkit.config.validators import at_least, one_of

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
    ``precision``: ``"fp32"``, or ``"bf16"`` to run the model's matmuls under
    ``torch.autocast`` in bfloat16 while scores stay fp32 (weights are not changed). On this
    CPU (AVX512-BF16) bf16 roughly halves batched decoding time; top-10 lists agree with
    fp32 on ~99 % of items (``benchmarks/predict_throughput.py``). Default fp32, so
    validation and test rankings stay exact. ``exclude_history``: leave a history's own items
    out of its ranking (the last SID level may not pick a SID all of whose items are in the
    history; items of a SID shared with a history item are dropped after). Off by default:
    sidkit evaluates as the papers do, without filtering; when on, the run's ``markov/`` and
    ``mostpop/`` rows leave history items out too.
    """

    beam_width: int = attrs.field(default=20, validator=at_least(1))
    constrained: bool = True
    batch_size: int = attrs.field(default=256, validator=at_least(1))
    precision: str = attrs.field(default="fp32", validator=one_of(("fp32", "bf16")))
    exclude_history: bool = False
