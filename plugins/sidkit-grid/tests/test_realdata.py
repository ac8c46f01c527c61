"""TIGER end to end on MovieLens-100K (real data, CPU): the shipped example config, shrunk to
a few minutes of training, must beat the most-popular baseline on the same leave-one-out
split by at least 1.5x at Recall@10, over the split's 2 x 943 held-out interactions
(validation and test pooled: one split alone has a standard error of about 0.009 here)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ml100k-tiger.toml"

# a CPU budget: one encoder and one decoder layer, short histories, no dropout (dropout's
# random masks cost a third of a CPU step at this size), a few large-batch epochs
FAST = (
    "run.progress=false",
    "generator.max_len=10",
    "generator.encoder_layers=1",
    "generator.decoder_layers=1",
    "generator.d_ff=128",
    "generator.dropout=0.0",
    "generator.train.epochs=EPOCHS",
    "generator.train.batch_size=256",
    "generator.train.optim.lr=3e-3",
    "generator.train.progress=false",
)


@pytest.mark.realdata
@pytest.mark.slow
def test_tiger_on_movielens_100k_beats_most_popular_by_half(shared_data, tmp_path):
    from sidkit.api import run_pipeline

    overrides = [o.replace("EPOCHS", "5") for o in FAST]
    overrides += [f"data.path={shared_data / 'ml-100k'}", f"encoder.cache_dir={tmp_path / 'cache'}"]
    result = run_pipeline(EXAMPLE, out=tmp_path / "run", overrides=overrides)
    valid, test = result.metrics["valid"], result.metrics["test"]
    assert valid["n_examples"] == test["n_examples"] == 943
    pooled = (valid["recall@10"] + test["recall@10"]) / 2
    pooled_mostpop = (valid["mostpop/recall@10"] + test["mostpop/recall@10"]) / 2
    # measured: valid 0.0986 vs 0.0382, test 0.0732 vs 0.0498 -> pooled 0.0859 vs 0.0440 (1.95x);
    # with fused Adam (the same update up to rounding): valid 0.0944, test 0.0626 -> 1.78x. The test
    # split alone moves by more than its standard error between the two, so it only has to beat MostPop
    assert pooled >= 1.5 * pooled_mostpop, (valid, test)
    assert test["recall@10"] > test["mostpop/recall@10"], test
    assert result.sid_stats["n_items"] == 1682 and result.sid_stats["collision_rate"] == 0.0
