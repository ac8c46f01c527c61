"""Planted collaborative drift: two CF matrices over the same items, 20 % of the items moved
to another cluster in the second. CDIM must find the moved items, DACT must move their
layer-1 codes far more often than the unmoved items', and keep the unmoved items' SIDs,
which naive fine-tuning does not.

Sizes: 480 items in 40 clusters, 256-d content (item-specific noise, so one item's latent can
move without its content neighbours'), 16-d collaborative vectors, a 2 × 32-code ``dact``
tokenizer. The collaborative term is strong (weight 5, temperature 0.1) so that fine-tuning
moves latents within 1,000 steps; ``conf_weight`` is raised with it (see the plugin page,
*Scale*); the KL is the authors' (divided by K) at τ_g = 5."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.context import Context
from sidkit.registry import get_registry
from sidkit_dact.configs import DactUpdaterConfig
from sidkit_dact.tokenizer import DactTokenizer
from sidkit_dact.update import DriftAwareFinetune

STEPS = 1000
DACT = {"steps": STEPS, "batch_size": 256, "lr": 1e-3, "conf_weight": 0.25, "tau_g": 5.0, "kl_per_code": True}


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = score[positive], score[~positive]
    above = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(above + 0.5 * ties)


@pytest.fixture(scope="module")
def drift(planted, dact_config):
    before, after, moved = planted(content_dim=256)
    tok = DactTokenizer(dact_config())
    tok.fit(before, Context(seed=0, progress=False))
    return tok, before, after, moved


def _adapt(name: str, drift, **kw):
    tok, before, after, _ = drift
    spec = get_registry().get("sid-updater", name)
    return spec.build(spec.config(**kw)).adapt(tok, tok.assign(before), after, Context(seed=0, progress=False))


def test_cdim_confidence_separates_moved_from_unmoved_items(drift):
    tok, _, after, moved = drift
    import copy

    update = DriftAwareFinetune(copy.deepcopy(tok), after, DactUpdaterConfig(**DACT))
    assert abs(auc(update.confidence(), moved) - 0.5) < 0.2  # an untrained detector knows nothing
    update.run()
    assert auc(update.confidence(), moved) >= 0.8


def test_dact_moves_the_moved_items_codes_and_keeps_the_unmoved_sids(drift):
    tok, before, _, moved = drift
    old = tok.assign(before).codes
    _, dact, report = _adapt("dact", drift, **DACT)
    _, naive, _ = _adapt("tok-finetune", drift, steps=STEPS, lr=1e-3)

    def layer1(table):
        changed = table.codes[:, 0] != old[:, 0]
        return changed[moved].mean(), changed[~moved].mean()

    def whole(table):
        changed = (table.codes != old).any(1)
        return changed[moved].mean(), changed[~moved].mean()

    dact_moved, dact_unmoved = layer1(dact)
    assert dact_unmoved <= 0.10
    assert dact_moved >= 0.20 and dact_moved >= 4 * dact_unmoved
    assert whole(dact)[1] == dact_unmoved  # an unmoved item keeps its whole SID unless its layer 1 moved
    assert report["layer1_change_rate"] == pytest.approx((old[:, 0] != dact.codes[:, 0]).mean(), abs=1e-6)
    naive_unmoved_layer1, naive_unmoved_sid = layer1(naive)[1], whole(naive)[1]
    assert naive_unmoved_layer1 > dact_unmoved
    assert naive_unmoved_sid >= 0.5  # naive fine-tuning re-codes most unmoved items at some level
