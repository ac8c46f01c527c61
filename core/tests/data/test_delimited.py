"""Format delimited: CSV/TSV interactions with JSON-lines or CSV item files, and the real Beauty files."""

from __future__ import annotations

import pytest
from sidkit.data import dataset_info, load_dataset


def test_tsv_with_jsonl_items(write, seqs):
    inter = write("shop.tsv", "user_id\titem_id\ttimestamp\nu1\tB2\t5\nu1\tB1\t3\nu2\tB1\t4\n")
    items = write(
        "items.jsonl",
        '{"item_id": "B1", "title": "Soap &amp; Co", "tags": ["a", "b"]}\n\n{"item_id": "B2", "title": "Gel", "price": 2.5}\n',
    )
    ds = load_dataset("delimited", path=str(inter), items=str(items))
    assert seqs(ds) == {"u1": ["B1", "B2"], "u2": ["B1"]}
    assert ds.catalog.fields[0] == {"title": "Soap & Co", "tags": ["a", "b"]}
    assert ds.catalog.fields[1] == {"title": "Gel", "price": 2.5}
    assert ds.name == "shop" and ds.meta["path"] == str(inter) and ds.meta["items"] == str(items)


def test_csv_custom_columns_and_csv_items(write):
    inter = write("log.csv", 'ts,who,what,stars\n10,"a",x,4.5\n11,a,y,1\n')
    items = write("items.csv", 'sku,title\nx,"Big, red"\ny,Small\n')
    ds = load_dataset("delimited", path=str(inter), items=str(items), user_col="who", item_col="what",
                      time_col="ts", rating_col="stars", item_id_key="sku", min_rating=2)  # fmt: skip
    assert list(ds.catalog.item_ids) == ["x"] and ds.catalog.fields[0] == {"title": "Big, red"}


def test_explicit_separator(write):
    inter = write("log.txt", "user_id;item_id;timestamp\na;x;1\n")
    assert len(load_dataset("delimited", path=str(inter), sep=";").interactions) == 1


def test_unknown_items_allowed_when_not_strict(write):
    inter = write("i.csv", "user_id,item_id,timestamp\na,x,1\na,y,2\n")
    items = write("items.jsonl", '{"item_id": "x", "title": "X"}\n')
    ds = load_dataset("delimited", path=str(inter), items=str(items), strict_items=False)
    assert ds.catalog.fields == [{"title": "X"}, {}]


@pytest.mark.realdata
def test_real_beauty(shared_data, seqs):
    beauty = shared_data / "amazon-beauty"
    ds = load_dataset("delimited", path=str(beauty / "Beauty.inter.tsv"), items=str(beauty / "Beauty.items.jsonl"))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (22363, 12101, 198502)
    info = dataset_info(ds)
    assert (info["timestamp_min"], info["timestamp_max"]) == (1023840000, 1406073600)
    assert info["tied_last_pair_share"] == pytest.approx(0.435, abs=0.002)
    assert info["share_items_with_text"] == 1.0
    # ties = keep reproduces the published P5 sequences, tie order included
    by_user = seqs(ds)
    with open(beauty / "raw" / "OpenP5_Beauty_user_sequence.txt") as f:
        p5 = dict((parts[0], parts[1:]) for parts in (line.split() for line in f))
    assert len(p5) == 22363 and all(by_user[u] == items for u, items in p5.items())
