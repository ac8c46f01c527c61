"""Render the plugin template (``sidkit new-plugin``) into an installable plugin.

The template tree (``templates/plugin`` in the repository) has two parts:

- ``base/``: files every plugin gets (``pyproject.toml``, ``README.md``, ``plugin.py``, ...);
- ``kinds/<kind>/``: ``kind.json`` (variables such as the component class and its
  description), ``doc.md.tmpl`` (the kind's part of the doc page, available as
  ``{{kind_doc}}``) and ``tree/``, overlaid on ``base/`` (config, component and tests).

Every file ends in ``.tmpl`` (dropped when rendered). ``{{placeholder}}`` is replaced in
file contents and in path names; an unknown placeholder is an error, so a typo in the
template cannot produce a half-rendered plugin. Only the chosen kind is rendered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from . import __version__
from .errors import SidkitError, did_you_mean
from .protocols import KINDS

__all__ = ["TEMPLATE_ENV", "find_template_dir", "render_plugin", "render_text", "template_values"]

TEMPLATE_ENV = "SIDKIT_TEMPLATE_DIR"
SUFFIX = ".tmpl"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*\Z")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(SidkitError):
    """The template cannot be found or rendered, or the plugin name/kind is invalid."""


def _is_template(path: Path) -> bool:
    return (path / "base").is_dir() and (path / "kinds").is_dir()


def find_template_dir() -> Path:
    """``$SIDKIT_TEMPLATE_DIR``, else a copy packaged as ``sidkit/templates/plugin``, else
    ``templates/plugin`` of the repository the (editable) ``sidkit`` package lives in."""
    env = os.environ.get(TEMPLATE_ENV)
    if env:
        path = Path(env).expanduser()
        if not _is_template(path):
            raise TemplateError(f"{TEMPLATE_ENV}={env} is not a plugin template (needs base/ and kinds/)")
        return path
    here = Path(__file__).resolve().parent
    candidates = [here / "templates" / "plugin"] + [p / "templates" / "plugin" for p in here.parents[:4]]
    for path in candidates:
        if _is_template(path):
            return path
    raise TemplateError(
        "plugin template not found; looked in " + ", ".join(str(c) for c in candidates)
        + f". Set {TEMPLATE_ENV} to the templates/plugin folder of a sidkit checkout"
    )


def validate_name(name: str) -> None:
    """A plugin name is a lowercase slug: ``[a-z][a-z0-9]*`` parts joined by single dashes."""
    if name.startswith("sidkit-"):
        raise TemplateError(f"plugin name {name!r}: give it without the 'sidkit-' prefix ({name[7:]!r})")
    if not _NAME.match(name):
        raise TemplateError(
            f"plugin name {name!r} is not a lowercase slug: start with a letter, use a-z, 0-9 "
            "and single dashes between parts (e.g. 'myquant', 'fast-beam')"
        )


def template_values(name: str, kind: str) -> dict[str, str]:
    """The placeholder values for plugin ``name`` of ``kind`` (before ``kind.json``)."""
    class_name = "".join(part.capitalize() for part in name.split("-"))
    if class_name[0].isdigit():  # unreachable with a valid name, kept for safety
        class_name = "P" + class_name
    return {
        "name": name,
        "dist": f"sidkit-{name}",
        "module": "sidkit_" + name.replace("-", "_"),
        "kind": kind,
        "class_name": class_name,
        "config_class": f"{class_name}Config",
        "sidkit_version": __version__,
    }


def render_text(text: str, values: dict[str, str], where: str = "<text>") -> str:
    """Replace every ``{{key}}`` in ``text``; an unknown key raises :class:`TemplateError`."""

    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"{where}: unknown placeholder {{{{{key}}}}}{did_you_mean(key, values)}")
        return values[key]

    return _PLACEHOLDER.sub(sub, text)


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def render_plugin(name: str, kind: str, directory: str | Path = ".") -> Path:
    """Render a plugin with one component of ``kind`` into ``directory/sidkit-NAME`` and
    return that path. Refuses an invalid name or kind and an existing target."""
    validate_name(name)
    if kind not in KINDS:
        raise TemplateError(f"unknown kind {kind!r}{did_you_mean(kind, KINDS)}; kinds: {', '.join(KINDS)}")
    template = find_template_dir()
    values = template_values(name, kind)
    target = Path(directory) / values["dist"]
    if target.exists():
        raise TemplateError(f"{target} already exists; remove it or choose another name or --dir")

    kind_dir = template / "kinds" / kind
    meta = json.loads((kind_dir / "kind.json").read_text(encoding="utf-8"))
    values.update({k: render_text(str(v), values, f"{kind_dir}/kind.json") for k, v in meta.items()})
    values["kind_doc"] = render_text((kind_dir / "doc.md.tmpl").read_text(encoding="utf-8"), values, "doc.md.tmpl").strip()

    files = _files(template / "base")
    files.update(_files(kind_dir / "tree"))  # the kind's files overlay the base
    rendered: dict[Path, str] = {}
    for rel, src in files.items():
        if not rel.endswith(SUFFIX):
            raise TemplateError(f"{src}: template files must end in {SUFFIX}")
        out_rel = render_text(rel[: -len(SUFFIX)], values, str(src))
        rendered[target / out_rel] = render_text(src.read_text(encoding="utf-8"), values, str(src))
    _write_all(rendered, target)  # everything rendered before anything is written
    return target


def _write_all(files: dict[Path, str], target: Path) -> None:
    """Write the rendered files; on an OS error (read-only folder, full disk) remove the
    half-written ``target`` (it did not exist before) and re-raise."""
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        raise
