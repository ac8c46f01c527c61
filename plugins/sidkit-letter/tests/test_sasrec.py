"""The SASRec model and the ``sasrec`` encoder: causality and padding, training samples,
negatives, planted structure in the exported embeddings, both losses, resume, saved
weights, config errors and registration."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from sidkit.config.structure import structure
from sidkit.context import Context
from sidkit.errors import SidkitError
from sidkit.metrics import mostpop_rankings, ranking_metrics
from sidkit.protocols import Encoder
from sidkit.registry import get_registry
from sidkit.training.checkpoint import read_checkpoint
from sidkit.types import Ragged
from sidkit_letter.configs import SASRecConfig
from sidkit_letter.encoders.sasrec import META, WEIGHTS, SASRecEncoder
from sidkit_letter.models.sasrec import (
    SASRec,
    WindowIndex,
    build_model,
    load_model,
    sample_negatives,
    score_histories,
    training_windows,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# -- the network ------------------------------------------------------------------------------
def test_attention_is_causal_and_padding_changes_nothing():
    model = build_model(SASRecConfig(hidden=16, ffn=32, max_len=6, dropout=0.0), n_items=30, seed=1)
    x = torch.tensor([[0, 0, 3, 7, 9, 4]])
    changed = torch.tensor([[0, 0, 3, 7, 21, 12]])  # later items differ
    with torch.no_grad():
        a, b = model.encode(x), model.encode(changed)
        torch.testing.assert_close(a[:, :4], b[:, :4])
        assert not torch.allclose(a[:, 4:], b[:, 4:])
        # fewer padding columns (a trimmed batch) or more: the same states for the real items
        torch.testing.assert_close(model.encode(x[:, 2:]), a[:, 2:])
        # padding positions are finite, and rows of one batch do not see each other
        assert torch.isfinite(a).all()
        both = model.encode(torch.tensor([[0, 0, 3, 7, 9, 4], [0, 0, 0, 0, 0, 5]]))
        torch.testing.assert_close(both[:1], a)
    # scores of a history do not depend on its batch
    histories = Ragged.from_lists([[2, 6, 8, 3], [5], [], [1, 2, 3, 4, 5, 6, 7, 8]])
    alone = torch.cat([score_histories(model, histories.take(np.array([i]))) for i in range(4)])
    torch.testing.assert_close(score_histories(model, histories), alone)
    assert alone.shape == (4, 30)


def test_training_windows_last_and_all():
    train = Ragged.from_lists([[0, 1, 2, 3, 4, 5, 6], [7], [8, 9], []])
    last = training_windows(train, max_len=3, mode="last")
    assert last.tolist() == [[4, 5, 6, 7], [0, 0, 9, 10]]  # token = item + 1, 0 = padding
    every = training_windows(train, max_len=3, mode="all")
    assert every.tolist() == [[4, 5, 6, 7], [1, 2, 3, 4], [0, 0, 9, 10]]
    # every transition is a target exactly once
    targets = [(w[i], w[i + 1]) for w in every.tolist() for i in range(3) if w[i] and w[i + 1]]
    assert sorted(targets) == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (9, 10)]


@pytest.mark.parametrize("mode", ["last", "all"])
def test_window_index_gathers_a_shuffled_batch_like_the_full_table(mode):
    """Training never materialises the windows: a batch's rows, in any order, are the rows
    of the full table (pinned by hand above)."""
    train = Ragged.from_lists([[0, 1, 2, 3, 4, 5, 6], [7], [8, 9], [], [3, 1, 4, 1, 5, 9, 2, 6]])
    index = WindowIndex.build(train, 3, mode)
    full = training_windows(train, max_len=3, mode=mode)
    order = np.random.default_rng(0).permutation(len(index))
    assert len(index) == len(full) == (3 if mode == "last" else 6)
    np.testing.assert_array_equal(index.rows(order), full[order])


def test_negatives_avoid_the_window():
    torch.manual_seed(0)
    windows = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    neg = sample_negatives(windows, n_items=40)
    assert neg.shape == (2, 4) and int(neg.min()) >= 1 and int(neg.max()) <= 40
    assert not (neg[:, :, None] == windows[:, None, :]).any()


# -- what the encoder learns --------------------------------------------------------------------
def test_embeddings_put_items_with_shared_neighbourhoods_together(group_split, tiny):
    split, group = group_split()
    encoder = SASRecEncoder(tiny(normalize=True, train={"epochs": 20, "early_stopping_patience": 0}))
    emb = encoder.encode(Context(split=split, progress=False, seed=0))
    assert isinstance(encoder, Encoder) and emb.values.shape == (split.n_items, 32)
    cos = emb.values @ emb.values.T
    same = group[:, None] == group[None, :]
    off_diagonal = ~np.eye(len(group), dtype=bool)
    within, across = cos[same & off_diagonal].mean(), cos[~same].mean()
    assert within > across + 0.3, (within, across)
    # each item's nearest other item is in its group for nearly every item
    nearest = np.where(off_diagonal, cos, -np.inf).argmax(1)
    assert (group[nearest] == group).mean() >= 0.9


@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_both_losses_train_and_beat_most_popular(successor_split, tiny, loss):
    split = successor_split()
    encoder = SASRecEncoder(tiny(loss=loss, train={"epochs": 12, "early_stopping_patience": 0}))
    encoder.encode(Context(split=split, progress=False))
    losses = [h["train_loss"] for h in encoder.history]
    assert len(losses) == 12 and losses[-1] < 0.5 * losses[0], losses
    best = max(h["ndcg@10"] for h in encoder.history)
    pop = mostpop_rankings(split.train, split.n_items, split.valid, 10)
    pop_ndcg = ranking_metrics(pop, split.valid.targets, (10,))["ndcg@10"]
    assert best > 2 * pop_ndcg and best > 0.5, (best, pop_ndcg)


def test_export_is_the_item_table_and_weights_are_saved(successor_split, tiny, tmp_path):
    split = successor_split(n_users=40)
    encoder = SASRecEncoder(tiny(train={"epochs": 2}))
    emb = encoder.encode(Context(split=split, workdir=tmp_path, progress=False))
    table = encoder.model.item_emb.weight.detach().numpy()
    assert emb.values.shape == (split.n_items, 32) and emb.views == {}
    np.testing.assert_array_equal(emb.values, table[1:])  # padding row dropped, catalog order
    assert not table[0].any()  # the padding row stays zero
    model, meta = load_model(tmp_path, weights=WEIGHTS, meta=META)
    np.testing.assert_array_equal(model.item_table.detach().numpy(), emb.values)
    assert meta["encoder"] == "sasrec" and meta["sasrec"]["n_items"] == split.n_items
    assert (tmp_path / "checkpoints").is_dir()

    normalized = SASRecEncoder(tiny(train={"epochs": 2}, normalize=True)).encode(Context(split=split, progress=False))
    np.testing.assert_allclose(np.linalg.norm(normalized.values, axis=1), 1.0, rtol=1e-5)


def test_resume_after_interruption_equals_an_unbroken_run(successor_split, tiny, tmp_path, monkeypatch):
    """Killed mid-epoch, a new run in the same work directory resumes from the loop's
    checkpoint and ends with bitwise the same embeddings as an unbroken run."""
    split = successor_split(n_users=96)  # 3 steps of 32 windows per epoch
    config = tiny(train={"epochs": 3, "checkpoint_every_steps": 2})  # bce: negatives come from the RNG

    def run(workdir):
        return SASRecEncoder(config).encode(Context(split=split, workdir=workdir, seed=5, progress=False)).values

    reference = run(tmp_path / "a")
    calls, forward = [0], SASRec.forward

    def failing(self, *args, **kw):
        calls[0] += 1
        if calls[0] == 6:  # epoch 2, step 3: the last checkpoint is epoch 2, step 1
            raise KeyboardInterrupt
        return forward(self, *args, **kw)

    monkeypatch.setattr(SASRec, "forward", failing)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b")
    monkeypatch.setattr(SASRec, "forward", forward)
    assert read_checkpoint(tmp_path / "b" / "checkpoints").state["global_step"] == 4
    np.testing.assert_array_equal(run(tmp_path / "b"), reference)


def test_seeded_runs_repeat_and_seeds_differ(successor_split, tiny):
    split = successor_split(n_users=40)
    config = tiny(train={"epochs": 2})

    def run(seed):
        return SASRecEncoder(config).encode(Context(split=split, seed=seed, progress=False)).values

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))


def test_warm_start_continues_from_the_previous_encoder(successor_split, tiny):
    """A refresh warm-started through ctx.encoder starts from its weights, whatever the seed:
    with a vanishing learning rate it returns the previous table; a cold start does not."""
    split = successor_split(n_users=40)
    previous = SASRecEncoder(tiny(train={"epochs": 3}))
    before = previous.encode(Context(split=split, seed=0, progress=False)).values
    frozen = tiny(train={"epochs": 1, "lr": 1e-12})
    warm = SASRecEncoder(frozen).encode(Context(split=split, seed=7, progress=False, encoder=previous)).values
    cold = SASRecEncoder(frozen).encode(Context(split=split, seed=7, progress=False)).values
    np.testing.assert_allclose(warm, before, atol=1e-6)
    assert np.abs(cold - before).max() > 0.1
    # training really continues: a normal learning rate moves the table, the previous one is untouched
    moved = SASRecEncoder(tiny(train={"epochs": 1})).encode(Context(split=split, seed=0, progress=False, encoder=previous)).values
    assert np.abs(moved - before).max() > 1e-3
    np.testing.assert_array_equal(previous.model.item_table.detach().numpy(), before)


def test_warm_start_refuses_a_mismatched_encoder(successor_split, tiny):
    split = successor_split(n_users=40)
    previous = SASRecEncoder(tiny(train={"epochs": 1}))
    previous.encode(Context(split=split, progress=False))
    with pytest.raises(SidkitError, match=r"other dimensions hidden 32 \(previous\) vs 16 \(now\)"):
        SASRecEncoder(tiny(hidden=16)).encode(Context(split=split, progress=False, encoder=previous))
    with pytest.raises(SidkitError, match="must be a fitted sasrec encoder to warm-start from, got SASRecEncoder"):
        SASRecEncoder(tiny()).encode(Context(split=split, progress=False, encoder=SASRecEncoder(tiny())))
    with pytest.raises(SidkitError, match="got str"):
        SASRecEncoder(tiny()).encode(Context(split=split, progress=False, encoder="sasrec"))


# -- errors -------------------------------------------------------------------------------------
def test_config_errors_are_clear():
    with pytest.raises(
        ValueError, match=r"num_heads must divide hidden=64 .* got 3; with hidden=64 use one of 1, 2, 4, 8, 16"
    ):
        SASRecConfig(num_heads=3)
    _, issues = structure({"hidden": 48, "num_heads": 5}, SASRecConfig, "encoder")
    assert [i.path for i in issues] == ["encoder.num_heads"]
    assert "must divide hidden=48" in issues[0].message
    cases = {
        "loss": ("mse", "loss must be one of 'bce', 'ce', got 'mse'"),
        "dropout": (1.0, "dropout must be >= 0 and < 1"),
        "monitor": ("auc@10", "monitor must be a validation metric like 'ndcg@10'"),
        "windows": ("sliding", "windows must be one of 'last', 'all'"),
        "max_len": (0, "max_len must be between 1 and 4096"),
    }
    for key, (value, message) in cases.items():
        _, issues = structure({key: value}, SASRecConfig, "encoder")
        assert [(i.path, message in i.message) for i in issues] == [(f"encoder.{key}", True)], issues
    _, issues = structure({"hiden": 32}, SASRecConfig, "encoder")
    assert issues[0].path == "encoder.hiden" and "did you mean 'hidden'" in issues[0].message


def test_training_defaults_survive_a_partial_train_table():
    cfg, issues = structure({"train": {"batch_size": 128}}, SASRecConfig, "encoder")
    assert not issues
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.optim.lr, cfg.train.early_stopping_patience) == (
        30,
        128,
        1e-3,
        5,
    )
    assert (cfg.hidden, cfg.num_blocks, cfg.num_heads, cfg.ffn, cfg.dropout, cfg.max_len, cfg.loss) == (
        64,
        2,
        2,
        256,
        0.3,
        50,
        "bce",
    )
    assert cfg.normalize is False and cfg.monitor == "ndcg@10"


def test_encoder_errors(successor_split, tiny):
    with pytest.raises(SidkitError, match="needs ctx.split"):
        SASRecEncoder().encode(Context())
    split = successor_split()
    lonely = type(split)(Ragged.from_lists([[1], [], [2]]), split.valid, split.test, split.n_items)
    with pytest.raises(SidkitError, match="no training sample"):
        SASRecEncoder(tiny()).encode(Context(split=lonely, progress=False))
    outside = type(split)(Ragged.from_lists([[1, 25]]), split.valid, split.test, split.n_items)
    with pytest.raises(SidkitError, match=r"name items in \[1, 25\], but the catalog has 20 items"):
        SASRecEncoder(tiny()).encode(Context(split=outside, progress=False))


# -- registration ---------------------------------------------------------------------------------
def test_every_component_is_registered_by_this_plugin():
    registry = get_registry()
    expected = {
        ("encoder", "sasrec"): "SASRecEncoder",
        ("encoder", "content+collab"): "ContentCollabEncoder",
        ("tokenizer", "letter"): "LetterTokenizer",
        ("generator", "sasrec"): "SASRecGenerator",
        ("decoder", "item-scores"): "ItemScoresDecoder",
    }
    for (kind, name), cls in expected.items():
        spec = registry.get(kind, name)
        assert spec.plugin == "sidkit-letter" and spec.factory.endswith(f":{cls}")
    assert type(registry.build("encoder", "sasrec")).__name__ == "SASRecEncoder"
    assert registry.plugins["sidkit-letter"].status == "ok"


def test_plugin_module_does_not_import_torch():
    code = "import sys, sidkit_letter.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sasrec_with_beam_is_refused_at_config_time_naming_both_plugins(tmp_path):
    """sasrec scores items (capability item-scores) but cannot be decoded token by token, so
    `beam` (stepwise-generation) is a config error (exit 2) before any run directory exists."""
    import subprocess
    import sys

    config = tmp_path / "bad.toml"
    config.write_text(
        '[data]\nformat = "synthetic"\n[encoder]\nname = "precomputed"\npath = "x.npy"\n'
        '[tokenizer]\nname = "rkmeans"\n[generator]\nname = "sasrec"\n[decoder]\nname = "beam"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "sidkit.cli", "run", str(config), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert (
        "decoder: decoder 'beam' (plugin sidkit-grid) needs a generator that provides stepwise-generation; "
        "generator 'sasrec' (plugin sidkit-letter) provides item-scores"
    ) in out.stderr
    assert not (tmp_path / "run").exists()
