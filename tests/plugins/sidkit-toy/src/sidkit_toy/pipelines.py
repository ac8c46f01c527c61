"""The toy pipeline config the repository's CLI tests run (seconds on a CPU), and a helper
that runs it with ``sidkit run`` in a fresh process with only the named plugins loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["toy_pipeline", "sidkit_cli"]

_TEMPLATE = """
[run]
seed = {seed}
progress = false

[data]
format = "synthetic"
n_users = {n_users}
n_items = {n_items}
n_topics = {n_topics}

[split]
name = "leave-one-out"
max_len = {max_len}

[encoder]
name = "toy-text"
dim = {dim}

[tokenizer]
name = "toy-rkmeans"
levels = 2
codebook_size = {codebook_size}

[generator]
name = "toy-mlp"
max_len = {max_len}
dim = {dim}
hidden = {hidden}

[generator.train]
epochs = {epochs}
batch_size = 64
progress = false

[decoder]
name = "toy-exhaustive"

[evaluator]
name = "ranking"
ks = [5, 10]
"""

DEFAULTS = {"seed": 3, "n_users": 300, "n_items": 120, "n_topics": 6, "max_len": 10, "dim": 32, "codebook_size": 6,
            "hidden": 64, "epochs": 4}
SMALL = {"n_users": 200, "n_items": 80, "n_topics": 4, "max_len": 8, "dim": 16, "codebook_size": 5, "hidden": 32}


def toy_pipeline(small: bool = False, **values: int) -> str:
    """The toy pipeline TOML (``small``: fewer users and items, narrower models)."""
    return _TEMPLATE.format(**{**DEFAULTS, **(SMALL if small else {}), **values})


def sidkit_cli(*args: str, plugins: str = "sidkit-toy", cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m sidkit.cli ARGS`` with ``SIDKIT_LOAD_PLUGINS=plugins`` and one thread."""
    env = {**os.environ, "SIDKIT_LOAD_PLUGINS": plugins, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sidkit.cli", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
