"""Print the plugin folders in an order where each comes after the plugins it depends on.

pip 23.2 cannot resolve ``sidkit-dact -> sidkit-grid`` when both are editable installs with
extras (``-e 'plugins/sidkit-grid[test]'``) and the dependent is named first on the command
line ("No matching distribution found for sidkit-grid"). Listing dependencies first avoids it,
and the order follows each plugin's ``[project].dependencies`` so a new plugin needs no edit here.

Usage: ``python tools/install_order.py plugins/*/pyproject.toml tests/plugins/*/pyproject.toml``
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib


def _requirement_name(spec: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def install_order(pyprojects: list[Path]) -> list[Path]:
    """Folders of ``pyprojects``, dependencies before dependents, ties in name order."""
    folders: dict[str, Path] = {}
    needs: dict[str, set[str]] = {}
    for path in sorted(pyprojects):
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
        name = str(project.get("name", path.parent.name)).lower()
        folders[name] = path.parent
        needs[name] = {_requirement_name(s) for s in project.get("dependencies", [])}
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SystemExit(f"install_order: dependency cycle through {name!r}")
        visiting.add(name)
        for dep in sorted(needs[name] & folders.keys()):
            visit(dep)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(folders):
        visit(name)
    return [folders[name] for name in ordered]


if __name__ == "__main__":
    print(" ".join(str(p) for p in install_order([Path(a) for a in sys.argv[1:]])))
