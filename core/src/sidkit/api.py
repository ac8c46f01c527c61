"""The Python entry points in one place.

    from sidkit.api import run_pipeline, load_run
    result = run_pipeline("examples/synthetic-fast.toml", out="runs/demo")
    run = load_run("runs/demo")
    run.recommend(["0", "1"], k=5)
"""

from .config import load_config, resolve_config
from .context import Context
from .pipeline import Pipeline, RunResult, run_pipeline
from .registry import get_registry
from .serving import LoadedRun, load_run

__all__ = [
    "Context",
    "LoadedRun",
    "Pipeline",
    "RunResult",
    "get_registry",
    "load_config",
    "load_run",
    "resolve_config",
    "run_pipeline",
]
