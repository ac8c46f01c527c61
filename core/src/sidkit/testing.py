"""Pytest helpers for sidkit and its plugins (loaded automatically as a pytest plugin).

- marker ``realdata``: tests that need ``../shared/data``; they skip with a reason when it
  is absent, and fail instead when ``SIDKIT_REQUIRE_REALDATA=1`` (CI).
- fixture ``shared_data``: the path of the shared data folder.
- fixture ``one_thread``: torch on one intra-op thread for the test (tiny models run fastest
  that way, do not fight other processes, and train bit-for-bit reproducibly).
- ``successor_split()``: a toy split whose sequences walk the items in order (item ``i`` is
  always followed by ``(i + 1) % n_items``), for "learns a deterministic rule" tests.
- fixture ``sidkit_registry``: a fresh registry installed as the process-wide one, with the
  core's built-ins loaded; ``sidkit_registry.add_plugin(obj, "name")`` registers an
  in-memory plugin for one test and it is gone afterwards.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

REQUIRE_ENV = "SIDKIT_REQUIRE_REALDATA"
DATA_ENV = "SIDKIT_SHARED_DATA"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realdata: needs the real datasets in ../shared/data")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def find_shared_data(start: Path | None = None) -> Path | None:
    """``$SIDKIT_SHARED_DATA``, else the first ``shared/data`` folder beside a parent of
    ``start`` (the project is cloned with ``shared/`` next to it)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = (start or Path.cwd()).resolve()
    for parent in (here, *here.parents):
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data(request: pytest.FixtureRequest) -> Path:
    path = find_shared_data(Path(str(request.config.rootpath)))
    if path is None:
        msg = f"real datasets not found (set {DATA_ENV} or clone with ../shared/data beside the project)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {msg}")
        pytest.skip(msg)
    return path


def successor_split(n_items: int = 20, n_users: int = 200, n_eval: int = 48, seed: int = 0):
    """A :class:`~sidkit.types.SplitData` of walks ``s, s+1, ...`` (mod ``n_items``):
    ``n_users`` training walks of 3-8 items, ``n_eval`` held-out walks of 1-6 items whose
    target is the next item (validation = test)."""
    import numpy as np

    from .types import EvalSet, Ragged, SplitData

    rng = np.random.default_rng(seed)

    def walks(count, lo, hi):
        starts, lengths = rng.integers(0, n_items, count), rng.integers(lo, hi, count)
        return [(s + np.arange(n)) % n_items for s, n in zip(starts, lengths, strict=True)]

    train = Ragged.from_lists(walks(n_users, 3, 9))
    histories = Ragged.from_lists(walks(n_eval, 1, 7))
    targets = Ragged.from_lists([[(h[-1] + 1) % n_items] for h in histories])
    valid = EvalSet(np.arange(n_eval), histories, targets)
    return SplitData(train, valid, valid, n_items)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture
def sidkit_registry(monkeypatch: pytest.MonkeyPatch):
    from sidkit import __version__, builtins
    from sidkit import registry as reg_mod

    registry = reg_mod.Registry()
    registry.add_plugin(builtins, reg_mod.CORE_DIST, __version__)
    monkeypatch.setattr(reg_mod, "_REGISTRY", registry)
    yield registry
