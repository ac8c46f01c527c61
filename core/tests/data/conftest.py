"""Helpers of the data tests: writing fixture files and tiny datasets in upstream layouts."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from sidkit.data import load_dataset


@pytest.fixture
def write(tmp_path):
    """``write(name, text, encoding="utf-8")`` -> the path; gzipped when ``name`` ends in ``.gz``."""

    def _write(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode(encoding)
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return _write


@pytest.fixture
def tiny(write):
    """``tiny(rows, **options)``: a delimited dataset from ``(user, item, timestamp)`` rows, in that file order."""

    def _tiny(rows, **options):
        text = "user_id,item_id,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows)
        return load_dataset("delimited", path=str(write("tiny.csv", text)), **options)

    return _tiny


def sequences(ds) -> dict[str, list[str]]:
    """External user id -> external item ids in dataset order."""
    inter, ids = ds.interactions, ds.catalog.item_ids
    offsets = inter.user_offsets()
    return {inter.user_ids[u]: [ids[i] for i in inter.item[offsets[u] : offsets[u + 1]]] for u in range(inter.n_users)}


@pytest.fixture
def seqs():
    return sequences
