"""The continual-learning scenario runner (``sidkit continual``): strict chronological
blocks, a Base model, SID-refresh policies warm-started from it, evaluation on the next
block, compute accounting and a seed-level report. See ``sdk_docs/continual.md``."""

from .config import DEFAULT_UPDATERS, ScenarioConfig, ScenarioSection, load_scenario, resolve_scenario
from .data import ItemSpace, training_split
from .flops import FlopMeter
from .runner import ContinualRunner, run_continual

__all__ = [
    "DEFAULT_UPDATERS",
    "ScenarioConfig",
    "ScenarioSection",
    "load_scenario",
    "resolve_scenario",
    "ItemSpace",
    "training_split",
    "FlopMeter",
    "ContinualRunner",
    "run_continual",
]
