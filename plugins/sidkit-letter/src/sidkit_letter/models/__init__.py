"""Model code shared by several components: :mod:`.sasrec` (the ``sasrec`` encoder and
generator). This package imports nothing heavy itself."""
