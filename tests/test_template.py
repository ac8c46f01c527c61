"""The plugin template (`sidkit new-plugin`): names, kinds and targets are checked; every kind
renders, installs, shows up in `sidkit plugins`, builds a wheel, and passes its own
generated tests unchanged (slow tests)."""

from __future__ import annotations

import errno
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from click.testing import CliRunner
from sidkit.cli import main
from sidkit.errors import SidkitError
from sidkit.protocols import KINDS
from sidkit.template import TEMPLATE_ENV, find_template_dir, render_plugin

# Unique per test process, so two test runs sharing a venv never install the same plugin.
RUN = f"t{os.getpid()}"
STALE = re.compile(r"sidkit-t\d+-[a-z-]+\Z")
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SIDKIT_LOAD_PLUGINS"}


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300, **kw)


# -- fast: validation and rendering --------------------------------------------------------
@pytest.mark.parametrize("name", ["", "My", "1abc", "a_b", "a--b", "a-", "-a", "a b", "ab.c", "sidkit-x", "naïve"])
def test_invalid_names_are_refused(tmp_path, name):
    with pytest.raises(SidkitError, match="plugin name"):
        render_plugin(name, "tokenizer", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_kind_is_refused_with_a_suggestion(tmp_path):
    with pytest.raises(SidkitError, match=r"unknown kind 'tokeniser' \(did you mean 'tokenizer'"):
        render_plugin("abc", "tokeniser", tmp_path)


def test_existing_target_is_refused_and_left_alone(tmp_path):
    target = render_plugin("abc", "decoder", tmp_path)
    marker = target / "README.md"
    marker.write_text("mine")
    with pytest.raises(SidkitError, match="already exists"):
        render_plugin("abc", "encoder", tmp_path)
    assert marker.read_text() == "mine"


def test_rendered_layout_names_and_no_leftover_placeholders(tmp_path):
    target = render_plugin("fast-beam", "tokenizer", tmp_path)
    assert target == tmp_path / "sidkit-fast-beam"
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "docs/fast-beam.md",
        "pyproject.toml",
        "src/sidkit_fast_beam/__init__.py",
        "src/sidkit_fast_beam/component.py",
        "src/sidkit_fast_beam/config.py",
        "src/sidkit_fast_beam/plugin.py",
        "tests/test_component.py",
        "tests/test_docs.py",
    ]
    for f in files:
        assert "{{" not in (target / f).read_text(), f
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "sidkit-fast-beam"' in pyproject
    assert '[project.entry-points.sidkit]\nsidkit-fast-beam = "sidkit_fast_beam.plugin"' in pyproject
    assert 'test = ["pytest>=7"]' in pyproject
    plugin = (target / "src/sidkit_fast_beam/plugin.py").read_text()
    assert 'factory="sidkit_fast_beam.component:FastBeamTokenizer"' in plugin
    imports = [line for line in plugin.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["from sidkit.registry import hookimpl", "from .config import FastBeamConfig"]
    for path in (target / "src").rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


def _class_suffix(kind: str) -> str:
    return "Updater" if kind == "sid-updater" else kind.capitalize()


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_chosen_kind_is_rendered(tmp_path, kind):
    target = render_plugin("solo", kind, tmp_path)
    component = (target / "src/sidkit_solo/component.py").read_text()
    defined = re.findall(r"^class (\w+)", component, flags=re.M)
    assert f"Solo{_class_suffix(kind)}" in defined
    assert not any(f"Solo{_class_suffix(k)}" in defined for k in KINDS if k != kind)
    assert "torch" not in component
    assert f'kind="{kind}"' in (target / "src/sidkit_solo/plugin.py").read_text()


def test_unknown_placeholder_in_the_template_is_an_error(tmp_path, monkeypatch):
    copy = tmp_path / "template"
    shutil.copytree(find_template_dir(), copy)
    (copy / "base" / "NOTES.md.tmpl").write_text("made for {{nmae}}\n")
    monkeypatch.setenv(TEMPLATE_ENV, str(copy))
    with pytest.raises(SidkitError, match=r"unknown placeholder \{\{nmae\}\} \(did you mean 'name'"):
        render_plugin("abc", "encoder", tmp_path / "out")
    assert not (tmp_path / "out" / "sidkit-abc").exists()  # nothing half-written


def test_template_dir_env_must_point_at_a_template(tmp_path, monkeypatch):
    monkeypatch.setenv(TEMPLATE_ENV, str(tmp_path))
    with pytest.raises(SidkitError, match=f"{TEMPLATE_ENV}=.* is not a plugin template"):
        find_template_dir()


def test_cli_new_plugin(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["new-plugin", "demo", "--kind", "evaluator", "--dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert f"created {tmp_path / 'sidkit-demo'}" in ok.output
    again = runner.invoke(main, ["new-plugin", "demo", "--kind", "evaluator", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(main, ["new-plugin", "Demo", "--kind", "evaluator", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "lowercase slug" in bad.output
    kind = runner.invoke(main, ["new-plugin", "demo2", "--kind", "beam", "--dir", str(tmp_path)])
    assert kind.exit_code == 2


def test_cli_new_plugin_into_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("chmod cannot make a folder read-only for this user (root)")
        result = CliRunner().invoke(main, ["new-plugin", "demo", "--kind", "evaluator", "--dir", str(folder)])
    finally:
        folder.chmod(0o700)
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.output
    assert f"error: {folder / 'sidkit-demo'}: {os.strerror(errno.EACCES)}" in result.output


@pytest.mark.parametrize("code, fail_at", [(errno.EACCES, 0), (errno.ENOSPC, 3)], ids=["read-only", "full-disk"])
def test_cli_new_plugin_write_error_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, code, fail_at):
    """Writing file number ``fail_at`` fails as in a read-only folder or on a full disk."""
    real_write, written = Path.write_text, []

    def write_text(self, *args, **kwargs):
        if len(written) == fail_at:
            raise OSError(code, os.strerror(code), str(self))
        written.append(self)
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    result = CliRunner().invoke(main, ["new-plugin", "demo", "--kind", "evaluator", "--dir", str(tmp_path)])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, repr(result.exception)
    assert re.search(rf"error: {re.escape(str(tmp_path / 'sidkit-demo'))}/\S+: {os.strerror(code)}", result.output)
    assert not (tmp_path / "sidkit-demo").exists()  # nothing half-written


# -- slow: install, list, build, run the generated tests ---------------------------------
def _uninstall_stale() -> None:
    """Remove template plugins left installed by killed test runs (their source is gone)."""
    stale = []
    for dist in md.distributions():
        name = dist.metadata["Name"] or ""
        if not STALE.match(name):
            continue
        url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
        if url.startswith("file:") and not Path(unquote(urlparse(url).path)).exists():
            stale.append(name)
    if stale:
        _run([*PIP, "uninstall", "-y", *stale])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plugins")
    return {kind: render_plugin(f"{RUN}-{kind}", kind, root) for kind in KINDS}


@pytest.mark.slow
def test_every_kind_installs_lists_and_passes_its_generated_tests(rendered):
    _uninstall_stale()
    dists = [p.name for p in rendered.values()]
    try:
        editables = [a for p in rendered.values() for a in ("-e", str(p))]
        install = _run([*PIP, "install", "--no-deps", "--no-build-isolation", *editables])
        assert install.returncode == 0, install.stderr[-3000:]

        listed = _run([sys.executable, "-m", "sidkit.cli", "plugins", "--json"])
        assert listed.returncode == 0, listed.stderr
        rows = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
        for kind, path in rendered.items():
            row = rows.get((kind, f"{RUN}-{kind}"))
            assert row is not None, f"{kind} missing from `sidkit plugins`: {listed.stderr}"
            assert row["plugin"] == path.name and row["version"] == "0.1.0" and row["description"]

        root = next(iter(rendered.values())).parent
        tests = [str(p / "tests") for p in rendered.values()]
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib"]
        result = _run([*pytest_cmd, "--rootdir", str(root), *tests])
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
        assert re.search(r"\b\d+ passed\b", result.stdout) and "failed" not in result.stdout
    finally:
        _run([*PIP, "uninstall", "-y", *dists])
    assert not any(d.metadata["Name"] in dists for d in md.distributions())


@pytest.mark.slow
def test_every_kind_builds_a_wheel_with_its_entry_point(rendered, tmp_path):
    wheel_cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path)]
    built = _run([*wheel_cmd, *map(str, rendered.values())])
    assert built.returncode == 0, built.stderr[-3000:]
    for path in rendered.values():
        module = path.name.replace("-", "_")
        (wheel,) = tmp_path.glob(f"{module}-0.1.0-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            assert {f"{module}/{f}" for f in ("__init__.py", "plugin.py", "config.py", "component.py")} <= names
            eps = zf.read(f"{module}-0.1.0.dist-info/entry_points.txt").decode()
        assert f"[sidkit]\n{path.name} = {module}.plugin" in eps, eps


@pytest.mark.slow
def test_the_core_wheel_ships_the_template_and_renders_without_the_checkout(tmp_path):
    """Built as a wheel and unpacked away from the repository (no editable finder: ``-I -S``,
    only the wheel and the venv's third-party packages on ``sys.path``), ``sidkit new-plugin``
    finds the packaged template and renders the same tree as the checkout's template."""
    import sysconfig

    core = Path(__file__).resolve().parents[1] / "core"
    built = _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(core)])
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("sidkit-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        assert "sidkit/templates/plugin/base/pyproject.toml.tmpl" in zf.namelist()
        zf.extractall(site)

    name = f"{RUN}-wheel"
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import sidkit.template as t; print(t.find_template_dir())\n"
        "from sidkit.cli import main; main(['new-plugin', sys.argv[3], '--kind', 'tokenizer', '--dir', sys.argv[4]])\n"
    )
    env = {k: v for k, v in _env().items() if k != TEMPLATE_ENV} | {"SIDKIT_LOAD_PLUGINS": ""}
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(site), sysconfig.get_paths()["purelib"], name, str(tmp_path / "w")],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[0].startswith(str(site / "sidkit" / "templates")), out.stdout

    from_wheel = tmp_path / "w" / f"sidkit-{name}"
    from_checkout = render_plugin(name, "tokenizer", tmp_path / "c")
    files = sorted(p.relative_to(from_wheel) for p in from_wheel.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(from_checkout) for p in from_checkout.rglob("*") if p.is_file())
    assert all((from_wheel / f).read_bytes() == (from_checkout / f).read_bytes() for f in files)
