"""Embedding checks: check_embeddings, and the precomputed encoder's files (matrix, ids_file)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from sidkit.context import Context
from sidkit.data.model import Catalog
from sidkit.encoders.checks import check_embeddings
from sidkit.encoders.configs import PrecomputedConfig
from sidkit.encoders.precomputed import PrecomputedEncoder
from sidkit.errors import DataError

IDS = ["a", "b", "c", "d"]


def test_check_embeddings_names_first_bad_row():
    values = np.ones((4, 3))
    values[2, 1], values[3, 0] = np.nan, np.inf
    with pytest.raises(DataError) as info:
        check_embeddings(values, "encoder 'x'", IDS)
    assert str(info.value) == (
        "encoder 'x': 2 of 4 embedding rows hold NaN or infinity (as float32);"
        " the first is row 2 (0-based; item 'c'): nan in column 1"
    )


def test_check_embeddings_float32_overflow_and_no_ids():
    values = np.ones((2, 2))
    values[1, 1] = 1e39  # finite in float64, inf in float32
    with pytest.raises(DataError, match=r"the first is row 1 \(0-based\): inf in column 1"):
        check_embeddings(values, "f.npy")


@pytest.mark.parametrize(
    "values, reason",
    [
        (np.ones(3), r"expected a non-empty 2-D \[n_items, d\] matrix, got shape \(3,\)"),
        (np.ones((3, 0)), r"got shape \(3, 0\)"),
        (np.array([["a", "b"]]), r"embeddings are not numbers \(dtype <U1\)"),
    ],
    ids=["1-d", "no-columns", "strings"],
)
def test_check_embeddings_shape_and_dtype(values, reason):
    with pytest.raises(DataError, match=reason):
        check_embeddings(values, "f.npy")


def test_check_embeddings_returns_float32():
    out = check_embeddings(np.ones((2, 3), dtype=np.float64), "f.npy")
    assert out.dtype == np.float32 and out.shape == (2, 3)


# -- precomputed encoder -------------------------------------------------------------------
def _encode(tmp_path, values, ids_text=None, **config):
    path = tmp_path / "emb.npy"
    np.save(path, values)
    if ids_text is not None:
        config["ids_file"] = str(tmp_path / "ids.json")
        (tmp_path / "ids.json").write_text(ids_text, encoding="utf-8")
    ctx = Context(dataset=SimpleNamespace(catalog=Catalog(IDS, [{}] * len(IDS))), progress=False)
    return PrecomputedEncoder(PrecomputedConfig(path=str(path), **config)).encode(ctx)


def test_precomputed_nan_row_names_file_and_item(tmp_path):
    values = np.ones((4, 2), dtype=np.float32)
    values[1, 0] = np.nan
    with pytest.raises(DataError) as info:
        _encode(tmp_path, values)
    assert info.value.path == tmp_path / "emb.npy"
    assert "the first is row 1 (0-based; item 'b'): nan in column 0" in info.value.reason


def test_precomputed_nan_row_named_by_ids_file(tmp_path):
    values = np.ones((4, 2), dtype=np.float32)
    values[0, 1] = -np.inf
    with pytest.raises(DataError, match=r"row 0 \(0-based; item 'd'\): -inf in column 1"):
        _encode(tmp_path, values, json.dumps(["d", "c", "b", "a"]))


def test_precomputed_ids_file_reorders_rows_and_allows_bom(tmp_path):
    values = np.arange(8, dtype=np.float32).reshape(4, 2)
    emb = _encode(tmp_path, values, "\ufeff" + json.dumps(["d", "c", "b", "a"]))
    np.testing.assert_array_equal(emb.values, values[::-1])


@pytest.mark.parametrize(
    "ids_text, line, reason",
    [
        ('["a", "b",\n "c", "d"', 2, r"not valid JSON: Expecting .* \(column \d+\)"),
        ('{"ids": ["a"]}', None, r"expected a JSON list of item ids \(one per embedding row\), got dict"),
        ('["a", "b", ["c"], "d"]', None, r"element 2 is \['c'\]; expected an item id"),
        ('["a", "b", "a", "d"]', None, r"item id 'a' is listed twice \(elements 0 and 2\)"),
    ],
    ids=["bad-json", "not-a-list", "not-an-id", "duplicate"],
)
def test_precomputed_bad_ids_file(tmp_path, ids_text, line, reason):
    with pytest.raises(DataError) as info:
        _encode(tmp_path, np.ones((4, 2)), ids_text)
    assert (info.value.path, info.value.line) == (tmp_path / "ids.json", line)
    assert re.search(reason, info.value.reason), info.value.reason


def test_precomputed_missing_files(tmp_path):
    with pytest.raises(DataError, match="ids_file not found") as info:
        _encode(tmp_path, np.ones((4, 2)), ids_file=str(tmp_path / "nope.json"))
    assert info.value.path == tmp_path / "nope.json"
    with pytest.raises(DataError, match="embedding file not found"):
        PrecomputedEncoder(PrecomputedConfig(path=str(tmp_path / "nope.npy"))).encode(Context(progress=False))
