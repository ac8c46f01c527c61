"""The public API of sidkit-letter for other plugins (documented in ``sdk_docs/plugins/letter.md``,
"For plugin authors"). Another plugin imports sidkit-letter only from here (or the package
itself); every other module of sidkit-letter is private and may change without notice.

What is here is what a plugin needs to build on the ``letter`` tokenizer (sidkit-dact does):

- its config (attrs only, imported eagerly, no torch): :class:`LetterConfig`;
- the tokenizer and its network (torch, imported on first access): :class:`LetterTokenizer`,
  :class:`LetterRQVAE` (GRID's RQ-VAE with the optional ``cf_proj`` map and Sinkhorn on
  the last level);
- :func:`contrastive_loss` (the collaborative in-batch loss ``letter`` trains with) and
  :func:`collision_count` (items whose code row an earlier item already has).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .configs.tokenizers import LetterConfig

_LAZY = {
    "LetterTokenizer": "tokenizers.letter",
    "LetterRQVAE": "tokenizers.letter",
    "collision_count": "tokenizers.letter",
    "contrastive_loss": "tokenizers.regularizers",
}

__all__ = ["LetterConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"sidkit_letter.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .tokenizers.letter import LetterRQVAE, LetterTokenizer, collision_count  # noqa: F401
    from .tokenizers.regularizers import contrastive_loss  # noqa: F401
