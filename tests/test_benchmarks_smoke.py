"""The pure helpers of the benchmark scripts (no pipeline run, no model): the time-to-quality
curve, its threshold crossing, reference lines and plot, and the CPU-model lookup."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextlib.contextmanager
def benchmarks_on_path():
    """The scripts import their sibling ``_common``."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module (not run as a script)."""
    with benchmarks_on_path():
        spec = importlib.util.spec_from_file_location(f"{name}_under_test", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ttq():
    with benchmarks_on_path():  # the tests import ``_common`` too
        yield load_benchmark("time_to_quality")


STARTED = 1_000_000.0


def history():
    return [
        {"epoch": 1, "seconds": 10.0, "finished_at": STARTED + 60, "valid/recall@10": 0.10, "valid/ndcg@10": 0.05},
        {"epoch": 2, "seconds": 10.0, "finished_at": STARTED + 90},  # not validated
        {"epoch": 3, "seconds": 10.0, "finished_at": STARTED + 150, "valid/recall@10": 0.30, "valid/ndcg@10": 0.20},
        {"epoch": 4, "seconds": 10.0, "finished_at": STARTED + 210, "valid/recall@10": 0.25, "valid/ndcg@10": 0.21},
    ]


def test_one_point_per_validated_epoch_in_minutes_since_the_start(ttq):
    points = ttq.curve_points(history(), STARTED)
    assert [p["epoch"] for p in points] == [1, 3, 4]
    assert [p["minutes"] for p in points] == pytest.approx([1.0, 2.5, 3.5])
    assert [p["valid_recall@10"] for p in points] == [0.10, 0.30, 0.25]
    assert [p["valid_ndcg@10"] for p in points] == [0.05, 0.20, 0.21]


def test_the_monitored_bare_metric_counts_only_when_it_is_recall(ttq):
    old_style = [{"epoch": 1, "finished_at": STARTED + 30, "recall@10": 0.2}]
    assert ttq.curve_points(old_style, STARTED, monitor="recall@10")[0]["valid_recall@10"] == 0.2
    with pytest.raises(ttq.TTQError, match="no validation metrics"):
        ttq.curve_points(old_style, STARTED, monitor="ndcg@10")


def test_clear_errors_for_a_history_without_recall_at_10(ttq):
    no_10 = [{"epoch": 1, "finished_at": STARTED, "valid/recall@20": 0.3, "valid/ndcg@20": 0.1}]
    with pytest.raises(ttq.TTQError, match=r"no 'valid/recall@10' .*valid/ndcg@20, valid/recall@20.*ks"):
        ttq.curve_points(no_10, STARTED)
    with pytest.raises(ttq.TTQError, match="no training history"):
        ttq.curve_points([], STARTED)
    with pytest.raises(ttq.TTQError, match="finished_at"):
        ttq.curve_points([{"epoch": 1, "valid/recall@10": 0.1}], STARTED)


def test_minutes_to_exceed_is_the_first_point_strictly_above(ttq):
    points = ttq.curve_points(history(), STARTED)
    assert ttq.minutes_to_exceed(points, 0.2) == pytest.approx(2.5)
    assert ttq.minutes_to_exceed(points, 0.05) == pytest.approx(1.0)
    assert ttq.minutes_to_exceed(points, 0.30) == math.inf  # equal is not above
    assert ttq.minutes_to_exceed([], 0.0) == math.inf


def test_reference_lines_and_plot_of_two_runs(ttq, tmp_path):
    ref = {"markov_shuffle_valid_recall@10": 0.4, "markov_keep_valid_recall@10": 0.5, "mostpop_valid_recall@10": 0.08}
    a = {
        "label": "a",
        "points": ttq.curve_points(history(), STARTED),
        "reference": ref,
        "baselines": {"ties_option": True},
    }
    b = {
        "label": "b",
        "points": a["points"][:1],
        "reference": {**ref, "markov_keep_valid_recall@10": None},
        "baselines": {"ties_option": True},
    }
    assert ttq.reference_lines(a) == [
        ("Markov (shuffled ties)", 0.4),
        ("Markov (file-order ties)", 0.5),
        ("MostPop", 0.08),
    ]
    assert [name for name, _ in ttq.reference_lines(b)] == ["Markov (shuffled ties)", "MostPop"]
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    png = tmp_path / "out" / "combined.png"
    assert (
        ttq.main(["--plot-only", str(tmp_path / "a.json"), "--plot-with", str(tmp_path / "b.json"), "--png", str(png)])
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "bad.json").write_text("{}")
    assert ttq.main(["--plot-only", str(tmp_path / "bad.json"), "--png", str(png)]) == 2


def test_cpu_model_reads_proc_cpuinfo_text(ttq):
    from _common import cpu_model

    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n"
    assert cpu_model(text) == "AMD EPYC 7B13 64-Core Processor"
    assert cpu_model("processor : 0\n") != ""  # falls back to platform.processor() or "unknown"


def test_beam_search_spread_and_agreement_check():
    np = pytest.importorskip("numpy")
    bs = load_benchmark("beam_search")
    assert bs.spread([17.0, 12.0, 14.5]) == (12.0, 14.5, 17.0)
    ours = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 2, 3]])
    hf = np.array([[3, 2, 1], [4, 5, 0], [7, 8, 9], [1, 2, 3]])
    same, overlap = bs.agreement(ours, hf, 3)
    assert same == 0.75 and overlap == pytest.approx((3 + 2 + 3 + 3) / 12)
    assert bs.agreement_failures({10: 1.0, 20: 0.99, 50: 0.75}) == ["width 50: 0.750"]
    assert bs.agreement_failures({20: float("nan")}) == ["width 20: nan"]


def test_scale_benchmark_runs_end_to_end_on_a_tiny_log(tmp_path):
    """``benchmarks/scale.py`` on two tiny sizes: one line per size, the PNG, the ratios."""
    import subprocess

    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    png = tmp_path / "scale.png"
    cmd = [sys.executable, str(BENCHMARKS / "scale.py"), "--interactions", "3000", "6000", "--items", "400",
           "--per-user", "20", "--decode-users", "16", "--width", "4", "--batch-size", "512",
           "--workdir", str(tmp_path), "--png", str(png), "--json", str(tmp_path / "scale.json")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    sizes = [line for line in lines if line.startswith("n=")]
    assert [s.split()[0] for s in sizes] == ["n=3000", "n=6000"]
    rows = json.loads((tmp_path / "scale.json").read_text())
    assert rows[1]["interactions"] <= 6000 and rows[1]["decoded_users"] == 16 and rows[1]["all_valid"]
    assert rows[1]["samples"] > 0 and rows[1]["batches"] == -(-rows[1]["samples"] // 512)
    assert png.stat().st_size > 10_000
    assert any(line.startswith("cpu_seconds_per_million_ratio=") for line in lines)


def test_history_share_counts_history_items_and_the_last_item():
    np = pytest.importorskip("numpy")
    from sidkit.types import EvalSet, Ragged

    hs = load_benchmark("history_share")
    examples = EvalSet(np.arange(3), Ragged.from_lists([[1, 2, 3], [4], []]), Ragged.from_lists([[9], [5], [0]]))
    items = np.array([[3, 9, 1, -1], [6, 7, 8, 5], [0, 1, 2, 3]])
    recall, seen, last = hs.shares(items, examples, 3)
    assert recall == pytest.approx(2 / 3)  # row 1's target is 4th
    assert seen == pytest.approx((2 + 0 + 0) / 3)  # 3 and 1 in row 0; -1 never counts
    assert last == pytest.approx(1 / 3)  # row 0 lists its last item 3


def test_refresh_drift_neighbour_share_by_hand():
    import numpy as np

    rd = load_benchmark("refresh_drift")
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])
    # nearest by cosine: 0 <-> 1, 2 <-> 3
    assert rd.neighbour_share(x, np.array([0, 0, 1, 1, 0]), k=1)[:4].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert rd.neighbour_share(x, np.array([0, 1, 0, 1, 2]), k=1)[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    # two nearest: item 0 -> {1, 4} (both topic 0), item 2 -> {3, 4} (topics 1 and 0)
    share = rd.neighbour_share(x, np.array([0, 0, 1, 1, 0]), k=2)
    assert share[0] == 1.0 and share[2] == 0.5
