"""The sidkit hook of sidkit-letter. Imports only sidkit's registry and the attrs configs
(never torch), so ``sidkit plugins`` and ``sidkit --help`` stay fast."""

from __future__ import annotations

from sidkit.registry import hookimpl

from .configs import (
    ContentCollabConfig,
    ItemScoresConfig,
    LetterConfig,
    SASRecConfig,
    SASRecGeneratorConfig,
)


@hookimpl
def sidkit_register_components(register):
    register(
        kind="encoder",
        name="sasrec",
        factory="sidkit_letter.encoders.sasrec:SASRecEncoder",
        config=SASRecConfig,
        description="Collaborative item embeddings: the item table of a SASRec trained on the training split",
    )
    register(
        kind="encoder",
        name="content+collab",
        factory="sidkit_letter.encoders.combined:ContentCollabEncoder",
        config=ContentCollabConfig,
        description="A content and a collaborative encoder side by side (both as views; values = one or their concatenation)",
    )
    register(
        kind="tokenizer",
        name="letter",
        factory="sidkit_letter.tokenizers.letter:LetterTokenizer",
        config=LetterConfig,
        description="LETTER: RQ-VAE with collaborative and diversity regularisers (Wang et al. 2024)",
    )
    register(
        kind="generator",
        name="sasrec",
        factory="sidkit_letter.generators.sasrec:SASRecGenerator",
        config=SASRecGeneratorConfig,
        description="SASRec over item IDs (ignores SIDs): the ID-based baseline, scores every item",
        provides=("item-scores",),
    )
    register(
        kind="decoder",
        name="item-scores",
        factory="sidkit_letter.decoding.item_scores:ItemScoresDecoder",
        config=ItemScoresConfig,
        description="Full-catalog top-k over a generator's score_items(histories)",
        requires=("item-scores",),
    )
