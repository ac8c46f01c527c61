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


def test_broken_plugin_error_names_its_module_when_a_config_uses_it(tmp_path):
    fake_distribution(tmp_path, "sidkit-broken", "sidkit_broken_mod", "raise RuntimeError('bad build')\n")
    config = tmp_path / "uses-broken.toml"
    config.write_text('[data]\nformat = "synthetic"\n\n[encoder]\nname = "broken-text"\n')
    out = sidkit("run", str(config), "--out", str(tmp_path / "run"), pythonpath=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "encoder.name: unknown encoder 'broken-text'" in out.stderr
    assert "sidkit-broken: RuntimeError: bad build (importing module 'sidkit_broken_mod')" in out.stderr


CLAIMS = """
    import attrs
    from sidkit.registry import hookimpl

    @attrs.frozen
    class C:
        pass

    @hookimpl
    def sidkit_register_components(register):
        register(kind="evaluator", name="ranking", factory="x:y", config=C)
        register(kind="evaluator", name="clash-only", factory="x:y", config=C)
"""


def test_duplicate_component_is_refused_alone_with_a_warning_naming_both(tmp_path):
    fake_distribution(tmp_path, "sidkit-clash", "sidkit_clash_mod", CLAIMS)
    out = sidkit("plugins", "--json", pythonpath=tmp_path)
    assert out.returncode == 0 and "broken" not in out.stderr, out.stderr
    assert (
        "warning: evaluator 'ranking' is registered by both plugin sidkit and plugin sidkit-clash; "
        "kept sidkit's (loaded first), ignored sidkit-clash's" in out.stderr
    )
    owners = {(r["kind"], r["name"]): r["plugin"] for r in json.loads(out.stdout)}
    assert owners[("evaluator", "ranking")] == "sidkit" and owners[("evaluator", "clash-only")] == "sidkit-clash"
    assert sidkit("plugins", "--strict", pythonpath=tmp_path).returncode == 1


def test_the_first_plugin_by_name_keeps_a_clashing_name_whatever_the_path_order(tmp_path):
    """``sidkit-zeta`` comes first on ``sys.path``, ``sidkit-alpha`` still keeps the name."""
    for dist in ("sidkit-alpha", "sidkit-zeta"):
        root = tmp_path / dist
        root.mkdir()
        body = CLAIMS.replace('"ranking"', '"shared"').replace("clash-only", f"{dist}-own")
        fake_distribution(root, dist, dist.replace("-", "_") + "_mod", body)
    path = os.pathsep.join(str(tmp_path / d) for d in ("sidkit-zeta", "sidkit-alpha"))
    out = sidkit("plugins", "--json", pythonpath=Path(path))
    owners = {r["name"]: r["plugin"] for r in json.loads(out.stdout) if r["kind"] == "evaluator"}
    assert owners["shared"] == "sidkit-alpha"
    assert owners["sidkit-zeta-own"] == "sidkit-zeta" and owners["sidkit-alpha-own"] == "sidkit-alpha"
    assert "plugin sidkit-alpha and plugin sidkit-zeta; kept sidkit-alpha's" in out.stderr


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


COMMANDS = """
    import click
    from sidkit.registry import hookimpl

    @hookimpl
    def sidkit_register_commands(cli):
        @cli.command()
        @click.argument("who")
        def hello(who):
            '''Say hello from a plugin.'''
            click.echo(f"hello {who} from NAME")
"""


def test_plugin_command_shows_in_help_and_runs(tmp_path):
    fake_distribution(tmp_path, "sidkit-hello", "sidkit_hello_mod", COMMANDS.replace("NAME", "sidkit-hello"))
    help_text = sidkit("--help", pythonpath=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    assert "hello" in help_text.stdout and "Say hello from a plugin." in help_text.stdout
    out = sidkit("hello", "world", pythonpath=tmp_path)
    assert (out.returncode, out.stdout) == (0, "hello world from sidkit-hello\n"), out.stderr
    listed = sidkit("plugins", pythonpath=tmp_path)
    assert "commands from plugins: " in listed.stdout and "hello (sidkit-hello)" in listed.stdout


def test_plugin_whose_command_hook_raises_is_reported_broken(tmp_path):
    body = COMMANDS.replace("@cli.command()", "raise RuntimeError('no commands today')\n        @cli.command()")
    fake_distribution(tmp_path, "sidkit-hello", "sidkit_hello_mod", body)
    out = sidkit("plugins", pythonpath=tmp_path)
    assert out.returncode == 0 and "ranking" in out.stdout, out.stderr
    assert "broken plugin sidkit-hello 0.9: RuntimeError: no commands today (registering commands)" in out.stderr
    assert "Traceback" not in out.stderr
    help_text = sidkit("--help", pythonpath=tmp_path)
    assert help_text.returncode == 0 and "plugins" in help_text.stdout and "hello" not in help_text.stdout
    assert sidkit("plugins", "--strict", pythonpath=tmp_path).returncode == 1


def test_clashing_command_name_is_refused_with_a_warning_and_the_first_keeps_it(tmp_path):
    """``sidkit-beta`` comes first on ``sys.path``; ``sidkit-alpha`` keeps ``hello`` (load
    order), and a plugin command named like a core one (``run``) is refused too."""
    for dist in ("sidkit-alpha", "sidkit-beta"):
        (tmp_path / dist).mkdir()
        body = COMMANDS.replace("NAME", dist) + "\n        cli.add_command(click.Command('run'))\n"
        fake_distribution(tmp_path / dist, dist, dist.replace("-", "_") + "_mod", body)
    path = Path(os.pathsep.join(str(tmp_path / d) for d in ("sidkit-beta", "sidkit-alpha")))
    out = sidkit("hello", "you", pythonpath=path)
    assert out.returncode == 0 and out.stdout == "hello you from sidkit-alpha\n", out.stderr
    assert (
        "warning: command 'hello' is registered by both plugin sidkit-alpha and plugin sidkit-beta; "
        "kept sidkit-alpha's (loaded first), ignored sidkit-beta's" in out.stderr
    )
    assert "warning: command 'run' is registered by both plugin sidkit and plugin sidkit-alpha" in out.stderr
    assert out.stderr.count("warning:") == 3  # run (alpha), hello and run (beta)
    listed = sidkit("plugins", pythonpath=path)
    assert listed.stderr.count("warning:") == 3  # once, not again when the command asks for the registry
    assert sidkit("plugins", "--strict", pythonpath=path).returncode == 1
