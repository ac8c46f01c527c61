"""LETTER tokenizer ``letter`` (:mod:`.letter`), its Sinkhorn assignment (:mod:`.sinkhorn`)
and regularisers (:mod:`.regularizers`). Import the submodules; this package imports nothing
heavy itself."""
