"""Structuring config tables into attrs classes with cattrs, reporting every problem.

The converter forbids unknown keys and is strict about scalars (``"false"`` is not
``True``, ``3.7`` is not ``3``). Errors are turned into one :class:`ConfigIssue` per
problem with the full key path, the value given and what was expected, plus the closest
valid keys for a misspelled one.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from ..errors import ConfigIssue, did_you_mean

__all__ = ["converter", "structure", "unstructure", "non_default", "type_name"]

T = TypeVar("T")


class _Expected(ValueError):
    pass


def _strict_bool(v: Any, _t: type) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise _Expected("expected true or false")


def _strict_int(v: Any, _t: type) -> int:
    if isinstance(v, bool):
        raise _Expected("expected an integer")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            pass
    raise _Expected("expected an integer")


def _strict_float(v: Any, _t: type) -> float:
    if isinstance(v, bool):
        raise _Expected("expected a number")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise _Expected("expected a number")


def _strict_str(v: Any, _t: type) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    raise _Expected("expected a string")


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(str, _strict_str)
    return conv


converter = _make_converter()


def type_name(t: Any) -> str:
    """Readable name of a field type (``int``, ``list[int]``, ``str | None``)."""
    if t is None or t is type(None):
        return "none"
    origin = get_origin(t)
    if origin is None:
        return getattr(t, "__name__", str(t))
    args = get_args(t)
    if str(origin) in ("typing.Union", "<class 'types.UnionType'>"):
        return " | ".join(type_name(a) for a in args)
    return f"{getattr(origin, '__name__', origin)}[{', '.join(type_name(a) for a in args)}]"


def _field_type(cls: Any, name: str) -> Any:
    if cls is not None and attrs.has(cls):
        for f in attrs.fields(cls):
            if f.name == name:
                return f.type
    return None


def _attrs_class_of(t: Any) -> Any:
    if t is not None and attrs.has(t):
        return t
    for a in get_args(t) or ():
        if attrs.has(a):
            return a
    return None


def _nested_keys(cls: Any) -> list[str]:
    """``"train.epochs"``-style names of the fields of ``cls``'s nested config tables, so a
    key written one level too high (``generator.epochs``) gets the right suggestion."""
    if not attrs.has(cls):
        return []
    try:
        hints = get_type_hints(cls)
    except Exception:  # an unresolvable annotation only costs the suggestion
        return []
    out = []
    for f in attrs.fields(cls):
        sub = _attrs_class_of(hints.get(f.name))
        if sub is not None:
            out += [f"{f.name}.{g.name}" for g in attrs.fields(sub)]
    return out


def _nested_hint(key: str, cls: Any) -> str:
    """`` (did you mean 'train.epochs'?)`` when ``key`` is (close to) a nested table's field."""
    nested = _nested_keys(cls)
    close = get_close_matches(key, [n.split(".", 1)[1] for n in nested], n=3, cutoff=0.5)
    names = [n for n in nested if n.split(".", 1)[1] in close]
    return " (did you mean " + ", ".join(repr(n) for n in names[:3]) + "?)" if names else ""


def _lookup(raw: Any, key: Any) -> Any:
    if isinstance(raw, Mapping):
        return raw.get(key, attrs.NOTHING)
    if isinstance(raw, (list, tuple)) and isinstance(key, int) and key < len(raw):
        return raw[key]
    return attrs.NOTHING


def _issues(exc: BaseException, path: str, cls: Any, raw: Any, ftype: Any = None) -> list[ConfigIssue]:
    out: list[ConfigIssue] = []
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            name = note.name
            t = _field_type(cls, name) if cls is not None else None
            sub_raw = _lookup(raw, name)
            if isinstance(sub, KeyError) and sub_raw is attrs.NOTHING:
                out.append(ConfigIssue(f"{path}.{name}", f"required key missing (expected {type_name(t)})"))
                continue
            out.extend(_issues(sub, f"{path}.{name}", _attrs_class_of(t), sub_raw, t))
        for sub in without:
            out.extend(_issues(sub, path, cls, raw, ftype))
    elif isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            idx = note.index
            args = get_args(ftype) or (None,)
            mapping = get_origin(ftype) in (dict, Mapping)
            item_t = args[-1] if mapping else args[0]  # a mapping's notes name keys: check its values
            where = f"{path}[{idx!r}]" if isinstance(idx, str) else f"{path}[{idx}]"
            out.extend(_issues(sub, where, _attrs_class_of(item_t), _lookup(raw, idx), item_t))
        for sub in without:
            out.extend(_issues(sub, path, None, raw, ftype))
    elif isinstance(exc, ForbiddenExtraKeysError):
        valid = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            hint = did_you_mean(key, valid) or _nested_hint(key, exc.cl)
            msg = f"unknown key {key!r}{hint}; valid keys: {', '.join(valid) or 'none'}"
            out.append(ConfigIssue(f"{path}.{key}", msg))
    elif isinstance(exc, _Expected):
        out.append(ConfigIssue(path, f"{exc}, got {raw!r}"))
    elif isinstance(exc, (TypeError, ValueError, KeyError)) and ftype is not None:
        given = "" if raw is attrs.NOTHING else f", got {raw!r}"
        detail = exc.args[0] if exc.args else type(exc).__name__
        out.append(ConfigIssue(path, f"expected {type_name(ftype)}{given} ({detail})"))
    else:  # validator errors raised by the class itself carry their own explanation
        detail = str(exc.args[0]) if exc.args else type(exc).__name__
        names = [f.name for f in attrs.fields(cls)] if cls is not None and attrs.has(cls) else []
        named = next((n for n in names if detail.startswith((f"{n} ", f"'{n}' ", f"{n}:"))), None)
        out.append(ConfigIssue(f"{path}.{named}" if named else path, detail))
    return out


def structure(raw: Mapping[str, Any], cls: type[T], path: str) -> tuple[T | None, list[ConfigIssue]]:
    """Structure ``raw`` into ``cls``; return ``(instance, [])`` or ``(None, issues)``."""
    if not isinstance(raw, Mapping):
        return None, [ConfigIssue(path, f"expected a table, got {raw!r}")]
    try:
        return converter.structure(dict(raw), cls), []
    except Exception as exc:  # every failure becomes issues; nothing escapes as a traceback
        return None, _issues(exc, path, cls, raw)


def unstructure(obj: Any) -> Any:
    return converter.unstructure(obj)


def _default(field: Any, owner: Any) -> Any:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory(owner) if default.takes_self else default.factory()
    return default


def non_default(obj: Any) -> Any:
    """``obj`` unstructured without the fields at their default value (recursively for
    nested attrs configs), so adding an option with a default leaves it unchanged: what
    stage fingerprints are made of."""
    if not attrs.has(type(obj)):
        return unstructure(obj)
    out = {}
    for field in attrs.fields(type(obj)):
        value, default = getattr(obj, field.name), _default(field, obj)
        if default is not attrs.NOTHING and value == default:
            continue
        nested = attrs.has(type(value)) and type(value) is type(default)
        out[field.name] = non_default(value) if nested else unstructure(value)
    return out
