"""Fixtures of the sidkit-letter SASRec, ranking and combined-encoder tests: one torch
thread, toy splits with planted sequence rules, and tiny SASRec configs."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.testing import successor_split as make_successor_split
from sidkit.training.config import OptimConfig
from sidkit.types import EvalSet, Ragged, SplitData
from sidkit_letter.configs import SASRecConfig, SASRecGeneratorConfig, SASRecTrainConfig


@pytest.fixture
def successor_split():
    """``make(n_items=20, n_users=200, ...)``: every sequence walks the items in order, item
    ``i`` is always followed by ``(i + 1) % n_items``; validation = test = held-out walks."""

    return make_successor_split


@pytest.fixture
def group_split():
    """``make(n_groups=6, group_size=4, ...)``: items ``g*size .. g*size+size-1`` form group
    ``g``; every user stays inside one group and draws its items uniformly from it, so the
    items of a group share their neighbourhoods and nothing else does. Returns
    ``(split, group of every item)``."""

    def make(n_groups: int = 6, group_size: int = 4, n_users: int = 300, length: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        n_items = n_groups * group_size

        def sequences(count):
            groups = rng.integers(0, n_groups, count)
            return [g * group_size + rng.integers(0, group_size, length) for g in groups]

        train = Ragged.from_lists(sequences(n_users))
        held = sequences(60)
        histories = Ragged.from_lists([s[:-1] for s in held])
        targets = Ragged.from_lists([s[-1:] for s in held])
        split = SplitData(
            train, EvalSet(np.arange(60), histories, targets), EvalSet(np.arange(60), histories, targets), n_items
        )
        return split, np.arange(n_items) // group_size

    return make


@pytest.fixture
def tiny():
    """``tiny(kind="encoder" | "generator", **overrides)``: a SASRec config that trains in
    about a second on one CPU thread (``train`` overrides go in ``train={...}``)."""

    def make(kind: str = "encoder", *, train: dict | None = None, **kw):
        train = dict(train or {})
        lr = train.pop("lr", 5e-3)
        train_cfg = SASRecTrainConfig(
            **{"epochs": 15, "batch_size": 32, "optim": OptimConfig(lr=lr), "progress": False, **train}
        )
        common = {"hidden": 32, "num_heads": 2, "ffn": 64, "dropout": 0.1, "max_len": 10, "train": train_cfg, **kw}
        return (SASRecConfig if kind == "encoder" else SASRecGeneratorConfig)(**common)

    return make
