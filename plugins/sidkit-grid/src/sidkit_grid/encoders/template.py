"""Item text from catalog fields through a ``str.format``-style template (no torch)."""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["field_text", "render", "missing_fields"]

_SPACE = re.compile(r"\s+")
_FORMATTER = string.Formatter()


def field_text(value: Any) -> str:
    """A field value as text: ``None``/NaN → ``""``; lists (nested ones too) → their non-empty
    items joined by ``", "``; everything else ``str()``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, set)):
        return ", ".join(t for t in (field_text(v) for v in value) if t)
    return str(value).strip()


def _piece(value: Any, spec: str) -> str:
    if spec and not isinstance(value, (list, tuple, set, str)) and value is not None:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            pass
    return field_text(value)


def render(fields: Mapping[str, Any], template: str = "") -> str:
    """The text of one item.

    ``template`` names fields as ``{title}`` (format specs allowed: ``{price:.2f}``).
    Missing fields render empty, and the text between two placeholders is a separator:
    it is kept only when there is a non-empty value before it and the next value is
    non-empty, so ``"{title}; {categories}; {brand}"`` never yields ``"A; ; B"`` or
    ``"; B"``. Text before the first and after the last placeholder is kept as written.
    Whitespace runs collapse to one space. An empty template joins every non-empty field
    value, in the item's field order, with ``"; "``.
    """
    if not template:
        parts = (field_text(v) for v in fields.values())
        return _SPACE.sub(" ", "; ".join(p for p in parts if p)).strip()
    out: list[str] = []
    seen = False
    for i, (literal, name, spec, _conv) in enumerate(_FORMATTER.parse(template)):
        if name is None:  # trailing text
            out.append(literal)
            continue
        value = _piece(fields.get(name), spec or "")
        if i == 0:
            out.append(literal)
        if value:
            if seen and i > 0:
                out.append(literal)
            out.append(value)
            seen = True
    return _SPACE.sub(" ", "".join(out)).strip()


def missing_fields(template: str, items: Iterable[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """Placeholders of ``template`` (given as ``names``) that no item has a value for."""
    present: set[str] = set()
    wanted = set(names)
    for fields in items:
        present.update(k for k in wanted.intersection(fields) if field_text(fields[k]))
        if present == wanted:
            break
    return [n for n in names if n not in present]
