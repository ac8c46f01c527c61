"""Encoder ``content+collab``: aligned views, the three outputs, sub-folders, and its config
(sub-encoders resolved through the registry, errors under their full key path)."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.config.structure import structure, unstructure
from sidkit.context import Context
from sidkit.data.model import Catalog, Dataset, Interactions
from sidkit.errors import ConfigError, SidkitError
from sidkit.protocols import Encoder
from sidkit.registry import get_registry
from sidkit_grid.api import HFTextConfig
from sidkit_letter.configs import ContentCollabConfig, EncoderChoice, SASRecConfig
from sidkit_letter.encoders.combined import ContentCollabEncoder
from sidkit_letter.encoders.sasrec import SASRecEncoder

pytestmark = pytest.mark.usefixtures("one_thread")


def dataset(n_items: int, titles=None) -> Dataset:
    empty = np.zeros(0, dtype=np.int64)
    fields = [{"title": t} for t in (titles or [f"item {i}" for i in range(n_items)])]
    return Dataset(Catalog([f"i{k}" for k in range(n_items)], fields), Interactions(empty, empty, empty, []))


@pytest.fixture
def content_file(tmp_path):
    """``make(n_items, dim)``: a .npy file of distinct content vectors, and the vectors."""

    def make(n_items: int, dim: int = 5):
        values = np.random.default_rng(3).normal(size=(n_items, dim)).astype(np.float32)
        path = tmp_path / f"content-{n_items}.npy"
        np.save(path, values)
        return path, values

    return make


@pytest.mark.parametrize("output", ["content", "collaborative", "concat"])
def test_views_are_aligned_and_output_picks_values(successor_split, tiny, content_file, tmp_path, output):
    split = successor_split(n_users=40)
    path, content = content_file(split.n_items)
    collab_cfg = tiny(train={"epochs": 2})
    config = ContentCollabConfig(
        content={"name": "precomputed", "path": str(path)},
        collaborative=EncoderChoice("sasrec", collab_cfg),
        output=output,
    )
    encoder = get_registry().build("encoder", "content+collab", config)
    assert isinstance(encoder, Encoder) and isinstance(encoder, ContentCollabEncoder)
    ctx = Context(dataset=dataset(split.n_items), split=split, workdir=tmp_path / "work", progress=False)
    emb = encoder.encode(ctx)

    alone = SASRecEncoder(collab_cfg).encode(Context(split=split, progress=False)).values  # same seed
    assert set(emb.views) == {"content", "collaborative"}
    np.testing.assert_array_equal(emb.views["content"], content)
    np.testing.assert_array_equal(emb.views["collaborative"], alone)  # same items, same order
    if output == "concat":
        assert emb.dim == content.shape[1] + alone.shape[1] == 5 + 32
        np.testing.assert_allclose(np.linalg.norm(emb.values[:, :5], axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(emb.values[:, 5:], axis=1), 1.0, rtol=1e-5)
        cos = emb.values[:, 5:] @ emb.values[:, 5:].T
        ref = alone / np.linalg.norm(alone, axis=1, keepdims=True)
        np.testing.assert_allclose(cos, ref @ ref.T, rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_array_equal(emb.values, emb.views[output])
    # each encoder works in its own sub-folder of the work directory
    assert (tmp_path / "work" / "collaborative" / "sasrec.safetensors").exists()
    assert (tmp_path / "work" / "content").is_dir()


def test_default_pairing_hf_text_and_sasrec(successor_split, tiny):
    """The defaults: MiniLM text embeddings (the weights shipped offline) + SASRec."""
    split = successor_split(n_users=40)
    titles = [f"{w} movie number {i}" for i, w in enumerate(["space", "love", "war", "cartoon"] * 5)]
    config = ContentCollabConfig(
        content=EncoderChoice("hf-text", HFTextConfig(cache_dir="")),
        collaborative=EncoderChoice("sasrec", tiny(train={"epochs": 1})),
    )
    emb = ContentCollabEncoder(config).encode(
        Context(dataset=dataset(split.n_items, titles), split=split, progress=False)
    )
    assert emb.views["content"].shape == (20, 384) and emb.views["collaborative"].shape == (20, 32)
    np.testing.assert_array_equal(emb.values, emb.views["content"])  # output = "content" by default


def test_row_counts_must_match(successor_split, tiny, content_file):
    split = successor_split(n_users=40)
    path, _ = content_file(split.n_items + 1)
    config = ContentCollabConfig(
        content={"name": "precomputed", "path": str(path)},
        collaborative=EncoderChoice("sasrec", tiny(train={"epochs": 1})),
    )
    with pytest.raises(Exception, match="21"):  # the precomputed encoder itself refuses it, or we do
        ContentCollabEncoder(config).encode(Context(dataset=dataset(split.n_items), split=split, progress=False))
    with pytest.raises(SidkitError, match="needs a context"):
        ContentCollabEncoder(config).encode(None)


# -- config --------------------------------------------------------------------------------------
def test_defaults_and_round_trip():
    cfg, issues = structure({}, ContentCollabConfig, "encoder")
    assert not issues
    assert cfg.content == EncoderChoice("hf-text", HFTextConfig())
    assert cfg.collaborative == EncoderChoice("sasrec", SASRecConfig()) and cfg.output == "content"
    table = {
        "output": "concat",
        "content": {"name": "hf-text", "template": "{title}"},
        "collaborative": {"name": "sasrec", "hidden": 32, "train": {"epochs": 3}},
    }
    cfg, issues = structure(table, ContentCollabConfig, "encoder")
    assert not issues
    assert cfg.collaborative.config.hidden == 32 and cfg.collaborative.config.train.epochs == 3
    assert cfg.collaborative.config.train.optim.lr == 1e-3  # the sasrec defaults survive
    flat = unstructure(cfg)
    assert flat["content"]["name"] == "hf-text" and flat["content"]["max_length"] == 128  # defaults written back
    again, issues = structure(flat, ContentCollabConfig, "encoder")
    assert not issues and again == cfg


@pytest.mark.parametrize(
    "table, path, message",
    [
        ({"content": {"name": "hf-txt"}}, "encoder.content.name", "not a registered encoder (did you mean 'hf-text'"),
        ({"content": {"template": "{title}"}}, "encoder.content.name", "name is required"),
        ({"content": "hf-text"}, "encoder.content", "expected a table whose name"),
        ({"content": {"name": "content+collab"}}, "encoder.content.name", "cannot be nested"),
        (
            {"collaborative": {"name": "sasrec", "hidden": 0}},
            "encoder.collaborative.hidden",
            "hidden must be >= 1, got 0",
        ),
        ({"collaborative": {"name": "sasrec", "hiden": 3}}, "encoder.collaborative.hiden", "did you mean 'hidden'"),
        ({"collaborative": {"name": "sasrec", "hidden": "x"}}, "encoder.collaborative.hidden", "expected an integer"),
        ({"output": "both"}, "encoder.output", "output must be one of 'content', 'collaborative', 'concat'"),
    ],
)
def test_config_errors_name_the_key_path(table, path, message):
    cfg, issues = structure(table, ContentCollabConfig, "encoder")
    assert cfg is None
    assert [i.path for i in issues] == [path], issues
    assert message in issues[0].message, issues


def test_every_problem_of_both_sub_tables_is_reported_at_once():
    table = {
        "content": {"name": "nope"},
        "collaborative": {"name": "sasrec", "dropout": 2.0, "train": {"optim": {"lr": -1.0}}, "hiden": 3},
    }
    _, issues = structure(table, ContentCollabConfig, "encoder")
    # a validator error two tables down is filed under its table, as sidkit does for any component
    assert sorted(i.path for i in issues) == [
        "encoder.collaborative.hiden",
        "encoder.collaborative.train.optim",
        "encoder.content.name",
    ]
    assert any("lr must be > 0.0, got -1.0" in i.message for i in issues)


def test_python_construction_resolves_tables_too():
    cfg = ContentCollabConfig(collaborative={"name": "sasrec", "hidden": 16, "num_heads": 4})
    assert cfg.collaborative == EncoderChoice("sasrec", SASRecConfig(hidden=16, num_heads=4))
    with pytest.raises(ConfigError, match=r"num_heads: num_heads must divide hidden=16"):
        ContentCollabConfig(collaborative={"name": "sasrec", "hidden": 16, "num_heads": 3})


def test_warm_start_and_state_reach_the_collaborative_encoder(successor_split, tiny, content_file, tmp_path):
    """A continual refresh with content+collab: the previous encoder's SASRec warm-starts the
    new one, and the combined encoder saves/loads its sub-encoders' state and reports the
    collaborative history."""
    import attrs

    split = successor_split(n_users=60)
    path, _ = content_file(split.n_items)
    config = ContentCollabConfig(
        content={"name": "precomputed", "path": str(path)}, collaborative=EncoderChoice("sasrec", tiny(train={"epochs": 4})),
    )
    ctx = Context(dataset=dataset(split.n_items), split=split, progress=False)
    first = ContentCollabEncoder(config)
    first.encode(ctx)
    assert len(first.history) == 4 and first.history == first.encoders["collaborative"].history

    one_epoch = attrs.evolve(config.collaborative.config, train=attrs.evolve(config.collaborative.config.train, epochs=1))
    budget = attrs.evolve(config, collaborative=EncoderChoice("sasrec", one_epoch))
    warm, cold = ContentCollabEncoder(budget), ContentCollabEncoder(budget)
    warm.encode(Context(dataset=ctx.dataset, split=split, progress=False, encoder=first))
    cold.encode(ctx)
    # one epoch from the trained SASRec starts where the first run's training ended, far below a fresh start
    assert warm.history[0]["train_loss"] < cold.history[0]["train_loss"] - 0.5 * (first.history[0]["train_loss"] - first.history[-1]["train_loss"])

    first.save(tmp_path / "state")
    again = ContentCollabEncoder(config)
    again.load(tmp_path / "state")
    assert again.history == first.history and not (tmp_path / "state" / "content").exists()  # precomputed has no state
    for a, b in zip(again.encoders["collaborative"].model.state_dict().values(),
                    first.encoders["collaborative"].model.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
