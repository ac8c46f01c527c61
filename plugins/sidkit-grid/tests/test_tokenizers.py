"""Tokenizers rkmeans, rvq, rqvae: planted structure, de-duplication, state round trips,
empty-cluster re-seeding, configs and registration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from grid_clusters import adjusted_rand, blobs, hierarchical_blobs, purity
from sidkit.errors import ArtifactError, SidkitError
from sidkit.protocols import Tokenizer
from sidkit.types import ItemEmbeddings
from sidkit_grid.configs import RKMeansConfig, RQVAEConfig, RVQConfig
from sidkit_grid.tokenizers import common, kmeans
from sidkit_grid.tokenizers.common import deduplicate, nearest
from sidkit_grid.tokenizers.rkmeans import RKMeansTokenizer
from sidkit_grid.tokenizers.rqvae import RQVAETokenizer
from sidkit_grid.tokenizers.rqvae_model import rqvae_loss
from sidkit_grid.tokenizers.rvq import RVQTokenizer

SMALL = {
    "rkmeans": lambda **kw: RKMeansTokenizer(RKMeansConfig(**{"steps_per_level": 100, "batch_size": 256, **kw})),
    "rvq": lambda **kw: RVQTokenizer(RVQConfig(**{"steps_per_level": 200, "batch_size": 256, **kw})),
    "rqvae": lambda **kw: RQVAETokenizer(
        RQVAEConfig(**{"hidden_dims": (64,), "latent_dim": 8, "steps": 1000, "batch_size": 256, "lr": 0.01, **kw})
    ),
}


def collision_rate(sids) -> float:
    """Fraction of items whose SID another item also has."""
    groups = sids.sid_to_items()
    return sum(len(g) for g in groups.values() if len(g) > 1) / sids.n_items


# -- planted structure -------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SMALL))
def test_first_level_recovers_planted_clusters(name, ctx):
    emb, labels = blobs()
    tok = SMALL[name](levels=2, codebook_size=16)
    tok.fit(emb, ctx)
    sids = tok.assign(emb)
    assert isinstance(tok, Tokenizer)
    assert sids.n_items == emb.n_items and sids.n_levels == 3  # 2 levels + de-dup digit
    first = sids.codes[:, 0]
    assert purity(first, labels) >= 0.95
    assert adjusted_rand(first, labels) >= 0.9


def test_rkmeans_second_level_separates_sub_clusters(ctx):
    emb, sup, sub = hierarchical_blobs()
    tok = SMALL["rkmeans"](levels=2, codebook_size=4)
    tok.fit(emb, ctx)
    codes = tok.codes(emb)
    assert purity(codes[:, 0], sup) >= 0.95
    for a in range(4):
        inside = sup == a
        assert purity(codes[inside, 1], sub[inside]) >= 0.95
        assert len(np.unique(codes[inside, 1])) == 4


@pytest.mark.parametrize("name, steps", [("rkmeans", {}), ("rvq", {"steps_per_level": 30}), ("rqvae", {"steps": 30})])
def test_fit_is_deterministic_given_seed(name, steps, ctx):
    emb, _ = blobs(seed=3)
    runs = []
    for seed in (0, 0, 1):
        tok = SMALL[name](levels=2, codebook_size=8, seed=seed, **steps)
        tok.fit(emb, ctx)
        runs.append(tok.codes(emb))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.fixture
def two_threads():
    from sidkit.testing import torch_threads

    with torch_threads(2):
        yield


def test_rqvae_fit_is_deterministic_on_two_threads(ctx, two_threads):
    """Codebook gathers whose backward adds into the same code from many rows must not
    depend on thread scheduling (``book[idx]``'s backward did: RQ-VAE with TIGER's
    512-256-128 encoder and k-means init gave ~90 % different SIDs run to run)."""
    rng = np.random.default_rng(0)
    emb = ItemEmbeddings(rng.normal(size=(1500, 384)).astype(np.float32))
    config = {"hidden_dims": (512, 256, 128), "latent_dim": 32, "batch_size": 1024, "lr": 1e-3, "steps": 50}
    runs = []
    for _ in range(2):
        tok = SMALL["rqvae"](levels=3, codebook_size=64, **config)
        tok.fit(emb, ctx)
        runs.append(tok.codes(emb))
    np.testing.assert_array_equal(runs[0], runs[1])


# -- collisions -------------------------------------------------------------------------------------
def test_digit_dedup_numbers_colliding_items():
    codes = np.array([[1, 2, 3], [0, 0, 0], [1, 2, 3], [4, 5, 6], [1, 2, 3]])
    sids = deduplicate(codes, 8, "digit")
    assert sids.codebook_sizes == (8, 8, 8, 3)
    assert sids.codes[:, 3].tolist() == [0, 0, 1, 0, 2]  # item-index order within the group
    assert np.array_equal(sids.codes[:, :3], codes)
    assert collision_rate(sids) == 0.0
    kept = deduplicate(codes, 8, "none")
    assert kept.codebook_sizes == (8, 8, 8)
    assert kept.sid_to_items()[(1, 2, 3)] == [0, 2, 4]
    assert collision_rate(kept) == pytest.approx(3 / 5)


def test_digit_level_present_without_collisions():
    sids = deduplicate(np.array([[0, 1], [1, 0]]), 2, "digit")
    assert sids.codebook_sizes == (2, 2, 1) and sids.codes[:, 2].tolist() == [0, 0]


def test_dedup_size_fixes_the_digit_vocabulary_and_names_a_larger_group():
    codes = np.array([[1, 2, 3], [0, 0, 0], [1, 2, 3], [4, 5, 6], [1, 2, 3]])
    sids = deduplicate(codes, 8, "digit", dedup_size=4)
    assert sids.codebook_sizes == (8, 8, 8, 4)
    assert np.array_equal(sids.codes, deduplicate(codes, 8, "digit").codes)  # same digits, fixed vocabulary
    with pytest.raises(SidkitError, match=r"dedup_size = 2, but 3 items share the codes \(1, 2, 3\): raise dedup_size to at least 3"):
        deduplicate(codes, 8, "digit", dedup_size=2)
    wrapped = deduplicate(codes, 8, "digit", dedup_size=2, wrap=True)
    assert wrapped.codebook_sizes == (8, 8, 8, 2) and wrapped.codes[:, 3].tolist() == [0, 0, 1, 0, 0]
    assert deduplicate(np.zeros((0, 2), dtype=np.int64), 8, "digit", dedup_size=5).codebook_sizes == (8, 8, 5)


def test_tokenizer_dedup_size_and_its_validation(ctx):
    emb, _ = blobs(n_centres=8, per=20)
    tok = SMALL["rkmeans"](levels=2, codebook_size=8, dedup_size=64)
    tok.fit(emb, ctx)
    sids, plain = tok.assign(emb), deduplicate(tok.codes(emb), 8, "digit")
    assert sids.codebook_sizes == (8, 8, 64) and np.array_equal(sids.codes, plain.codes)
    tok = SMALL["rkmeans"](levels=1, codebook_size=2, dedup_size=3)  # 160 items on 2 codes
    tok.fit(emb, ctx)
    with pytest.raises(SidkitError, match="dedup_size = 3, but .* items share the codes"):
        tok.assign(emb)
    with pytest.raises(ValueError, match="dedup_size needs dedup = 'digit'"):
        RKMeansConfig(dedup="random", dedup_size=8)
    with pytest.raises(ValueError, match="dedup_size must be between 0 and 65536"):
        RQVAEConfig(dedup_size=-1)


def test_input_matrix_is_what_the_rqvae_network_reads_after_transform(ctx):
    emb, _ = blobs(n_centres=4, per=10)
    tok = SMALL["rqvae"](levels=2, codebook_size=4, steps=20, whiten=True)
    with pytest.raises(SidkitError, match="fit"):
        tok.input_matrix(emb)
    tok.fit(emb, ctx)
    x = tok.input_matrix(emb)
    assert x is emb.values
    with torch.no_grad():
        codes = tok.model.codes(tok.transform(torch.from_numpy(x)))
    assert np.array_equal(codes.numpy(), tok.codes(emb))
    with pytest.raises(SidkitError, match="32-d embeddings, got 5-d"):
        tok.input_matrix(ItemEmbeddings(np.zeros((3, 5), dtype=np.float32)))


@pytest.mark.parametrize("mode, order", [("digit", "index"), ("random", "random"), ("none", "index")])
def test_tokenizer_dedup_modes(mode, order, ctx):
    emb, _ = blobs(n_centres=8, per=20)
    x = emb.values.copy()
    x[[3, 7, 11]] = x[3]  # three identical items must share all L codes
    emb = ItemEmbeddings(x)
    tok = SMALL["rkmeans"](levels=2, codebook_size=8, dedup=mode)
    tok.fit(emb, ctx)
    sids = tok.assign(emb)
    assert tok.collision_order == order
    raw = tok.codes(emb)
    assert (raw[[7, 11]] == raw[3]).all()
    if mode == "digit":
        assert sids.n_levels == 3 and collision_rate(sids) == 0.0
        group = np.flatnonzero((raw == raw[3]).all(1))
        assert sids.codes[group, 2].tolist() == list(range(len(group)))
        assert sids.codebook_sizes[2] == max(len(g) for g in deduplicate(raw, 8, "none").sid_to_items().values())
    else:
        assert sids.n_levels == 2 and np.array_equal(sids.codes, raw)
        assert collision_rate(sids) > 0.0
        assert {3, 7, 11} <= set(sids.sid_to_items()[tuple(raw[3])])


# -- state ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, extra", [("rkmeans", {}), ("rvq", {"steps_per_level": 20}), ("rqvae", {"steps": 30, "whiten": True})]
)
def test_save_load_roundtrip(name, extra, tmp_path, ctx):
    emb, _ = blobs(n_centres=8, per=25)
    fitted = SMALL[name](levels=3, codebook_size=8, **extra)
    fitted.fit(emb, ctx)
    fitted.save(tmp_path / "state")
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["meta.json", "state.safetensors"]
    fresh = SMALL[name](levels=3, codebook_size=8, **extra)
    fresh.load(tmp_path / "state")
    a, b = fitted.assign(emb), fresh.assign(emb)
    assert np.array_equal(a.codes, b.codes) and a.codebook_sizes == b.codebook_sizes

    (tmp_path / "state" / "state.safetensors").unlink()
    with pytest.raises(ArtifactError, match=rf"tokenizer {name}: .*state\.safetensors: missing"):
        SMALL[name](levels=3, codebook_size=8, **extra).load(tmp_path / "state")


def test_load_refuses_other_structure_or_tokenizer(tmp_path, ctx):
    emb, _ = blobs(n_centres=4, per=10)
    tok = SMALL["rkmeans"](levels=2, codebook_size=4)
    tok.fit(emb, ctx)
    tok.save(tmp_path)
    with pytest.raises(ArtifactError, match=r"codebook_size=4 \(config: 8\)"):
        SMALL["rkmeans"](levels=2, codebook_size=8).load(tmp_path)
    with pytest.raises(ArtifactError, match="written by tokenizer 'rkmeans', not 'rvq'"):
        SMALL["rvq"](levels=2, codebook_size=4).load(tmp_path)
    with pytest.raises(ArtifactError, match="meta.json: missing"):
        SMALL["rkmeans"]().load(tmp_path / "nowhere")


def test_assign_before_fit_and_wrong_dim(ctx):
    emb, _ = blobs(n_centres=4, per=10)
    tok = SMALL["rkmeans"](levels=1, codebook_size=4)
    with pytest.raises(SidkitError, match="fit"):
        tok.assign(emb)
    tok.fit(emb, ctx)
    with pytest.raises(SidkitError, match="32-d embeddings, got 5-d"):
        tok.assign(ItemEmbeddings(np.zeros((3, 5))))


# -- k-means internals -----------------------------------------------------------------------------------
def test_nearest_in_chunks_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    x, book = torch.randn(1000, 16, generator=gen), torch.randn(37, 16, generator=gen)
    idx, dist = nearest(x, book, budget=37 * 7)  # 7 rows per chunk
    full = torch.cdist(x, book).pow(2)
    assert torch.equal(idx, full.argmin(1))
    assert torch.allclose(dist, full.min(1).values, atol=1e-4)


def test_empty_clusters_are_reseeded_after_bad_init(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 8, generator=gen).repeat_interleave(10, 0)  # 20 distinct points, 10 copies each
    # bad init: every centroid on the same point -> all but one cluster start empty
    monkeypatch.setattr(kmeans, "kmeans_plus_plus", lambda x, k, gen: x[:1].repeat(k, 1).clone())
    for reseed_every in (0, 5):
        centroids = kmeans.minibatch_kmeans(x, 20, steps=10, batch_size=64, gen=gen, reseed_every=reseed_every)
        counts = torch.bincount(nearest(x, centroids)[0], minlength=20)
        assert (counts > 0).all(), counts
        assert (counts == 10).all()  # with exactly 20 distinct points, every one is a cluster


def test_reseed_takes_distinct_far_points_and_keeps_live_codes():
    x = torch.tensor([[0.0], [0.1], [10.0], [10.0], [10.0], [5.0]])
    book = torch.tensor([[0.0], [10.0], [100.0], [200.0], [300.0]])
    idx, dist = nearest(x, book)
    moved = common.reseed_codes(book, x, idx, dist, torch.tensor([False, False, True, True, True]))
    # candidates at positive distance: 5.0 (from code 0 or 1) and 0.1 (code 0); duplicates of 10.0 sit on their code
    assert sorted(book[moved].flatten().tolist()) == pytest.approx([0.1, 5.0])
    assert len(moved) == 2 and book[4].item() == 300.0  # not enough distinct points for the third
    counts = torch.bincount(nearest(x, book)[0], minlength=5)
    assert (counts[:2] > 0).all()


def test_more_clusters_than_distinct_points_does_not_fail():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]).repeat(30, 1)
    gen = torch.Generator().manual_seed(0)
    centroids = kmeans.minibatch_kmeans(x, 8, steps=20, batch_size=16, gen=gen)
    counts = torch.bincount(nearest(x, centroids)[0], minlength=8)
    assert int((counts > 0).sum()) == 3


def test_tokenizer_uses_every_code_when_points_allow(ctx):
    emb, _ = blobs(n_centres=16, per=5, spread=0.01)
    for name in ("rkmeans", "rvq"):
        tok = SMALL[name](levels=1, codebook_size=16, reseed_every=10)
        tok.fit(emb, ctx)
        assert len(np.unique(tok.codes(emb))) == 16, name


# -- RQ-VAE specifics -----------------------------------------------------------------------------------
def test_rqvae_loss_parts_and_extension_hook(ctx):
    emb, _ = blobs(n_centres=4, per=20)

    class WithExtra(RQVAETokenizer):
        calls = 0

        def on_fit_start(self, embeddings, ctx):
            self.seen_items = embeddings.n_items

        def extra_losses(self, x, out, items):
            WithExtra.calls += 1
            assert items.shape[0] == x.shape[0] and int(items.max()) < self.seen_items
            return {"spread": 0.1 * out.z.pow(2).mean()}

    tok = WithExtra(RQVAEConfig(levels=2, codebook_size=4, hidden_dims=(16,), latent_dim=4, steps=60, batch_size=32))
    tok.fit(emb, ctx)
    assert WithExtra.calls == 60
    last = tok.history[-1]
    assert {"total", "recon", "codebook", "commitment", "spread"} <= set(last)
    expected = last["recon"] + last["codebook"] + 0.25 * last["commitment"] + last["spread"]
    assert last["total"] == pytest.approx(expected, rel=1e-5)

    x = torch.tensor(emb.values[:8])
    out = tok.model(x)
    parts = rqvae_loss(x, out, beta=0.5)
    assert parts["total"].item() == pytest.approx(
        (parts["recon"] + parts["codebook"] + 0.5 * parts["commitment"]).item(), rel=1e-6
    )
    # straight-through: the reconstruction reaches the encoder; the codebook gets only its own term
    tok.model.zero_grad()
    parts["recon"].backward()
    assert tok.model.encoder[0].weight.grad.abs().sum() > 0
    assert tok.model.codebooks.grad is None or tok.model.codebooks.grad.abs().sum() == 0


def test_rqvae_training_lowers_the_reconstruction_loss(ctx):
    emb, _ = blobs(n_centres=8, per=25)
    tok = SMALL["rqvae"](levels=2, codebook_size=8, steps=200)
    tok.fit(emb, ctx)
    first, last = tok.history[0], tok.history[-1]
    assert first["step"] == 1 and last["step"] == 200
    assert last["recon"] < 0.3 * first["recon"]


def _rqvae_state(tok) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in tok.state()[0].items()}


def test_rqvae_finetune_resumes_from_the_current_weights(ctx, monkeypatch):
    """finetune() = a fresh optimizer's steps from the fitted weights: it equals the same
    steps run by hand on a copy; no re-initialisation, k-means or re-seeding happens."""
    import copy

    from sidkit.training import make_generator
    from sidkit_grid.tokenizers import rqvae as rqvae_module
    from sidkit_grid.tokenizers.common import run_seed
    from sidkit_grid.tokenizers.rqvae import epoch_batches

    emb, _ = blobs(n_centres=8, per=25)
    tok = SMALL["rqvae"](levels=2, codebook_size=8, steps=60, batch_size=64, whiten=True, reseed_every=5)
    tok.fit(emb, ctx)
    before = _rqvae_state(tok)

    idle = copy.deepcopy(tok)
    idle.finetune(emb, ctx, steps=0)
    after = _rqvae_state(idle)
    assert after.keys() == before.keys()
    assert all(after[k].dtype == before[k].dtype and after[k].tobytes() == before[k].tobytes() for k in before)

    reference = copy.deepcopy(tok)
    for name in ("build_model", "init_codebooks", "reseed_dead"):  # would re-initialise (part of) the model
        monkeypatch.setattr(tok, name, lambda *a, _n=name, **k: pytest.fail(f"finetune called {_n}"))
    monkeypatch.setattr(rqvae_module, "fit_whitening", lambda *a: pytest.fail("whitening re-fitted"))
    tok.finetune(emb, ctx, steps=12, lr=5e-3)
    assert [h["step"] for h in tok.history] == [1, 12]

    # the same 12 steps by hand: same batches, a fresh Adagrad at lr 5e-3, the fitted weights
    model = reference.model.train()
    x = reference.transform(torch.tensor(emb.values))
    opt = torch.optim.Adagrad(model.parameters(), lr=5e-3, weight_decay=reference.config.weight_decay)
    batches = epoch_batches(len(x), 64, make_generator(run_seed(reference.config.seed, ctx)))
    first = None
    for _ in range(12):
        items = next(batches)
        out = model(x[items])
        loss = rqvae_loss(x[items], out, reference.config.beta)["total"]
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert tok.history[0]["total"] == pytest.approx(first, rel=1e-6)  # step 1 starts where fit() ended
    for key, value in model.state_dict().items():
        torch.testing.assert_close(tok.model.state_dict()[key], value, rtol=0, atol=0)
    moved = _rqvae_state(tok)
    assert not np.array_equal(moved["model.codebooks"], before["model.codebooks"])
    assert all(np.array_equal(moved[k], before[k]) for k in ("whiten.mean", "whiten.matrix"))


def test_rqvae_finetune_errors(ctx):
    emb, _ = blobs(n_centres=4, per=10)
    tok = SMALL["rqvae"](levels=1, codebook_size=4, steps=5)
    with pytest.raises(SidkitError, match="needs a fitted tokenizer"):
        tok.finetune(emb, ctx, steps=1)
    tok.fit(emb, ctx)
    with pytest.raises(SidkitError, match="steps must be an integer >= 0, got -1"):
        tok.finetune(emb, ctx, steps=-1)
    with pytest.raises(SidkitError, match="lr must be > 0"):
        tok.finetune(emb, ctx, steps=1, lr=0.0)
    with pytest.raises(SidkitError, match="fitted on 32-d inputs; finetune\\(\\) got 5-d"):
        tok.finetune(ItemEmbeddings(np.zeros((3, 5))), ctx, steps=1)
    tok.finetune(emb, ctx, steps=2)  # a failed call leaves the tokenizer usable
    assert tok.assign(emb).n_items == emb.n_items


# -- configs and registration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (RKMeansConfig, {"levels": 0}, "levels"),
        (RKMeansConfig, {"codebook_size": 1}, "codebook_size"),
        (RKMeansConfig, {"dedup": "first"}, "dedup"),
        (RKMeansConfig, {"steps_per_level": 0}, "steps_per_level"),
        (RVQConfig, {"lr": 0.0}, "lr"),
        (RVQConfig, {"batch_size": 0}, "batch_size"),
        (RQVAEConfig, {"hidden_dims": (64, 0)}, "hidden_dims"),
        (RQVAEConfig, {"optimizer": "lbfgs"}, "optimizer"),
        (RQVAEConfig, {"beta": -1.0}, "beta"),
        (RQVAEConfig, {"reseed_every": -1}, "reseed_every"),
    ],
)
def test_config_validators_name_the_field(cls, kwargs, field):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    assert str(info.value).startswith(f"{field} must")


def test_config_errors_through_sidkit_structure():
    from sidkit.config.structure import structure

    cfg, issues = structure({"levels": 3, "hidden_dims": [256, 64]}, RQVAEConfig, "tokenizer")
    assert not issues and cfg.hidden_dims == (256, 64)
    _, issues = structure({"dedup": "first"}, RKMeansConfig, "tokenizer")
    assert [str(i) for i in issues] == ["tokenizer.dedup: dedup must be one of 'digit', 'random', 'none', got 'first'"]
    _, issues = structure({"level": 3}, RKMeansConfig, "tokenizer")
    assert "did you mean 'levels'" in str(issues[0])


def test_plugin_registers_every_component(sidkit_registry):
    from sidkit_grid import plugin

    sidkit_registry.add_plugin(plugin, "sidkit-grid")
    names = {(s.kind, s.name): s.factory for s in sidkit_registry.components()}
    assert names[("generator", "tiger")] == "sidkit_grid.generators.tiger:TigerGenerator"
    assert names[("generator", "decoder-only")] == "sidkit_grid.generators.decoder_only:DecoderOnlyGenerator"
    assert names[("decoder", "beam")] == "sidkit_grid.decoding.beam:BeamDecoder"
    assert {"hf-text"} <= set(sidkit_registry.names("encoder"))
    assert sidkit_registry.names("tokenizer") == ["rkmeans", "rqvae", "rvq"]
    for name, cls in [("rkmeans", RKMeansTokenizer), ("rvq", RVQTokenizer), ("rqvae", RQVAETokenizer)]:
        assert isinstance(sidkit_registry.build("tokenizer", name), cls)


def test_doc_page_lists_every_tokenizer_option():
    doc = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "grid.md"
    if not doc.exists():
        pytest.skip(f"{doc} not found (not a source checkout)")
    text = doc.read_text(encoding="utf-8")
    for cls in (RKMeansConfig, RVQConfig, RQVAEConfig):
        missing = [f.name for f in attrs.fields(cls) if f"`{f.name}`" not in text]
        assert not missing, f"grid.md does not document {cls.__name__}: {missing}"


def test_plugin_module_does_not_import_torch():
    code = "import sys, sidkit_grid.plugin; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
