"""`sidkit plugins` and `sidkit --help`: listing, JSON shape, isolation of broken plugins,
SIDKIT_LOAD_PLUGINS, and no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def sidkit(*args: str, env: dict | None = None, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full_env["PYTHONPATH"] = str(pythonpath) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "sidkit.cli", *args], capture_output=True, text=True, env=full_env, timeout=120)


def fake_distribution(root: Path, dist: str, module: str, body: str) -> None:
    """An installed-looking distribution (dist-info on sys.path) exposing a sidkit entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-0.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.9\n")
    (info / "entry_points.txt").write_text(f"[sidkit]\n{dist} = {module}\n")


def test_plugins_json_lists_builtins_with_required_keys():
    out = sidkit("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    ranking = next(r for r in rows if r["kind"] == "evaluator" and r["name"] == "ranking")
    assert set(ranking) == {"kind", "name", "plugin", "version", "description"}
    assert ranking["plugin"] == "sidkit" and ranking["version"] == "0.1.0"


def test_broken_plugin_is_reported_and_does_not_break_the_rest(tmp_path):
    fake_distribution(tmp_path, "sidkit-broken", "sidkit_broken_mod", "raise ImportError('needs libfoo 9')\n")
    out = sidkit("plugins", pythonpath=tmp_path)
    assert out.returncode == 0
    assert "ranking" in out.stdout
    assert "broken plugin sidkit-broken 0.9: ImportError: needs libfoo 9" in out.stderr
    strict = sidkit("plugins", "--strict", pythonpath=tmp_path)
    assert strict.returncode == 1


def test_duplicate_component_across_installed_plugins_names_both(tmp_path):
    body = """
        import attrs
        from sidkit.registry import hookimpl

        @attrs.frozen
        class C:
            pass

        @hookimpl
        def sidkit_register_components(register):
            register(kind="evaluator", name="ranking", factory="x:y", config=C)
    """
    fake_distribution(tmp_path, "sidkit-clash", "sidkit_clash_mod", body)
    out = sidkit("plugins", pythonpath=tmp_path)
    assert "evaluator 'ranking' is registered by both plugin sidkit and plugin sidkit-clash" in out.stderr


def test_load_plugins_env_disables_others(tmp_path):
    fake_distribution(tmp_path, "sidkit-broken", "sidkit_broken_mod", "raise ImportError('x')\n")
    out = sidkit("plugins", env={"SIDKIT_LOAD_PLUGINS": ""}, pythonpath=tmp_path)
    assert out.returncode == 0 and "broken" not in out.stderr
    assert "disabled by SIDKIT_LOAD_PLUGINS: " in out.stdout and "sidkit-broken" in out.stdout


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"], ["run", "--help"]])
def test_help_and_plugins_do_not_import_torch_or_transformers(args):
    code = (
        "import sys\nfrom sidkit.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stderr, out.stderr[-2000:]
