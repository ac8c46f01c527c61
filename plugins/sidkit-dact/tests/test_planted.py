"""Planted collaborative drift (issue 17): two CF matrices over the same items, 20 % of the
items moved to another cluster in the second. CDIM must find the moved items (AUC ≥ 0.8),
DACT must change the layer-1 code of ≥ 50 % of the moved items and of ≤ 10 % of the
unmoved ones, and naive fine-tuning (``tok-finetune``) must re-code far more unmoved items
than DACT. Three seeds (data, tokenizer and batch order), each its own test case.

Sizes: 480 items in 40 clusters, 256-d content (item-specific noise, so one item's latent can
move without its content neighbours'), 16-d collaborative vectors, a 2 × 32-code ``dact``
tokenizer fitted at lr 3e-3. The collaborative term is strong (weight 5, temperature 0.1) so
that fine-tuning moves latents within 1,000 steps; ``conf_weight`` is raised with it (see the
plugin page, *Scale*); the KL is the authors' (divided by K) at τ_g = 5.

Budget: both updaters fine-tune for 1,000 steps at the tokenizer's own lr (3e-3). The paper
fine-tunes 5,000 epochs at lr 1e-4 (Beauty: ~60,000 steps, Σ lr ≈ 3 under its linear decay);
1,000 steps at 1e-3 (Σ lr ≈ 0.5) left most moved items short of another layer-1 cell (27 % on
seed 0), 3e-3 (Σ lr ≈ 1.5) moves 60–84 %.

The issue's third target, naive fine-tuning changing the layer-1 code of ≥ 50 % of the
unmoved items, does not hold here (12–19 % on seeds 0–4): it is kept as a strict ``xfail``
(see the plugin page, *What the tests show*)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sidkit.context import Context
from sidkit.registry import get_registry
from sidkit_dact.configs import DactUpdaterConfig
from sidkit_dact.tokenizer import DactTokenizer
from sidkit_dact.update import DriftAwareFinetune

SEEDS = (0, 1, 2)
STEPS, LR = 1000, 3e-3
DACT = {"steps": STEPS, "batch_size": 256, "lr": LR, "conf_weight": 1.0, "tau_g": 5.0, "kl_per_code": True}
NAIVE = {"steps": STEPS, "lr": LR}


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = score[positive], score[~positive]
    above = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(above + 0.5 * ties)


def _adapt(name: str, tok, previous, after, seed: int, **kw):
    spec = get_registry().get("sid-updater", name)
    return spec.build(spec.config(**kw)).adapt(tok, previous, after, Context(seed=seed, progress=False))


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def drift(request, planted, dact_config):
    """One seed's planted drift, fitted tokenizer, ``dact`` and ``tok-finetune`` updates and
    CDIM's confidences before and after the ``dact`` update."""
    seed = request.param
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        before, after, moved = planted(content_dim=256, seed=seed)
        tok = DactTokenizer(dact_config())
        tok.fit(before, Context(seed=seed, progress=False))
        previous = tok.assign(before)
        dact_tok, dact, report = _adapt("dact", tok, previous, after, seed, **DACT)
        _, naive, _ = _adapt("tok-finetune", tok, previous, after, seed, **NAIVE)
        # CDIM's c = f(z_old from the period-start encoder, z from the live one, h): the same
        # probe scores the untrained detector, then the trained one that dact hands back
        probe = DriftAwareFinetune(copy.deepcopy(tok), after, DactUpdaterConfig(**DACT))
        untrained = probe.confidence()
        probe.tokenizer = dact_tok
        trained = probe.confidence()
    finally:
        torch.set_num_threads(threads)
    return {
        "moved": moved, "old": previous.codes, "dact": dact.codes, "report": report, "naive": naive.codes,
        "untrained": untrained, "trained": trained,
    }


def _layer1(d, table):
    changed = d[table][:, 0] != d["old"][:, 0]
    return changed[d["moved"]].mean(), changed[~d["moved"]].mean()


def _whole(d, table):
    changed = (d[table] != d["old"]).any(1)
    return changed[d["moved"]].mean(), changed[~d["moved"]].mean()


def test_cdim_confidence_separates_moved_from_unmoved_items(drift):
    assert abs(auc(drift["untrained"], drift["moved"]) - 0.5) < 0.2  # an untrained detector knows nothing
    assert auc(drift["trained"], drift["moved"]) >= 0.8


def test_dact_changes_the_moved_items_layer1_codes_and_keeps_the_unmoved_sids(drift):
    moved, unmoved = _layer1(drift, "dact")
    assert moved >= 0.5
    assert unmoved <= 0.10
    assert _whole(drift, "dact")[1] == unmoved  # an unmoved item keeps its whole SID unless its layer 1 moved
    old, new = drift["old"], drift["dact"]
    assert drift["report"]["layer1_change_rate"] == pytest.approx((old[:, 0] != new[:, 0]).mean(), abs=1e-6)


def test_naive_finetuning_recodes_far_more_unmoved_items_than_dact(drift):
    naive_unmoved = _layer1(drift, "naive")[1]
    assert naive_unmoved >= 1.5 * _layer1(drift, "dact")[1]  # seeds 0-2: 3.3x, 2.9x, 2.4x
    assert _whole(drift, "naive")[1] >= 0.5  # naive fine-tuning re-codes most unmoved SIDs at some level


@pytest.mark.xfail(strict=True, reason="issue 17's target; naive fine-tuning changes 12-19 % of the unmoved layer-1 codes here")
def test_naive_finetuning_changes_most_unmoved_layer1_codes(drift):
    assert _layer1(drift, "naive")[1] >= 0.5
