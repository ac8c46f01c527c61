"""sidkit-continual: the continual-learning scenario runner (``sidkit continual``).

Strict chronological blocks, a Base model, SID-refresh policies warm-started from it,
evaluation on the next block, compute accounting and a seed-level report. See
``sdk_docs/plugins/continual.md``. Importing the package is cheap: the names below are
loaded from their modules on first use, so ``sidkit --help`` never imports the runner
(torch, scipy, matplotlib).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "DEFAULT_UPDATERS": "config",
    "ScenarioConfig": "config",
    "ScenarioSection": "config",
    "load_scenario": "config",
    "resolve_scenario": "config",
    "ItemSpace": "data",
    "training_split": "data",
    "FlopMeter": "flops",
    "ContinualRunner": "runner",
    "run_continual": "runner",
    "scenario_fingerprint": "runner",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
