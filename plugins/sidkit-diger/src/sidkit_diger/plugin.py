"""The sidkit hook of sidkit-diger. Imports only sidkit's registry and the attrs configs
(never torch), so ``sidkit plugins`` and ``sidkit --help`` stay fast."""

from __future__ import annotations

from sidkit.registry import hookimpl

from .config import DigerConfig, DigerTokenizerConfig


@hookimpl
def sidkit_register_components(register):
    register(
        kind="tokenizer",
        name="diger",
        factory="sidkit_diger.tokenizer:DigerTokenizer",
        config=DigerTokenizerConfig,
        description="DIGER's RQ-VAE pretraining: 3 x 256 codes + a fixed 256-code conflict level",
    )
    register(
        kind="generator",
        name="diger",
        factory="sidkit_diger.generator:DigerGenerator",
        config=DigerConfig,
        description="DIGER: T5 trained jointly with a copy of the RQ-VAE tokenizer (Gumbel assignment, uncertainty decay)",
        provides=("stepwise-generation",),
    )
