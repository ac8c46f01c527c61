"""The sidkit hook of sidkit-intrr. Imports only sidkit's registry and the attrs config
(never torch), so ``sidkit plugins`` and ``sidkit --help`` stay fast."""

from __future__ import annotations

from sidkit.registry import hookimpl

from .config import IntRRConfig


@hookimpl
def sidkit_register_components(register):
    register(
        kind="generator",
        name="intrr",
        factory="sidkit_intrr.generator:IntRRGenerator",
        config=IntRRConfig,
        description="IntRR: recursive-assignment network, one backbone position per item (decode with beam)",
        provides=("stepwise-generation",),
    )
