"""sidkit-letter generators: ``sasrec`` (:mod:`.sasrec`); this package imports nothing heavy itself."""
