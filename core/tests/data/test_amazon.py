"""Format amazon: 2014 McAuley reviews (JSON lines) and metadata (Python-literal lines), plain and gzipped."""

from __future__ import annotations

import json

import pytest
from sidkit.data import load_dataset
from sidkit.errors import DataError


def review(user: str, asin: str, t: int, overall: float = 5.0) -> str:
    return json.dumps({
        "reviewerID": user, "asin": asin, "reviewerName": "J. Doe", "helpful": [0, 0],
        "reviewText": "Nice.", "overall": overall, "summary": "ok", "unixReviewTime": t, "reviewTime": "01 2, 2014",
    }) + "\n"  # fmt: skip


REVIEWS = (
    review("A2U", "B001", 1388620800)
    + review("A2U", "B002", 1388620800, 2.0)
    + review("A1X", "B002", 1378425600)
    + review("A2U", "B003", 1388707200)
)
META = [
    {"asin": "B001", "title": "Rose &amp; Honey Lip Balm", "price": 5.95, "imUrl": "http://x/1.jpg",
     "related": {"also_bought": ["B002"]}, "salesRank": {"Beauty": 1200}, "brand": "L'Oreal",
     "categories": [["Beauty", "Skin Care", "Lips"], ["Beauty", "Makeup", "Lips"]],
     "description": "It&#39;s soft."},
    {"asin": "B002", "title": 'Nail "Gel" Polish', "categories": [["Beauty"]]},
    {"asin": "B003", "categories": [["Beauty", "Fragrance"]], "salesRank": {}},
    {"asin": "B999", "title": "Never reviewed"},
]  # fmt: skip


@pytest.fixture(params=["", ".gz"], ids=["plain", "gz"])
def files(request, write):
    gz = request.param
    meta = "".join(repr(m) + "\n" for m in META)  # the upstream lines are Python literals
    return write(f"reviews_Beauty_5.json{gz}", REVIEWS), write(f"meta_Beauty.json{gz}", meta)


def test_reviews_and_meta(files):
    reviews, meta = files
    assert "'asin': 'B001'" in repr(META[0])  # single-quoted, as upstream
    ds = load_dataset("amazon", path=str(reviews), items=str(meta))
    assert ds.name == "Beauty"
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 4)
    assert list(ds.catalog.item_ids) == ["B001", "B002", "B003"]  # only reviewed items
    assert ds.catalog.fields[0] == {
        "title": "Rose & Honey Lip Balm",
        "brand": "L'Oreal",
        "categories": ["Beauty", "Skin Care", "Lips", "Makeup"],
        "description": "It's soft.",
    }
    assert ds.catalog.fields[1] == {"title": 'Nail "Gel" Polish', "categories": ["Beauty"]}
    assert ds.catalog.fields[2] == {"categories": ["Beauty", "Fragrance"]}


def test_ratings_and_ties(files):
    reviews, meta = files
    ds = load_dataset("amazon", path=str(reviews), items=str(meta), min_rating=4)
    assert len(ds.interactions) == 3
    ds = load_dataset("amazon", path=str(reviews))  # no metadata: empty fields
    assert ds.catalog.fields == [{}, {}, {}]
    u = list(ds.interactions.user_ids).index("A2U")
    rows = ds.interactions.user == u
    assert [ds.catalog.item_ids[i] for i in ds.interactions.item[rows]] == ["B001", "B002", "B003"]


def test_json_metadata_fallback(write):
    """Metadata lines that are JSON (true/null), as in the 2018 release, still load."""
    reviews = write("reviews.json", review("U", "B1", 1) + review("U", "B2", 2))
    meta = write(
        "meta.json",
        '{"asin": "B1", "title": "A", "category": ["X", "Y"], "fit": null}\n{"asin": "B2", "title": "B", "ok": true}\n',
    )
    ds = load_dataset("amazon", path=str(reviews), items=str(meta))
    assert ds.catalog.fields[0] == {"title": "A", "categories": ["X", "Y"]}


def test_bad_meta_line(write):
    reviews = write("reviews.json", review("U", "B1", 1))
    meta = write("meta.json", "{'asin': 'B1', 'title': 'A'}\n{'asin': 'B1', 'title': oops}\n")
    with pytest.raises(DataError, match=r"meta\.json:2: not a JSON object"):
        load_dataset("amazon", path=str(reviews), items=str(meta))
