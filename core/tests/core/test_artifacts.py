"""Artifacts: atomic writes, safetensors round trips with checks, fingerprints, stage records."""

from __future__ import annotations

import os

import numpy as np
import pytest
from sidkit.artifacts import (
    StageRecord,
    atomic_write_bytes,
    fingerprint,
    load_arrays,
    load_embeddings,
    load_sids,
    read_json,
    save_arrays,
    save_embeddings,
    save_sids,
    write_json,
)
from sidkit.errors import ArtifactError
from sidkit.types import ItemEmbeddings, SIDTable


def test_atomic_write_keeps_old_content_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def boom(*_a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # the temp file was removed


def test_sids_round_trip_and_item_count_check(tmp_path):
    sids = SIDTable(np.array([[0, 1], [2, 0], [2, 1]]), (3, 2))
    save_sids(tmp_path / "s.safetensors", sids)
    back = load_sids(tmp_path / "s.safetensors", n_items=3)
    assert np.array_equal(back.codes, sids.codes) and back.codebook_sizes == (3, 2)
    with pytest.raises(ArtifactError, match=r"shape \(3, 2\), expected \(4, None\)"):
        load_sids(tmp_path / "s.safetensors", n_items=4)


def test_embeddings_round_trip_with_views(tmp_path):
    emb = ItemEmbeddings(np.eye(3), {"collaborative": np.ones((3, 2), np.float32)})
    save_embeddings(tmp_path / "e.safetensors", emb)
    back = load_embeddings(tmp_path / "e.safetensors", 3)
    assert np.array_equal(back.values, emb.values) and set(back.views) == {"collaborative"}


def test_load_arrays_reports_missing_and_corrupt(tmp_path):
    save_arrays(tmp_path / "a.safetensors", {"w": np.zeros((2, 3), np.float32)})
    with pytest.raises(ArtifactError, match="tensor 'b' missing"):
        load_arrays(tmp_path / "a.safetensors", {"b": (2,)})
    (tmp_path / "bad.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ArtifactError, match="not a readable safetensors file"):
        load_arrays(tmp_path / "bad.safetensors")
    with pytest.raises(ArtifactError, match="missing"):
        load_arrays(tmp_path / "none.safetensors")


def test_fingerprint_is_order_insensitive_for_dicts_and_sensitive_to_values():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_stage_record_current_only_after_mark_done(tmp_path):
    rec = StageRecord(tmp_path / "stage")
    assert not rec.is_current("abc")
    rec.mark_done("abc", rows=3)
    assert rec.is_current("abc") and not rec.is_current("xyz")
    assert rec.info() == {"status": "done", "fingerprint": "abc", "rows": 3, "artifacts": {}}
    rec.start("xyz")
    assert not rec.is_current("abc") and rec.status() == "interrupted"


def test_stage_start_keeps_work_only_for_the_same_fingerprint(tmp_path):
    rec = StageRecord(tmp_path / "stage")
    rec.start("abc")
    (tmp_path / "stage" / "work").mkdir()
    (tmp_path / "stage" / "work" / "ckpt").write_text("step 5")
    rec.start("abc")  # an interrupted attempt at the same inputs resumes from its checkpoints
    assert (tmp_path / "stage" / "work" / "ckpt").read_text() == "step 5"
    rec.start("def")  # changed inputs: stale checkpoints would be refused, so they go
    assert not (tmp_path / "stage" / "work").exists()
    assert rec.info() == {"status": "interrupted", "fingerprint": "def"}
    assert StageRecord(tmp_path / "other").info() == {"status": "missing"}


def test_json_helpers_handle_numpy(tmp_path):
    write_json(tmp_path / "m.json", {"x": np.float32(0.5), "v": np.arange(3)})
    assert read_json(tmp_path / "m.json") == {"x": 0.5, "v": [0, 1, 2]}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
