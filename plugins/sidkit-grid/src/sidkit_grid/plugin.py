"""The sidkit hook of sidkit-grid. Imports only sidkit's registry and the attrs configs
(never torch), so ``sidkit plugins`` and ``sidkit --help`` stay fast."""

from __future__ import annotations

from sidkit.registry import hookimpl

from .configs import (
    BeamConfig,
    DecoderOnlyConfig,
    HFTextConfig,
    RKMeansConfig,
    RQVAEConfig,
    RVQConfig,
    TigerConfig,
)


@hookimpl
def sidkit_register_components(register):
    register(
        kind="encoder",
        name="hf-text",
        factory="sidkit_grid.encoders.hf_text:HFTextEncoder",
        config=HFTextConfig,
        description="Mean-pooled Hugging Face transformer embeddings of item text (default: all-MiniLM-L6-v2)",
    )
    register(
        kind="tokenizer",
        name="rkmeans",
        factory="sidkit_grid.tokenizers.rkmeans:RKMeansTokenizer",
        config=RKMeansConfig,
        description="Residual mini-batch k-means (GRID's default)",
    )
    register(
        kind="tokenizer",
        name="rvq",
        factory="sidkit_grid.tokenizers.rvq:RVQTokenizer",
        config=RVQConfig,
        description="Residual vector quantisation, codebooks trained level by level with Adam",
    )
    register(
        kind="tokenizer",
        name="rqvae",
        factory="sidkit_grid.tokenizers.rqvae:RQVAETokenizer",
        config=RQVAEConfig,
        description="RQ-VAE: MLP autoencoder with residual codebooks (TIGER)",
    )
    register(
        kind="generator",
        name="tiger",
        factory="sidkit_grid.generators.tiger:TigerGenerator",
        config=TigerConfig,
        description="T5 encoder-decoder over flattened SID tokens (TIGER)",
        provides=("stepwise-generation",),
    )
    register(
        kind="generator",
        name="decoder-only",
        factory="sidkit_grid.generators.decoder_only:DecoderOnlyGenerator",
        config=DecoderOnlyConfig,
        description="Decoder-only transformer over flattened SID tokens",
        provides=("stepwise-generation",),
    )
    register(
        kind="decoder",
        name="beam",
        factory="sidkit_grid.decoding.beam:BeamDecoder",
        config=BeamConfig,
        description="Beam search over SIDs with KV cache, trie-constrained or free",
        requires=("stepwise-generation",),
    )
