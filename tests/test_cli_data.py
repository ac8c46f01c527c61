"""`sidkit data info` on the shared datasets and on malformed input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def data_info(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sidkit.cli", "data", "info", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.realdata
def test_movielens_100k_counts_match_source(shared_data):
    out = data_info(str(shared_data / "ml-100k"), "--format", "movielens", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["users"], info["items"], info["interactions"]) == (943, 1682, 100000)
    assert (info["timestamp_min"], info["timestamp_max"]) == (874724710, 893286638)
    assert info["tied_last_pair_share"] == pytest.approx(0.44, abs=0.01)


@pytest.mark.realdata
def test_beauty_delimited_counts_match_source(shared_data):
    beauty = shared_data / "amazon-beauty"
    out = data_info(str(beauty / "Beauty.inter.tsv"), "--format", "delimited", "--items", str(beauty / "Beauty.items.jsonl"), "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["users"], info["items"], info["interactions"]) == (22363, 12101, 198502)
    assert info["tied_last_pair_share"] == pytest.approx(0.435, abs=0.005)
    assert info["share_items_with_text"] == pytest.approx(1.0)


@pytest.mark.realdata
def test_human_readable_table(shared_data):
    out = data_info(str(shared_data / "ml-100k"), "--format", "movielens")
    assert out.returncode == 0, out.stderr
    assert "943" in out.stdout and "1682" in out.stdout and "100000" in out.stdout


def test_malformed_file_names_file_and_line(tmp_path):
    bad = tmp_path / "inter.csv"
    bad.write_text("user_id,item_id,timestamp\nu1,i1,100\nu1,i2,yesterday\n")
    out = data_info(str(bad), "--format", "delimited")
    assert out.returncode == 1
    assert f"{bad}:3" in out.stderr and "yesterday" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_format_is_a_config_error_exit_2(tmp_path):
    out = data_info(str(tmp_path), "--format", "movielense")
    assert out.returncode == 2
    assert "did you mean 'movielens'" in out.stderr
