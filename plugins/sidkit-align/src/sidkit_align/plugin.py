"""The sidkit hook of sidkit-align. Imports only sidkit's registry and the attrs configs
(never numpy work or scipy), so ``sidkit plugins`` and ``sidkit --help`` stay fast."""

from __future__ import annotations

from sidkit.registry import hookimpl

from .configs import AlignConfig, KeepConfig, RebuildConfig


@hookimpl
def sidkit_register_components(register):
    register(
        kind="sid-updater",
        name="keep",
        factory="sidkit_align.updaters:KeepUpdater",
        config=KeepConfig,
        description="Keep the stale SIDs the checkpoint was trained on (FT-old)",
    )
    register(
        kind="sid-updater",
        name="rebuild",
        factory="sidkit_align.updaters:RebuildUpdater",
        config=RebuildConfig,
        description="Use the rebuilt SIDs as they are, in the checkpoint's vocabulary (FT-new)",
    )
    register(
        kind="sid-updater",
        name="align",
        factory="sidkit_align.updaters:AlignUpdater",
        config=AlignConfig,
        description="Map rebuilt SIDs into the old token space per level, greedy or Hungarian (FT-ours)",
    )
