"""Fixtures of the sidkit-grid tests."""

from __future__ import annotations

import pytest
from sidkit.context import Context


@pytest.fixture
def ctx() -> Context:
    return Context(seed=0, progress=False)
