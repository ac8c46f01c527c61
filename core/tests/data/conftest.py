"""Helpers of the data tests: writing fixture files and tiny datasets in upstream layouts."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest
from sidkit.data import load_dataset

sys.path.insert(0, str(Path(__file__).parent))  # old_loading, the oracle of the chunked loaders
import old_loading  # noqa: E402
from old_loading import same_dataset  # noqa: E402


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


# -- every load of these tests is checked against the per-row reading it replaced ------------------
def old_load(spec, config):
    """``spec.load(config)`` through the per-row reading of :mod:`old_loading`."""
    from sidkit.data.loaders import amazon, build, delimited, movielens, recbole

    with pytest.MonkeyPatch.context() as mp:
        for module in (delimited, movielens, recbole):
            mp.setattr(module, "read_columns", old_loading.read_columns)
        mp.setattr(amazon, "_read_reviews", old_loading.read_reviews)
        mp.setattr(build, "sorted_ids", old_loading.sorted_ids)
        return spec.load(config)


def _size(path) -> int:
    p = Path(path)
    return sum(f.stat().st_size for f in p.iterdir() if f.is_file()) if p.is_dir() else p.stat().st_size


@pytest.fixture(autouse=True)
def chunked_loads_equal_the_old_ones(monkeypatch):
    """Every file load in these tests also runs with tiny blocks (many chunk boundaries) and
    through the old per-row reading; all three datasets must be equal."""
    import attrs
    from sidkit.data import formats
    from sidkit.data.loaders import columns

    def checked(spec):
        def load(config):
            ds = spec.load(config)
            small = _size(config.path) < 100_000  # real data files: still many blocks, faster
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(columns, "CHUNK_BYTES", 7 if small else 1 << 16)
                mp.setattr(columns, "CSV_ROWS", 2 if small else 4096)
                same_dataset(spec.load(config), ds)
            same_dataset(old_load(spec, config), ds)
            return ds

        return attrs.evolve(spec, load=load)

    for name, spec in list(formats.FORMATS.items()):
        if name != "synthetic":
            monkeypatch.setitem(formats.FORMATS, name, checked(spec))
