"""Planted-data tests of what DIGER claims: exploration keeps the codebooks in use where
naive straight-through assignment does not."""

from __future__ import annotations

import numpy as np
from diger_toys import plant_dead_codes, tiny_config, tiny_tokenizer
from sidkit.context import Context
from sidkit.testing import successor_split
from sidkit.training.config import ParamGroupConfig
from sidkit_diger.config import DigerOptimConfig
from sidkit_diger.diagnostics import level_usage


def _deep_perplexity(codes: np.ndarray, k: int = 8) -> float:
    """Mean perplexity of semantic levels 2 and 3."""
    return float(np.mean(level_usage(codes[:, :3], k)[2][1:3]))


def test_planted_collapse_ste_stays_collapsed_while_frqud_explores_out_of_it():
    """A collapsed start (at every level 2 of 8 codes in use, 6 dead codes away from the
    data: what early deterministic assignment leaves) and N joint steps. STE's hard argmin
    updates only the codes it selects, so the dead codes never learn; FrqUD's Gumbel
    exploration of the hot items samples them, the VQ loss pulls them into the data and they
    win items. The issue's criterion: STE's level-2/3 perplexity <= half of FrqUD's.

    The encoder is held (lr 1e-6) and the codebooks train at 3e-2: with the encoder at the
    codebooks' rate every variant collapses to one code per level (the latent shrinks; see
    the doc page), which is not the effect under test. Measured (10 epochs, 160 steps, seeds
    0-4, ``scripts/planted.py collapse``): ratio 0.27 / 0.27 / 0.35 / 0.38 / 0.31; STE's
    level-2/3 perplexity 1.84-2.14 per level, FrqUD's mean of levels 2-3 5.3-7.2, the planted
    start 1.75-2.0."""
    from sidkit_diger.generator import DigerGenerator

    n_items, seed = 64, 0
    tok, emb = tiny_tokenizer(n_items=n_items, seed=seed, levels=3, steps=300, dedup_size=n_items)
    plant_dead_codes(tok, emb, live=2, far=2.0, seed=seed)
    sids = tok.assign(emb)
    assert _deep_perplexity(sids.codes) <= 2.0
    split = successor_split(n_items=n_items, seed=seed)
    groups = {"tokenizer.": ParamGroupConfig(lr=1e-6), "tokenizer.codebooks": ParamGroupConfig(lr=3e-2)}
    optim = DigerOptimConfig(lr=5e-3, groups=groups)
    deep = {}
    for name, options in {"ste": {"assignment": "ste", "noise": "none"}, "frqud": {"noise": "frqud"}}.items():
        gen = DigerGenerator(tiny_config(epochs=10, train={"optim": optim}, **options))
        out = gen.fit(sids, Context(split=split, embeddings=emb, tokenizer=tok, progress=False, seed=seed))
        deep[name] = _deep_perplexity(out.codes)
        assert gen.history[-1]["diger"]["perplexity"][1:3] == level_usage(out.codes[:, :3], 8)[2][1:3]
    assert deep["ste"] <= 2.5, deep  # the dead codes stayed dead
    assert deep["frqud"] >= 4.0, deep  # exploration brought them into use
    assert deep["ste"] <= 0.5 * deep["frqud"], deep
