"""sidkit-dact: drift-aware continual tokenization (DACT) and tokenizer fine-tuning baselines.

Importing this package is cheap (no torch). The components are built through sidkit's
registry: the tokenizer ``dact`` (:mod:`.tokenizer`, with its drift detector :mod:`.cdim`),
the sid-updater ``dact`` (:mod:`.update` trains, :mod:`.reassign` re-assigns) and the
baselines ``tok-frozen``, ``tok-finetune`` and ``reformer`` (:mod:`.adapters`).
"""

__version__ = "0.1.0"
