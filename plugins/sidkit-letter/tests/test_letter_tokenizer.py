"""Tokenizer ``letter``: collaborative structure reaches the first level, zero weights are
plain RQ-VAE step by step, Sinkhorn marginals and balancing, collision rounds, clear errors
for missing views, state round trip, regulariser internals, config and docs."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from sidkit.context import Context
from sidkit.errors import ArtifactError, SidkitError
from sidkit.protocols import Tokenizer
from sidkit.types import ItemEmbeddings
from sidkit_grid.api import RQVAEConfig, RQVAETokenizer, rqvae_loss
from sidkit_letter.configs.tokenizers import LetterConfig
from sidkit_letter.tokenizers import sinkhorn
from sidkit_letter.tokenizers.letter import LetterRQVAE, LetterTokenizer, collision_count
from sidkit_letter.tokenizers.regularizers import (
    balanced_groups,
    code_groups,
    contrastive_loss,
    diversity_loss,
    sample_positives,
)
from sidkit_letter.tokenizers.sinkhorn import balanced_codes, minmax_scale, sinkhorn_plan

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"hidden_dims": (64,), "latent_dim": 8, "batch_size": 128, "lr": 0.01, "optimizer": "adamw"}



@pytest.fixture
def ctx() -> Context:
    return Context(seed=0, progress=False)


def letter(**kw) -> LetterTokenizer:
    return LetterTokenizer(LetterConfig(**{**SMALL, "levels": 2, "codebook_size": 8, "steps": 60, **kw}))


def units(rng, k, dim, norm):
    v = rng.standard_normal((k, dim))
    return norm * v / np.linalg.norm(v, axis=1, keepdims=True)


def planted(n_content=8, n_cf=8, per=6, dim=32, cf_dim=16, seed=0):
    """Content = a strong content-cluster centre (norm 1) + a weak neighbourhood offset
    (norm 0.3) + noise; collaborative = the neighbourhood's centre + noise. Content cluster
    and neighbourhood are crossed (every pair occurs), so the strongest content structure
    says nothing about the neighbourhoods. Returns ``(embeddings, content labels, neighbourhoods)``."""
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(n_content), n_cf * per)
    b = np.tile(np.repeat(np.arange(n_cf), per), n_content)
    content = units(rng, n_content, dim, 1.0)[a] + units(rng, n_cf, dim, 0.3)[b]
    content = content + 0.05 * rng.standard_normal(content.shape)
    cf = units(rng, n_cf, cf_dim, 3.0)[b] + 0.1 * rng.standard_normal((len(b), cf_dim))
    return ItemEmbeddings(content, views={"content": content, "collaborative": cf}), a, b


def share_rate(codes: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of pairs of distinct items with the same label that share their code."""
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return float((codes[:, None] == codes[None, :])[same].mean())


# -- (a) planted collaborative structure --------------------------------------------------------
def test_collaborative_neighbourhoods_share_first_level_codes(ctx):
    emb, content_label, hood = planted()
    common = {**SMALL, "levels": 2, "codebook_size": 8, "steps": 150, "weight_decay": 1e-4}
    base = RQVAETokenizer(RQVAEConfig(**common))
    base.fit(emb, ctx)
    tok = LetterTokenizer(LetterConfig(**common, cf_weight=0.1))
    tok.fit(emb, ctx)
    assert isinstance(tok, Tokenizer) and tok.model.cf_proj is not None  # 16-d h vs 8-d latent
    rq_first, lt_first = base.codes(emb)[:, 0], tok.codes(emb)[:, 0]
    rq_rate, lt_rate = share_rate(rq_first, hood), share_rate(lt_first, hood)
    assert share_rate(rq_first, content_label) > 0.9  # rqvae splits by the dominant content clusters
    assert lt_rate >= 2 * rq_rate and lt_rate >= 0.6, (rq_rate, lt_rate)
    assert {"cf", "div"} <= set(tok.history[-1]) and tok.history[-1]["cf"] < tok.history[0]["cf"]


# -- (b) zero weights are exactly rqvae ------------------------------------------------------------
def _recording(cls):
    class Recording(cls):
        def losses(self, x, out, items):
            terms = super().losses(x, out, items)
            self.trace.append({k: float(v.detach()) for k, v in terms.items()})
            return terms

    return Recording


def test_zero_weights_give_rqvae_objective_step_by_step(ctx):
    emb, _, _ = planted(per=3)
    common = {**SMALL, "levels": 3, "codebook_size": 8, "steps": 40, "batch_size": 64, "weight_decay": 1e-4}
    base = _recording(RQVAETokenizer)(RQVAEConfig(**common))
    off = {"cf_weight": 0.0, "div_weight": 0.0, "sinkhorn_train": False, "kmeans_init_catalog": False}
    tok = _recording(LetterTokenizer)(LetterConfig(**common, **off))
    base.trace, tok.trace = [], []
    base.fit(emb, ctx)
    tok.fit(emb, ctx)
    assert len(tok.trace) == 40 and tok.trace == base.trace  # every term, every step, bit for bit
    assert tok.history == base.history
    for (k, a), (k2, b) in zip(base.model.state_dict().items(), tok.model.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    assert np.array_equal(base.codes(emb), tok.codes(emb))

    # with the defaults (catalog k-means init, Sinkhorn training) the loss *function* is still rqvae's
    dflt = LetterTokenizer(LetterConfig(**common, cf_weight=0.0, div_weight=0.0))
    dflt.fit(emb, ctx)
    x = torch.tensor(emb.values[:32])
    out = dflt.model(x)
    assert dflt.losses(x, out, torch.arange(32)).keys() == rqvae_loss(x, out).keys()


def test_level_reduction_mean_averages_the_quantisation_terms(ctx):
    emb, _, _ = planted(per=2)
    tok = letter(steps=5, cf_weight=0.0, div_weight=0.0, level_reduction="mean", levels=3)
    tok.fit(emb, ctx)
    x = torch.tensor(emb.values[:16])
    tok.model.eval()
    out = tok.model(x)
    plain, mean = rqvae_loss(x, out), tok.losses(x, out, torch.arange(16))
    assert mean["codebook"].item() == pytest.approx(plain["codebook"].item() / 3)
    assert mean["total"].item() == pytest.approx(
        plain["recon"].item() + (plain["codebook"].item() + 0.25 * plain["commitment"].item()) / 3
    )


# -- (c) Sinkhorn ---------------------------------------------------------------------------------------
def test_sinkhorn_plan_rows_sum_to_one_and_columns_to_n_over_k():
    gen = torch.Generator().manual_seed(0)
    cost = torch.rand(3, 60, 6, generator=gen)  # three independent problems
    plan = sinkhorn_plan(cost, epsilon=0.05, iters=300)
    assert plan.shape == (3, 60, 6) and plan.dtype == torch.float64 and (plan >= 0).all()
    assert torch.allclose(plan.sum(-1), torch.ones(3, 60, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(plan.sum(-2), torch.full((3, 6), 10.0, dtype=torch.float64), atol=1e-3)
    # the authors' epsilon (0.003 on [-1, 1] costs, exp(333)) stays finite and roughly balanced
    sharp = sinkhorn_plan(cost, epsilon=0.003, iters=50)
    assert torch.isfinite(sharp).all()
    assert torch.allclose(sharp.sum(-1), torch.ones(3, 60, dtype=torch.float64), atol=1e-9)
    assert (sharp.sum(-2) - 10.0).abs().max() < 4.0
    # the fast matrix-scaling iterations and the log-domain ones are the same algorithm
    log_kernel = -minmax_scale(cost.double()) / 0.003
    kernel, u, v = sinkhorn._scaling(log_kernel, 50)
    f, g = sinkhorn._log_potentials(log_kernel, 50)
    assert torch.allclose(u * kernel * v * 60, torch.exp(log_kernel + f + g) * 60, atol=1e-9)
    # an epsilon too small for float64 kernels falls back to the log domain and stays finite
    tiny = sinkhorn_plan(cost, epsilon=1e-4, iters=20)
    assert torch.isfinite(tiny).all() and torch.allclose(tiny.sum(-1), torch.ones(3, 60, dtype=torch.float64))
    scaled = minmax_scale(cost)
    assert torch.allclose(scaled.amin((-2, -1)), -torch.ones(3), atol=1e-4)
    assert torch.allclose(scaled.amax((-2, -1)), torch.ones(3), atol=1e-4)


def test_balanced_assignment_spreads_points_that_argmin_piles_on_one_code():
    codebook = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]])
    angles = torch.linspace(-0.6, 0.6, 8)  # all eight points sit nearest to code 0 ...
    x = 0.9 * torch.stack([angles.cos(), angles.sin()], 1) + torch.tensor([0.3, 0.0])
    argmin = torch.cdist(x, codebook).argmin(1)
    assert argmin.tolist() == [0] * 8
    codes = balanced_codes(x, codebook, epsilon=0.003, iters=50)
    loads = torch.bincount(codes, minlength=4)
    assert int(loads.max()) <= 3 and len(codes.unique()) >= 3  # ... balanced: about 2 per code
    assert collision_count(codes[:, None].numpy()) < collision_count(argmin[:, None].numpy())
    # ... and it keeps the geometry: the upper points go to code 1, the lower ones to code 2
    assert codes[0] == 2 and codes[-1] == 1


def test_sinkhorn_train_balances_the_last_level_only_in_training():
    torch.manual_seed(0)
    model = LetterRQVAE(8, (16,), 4, 2, 8, balance_last=True)
    with torch.no_grad():
        model.codebooks[1].mul_(0.01)  # last-level codes bunched together: argmin uses few of them
    x = torch.randn(256, 8)
    model.train()
    train_codes = model(x).codes
    model.eval()
    eval_codes = model(x).codes
    assert torch.equal(train_codes[:, 0], eval_codes[:, 0])
    assert torch.equal(eval_codes, model.codes(x))
    assert torch.bincount(train_codes[:, 1], minlength=8).max() < torch.bincount(eval_codes[:, 1], minlength=8).max()


# -- (d) collision rounds -----------------------------------------------------------------------------------
def test_collision_rounds_leave_fewer_collisions(ctx):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 8)
    x = units(rng, 8, 16, 3.0)[labels] + 0.3 * rng.standard_normal((64, 16))
    emb = ItemEmbeddings(x, views={"content": x})
    tok = letter(cf_weight=0.0, dedup="none", batch_size=64, hidden_dims=(32,))
    tok.fit(emb, ctx)
    raw = tok.codes(emb)
    resolved = tok.resolved_codes(emb)
    tok.config = attrs.evolve(tok.config, collision_rounds=0)
    assert np.array_equal(tok.assign(emb).codes, raw)  # rounds = 0: plain argmin codes
    assert collision_count(raw) > 0
    assert collision_count(resolved) < collision_count(raw)
    assert np.array_equal(resolved[:, 0], raw[:, 0])  # only the last level is re-assigned
    # de-dup still applies after the rounds
    tok.config = attrs.evolve(tok.config, collision_rounds=20, dedup="digit")
    sids = tok.assign(emb)
    assert sids.n_levels == 3 and np.array_equal(sids.codes[:, :2], resolved)
    assert collision_count(sids.codes) == 0
    # dedup_size fixes the de-dup level's vocabulary (continual periods keep the generator's)
    largest = int(sids.codebook_sizes[-1])
    tok.config = attrs.evolve(tok.config, dedup_size=largest + 5)
    assert tok.assign(emb).codebook_sizes[-1] == largest + 5


# -- (e) missing views ----------------------------------------------------------------------------------------
def test_missing_collaborative_view_is_a_clear_error(ctx):
    emb, _, _ = planted(per=2)
    content_only = ItemEmbeddings(emb.values, views={"content": emb.views["content"]})
    with pytest.raises(SidkitError) as info:
        letter(cf_weight=0.1).fit(content_only, ctx)
    msg = str(info.value)
    assert "tokenizer letter: cf_weight = 0.1 needs ItemEmbeddings.views['collaborative']" in msg
    assert "content+collab" in msg and "views: 'content'" in msg

    with pytest.raises(
        SidkitError, match=r"input = 'content' needs ItemEmbeddings.views\['content'\].*input = \"values\""
    ):
        letter(cf_weight=0.0).fit(ItemEmbeddings(emb.values), ctx)
    with pytest.raises(SidkitError, match=r"input = 'concat' needs ItemEmbeddings.views\['collaborative'\]"):
        letter(cf_weight=0.0, input="concat").fit(content_only, ctx)

    plain = letter(cf_weight=0.0, input="values", steps=2)  # no views needed at all
    plain.fit(ItemEmbeddings(emb.values), ctx)
    assert plain.assign(ItemEmbeddings(emb.values)).n_items == emb.n_items
    both = letter(cf_weight=0.0, input="concat", steps=2)
    both.fit(emb, ctx)
    assert both.dim == 32 + 16
    with pytest.raises(SidkitError, match="views\\['collaborative'\\]"):
        both.assign(content_only)


# -- (f) state ----------------------------------------------------------------------------------------------------
def test_save_load_roundtrip_gives_identical_sids(tmp_path, ctx):
    emb, _, _ = planted(per=3)
    kw = {"levels": 3, "steps": 30, "cf_weight": 0.1, "whiten": True}
    fitted = letter(**kw)
    fitted.fit(emb, ctx)
    assert fitted.model.cf_proj.weight.shape == (8, 16)
    fitted.save(tmp_path / "state")
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["meta.json", "state.safetensors"]
    fresh = letter(**kw)
    fresh.load(tmp_path / "state")
    assert torch.equal(fresh.model.cf_proj.weight, fitted.model.cf_proj.weight)
    a, b = fitted.assign(emb), fresh.assign(emb)
    assert np.array_equal(a.codes, b.codes) and a.codebook_sizes == b.codebook_sizes

    with pytest.raises(ArtifactError, match=r"input='content' \(config: 'values'\)"):
        letter(**kw, input="values").load(tmp_path / "state")
    with pytest.raises(ArtifactError, match="written by tokenizer 'letter', not 'rqvae'"):
        RQVAETokenizer(RQVAEConfig(**SMALL, levels=3, codebook_size=8)).load(tmp_path / "state")
    (tmp_path / "state" / "state.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"tokenizer letter: .*state\.safetensors: missing"):
        letter(**kw).load(tmp_path / "state")


def test_no_projection_when_widths_match(tmp_path, ctx):
    emb, _, _ = planted(per=2, cf_dim=8)
    tok = letter(steps=5, cf_weight=0.1)
    tok.fit(emb, ctx)
    assert tok.model.cf_proj is None and tok.cf_dim == 0
    tok.save(tmp_path)
    fresh = letter(steps=5, cf_weight=0.1)
    fresh.load(tmp_path)
    assert fresh.model.cf_proj is None and np.array_equal(fresh.assign(emb).codes, tok.assign(emb).codes)
    forced = letter(steps=5, cf_weight=0.1, cf_projection="linear")
    forced.fit(emb, ctx)
    assert forced.model.cf_proj.weight.shape == (8, 8)


# -- regulariser internals ------------------------------------------------------------------------------------------
def test_balanced_groups_and_positive_sampling():
    gen = torch.Generator().manual_seed(0)
    book = torch.randn(256, 8, generator=gen)
    labels = balanced_groups(book, 10, gen)
    sizes = np.bincount(labels, minlength=10)
    assert sizes.sum() == 256 and sizes.max() <= 26 and sizes.min() >= 2
    groups = code_groups(labels)
    codes = torch.randint(256, (5000,), generator=gen)
    pos = sample_positives(codes, groups, gen)
    lab = torch.as_tensor(labels)
    assert (pos != codes).all() and torch.equal(lab[pos], lab[codes])
    # every other member of a group is drawn (uniformly)
    k = int(codes[0])
    mates = set(np.flatnonzero(labels == labels[k]).tolist()) - {k}
    drawn = sample_positives(torch.full((4000,), k), groups, gen)
    assert set(drawn.tolist()) == mates
    # a code alone in its group draws from all other codes
    lonely = code_groups(np.array([0, 1, 1, 1]))
    drawn = sample_positives(torch.zeros(500, dtype=torch.long), lonely, gen)
    assert set(drawn.tolist()) == {1, 2, 3}


def test_losses_reach_the_right_parameters():
    torch.manual_seed(0)
    model = LetterRQVAE(8, (16,), 4, 2, 8, cf_dim=6)
    x, h = torch.randn(32, 8), torch.randn(32, 6)
    out = model(x)
    model.zero_grad()
    contrastive_loss(out.z_q, model.cf_proj(h)).backward()  # straight-through: the encoder learns
    assert model.encoder[0].weight.grad.abs().sum() > 0 and model.cf_proj.weight.grad.abs().sum() > 0
    assert model.codebooks.grad is None or model.codebooks.grad.abs().sum() == 0
    out = model(x)
    model.zero_grad()
    groups = code_groups(balanced_groups(model.codebooks[0], 2, torch.Generator().manual_seed(0)))
    codes = out.codes[:, 0]
    diversity_loss(
        out.selected[:, 0], model.codebooks[0], codes, sample_positives(codes, groups, torch.Generator())
    ).backward()
    assert model.codebooks.grad[0].abs().sum() > 0 and model.encoder[0].weight.grad is None
    # cosine similarity ignores the scale of both sides
    z = torch.randn(16, 4)
    assert contrastive_loss(3 * z, z, similarity="cos").item() == pytest.approx(
        contrastive_loss(z, 5 * z, similarity="cos").item()
    )


def test_fit_is_deterministic_given_seed(ctx):
    emb, _, _ = planted(per=2)
    runs = []
    for seed in (0, 0, 1):
        tok = letter(steps=20, cf_weight=0.1, seed=seed)
        tok.fit(emb, ctx)
        runs.append(tok.assign(emb).codes)
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


# -- config and docs ------------------------------------------------------------------------------------------------------
def test_defaults_follow_the_authors():
    cfg = LetterConfig()
    assert isinstance(cfg, RQVAEConfig)
    assert (cfg.levels, cfg.codebook_size, cfg.latent_dim) == (4, 256, 32)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.batch_size) == ("adamw", 1e-3, 1e-4, 1024)
    assert (cfg.cf_weight, cfg.cf_temperature, cfg.similarity) == (0.01, 1.0, "dot")
    assert (cfg.div_weight, cfg.div_groups) == (1e-4, 10)
    assert (cfg.sinkhorn_epsilon, cfg.sinkhorn_iters, cfg.collision_rounds, cfg.sinkhorn_train) == (0.003, 50, 20, True)
    assert cfg.input == "content" and cfg.dedup == "digit"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"cf_weight": -0.1}, "cf_weight"),
        ({"cf_temperature": 0.0}, "cf_temperature"),
        ({"similarity": "l2"}, "similarity"),
        ({"cf_projection": "mlp"}, "cf_projection"),
        ({"div_weight": -1.0}, "div_weight"),
        ({"div_groups": 1}, "div_groups"),
        ({"level_reduction": "max"}, "level_reduction"),
        ({"input": "text"}, "input"),
        ({"sinkhorn_epsilon": 0.0}, "sinkhorn_epsilon"),
        ({"sinkhorn_iters": 0}, "sinkhorn_iters"),
        ({"collision_rounds": -1}, "collision_rounds"),
        ({"levels": 0}, "levels"),
        ({"optimizer": "lbfgs"}, "optimizer"),
    ],
)
def test_config_validators_name_the_field(kwargs, field):
    with pytest.raises(ValueError) as info:
        LetterConfig(**kwargs)
    assert str(info.value).startswith(f"{field} must")


def test_config_through_sidkit_structure():
    from sidkit.config.structure import structure

    cfg, issues = structure({"cf_weight": 0.1, "input": "concat", "hidden_dims": [256, 64]}, LetterConfig, "tokenizer")
    assert not issues and cfg.cf_weight == 0.1 and cfg.hidden_dims == (256, 64)
    _, issues = structure({"similarity": "l2"}, LetterConfig, "tokenizer")
    assert [str(i) for i in issues] == ["tokenizer.similarity: similarity must be one of 'dot', 'cos', got 'l2'"]
    _, issues = structure({"cf_wieght": 0.1}, LetterConfig, "tokenizer")
    assert "did you mean 'cf_weight'" in str(issues[0])


def test_doc_page_lists_every_option():
    doc = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "letter-tokenizer.md"
    if not doc.exists():
        pytest.skip(f"{doc} not found (not a source checkout)")
    text = doc.read_text(encoding="utf-8")
    missing = [f.name for f in attrs.fields(LetterConfig) if f"`{f.name}`" not in text]
    assert not missing, f"letter-tokenizer.md does not document {missing}"
