"""`sidkit report` on a finished toy run (sidkit-toy components, seconds on a CPU): the page
is one self-contained HTML file whose every figure is a non-empty PNG, with the metrics
beside MostPop and Markov, the curves of the trained stage and the time of every stage."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sidkit_toy.pipelines import sidkit_cli, toy_pipeline


def sidkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return sidkit_cli(*args, plugins="sidkit-toy,sidkit-report", cwd=cwd)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self.cells, self._tag = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._tag in ("h1", "h2", "h3"):
            self.headings.append(data.strip())
        elif self._tag == "td":
            self.cells.append(data.strip())

    def handle_endtag(self, tag):
        self._tag = None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "toy.toml").write_text(toy_pipeline(small=True, seed=1, epochs=3))
    run = sidkit("run", "toy.toml", "--out", "run", cwd=root)
    assert run.returncode == 0, run.stderr
    out = sidkit("report", "run", cwd=root)
    assert out.returncode == 0, out.stderr
    page = _Page()
    page.feed((root / "run" / "report.html").read_text(encoding="utf-8"))
    return root / "run", page


def test_every_figure_is_an_embedded_non_empty_png(report):
    _, page = report
    assert len(page.images) == 2  # the generator's curves, the code-usage heatmaps
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_sections_metrics_beside_baselines_curves_and_timings(report):
    run_dir, page = report
    for heading in ("Metrics beside MostPop and Markov", "Training curves", "generator (toy-mlp)",
                    "SID code usage and collisions", "Time per stage"):
        assert heading in page.headings
    metrics = json.loads((run_dir / "metrics.json").read_text())
    text = " ".join(page.cells)
    for key in ("recall@10", "ndcg@10"):
        for value in (metrics["test"][key], metrics["test"][f"markov/{key}"], metrics["test"][f"mostpop/{key}"]):
            assert f"{value:.4f}" in text
    history = [json.loads(line) for line in (run_dir / "generator" / "work" / "train_log.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert all(f"{h['train_loss']:.4f}" in text for h in history)
    timings = json.loads((run_dir / "run.json").read_text())["timings_s"]
    assert set(timings) <= set(page.cells) and {"encoder", "tokenizer", "generator", "rankings"} <= set(page.cells)


def test_a_run_that_did_not_finish_is_a_clear_error(tmp_path):
    (tmp_path / "half").mkdir()
    out = sidkit("report", "half", cwd=tmp_path)
    assert out.returncode == 1 and "no run.json: not a finished sidkit run" in out.stderr and "Traceback" not in out.stderr


def test_page_renders_in_a_headless_browser(report, tmp_path):
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium on this machine: the page is checked by parsing only")
    run_dir, _ = report
    shot = tmp_path / "page.png"
    subprocess.run([browser, "--headless", "--disable-gpu", f"--screenshot={shot}", (run_dir / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert re.search(rb"IEND", shot.read_bytes())
