"""Reading TOML configs, ``--set key.path=value`` overrides, and writing TOML back."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

from ..errors import ConfigError, ConfigIssue

__all__ = ["read_toml", "apply_overrides", "dump_toml"]


def _not_utf8(exc: UnicodeDecodeError) -> str:
    """What is wrong with a file that is not UTF-8: the first bad byte, its offset and line."""
    data = exc.object
    line = data.count(b"\n", 0, exc.start) + 1
    return (
        f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}) cannot be decoded; "
        "save the file as UTF-8"
    )


def read_toml(path: Path | str) -> dict[str, Any]:
    """Parse a TOML file; a missing file, a file that is not UTF-8 and a syntax error become
    a :class:`ConfigError` naming the file (and the line or byte offset)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("", "file not found")], source=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue("", _not_utf8(exc))], source=path) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue("", f"not valid TOML: {exc}")], source=path) from None


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: take it as a string


def _key_parts(key: str) -> list[str] | None:
    """The segments of an override's dotted key, ``None`` when it is malformed. A key with a
    quote is read as a TOML dotted key, so a quoted segment may hold dots
    (``groups."tokenizer.".lr``); other keys split at every dot, as they always did."""
    if '"' not in key and "'" not in key:
        parts = key.split(".")
    else:
        try:
            tree: Any = tomllib.loads(f"{key} = 0")
        except tomllib.TOMLDecodeError:
            return None
        parts = []
        while isinstance(tree, dict) and len(tree) == 1:
            ((part, tree),) = tree.items()
            parts.append(part)
    return parts if parts and all(parts) else None


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as TOML, else taken as a string). A key
    segment in quotes may hold dots: ``generator.train.optim.groups."tokenizer.".lr=1e-5``."""
    issues = []
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = _key_parts(key.strip())
        if not sep or parts is None:
            issues.append(ConfigIssue(
                f"--set {item}",
                'expected KEY.PATH=VALUE, e.g. generator.train.epochs=5 (quote a segment that holds dots: a."b.c".d=1)',
            ))  # fmt: skip
            continue
        key = key.strip()
        table = raw
        for i, part in enumerate(parts[:-1]):
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                issues.append(
                    ConfigIssue(".".join(map(_key, parts[: i + 1])), f"is {nxt!r}, not a table; cannot set {key}")
                )
                break
            table = nxt
        else:
            table[parts[-1]] = _parse_value(value.strip())
    if issues:
        raise ConfigError(issues, source="command line")
    return raw


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML text for nested tables of scalars and lists. ``None`` values are written as
    comments (``# key = (unset)``) since TOML has no null."""
    lines: list[str] = []

    def emit(table: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        subtables = []
        for k, v in table.items():
            if isinstance(v, Mapping):
                subtables.append((k, v))
            elif v is None:
                lines.append(f"# {_key(k)} = (unset)")
            else:
                lines.append(f"{_key(k)} = {_scalar(v)}")
        for k, v in subtables:
            name = prefix + (k,)
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_key(p) for p in name) + "]")
            emit(v, name)

    emit(data, ())
    return "\n".join(lines) + "\n"
