"""Format movielens: the 100K, 1M/10M and 20M+ layouts, and the real ML-100K."""

from __future__ import annotations

import numpy as np
import pytest
from sidkit.data import dataset_info, load_dataset
from sidkit.errors import DataError

GENRES = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\nDrama|8\n"
GENRES += "Fantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"


def item_line(item: int, title: str, flags: set[int]) -> str:
    bits = "|".join("1" if g in flags else "0" for g in range(19))
    return f"{item}|{title}|01-Jan-1995||http://us.imdb.com/M/title-exact?x|{bits}\n"


@pytest.fixture
def ml100k(write, tmp_path):
    write(
        "ml/u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250949\n22\t242\t1\t878887116\n"
    )
    write("ml/u.genre", GENRES)
    items = item_line(242, "Kolya (1996)", {5}) + item_line(302, "Misérables, Les (1995)", {8, 14})
    write("ml/u.item", items, encoding="latin-1")
    return tmp_path / "ml"


def test_100k_layout(ml100k):
    ds = load_dataset("movielens", path=str(ml100k))
    assert list(ds.interactions.user_ids) == ["22", "186", "196"]  # numeric ids sort numerically
    assert list(ds.catalog.item_ids) == ["242", "302"]
    assert ds.catalog.fields[1] == {
        "title": "Misérables, Les (1995)",
        "genres": ["Drama", "Romance"],
        "release_date": "01-Jan-1995",
    }
    assert ds.catalog.fields[0]["genres"] == ["Comedy"]
    assert ds.name == "ml" and ds.meta["layout"] == "u.data" and ds.meta["format"] == "movielens"
    assert ds.interactions.timestamp.dtype == np.int64


def test_100k_min_rating(ml100k):
    ds = load_dataset("movielens", path=str(ml100k), min_rating=3)
    assert len(ds.interactions) == 3 and ds.meta["counts"]["after_min_rating"] == 3


def test_1m_layout_latin1(write, tmp_path):
    write("ml-1m/ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write("ml-1m/movies.dat", "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
          "1193::Misérables, Les (1995)::Drama\n", encoding="latin-1")  # fmt: skip
    ds = load_dataset("movielens", path=str(tmp_path / "ml-1m"))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 2, 3)
    assert ds.catalog.fields[1]["title"] == "Misérables, Les (1995)"
    assert ds.catalog.fields[0]["genres"] == ["Animation", "Children's", "Musical"]
    assert ds.meta["layout"] == "ratings.dat"


def test_10m_layout_utf8(write, tmp_path):
    write("ml-10m/ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n")
    write("ml-10m/movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Amélie (2001)::(no genres listed)\n")
    ds = load_dataset("movielens", path=str(tmp_path / "ml-10m"))
    assert [f["title"] for f in ds.catalog.fields] == ["Boomerang (1992)", "Amélie (2001)"]
    assert ds.catalog.fields[1]["genres"] == []
    assert ds.catalog.item_ids[ds.interactions.item[0]] == "185"  # earlier timestamp first


def test_csv_layout(write, tmp_path):
    write("ml-latest/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n")
    write(
        "ml-latest/movies.csv",
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,"Grumpier Old Men, The (1995)",Comedy\n',
    )
    ds = load_dataset("movielens", path=str(tmp_path / "ml-latest"))
    assert ds.catalog.fields[1]["title"] == "Grumpier Old Men, The (1995)"


def test_not_a_movielens_folder(tmp_path):
    with pytest.raises(DataError, match="expected one of u.data, ratings.dat, ratings.csv"):
        load_dataset("movielens", path=str(tmp_path))


@pytest.mark.realdata
def test_real_ml100k(shared_data):
    ds = load_dataset("movielens", path=str(shared_data / "ml-100k"))
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (943, 1682, 100000)
    assert ds.catalog.fields[0] == {
        "title": "Toy Story (1995)",
        "genres": ["Animation", "Children's", "Comedy"],
        "release_date": "01-Jan-1995",
    }
    assert any("Misérables" in f["title"] for f in ds.catalog.fields)  # latin-1 decoded
    info = dataset_info(ds)
    assert (info["timestamp_min"], info["timestamp_max"]) == (874724710, 893286638)
    assert info["tied_last_pair_share"] == pytest.approx(0.44, abs=0.005)
    assert np.all(np.diff(ds.interactions.user_offsets()) >= 20)
