"""Fixtures of the sidkit-diger tests: one torch thread and a toy split with a fitted tokenizer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sidkit.testing import successor_split

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # diger_toys, imported by name (pytest runs with --import-mode=importlib)
    sys.path.insert(0, str(HERE))

from diger_toys import tiny_tokenizer  # noqa: E402


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test on one torch thread (tiny models; bit-for-bit reproducible)."""
    yield


@pytest.fixture
def toy():
    """``(split, tokenizer, embeddings)``: successor walks over 30 items and a fitted tokenizer."""
    tok, emb = tiny_tokenizer()
    return successor_split(n_items=30), tok, emb
