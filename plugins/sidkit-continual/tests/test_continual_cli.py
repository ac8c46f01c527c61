"""The plugin's wiring: `sidkit continual` comes from the command hook, importing the plugin
stays cheap, the shipped scenarios resolve, and the doc page covers every scenario key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import attrs
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]
def _is_scenario(path: Path) -> bool:
    with path.open("rb") as f:
        return "scenario" in tomllib.load(f)


EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.toml") if _is_scenario(p))
DOC = ROOT / "sdk_docs" / "plugins" / "continual.md"


def test_continual_command_is_added_by_the_plugin(sidkit_registry):
    from sidkit.cli import main
    from sidkit_continual import plugin

    sidkit_registry.add_plugin(plugin, "sidkit-continual", "0.1.0")
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "continual" in result.output, result.output
    assert sidkit_registry.plugins["sidkit-continual"].commands == ["continual"]
    usage = CliRunner().invoke(main, ["continual", "--help"])
    assert usage.exit_code == 0 and "--set KEY=VALUE" in usage.output, usage.output


def test_importing_the_plugin_and_its_command_is_cheap():
    code = (
        "import sys, sidkit_continual.plugin, sidkit_continual.command\n"
        "print(sorted(m for m in ('torch', 'scipy', 'matplotlib', 'sidkit_continual.runner') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_shipped_continual_example_resolves(example):
    from sidkit.registry import get_registry
    from sidkit_continual import load_scenario

    cfg = load_scenario(example, get_registry())
    assert {"encoder", "tokenizer", "generator", "decoder"} == set(cfg.components)
    assert set(cfg.updaters) == {p for p in cfg.scenario.policies if p not in ("Full", "TIGER-FT")}
    if example.stem.endswith("-continual"):  # the staleness paper's four updater policies
        assert set(cfg.updaters) == {"FT-old", "FT-new", "FT-ours-greedy", "FT-ours-hungarian"}
    if cfg.data.format != "synthetic":  # real-data examples point at ../shared/data beside the clone
        assert "/shared/data/" in cfg.data.config.path


def test_doc_page_lists_every_scenario_key():
    from sidkit_continual import ScenarioSection

    text = DOC.read_text(encoding="utf-8")
    missing = [f.name for f in attrs.fields(ScenarioSection) if f"{f.name} =" not in text]
    assert not missing, f"{DOC.name} does not document: {missing}"
