"""Decoder ``beam`` (:mod:`.beam`) and its SID prefix index (:mod:`.prefix_index`);
this package imports nothing heavy itself."""
