"""A test-only sid-updater that is a :class:`sidkit.protocols.TokenizerAdapter`: it re-fits
the tokenizer it is given in place (so a runner that handed it the shared previous
tokenizer would see it change) and assigns SIDs to the refreshed embeddings, clamped into
the previous vocabulary."""

from __future__ import annotations

import attrs
import numpy as np
from sidkit.errors import SidkitError
from sidkit.registry import hookimpl
from sidkit.types import SIDTable


@attrs.frozen
class RefitConfig:
    pass


class RefitAdapter:
    def __init__(self, config: RefitConfig | None = None):
        self.config = config or RefitConfig()

    def adapt(self, previous_tokenizer, previous_sids, embeddings, ctx):
        previous_tokenizer.fit(embeddings, ctx)
        fitted = previous_tokenizer.assign(embeddings)
        # stay in the previous vocabulary, so the policy's generator can be warm-started
        sizes = np.asarray(previous_sids.codebook_sizes)
        table = SIDTable(np.minimum(fitted.codes, sizes - 1), previous_sids.codebook_sizes)
        report = {
            "rows": "refreshed", "n_items": int(table.n_items), "n_previous": int(previous_sids.n_items),
            "got_split": ctx.split is not None, "n_extras_items": int(len(ctx.extras["items"])),
        }
        return previous_tokenizer, table, report

    def update(self, previous, refreshed, ctx):
        raise SidkitError("sid-updater tok-refit adapts the tokenizer; it has no table-to-table update")


class AdapterPlugin:
    @hookimpl
    def sidkit_register_components(self, register):
        register(kind="sid-updater", name="tok-refit", factory="continual_test_components:RefitAdapter", config=RefitConfig,
                 description="test: re-fit the previous tokenizer in place")
