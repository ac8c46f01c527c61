"""The installable test plugin sidkit-toy, used through the registry on the synthetic dataset:
the tokenizer recovers the planted topics, and the trained generator + decoder beat the
most-popular baseline on leave-one-out Recall@10."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sidkit.config import structure
from sidkit.context import Context
from sidkit.data import leave_one_out, load_dataset
from sidkit.metrics import mostpop_rankings, ranking_metrics
from sidkit.registry import get_registry
from sidkit.training import TrainConfig
from sidkit.types import ItemEmbeddings, Ragged

COMPONENTS = {"encoder": "toy-text", "tokenizer": "toy-rkmeans", "generator": "toy-mlp", "decoder": "toy-exhaustive"}


def spec(kind: str):
    return get_registry().get(kind, COMPONENTS[kind])


def build(kind: str, **options):
    s = spec(kind)
    return s.build(s.config(**options))


def purity(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of items whose label's majority topic is their own topic."""
    return sum(np.bincount(truth[labels == c]).max() for c in np.unique(labels)) / len(truth)


@pytest.fixture(scope="module", autouse=True)
def toy_installed():
    status = get_registry().plugins.get("sidkit-toy")
    if status is None or status.status != "ok":
        pytest.fail(
            "sidkit-toy is not loaded (" + (status.error if status else "not installed") + "); run `make install` or "
            "pip install --no-deps --no-build-isolation -e tests/plugins/sidkit-toy"
        )


@pytest.fixture(scope="module")
def data():
    dataset = load_dataset("synthetic", seed=0)
    split = leave_one_out(dataset, max_len=20)
    ctx = Context(dataset=dataset, split=split, progress=False)
    embeddings = build("encoder").encode(ctx)
    tokenizer = build("tokenizer")
    tokenizer.fit(embeddings, ctx)
    return dataset, split, ctx, embeddings, tokenizer, tokenizer.assign(embeddings)


@pytest.fixture(scope="module")
def one_thread():
    """A model this small gains nothing from intra-op threads, and on a busy machine they
    make training many times slower (spinning OpenMP workers)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory, one_thread):
    _, split, ctx, _, _, sids = data
    decoder = build("decoder")
    calls = []

    def validate(generator):
        calls.append(generator)
        rankings = decoder.rank(generator, sids, split.valid.histories, 10, ctx)
        return ranking_metrics(rankings, split.valid.targets, ks=(10,))

    generator = build("generator", train=TrainConfig(epochs=4, progress=False))
    workdir = tmp_path_factory.mktemp("toy-mlp")
    generator.fit(sids, Context(dataset=ctx.dataset, split=split, progress=False, validate=validate, workdir=workdir))
    return generator, decoder, calls, workdir


def test_all_components_come_from_sidkit_toy():
    for kind, name in COMPONENTS.items():
        s = get_registry().get(kind, name)
        assert (s.plugin, s.version) == ("sidkit-toy", "0.1.0") and s.description


def test_plugin_module_imports_no_torch():
    code = "import sys, sidkit_toy.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_config_errors_name_the_key_path():
    _, issues = structure({"levels": 0}, spec("tokenizer").config, "tokenizer")
    assert [(i.path, i.message) for i in issues] == [("tokenizer.levels", "levels must be >= 1, got 0")]
    _, issues = structure({"dropout": 1.5}, spec("generator").config, "generator")
    assert [(i.path, i.message) for i in issues] == [("generator.dropout", "dropout must be in [0, 1), got 1.5")]
    _, issues = structure({"train": {"epochs": 0}}, spec("generator").config, "generator")  # the embedded TrainConfig
    assert len(issues) == 1 and issues[0].path.startswith("generator.train")
    assert "epochs must be >= 1, got 0" in issues[0].message


def test_encoder_gives_normalised_deterministic_rows(data):
    dataset, _, ctx, embeddings, _, _ = data
    assert embeddings.values.shape == (dataset.n_items, 64)
    np.testing.assert_allclose(np.linalg.norm(embeddings.values, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(build("encoder").encode(ctx).values, embeddings.values)


def test_tokenizer_recovers_the_planted_topics(data):
    dataset, _, _, _, _, sids = data
    topics = np.asarray(dataset.meta["planted_topics"])
    first = sids.codes[:, 0]
    found = purity(first, topics)
    chance = purity(first, np.random.default_rng(0).permutation(topics))
    assert found >= 0.9 and chance <= 0.3, (found, chance)
    assert (found - chance) / (1 - chance) >= 0.85  # adjusted for chance


def test_tokenizer_dedup_level_makes_sids_unique_and_state_round_trips(data, tmp_path):
    _, _, _, embeddings, tokenizer, sids = data
    assert sids.codebook_sizes[:2] == (16, 16) and len(sids.codebook_sizes) == 3
    assert len(np.unique(sids.codes, axis=0)) == sids.n_items
    assert sids.codes[:, 2].max() + 1 == sids.codebook_sizes[2]  # dedup size = largest collision group
    tokenizer.save(tmp_path)
    fresh = build("tokenizer")
    fresh.load(tmp_path)
    np.testing.assert_array_equal(fresh.assign(embeddings).codes, sids.codes)
    with pytest.raises(Exception, match="codebook_size"):
        build("tokenizer", codebook_size=8).load(tmp_path)


def test_generator_and_decoder_beat_most_popular(data, trained):
    dataset, split, ctx, _, _, sids = data
    generator, decoder, calls, workdir = trained
    assert len(calls) == 4 and all(c is generator for c in calls)  # validated after every epoch
    assert (workdir / "checkpoints" / "latest.json").exists()
    toy = ranking_metrics(decoder.rank(generator, sids, split.test.histories, 10, ctx), split.test.targets, ks=(10,))
    pop = ranking_metrics(mostpop_rankings(split.train, dataset.n_items, split.test, 10), split.test.targets, ks=(10,))
    assert toy["recall@10"] >= max(2 * pop["recall@10"], pop["recall@10"] + 0.1), (toy, pop)


def test_generator_restores_from_files_and_decoder_batches_agree(data, trained, tmp_path):
    _, split, ctx, _, _, sids = data
    generator, decoder, _, _ = trained
    histories = split.test.histories.take(np.arange(50))
    generator.save(tmp_path)
    fresh = build("generator")
    fresh.load(tmp_path)
    expected = decoder.rank(generator, sids, histories, 10, ctx)
    np.testing.assert_array_equal(decoder.rank(fresh, sids, histories, 10, ctx).items, expected.items)
    small = build("decoder", batch_size=7).rank(generator, sids, histories, 10, ctx)
    np.testing.assert_array_equal(small.items, expected.items)
    assert (np.diff(expected.scores, axis=1) <= 0).all()
    with pytest.raises(Exception, match="dim"):
        build("generator", dim=32).load(tmp_path)


def test_decoder_and_generator_refuse_what_they_cannot_use(data, trained):
    _, _, ctx, _, _, sids = data
    generator, decoder, _, _ = trained
    with pytest.raises(Exception, match="item_log_probs"):
        decoder.rank(object(), sids, Ragged.from_lists([[1]]), 10, ctx)
    other = type(sids)(sids.codes[:, :2], sids.codebook_sizes[:2])
    with pytest.raises(Exception, match="trained on"):
        generator.item_log_probs(Ragged.from_lists([[1]]), other)
    shuffled = type(sids)(sids.codes[::-1], sids.codebook_sizes)
    with pytest.raises(Exception, match="other SIDs"):
        generator.item_log_probs(Ragged.from_lists([[1]]), shuffled)
    with pytest.raises(Exception, match="fit"):
        build("tokenizer").assign(ItemEmbeddings(np.zeros((2, 3))))
