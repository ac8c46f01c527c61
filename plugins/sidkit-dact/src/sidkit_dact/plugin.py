"""The sidkit hook of sidkit-dact. Imports only sidkit's registry and the attrs configs
(never torch), so ``sidkit plugins`` and ``sidkit --help`` stay fast."""

from __future__ import annotations

from sidkit.registry import hookimpl

from .configs import DactConfig, DactUpdaterConfig, FinetuneConfig, FrozenConfig, ReformerConfig


@hookimpl
def sidkit_register_components(register):
    register(
        kind="tokenizer",
        name="dact",
        factory="sidkit_dact.tokenizer:DactTokenizer",
        config=DactConfig,
        description="DACT's tokenizer: letter with DACT's defaults and the drift detector CDIM in its state",
    )
    register(
        kind="sid-updater",
        name="dact",
        factory="sidkit_dact.adapters:DactAdapter",
        config=DactUpdaterConfig,
        description="DACT: drift-aware fine-tuning of the dact tokenizer, relaxed-to-strict re-assignment (periods)",
    )
    register(
        kind="sid-updater",
        name="tok-frozen",
        factory="sidkit_dact.adapters:FrozenAdapter",
        config=FrozenConfig,
        description="Tokenizer frozen: old SIDs kept, the old tokenizer assigns new items (periods)",
    )
    register(
        kind="sid-updater",
        name="tok-finetune",
        factory="sidkit_dact.adapters:FinetuneAdapter",
        config=FinetuneConfig,
        description="Naive tokenizer fine-tuning: every item re-assigned by the fine-tuned tokenizer (periods)",
    )
    register(
        kind="sid-updater",
        name="reformer",
        factory="sidkit_dact.adapters:ReformerAdapter",
        config=ReformerConfig,
        description="Reformer: tokenizer fine-tuned, only new items take its codes, old SIDs kept (periods)",
    )
