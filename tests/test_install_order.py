"""The Makefile's plugin install order: every plugin after the plugins it depends on."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _install_order():
    spec = importlib.util.spec_from_file_location("install_order", ROOT / "tools" / "install_order.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.install_order


def test_every_plugin_comes_after_its_sidkit_dependencies():
    order = [p.name for p in _install_order()(sorted(ROOT.glob("plugins/*/pyproject.toml")))]
    assert sorted(order) == sorted(p.parent.name for p in ROOT.glob("plugins/*/pyproject.toml"))
    for dependent in ("sidkit-dact", "sidkit-diger", "sidkit-intrr", "sidkit-letter"):
        assert order.index("sidkit-grid") < order.index(dependent)
    assert order.index("sidkit-letter") < order.index("sidkit-dact")


def test_a_dependency_cycle_is_reported_by_name(tmp_path):
    for name, dep in (("a", "b"), ("b", "a")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\ndependencies = ["{dep}>=1"]\n')
    with pytest.raises(SystemExit, match="cycle through 'a'"):
        _install_order()(sorted(tmp_path.glob("*/pyproject.toml")))
