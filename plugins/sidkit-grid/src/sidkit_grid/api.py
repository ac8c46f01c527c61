"""The public API of sidkit-grid for other plugins (documented in ``sdk_docs/plugins/grid.md``,
"For plugin authors"). Another plugin imports sidkit-grid only from here (or the package
itself); every other module of sidkit-grid is private and may change without notice.

What is here is what a plugin needs to build on GRID's RQ-VAE (sidkit-letter does):

- configs (attrs only, imported eagerly, no torch): :class:`HFTextConfig`,
  :class:`RQVAEConfig` and :data:`OPTIMIZERS` (the optimizers ``rqvae`` accepts);
- the RQ-VAE extension points (torch, imported on first access): :class:`RQVAETokenizer`,
  the :class:`RQVAE` module, :class:`RQVAEOutput`, :func:`rqvae_loss` and
  :data:`KMEANS_INIT_STEPS`;
- tokenizer pieces: :func:`run_seed` (a tokenizer's seed plus the run's), :func:`nearest`
  (chunked nearest-code search), :func:`kmeans_plus_plus`, :func:`minibatch_kmeans` and
  :func:`deduplicate` (``dedup`` applied to raw codes);
- what a generator needs to be ranked by the ``beam`` decoder (torch, imported on first
  access; sidkit-intrr uses them): :class:`SIDVocab` (the token layout ``beam`` reads a
  generator's ``vocab`` as), :class:`PrefixIndex` (the valid SID prefixes of a SID table),
  :func:`beam_search` (one batched constrained or free search over an encoded state) and
  :data:`MAX_BEAMS`;
- the ``tiger`` generator, to subclass (sidkit-diger does): :class:`TigerConfig`,
  :class:`GridTrainConfig`, :class:`GridOptimConfig` (attrs, eager) and
  :class:`TigerGenerator` with the special token ids :data:`PAD`, :data:`EOS`, :data:`BOS`
  (torch, on first access); for its item-causal ``windows = "all"`` (sidkit-diger's joint
  model lays out the same windows): :class:`CausalWindows`, :data:`IGNORE` (an untrained
  label), :func:`causal_encoder_mask`, :func:`block_mask` and :func:`cross_distance`;
- :func:`use_fast_attention` (torch, on first access): sets a transformers GPT-2 or T5
  config to the attention the grid generators use (float32 fused SDPA on CPU under bf16
  autocast when no attention dropout applies; sidkit-intrr's backbone uses it).

Generic helpers live in the core instead: padded histories are
:meth:`sidkit.types.Ragged.to_padded` and :func:`sidkit.data.trim_left_padding`, config
validators :mod:`sidkit.config.validators`, seeded generators
:func:`sidkit.training.make_generator`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .configs.encoders import HFTextConfig
from .configs.generators import GridOptimConfig, GridTrainConfig, TigerConfig
from .configs.tokenizers import OPTIMIZERS, RQVAEConfig

_LAZY = {
    "RQVAETokenizer": "tokenizers.rqvae",
    "KMEANS_INIT_STEPS": "tokenizers.rqvae",
    "RQVAE": "tokenizers.rqvae_model",
    "RQVAEOutput": "tokenizers.rqvae_model",
    "rqvae_loss": "tokenizers.rqvae_model",
    "run_seed": "tokenizers.common",
    "nearest": "tokenizers.common",
    "kmeans_plus_plus": "tokenizers.common",
    "deduplicate": "tokenizers.common",
    "minibatch_kmeans": "tokenizers.kmeans",
    "SIDVocab": "generators.sequences",
    "PrefixIndex": "decoding.prefix_index",
    "beam_search": "decoding.beam",
    "MAX_BEAMS": "decoding.beam",
    "TigerGenerator": "generators.tiger",
    "PAD": "generators.sequences",
    "EOS": "generators.sequences",
    "BOS": "generators.sequences",
    "IGNORE": "generators.sequences",
    "CausalWindows": "generators.sequences",
    "causal_encoder_mask": "generators.tiger",
    "block_mask": "generators.tiger",
    "cross_distance": "generators.tiger",
    "use_fast_attention": "generators.attention",
}

__all__ = ["HFTextConfig", "RQVAEConfig", "OPTIMIZERS", "TigerConfig", "GridTrainConfig", "GridOptimConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"sidkit_grid.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .decoding.beam import MAX_BEAMS, beam_search  # noqa: F401
    from .decoding.prefix_index import PrefixIndex  # noqa: F401
    from .generators.sequences import BOS, EOS, IGNORE, PAD, CausalWindows, SIDVocab  # noqa: F401
    from .generators.tiger import TigerGenerator, block_mask, causal_encoder_mask, cross_distance  # noqa: F401
    from .tokenizers.common import deduplicate, kmeans_plus_plus, nearest, run_seed  # noqa: F401
    from .tokenizers.kmeans import minibatch_kmeans  # noqa: F401
    from .tokenizers.rqvae import KMEANS_INIT_STEPS, RQVAETokenizer  # noqa: F401
    from .tokenizers.rqvae_model import RQVAE, RQVAEOutput, rqvae_loss  # noqa: F401
