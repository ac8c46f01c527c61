"""Exceptions with messages a user can act on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches

__all__ = [
    "SidkitError",
    "DataError",
    "ConfigError",
    "ConfigIssue",
    "UnknownComponentError",
    "ArtifactError",
    "did_you_mean",
]


class SidkitError(Exception):
    """Base class of every error sidkit raises on purpose."""


class DataError(SidkitError, ValueError):
    """Malformed input data. The message names the file, the line (1-based) and the reason."""

    def __init__(self, reason: str, *, path: object = None, line: int | None = None):
        self.path, self.line, self.reason = path, line, reason
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + reason)


class ArtifactError(SidkitError):
    """A run directory, checkpoint or state file that cannot be used (shape, vocabulary, fingerprint)."""


def did_you_mean(given: str, valid: Iterable[str], n: int = 3) -> str:
    """`` (did you mean 'a', 'b'?)`` for the closest valid names, or an empty string."""
    close = get_close_matches(given, list(valid), n=n, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + ", ".join(repr(c) for c in close) + "?)"


class ConfigIssue:
    """One problem in a config: where (dotted key path) and what."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"ConfigIssue({self.path!r}, {self.message!r})"


class ConfigError(SidkitError):
    """All problems of a config at once, one ``file: key.path: message`` line each."""

    def __init__(self, issues: Sequence[ConfigIssue], *, source: object = None):
        self.issues = list(issues)
        self.source = source
        prefix = f"{source}: " if source is not None else ""
        lines = [prefix + str(i) for i in self.issues]
        super().__init__("invalid config:\n" + "\n".join("  " + line for line in lines))


class UnknownComponentError(SidkitError, LookupError):
    """No component of that kind and name is registered."""

    def __init__(self, kind: str, name: str, valid: Sequence[str], hint: str = ""):
        self.kind, self.name, self.valid = kind, name, list(valid)
        msg = f"unknown {kind} {name!r}{did_you_mean(name, valid)}"
        msg += "; registered: " + (", ".join(sorted(valid)) if valid else "none")
        if hint:
            msg += f". {hint}"
        super().__init__(msg)

    def __str__(self) -> str:  # LookupError would repr() the message
        return self.args[0]
