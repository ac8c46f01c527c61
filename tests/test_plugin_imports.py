"""One home for shared code: a plugin imports another plugin only through that plugin's
documented public module(s), and the core imports no plugin at all.

Every ``plugins/*/src`` file (and ``core/src``) is parsed, not imported; a failure names the
file and line of each offending import."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "sdk_docs" / "plugins"

PUBLIC: dict[str, tuple[str, ...]] = {
    "sidkit_grid": ("sidkit_grid.api",),
    "sidkit_letter": ("sidkit_letter.api",),
}
"""Modules another plugin may import, per plugin package (besides the package itself).
Each must define ``__all__`` and be named in the plugin's page under ``sdk_docs/plugins``."""


def plugin_packages() -> dict[str, Path]:
    """``{module name: package directory}`` of every plugin in ``plugins/*/src``."""
    return {p.parent.name: p.parent for p in sorted(ROOT.glob("plugins/*/src/*/__init__.py"))}


PACKAGES = plugin_packages()


def _is_submodule(package_dir: Path, parts: list[str]) -> bool:
    path = package_dir.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(tree: ast.AST) -> list[tuple[int, str, tuple[str, ...]]]:
    """``(line, module, names)`` of every absolute import; ``from pkg import sub`` where
    ``sub`` is a submodule of a plugin package counts as importing ``pkg.sub``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            names = tuple(alias.name for alias in node.names)
            if top in PACKAGES:
                rest = node.module.split(".")[1:]
                subs = [n for n in names if _is_submodule(PACKAGES[top], [*rest, n])]
                found += [(node.lineno, f"{node.module}.{n}", ()) for n in subs]
                names = tuple(n for n in names if n not in subs)
                if not names and subs:
                    continue
            found.append((node.lineno, node.module, names))
    return found


def violations(source: str, filename: str, own: str | None) -> list[str]:
    """What ``source`` (a file of package ``own``; ``None`` = the core) imports of another
    plugin beyond its public modules, as ``file:line: message``."""
    problems = []
    for line, module, names in imported_modules(ast.parse(source, filename)):
        top = module.split(".")[0]
        if top not in PACKAGES or top == own:
            continue
        public = PUBLIC.get(top, ())
        hint = f"import from {' or '.join(public)}" if public else f"{top} has no public module for other plugins"
        if own is None:
            problems.append(f"{filename}:{line}: the core imports plugin module {module}")
        elif module != top and module not in public:
            problems.append(f"{filename}:{line}: imports {module}, private to {top} ({hint})")
        elif module in public and names:
            exported = set(getattr(importlib.import_module(module), "__all__", ()))
            for name in names:
                if name != "*" and name not in exported:
                    problems.append(f"{filename}:{line}: imports {name} from {module}, which is not in its __all__")
        elif module == top and names:
            problems += [f"{filename}:{line}: imports {n} from package {top} ({hint})" for n in names if n != "__version__"]
    return problems


def _sources() -> list[tuple[Path, str | None]]:
    files = [(p, name) for name, pkg in PACKAGES.items() for p in sorted(pkg.rglob("*.py"))]
    return files + [(p, None) for p in sorted((ROOT / "core" / "src" / "sidkit").rglob("*.py"))]


def test_the_scan_sees_every_plugin():
    assert {"sidkit_grid", "sidkit_letter", "sidkit_align", "sidkit_continual"} <= set(PACKAGES)


def test_no_plugin_imports_another_plugins_private_modules():
    problems = []
    for path, own in _sources():
        problems += violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), own)
    assert not problems, "imports across plugin boundaries:\n" + "\n".join(problems)


@pytest.mark.parametrize(("package", "module"), [(p, m) for p, mods in PUBLIC.items() for m in mods])
def test_public_modules_are_documented_and_declare_all(package, module):
    assert package in PACKAGES
    assert isinstance(importlib.import_module(module).__all__, list | tuple)
    pages = [p for p in DOCS.glob("*.md") if module in p.read_text(encoding="utf-8")]
    assert pages, f"{module} is public but no page in sdk_docs/plugins names it"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sidkit_grid.tokenizers.common import nearest\n", ["x.py:1: imports sidkit_grid.tokenizers.common"]),
        ("import sidkit_grid.generators.sequences\n", ["x.py:1: imports sidkit_grid.generators.sequences"]),
        ("from sidkit_grid import tokenizers\n", ["x.py:1: imports sidkit_grid.tokenizers"]),
        ("\nfrom sidkit_grid.api import not_there\n", ["x.py:2: imports not_there from sidkit_grid.api"]),
        ("from sidkit_align.dedup import apply_dedup\n", ["x.py:1: imports sidkit_align.dedup"]),
        ("from sidkit_grid.api import RQVAETokenizer, nearest\nimport sidkit_grid\n", []),
        ("from sidkit_letter.models.sasrec import SASRec\nfrom .x import y\nimport numpy\n", []),  # own package
    ],
)
def test_the_scan_flags_private_imports_with_file_and_line(source, expected):
    found = violations(source, "x.py", own="sidkit_letter")
    assert len(found) == len(expected) and all(f.startswith(e) for f, e in zip(found, expected, strict=True)), found


def test_the_core_imports_no_plugin():
    assert violations("from sidkit_grid.api import nearest\n", "core.py", own=None) == [
        "core.py:1: the core imports plugin module sidkit_grid.api"
    ]
