"""sidkit-letter decoders: ``item-scores`` (:mod:`.item_scores`); this package imports nothing heavy itself."""
