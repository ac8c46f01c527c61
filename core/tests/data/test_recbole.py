"""Format recbole: atomic .inter / .item files, quoted fields with TABs and newlines, the real Beauty .item."""

from __future__ import annotations

import pytest
from sidkit.data import load_dataset
from sidkit.data.loaders.recbole import read_atomic_items

INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "u1\ti1\t5.0\t100.0\n"
    "u1\ti2\t3.0\t100.0\n"
    "u2\ti2\t4.0\t90.0\n"
)
ITEM = (
    "item_id:token\ttitle:token\tcategories:token_seq\tprice:float\tbrand:token\n"
    "i1\t\"TheraNeem Cream 2 oz \nVanilla\"\t'Beauty', 'Skin Care', \"Women's\"\t11.28\tOrganix\n"
    'i2\t"350BUY \t 1200pcs Nail Art &amp; Beads"\tnail art\t\tMy Sky\n'
)


def test_inter_and_item(write):
    ds = load_dataset("recbole", path=str(write("b.inter", INTER)), items=str(write("b.item", ITEM)))
    assert ds.name == "b"
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 2, 3)
    assert ds.catalog.fields[0] == {
        "title": "TheraNeem Cream 2 oz \nVanilla",
        "categories": ["Beauty", "Skin Care", "Women's"],
        "price": 11.28,
        "brand": "Organix",
    }
    assert ds.catalog.fields[1] == {
        "title": "350BUY \t 1200pcs Nail Art & Beads",
        "categories": ["nail", "art"],
        "price": None,
        "brand": "My Sky",
    }
    assert ds.interactions.timestamp.tolist() == [100, 100, 90]


def test_rating_field_optional(write):
    inter = write("x.inter", "user_id:token\titem_id:token\ttimestamp:float\nu\ta\t1\nu\tb\t2\n")
    assert len(load_dataset("recbole", path=str(inter)).interactions) == 2


def test_custom_field_names(write):
    inter = write("x.inter", "uid:token\tiid:token\tts:float\nu\ta\t1\nu\tb\t2\n")
    ds = load_dataset("recbole", path=str(inter), user_col="uid", item_col="iid", time_col="ts")
    assert list(ds.catalog.item_ids) == ["a", "b"]


@pytest.mark.realdata
def test_real_beauty_item_file(shared_data):
    items = read_atomic_items(shared_data / "amazon-beauty" / "raw" / "RecBole_SAE_Amazon_Beauty.item")
    assert len(items) == 12101
    assert items["B0001ZYL3Q"]["title"] == "TheraNeem Cream - Original Organix South 2 oz Cream \nVanilla"
    assert "\t" in items["B000SDI6MI"]["title"]
    assert items["9788072216"]["categories"] == ["Beauty", "Fragrance", "Women's", "Eau de Parfum"]
    assert items["B00004TUBL"]["sales_type"] == "Home & Kitchen"  # HTML entities decoded
    assert items["9790794231"]["price"] is None


@pytest.mark.realdata
def test_real_beauty_as_atomic_files(shared_data, tmp_path):
    beauty = shared_data / "amazon-beauty"
    lines = (beauty / "Beauty.inter.tsv").read_text().splitlines()
    assert lines[0] == "user_id\titem_id\ttimestamp"
    inter = tmp_path / "Amazon_Beauty.inter"
    inter.write_text("\n".join(["user_id:token\titem_id:token\ttimestamp:float", *lines[1:]]) + "\n")
    ds = load_dataset("recbole", path=str(inter), items=str(beauty / "raw" / "RecBole_SAE_Amazon_Beauty.item"))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (22363, 12101, 198502)
    assert sum(1 for f in ds.catalog.fields if f["title"]) == 12094
