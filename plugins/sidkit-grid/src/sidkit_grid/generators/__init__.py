"""GRID generators: ``tiger`` (:mod:`.tiger`) and ``decoder-only`` (:mod:`.decoder_only`);
this package imports nothing heavy itself."""
