"""Configs of the encoders ``sasrec`` and ``content+collab`` (attrs, cattrs and sidkit's
registry only: importing this never imports torch).

``content+collab`` names two other encoders, each in its own sub-table::

    [encoder]
    name = "content+collab"
    output = "content"

    [encoder.content]
    name = "hf-text"
    template = "{title}; {genres}"

    [encoder.collaborative]
    name = "sasrec"
    hidden = 32

A sub-table is resolved like a top-level component table, in two passes: ``name`` is looked
up in sidkit's registry, the rest is structured into that encoder's config class with
sidkit's converter (unknown keys and bad values are reported under their full key path,
e.g. ``encoder.collaborative.hidden``, before any work starts). The structure/unstructure
hooks for :class:`EncoderChoice` are registered on :data:`sidkit.config.structure.converter`
when this module is imported, which happens whenever the plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from sidkit.config.structure import converter, structure
from sidkit.config.validators import one_of
from sidkit.errors import ConfigError, ConfigIssue, SidkitError, UnknownComponentError, did_you_mean
from sidkit.registry import get_registry
from sidkit_grid.api import HFTextConfig

from .sasrec import SASRecModelConfig

__all__ = ["SASRecConfig", "EncoderChoice", "ContentCollabConfig", "OUTPUTS", "COMBINED_NAME"]

OUTPUTS = ("content", "collaborative", "concat")
COMBINED_NAME = "content+collab"


@attrs.frozen(kw_only=True)
class SASRecConfig(SASRecModelConfig):
    """The ``sasrec`` encoder: SASRec trained on ``ctx.split.train``; its item embedding table
    (padding row dropped, rows in catalog order) is the output. Every model and training
    option of :class:`~sidkit_letter.configs.sasrec.SASRecModelConfig`, plus ``normalize``:
    L2-normalise the exported rows."""

    normalize: bool = False


class EncoderChoiceError(SidkitError):
    """One problem of a sub-encoder table.

    Deliberately not a ``ValueError``: sidkit's config error formatter then keeps the
    message as it is and files it under the key path of the note attached to it.
    """


@attrs.frozen
class EncoderChoice:
    """A registered encoder (``name``) and an instance of its config class (``config``)."""

    name: str
    config: Any

    def build(self) -> Any:
        """The encoder, built through sidkit's registry."""
        return get_registry().get("encoder", self.name).build(self.config)


def _resolve(raw: Any) -> tuple[EncoderChoice | None, list[ConfigIssue]]:
    """Two-pass resolution of a sub-encoder table; issue paths are relative to the table."""
    if isinstance(raw, EncoderChoice):
        return raw, []
    registry = get_registry()
    registered = ", ".join(n for n in registry.names("encoder") if n != COMBINED_NAME) or "none"
    if not isinstance(raw, Mapping):
        return None, [
            ConfigIssue("", f'expected a table whose name = "..." is a registered encoder ({registered}), got {raw!r}')
        ]
    table = dict(raw)
    name = table.pop("name", None)
    if name is None:
        return None, [ConfigIssue("name", f"name is required: the registered encoder to use ({registered})")]
    if name == COMBINED_NAME:
        return None, [
            ConfigIssue("name", f"name {COMBINED_NAME!r} cannot be nested inside itself; name a single encoder")
        ]
    try:
        spec = registry.get("encoder", str(name))
    except UnknownComponentError as exc:
        broken = [p.name for p in registry.plugins.values() if p.status == "broken"]
        hint = f"; broken plugins (see `sidkit plugins`): {', '.join(broken)}" if broken else ""
        return None, [
            ConfigIssue(
                "name",
                f"name {name!r} is not a registered encoder{did_you_mean(str(name), exc.valid)}; "
                f"registered: {registered}{hint}",
            )
        ]
    config, issues = structure(table, spec.config, "")
    if issues:
        return None, [ConfigIssue(i.path.lstrip("."), i.message) for i in issues]
    return EncoderChoice(spec.name, config), []


def _structure_choice(raw: Any, _type: Any) -> EncoderChoice:
    """cattrs hook: problems become a ``ClassValidationError`` whose sub-errors carry notes
    naming their key path inside the table, so sidkit reports ``encoder.content.name: ...``."""
    choice, issues = _resolve(raw)
    if not issues:
        return choice
    errors = []
    for issue in issues:
        error = EncoderChoiceError(issue.message)
        if issue.path:
            error.__notes__ = [AttributeValidationNote(f"sub-encoder key {issue.path}", issue.path, Any)]
        errors.append(error)
    raise ClassValidationError("invalid sub-encoder table", errors, EncoderChoice)


def resolve_encoder_choice(raw: Any) -> EncoderChoice:
    """An :class:`EncoderChoice` from a table ``{"name": ..., **options}`` (or one given as
    is); :class:`~sidkit.errors.ConfigError` listing every problem otherwise."""
    choice, issues = _resolve(raw)
    if issues:
        raise ConfigError(issues)
    return choice


def _unstructure_choice(choice: EncoderChoice) -> dict[str, Any]:
    return {"name": choice.name, **converter.unstructure(choice.config)}


converter.register_structure_hook(EncoderChoice, _structure_choice)
converter.register_unstructure_hook(EncoderChoice, _unstructure_choice)


def _default_content() -> EncoderChoice:
    return EncoderChoice("hf-text", HFTextConfig())


def _default_collaborative() -> EncoderChoice:
    return EncoderChoice("sasrec", SASRecConfig())


@attrs.frozen(kw_only=True)
class ContentCollabConfig:
    """Two encoders run side by side on the same catalog.

    ``content`` and ``collaborative``: a registered encoder and its options each (defaults:
    ``hf-text`` and ``sasrec`` with their defaults). Both matrices are always delivered,
    aligned row by row, as ``views["content"]`` and ``views["collaborative"]``. ``output``
    chooses the main matrix (``values``): ``"content"``, ``"collaborative"``, or
    ``"concat"`` = both, each L2-normalised first, side by side.
    """

    content: EncoderChoice = attrs.field(factory=_default_content, converter=resolve_encoder_choice)
    collaborative: EncoderChoice = attrs.field(factory=_default_collaborative, converter=resolve_encoder_choice)
    output: str = attrs.field(default="content", validator=one_of(OUTPUTS))
