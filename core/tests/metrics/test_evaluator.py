"""The ``ranking`` evaluator component and its config."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.config.structure import structure
from sidkit.context import Context
from sidkit.metrics import RankingEvaluator, RankingEvaluatorConfig
from sidkit.protocols import Evaluator
from sidkit.types import EvalSet, Ragged, Rankings


def test_defaults_and_protocol():
    ev = RankingEvaluator(RankingEvaluatorConfig())
    assert isinstance(ev, Evaluator)
    assert ev.config.ks == [5, 10] and ev.required_k == 10 and ev.ks == (5, 10)


def test_evaluate():
    ev = RankingEvaluator(RankingEvaluatorConfig(ks=[2, 1]))
    assert ev.required_k == 2
    examples = EvalSet(np.array([0, 1]), Ragged.from_lists([[3], [4]]), Ragged.from_lists([[5], [6]]))
    rankings = Rankings(np.array([[1, 5], [6, 2]]))  # example 0: rank 2; example 1: rank 1
    m = ev.evaluate(rankings, examples, Context())
    assert m["recall@1"] == pytest.approx(0.5)
    assert m["recall@2"] == pytest.approx(1.0)
    assert m["ndcg@2"] == pytest.approx((1 / np.log2(3) + 1) / 2)
    assert m["n_examples"] == 2
    assert all(isinstance(v, float) for v in m.values())
    with pytest.raises(ValueError, match="rankings have 1 rows but there are 2 examples"):
        ev.evaluate(Rankings(np.array([[1, 5]])), examples, Context())
    with pytest.raises(ValueError, match="K=1 columns but the largest cutoff is 2"):
        ev.evaluate(Rankings(np.array([[1], [5]])), examples, Context())


@pytest.mark.parametrize("ks", [[], [0], [5, -1], [1.5], [True]])
def test_config_validation_names_the_field(ks):
    with pytest.raises(ValueError, match=r"^ks must be a non-empty list of positive integers"):
        RankingEvaluatorConfig(ks=ks)


def test_config_from_a_table():
    cfg, issues = structure({"ks": [1, 20]}, RankingEvaluatorConfig, "evaluator")
    assert issues == [] and cfg.ks == [1, 20]
    cfg, issues = structure({"ks": [0]}, RankingEvaluatorConfig, "evaluator")
    assert cfg is None and [i.path for i in issues] == ["evaluator.ks"]
    assert "positive integers" in issues[0].message
