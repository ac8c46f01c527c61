"""The format registry: config classes structured from TOML tables, validation, loading by name."""

from __future__ import annotations

import attrs
import pytest
from sidkit.config.structure import structure, unstructure
from sidkit.data import FORMATS, LoadOptions, SyntheticConfig, load_dataset, load_from_config
from sidkit.errors import UnknownComponentError

PATHS = {"synthetic": {}, "movielens": {"path": "/d"}, "amazon": {"path": "/r.json.gz", "items": "/m.json.gz"},
         "recbole": {"path": "/x.inter"}, "delimited": {"path": "/x.tsv"}}  # fmt: skip


def test_registry():
    assert set(FORMATS) == set(PATHS)
    for name, spec in FORMATS.items():
        assert spec.name == name and spec.description
        assert issubclass(spec.config_cls, LoadOptions)
        params = attrs.fields(spec.config_cls)
        assert all(f.kw_only for f in params)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_configs_structure_from_toml_tables(name):
    table = {**PATHS[name], "ties": "shuffle", "tie_seed": 3, "min_rating": 4, "kcore": 2, "dedup": "last"}
    config, issues = structure(table, FORMATS[name].config_cls, "data")
    assert issues == []
    assert (config.ties, config.tie_seed, config.min_rating, config.kcore, config.dedup) == (
        "shuffle",
        3,
        4.0,
        2,
        "last",
    )
    again, _ = structure(unstructure(config), FORMATS[name].config_cls, "data")
    assert again == config


@pytest.mark.parametrize(
    "name, table, where, message",
    [
        (
            "movielens",
            {"path": "/d", "ties": "random"},
            "data.ties",
            "ties must be one of 'keep', 'shuffle', 'item-id'",
        ),
        ("movielens", {"path": "/d", "dedup": "all"}, "data.dedup", "dedup must be one of 'first', 'last', 'none'"),
        ("delimited", {"path": "/x", "kcore": -1}, "data.kcore", "kcore must be >= 0"),
        ("movielens", {}, "data.path", "required key missing"),
        ("amazon", {"path": ""}, "data.path", "path must name the reviews file"),
        ("synthetic", {"drift": 1.5}, "data.drift", "drift must be between 0.0 and 1.0"),
        ("synthetic", {"seq_len_min": 10, "seq_len_max": 5}, "data.seq_len_max", "seq_len_max must be >= seq_len_min"),
        ("recbole", {"path": "/x", "user": "uid"}, "data.user", "unknown key 'user'"),
    ],
)
def test_validation_messages(name, table, where, message):
    config, issues = structure(table, FORMATS[name].config_cls, "data")
    assert config is None
    assert any(i.path == where and message in i.message for i in issues), issues


def test_unknown_format():
    with pytest.raises(UnknownComponentError, match="did you mean 'movielens'"):
        load_dataset("movielense", path="x")


def test_load_from_config_finds_the_format():
    config = SyntheticConfig(n_users=20, n_items=30, n_topics=3)
    ds = load_from_config(config)
    assert ds.meta["format"] == "synthetic" and ds.n_users == 20
    assert load_from_config(config, "synthetic").interactions.item.tolist() == ds.interactions.item.tolist()
    with pytest.raises(TypeError, match="format 'movielens' takes a MovieLensConfig"):
        load_from_config(config, "movielens")
