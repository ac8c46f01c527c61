"""sidkit-letter: LETTER (Wang et al., CIKM 2024) and SASRec (Kang & McAuley, ICDM 2018).

Importing this package is cheap (no torch); the components live in
:mod:`sidkit_letter.encoders`, :mod:`sidkit_letter.generators`,
:mod:`sidkit_letter.decoding` and :mod:`sidkit_letter.tokenizers` and are built through
sidkit's registry. The SASRec model itself (shared by the ``sasrec`` encoder and
generator) is :mod:`sidkit_letter.models.sasrec`.
"""

__version__ = "0.1.0"
