"""The pipeline config: sections, component choices, and resolution with all errors at once.

A pipeline TOML file has the tables ``[run]``, ``[data]``, ``[split]`` and one table per
component kind (``[encoder]``, ``[tokenizer]``, ``[generator]``, ``[decoder]``,
``[evaluator]``, optionally ``[sid-updater]``), plus the optional ``[validation]`` (what
the generator is validated on during training). A component table names a registered
component with ``name = "..."``; the rest of the table is structured into that
component's attrs config class.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import ConfigError, ConfigIssue, UnknownComponentError, did_you_mean
from ..protocols import KINDS
from .structure import non_default, structure, unstructure
from .toml_io import apply_overrides, read_toml
from .validators import at_least, one_of

__all__ = [
    "RunSection",
    "SplitSection",
    "ValidationSection",
    "ComponentChoice",
    "DataChoice",
    "PipelineConfig",
    "resolve_config",
    "load_config",
    "resolve_data",
    "SECTIONS",
    "component_choice",
    "data_choice",
    "unknown_sections",
]

SPLITS = ("leave-one-out", "blocks")


@attrs.frozen(kw_only=True)
class RunSection:
    """``[run]``: seed, device (``auto`` = CUDA when available) and progress bars."""

    seed: int = 0
    device: str = "auto"
    progress: bool = True


@attrs.frozen(kw_only=True)
class SplitSection:
    """``[split]``: ``leave-one-out`` (last item test, second-to-last valid) or ``blocks``
    (chronological equal-count blocks: train on all but the last two, validate on the
    second-to-last, test on the last). Histories are cut to the last ``max_len`` items."""

    name: str = attrs.field(default="leave-one-out", validator=one_of(SPLITS))
    max_len: int = attrs.field(default=20, validator=at_least(1))
    n_blocks: int = attrs.field(default=10, validator=at_least(3))


@attrs.frozen(kw_only=True)
class ValidationSection:
    """``[validation]``: what the generator is scored on after every epoch (early stopping,
    best checkpoint). ``users``: a fixed subset of that many validation users, drawn once
    with ``seed`` (independent of ``run.seed``) and the same at every epoch; ``0`` = all of
    them. ``decoder``: the validation decoder's own table: the ``[decoder]``'s component
    (or the one it names) with these keys and the decoder's defaults for the rest, never
    the ``[decoder]``'s values, so changing test-time decoding re-runs only the rankings.
    Test rankings and metrics always use every user and the ``[decoder]`` as written."""

    users: int = attrs.field(default=2000, validator=at_least(0))
    seed: int = 0
    decoder: dict[str, Any] = attrs.field(factory=dict)

    def rows(self, n_valid: int) -> Any:
        """Indices (ascending) of the validation examples used: all ``n_valid`` when
        ``users`` is 0 or at least ``n_valid``, else ``users`` drawn without replacement
        by a generator seeded with ``seed``."""
        import numpy as np

        if self.users == 0 or self.users >= n_valid:
            return np.arange(n_valid, dtype=np.int64)
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n_valid, size=self.users, replace=False)).astype(np.int64)


@attrs.frozen
class ComponentChoice:
    """A component table after resolution: kind, registered name and its config instance."""

    kind: str
    name: str
    config: Any

    def to_table(self) -> dict[str, Any]:
        return {"name": self.name, **unstructure(self.config)}

    def fingerprint_table(self) -> dict[str, Any]:
        """The table without keys at their default value (what fingerprints hash)."""
        return {"name": self.name, **non_default(self.config)}


@attrs.frozen
class DataChoice:
    """The ``[data]`` table after resolution: format name and its loader config."""

    format: str
    config: Any

    def to_table(self) -> dict[str, Any]:
        return {"format": self.format, **unstructure(self.config)}

    def fingerprint_table(self) -> dict[str, Any]:
        """The table without keys at their default value (what fingerprints hash)."""
        return {"format": self.format, **non_default(self.config)}


@attrs.frozen
class PipelineConfig:
    """A fully resolved pipeline: every section structured, every default filled in."""

    run: RunSection
    data: DataChoice
    split: SplitSection
    components: Mapping[str, ComponentChoice]
    source: str | None = None
    validation: ValidationSection = attrs.field(factory=ValidationSection)
    # the decoder validation uses: [decoder]'s component set by [validation.decoder] alone
    validation_decoder: ComponentChoice | None = None

    def component(self, kind: str) -> ComponentChoice | None:
        return self.components.get(kind)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": unstructure(self.run),
            "data": self.data.to_table(),
            "split": unstructure(self.split),
        }
        for kind in KINDS:
            if kind in self.components:
                out[kind] = self.components[kind].to_table()
        out["validation"] = unstructure(self.validation)
        return out


PIPELINE_KINDS = tuple(k for k in KINDS if k != "sid-updater")  # one training period: no updater
SECTIONS = ("run", "data", "split", *PIPELINE_KINDS, "validation")
NO_UPDATER = (
    "`sidkit run` trains one period and uses no SID updater; SID updaters run in continual "
    "scenarios (`sidkit continual`, plugin sidkit-continual): remove this section"
)
DEFAULT_COMPONENTS = {"evaluator": "ranking"}
PATH_KEYS = ("path", "items")


def _is_path_key(key: str) -> bool:
    return key in PATH_KEYS or key.endswith(("_path", "_file", "_dir"))


def resolve_paths(raw: Any, base: Path) -> Any:
    """Make relative paths (keys ``path``, ``items``, ``*_path``, ``*_file``, ``*_dir``)
    absolute against ``base``; ``~`` and ``$VARS`` are expanded."""
    if isinstance(raw, dict):
        out = {}
        for k, v in raw.items():
            if isinstance(v, str) and _is_path_key(k) and v:
                p = Path(os.path.expandvars(os.path.expanduser(v)))
                out[k] = str(p if p.is_absolute() else (base / p).resolve())
            else:
                out[k] = resolve_paths(v, base)
        return out
    return raw


def component_choice(
    kind: str, table: Any, registry: Any, issues: list[ConfigIssue], path: str | None = None
) -> ComponentChoice | None:
    """Resolve one component table (``name = ...`` + its config) of ``kind``; problems are
    appended to ``issues`` under the key ``path`` (default: the kind)."""
    where = path or kind
    if not isinstance(table, Mapping):
        issues.append(ConfigIssue(where, f"expected a table with name = \"...\", got {table!r}"))
        return None
    table = dict(table)
    name = table.pop("name", None)
    if name is None:
        names = registry.names(kind)
        issues.append(ConfigIssue(f"{where}.name", f"required key missing; registered {kind}s: {', '.join(names) or 'none'}"))
        return None
    try:
        spec = registry.get(kind, str(name))
    except UnknownComponentError as exc:
        issues.append(ConfigIssue(f"{where}.name", str(exc)))
        return None
    config, problems = structure(table, spec.config, where)
    issues.extend(problems)
    return None if config is None else ComponentChoice(kind, spec.name, config)


def _get(table: Any, key: str) -> Any:
    return table.get(key) if isinstance(table, Mapping) else None


def resolve_validation_decoder(
    overrides: Mapping[str, Any],
    decoder: ComponentChoice | None,
    registry: Any,
    issues: list[ConfigIssue],
    *,
    decoder_table: Any = None,
) -> ComponentChoice | None:
    """The decoder validation uses: the ``[decoder]``'s component (another one when
    ``overrides`` names it) configured by ``[validation.decoder]`` (``overrides``) alone:
    keys it does not set keep the decoder's defaults, not the ``[decoder]``'s values, so
    test-time decoding settings never change what validation measured. ``None`` without a
    usable decoder name; problems are appended to ``issues`` under ``validation.decoder``.
    ``decoder_table``: the raw ``[decoder]`` table, for its name when it did not resolve."""
    where = "validation.decoder"
    name = overrides.get("name")
    if name is None:
        name = decoder.name if decoder is not None else _get(decoder_table, "name")
        if name is None:
            if overrides:
                issues.append(ConfigIssue(where, "sets decoder keys, but the config has no [decoder] section"))
            return None
        if str(name) not in registry.names("decoder"):
            return None  # the [decoder] section's own issue says so
    return component_choice("decoder", {**overrides, "name": name}, registry, issues, path=where)


def data_choice(table: Any, issues: list[ConfigIssue]) -> DataChoice | None:
    """Resolve a ``[data]`` table; problems are appended to ``issues``."""
    from ..data.formats import FORMATS  # the data package is light (numpy only)

    if not isinstance(table, Mapping):
        issues.append(ConfigIssue("data", f"expected a table, got {table!r}"))
        return None
    table = dict(table)
    fmt = str(table.pop("format", "synthetic"))
    if fmt not in FORMATS:
        issues.append(
            ConfigIssue("data.format", f"unknown format {fmt!r}{did_you_mean(fmt, FORMATS)}; formats: {', '.join(FORMATS)}")
        )
        return None
    config, problems = structure(table, FORMATS[fmt].config_cls, "data")
    issues.extend(problems)
    return None if config is None else DataChoice(fmt, config)


def unknown_sections(raw: Mapping[str, Any], sections: Iterable[str]) -> list[ConfigIssue]:
    """One issue per top-level key of ``raw`` that is not one of ``sections``."""
    sections = tuple(sections)
    return [
        ConfigIssue(key, f"unknown section{did_you_mean(key, sections)}; sections: {', '.join(sections)}")
        for key in raw
        if key not in sections
    ]


def resolve_data(table: Mapping[str, Any], *, source: str | Path | None = None) -> DataChoice:
    """Structure a ``[data]`` table alone (``sidkit data info``); :class:`ConfigError` on problems."""
    issues: list[ConfigIssue] = []
    data = data_choice(table, issues)
    if issues or data is None:
        raise ConfigError(issues, source=source)
    return data


def resolve_config(
    raw: Mapping[str, Any],
    registry: Any,
    *,
    source: str | Path | None = None,
    require: Iterable[str] = ("encoder", "tokenizer", "generator", "decoder"),
) -> PipelineConfig:
    """Structure a raw config dict; raise :class:`ConfigError` listing every problem."""
    issues = unknown_sections({k: v for k, v in raw.items() if k != "sid-updater"}, SECTIONS)
    if "sid-updater" in raw:
        issues.append(ConfigIssue("sid-updater", NO_UPDATER))
    run, problems = structure(raw.get("run", {}), RunSection, "run")
    issues.extend(problems)
    split, problems = structure(raw.get("split", {}), SplitSection, "split")
    issues.extend(problems)
    vraw = raw.get("validation", {})
    if isinstance(vraw, Mapping) and "decoder" in vraw and not isinstance(vraw["decoder"], Mapping):
        given = vraw["decoder"]
        issues.append(ConfigIssue("validation.decoder", f"expected a table of decoder keys for validation, got {given!r}"))
        vraw = {k: v for k, v in vraw.items() if k != "decoder"}
    validation, problems = structure(vraw, ValidationSection, "validation")
    issues.extend(problems)
    data = data_choice(raw.get("data", {}), issues)
    components: dict[str, ComponentChoice] = {}
    for kind in PIPELINE_KINDS:
        table = raw.get(kind)
        if table is None and kind in DEFAULT_COMPONENTS:
            table = {"name": DEFAULT_COMPONENTS[kind]}
        if table is None:
            if kind in require:
                names = registry.names(kind)
                issues.append(ConfigIssue(kind, f"missing section [{kind}]; registered {kind}s: {', '.join(names) or 'none'}"))
            continue
        choice = component_choice(kind, table, registry, issues)
        if choice is not None:
            components[kind] = choice
    overrides = validation.decoder if validation is not None else _get(raw.get("validation"), "decoder")
    validation_decoder = None
    if isinstance(overrides, Mapping) or overrides is None:  # checked even when another [validation] key is wrong
        overrides = overrides or {}
        validation_decoder = resolve_validation_decoder(
            overrides, components.get("decoder"), registry, issues, decoder_table=raw.get("decoder")
        )
        if validation is not None and validation_decoder is not None:  # as structured ("10" -> 10)
            table = validation_decoder.to_table()
            validation = attrs.evolve(validation, decoder={k: table[k] for k in validation.decoder})
    issues.extend(capability_issues(components, validation_decoder, registry))
    if issues:
        raise ConfigError(issues, source=source)
    return PipelineConfig(
        run, data, split, components, None if source is None else str(source), validation, validation_decoder
    )


def capability_issues(
    components: Mapping[str, ComponentChoice], validation_decoder: ComponentChoice | None, registry: Any
) -> list[ConfigIssue]:
    """A decoder (test or validation) that requires a capability the generator does not
    provide (:mod:`sidkit.capabilities`), named with both components and both plugins."""
    generator = components.get("generator")
    if generator is None:
        return []
    gspec = registry.get("generator", generator.name)
    decoders = {"decoder": components.get("decoder")}
    if validation_decoder is not None and (decoders["decoder"] is None or validation_decoder.name != decoders["decoder"].name):
        decoders["validation.decoder"] = validation_decoder
    out = []
    for path, choice in decoders.items():
        if choice is None:
            continue
        dspec = registry.get("decoder", choice.name)
        missing = [c for c in dspec.requires if c not in gspec.provides]
        if missing:
            offers = ", ".join(gspec.provides) or "no capabilities"
            out.append(ConfigIssue(path, (
                f"decoder {choice.name!r} (plugin {dspec.plugin}) needs a generator that provides {', '.join(missing)}; "
                f"generator {generator.name!r} (plugin {gspec.plugin}) provides {offers}"
            )))
    return out


def load_config(
    path: str | Path,
    registry: Any,
    overrides: Iterable[str] = (),
    *,
    require: Iterable[str] = ("encoder", "tokenizer", "generator", "decoder"),
) -> PipelineConfig:
    """Read a pipeline TOML file, apply ``--set`` overrides, and resolve it."""
    path = Path(path)
    raw = resolve_paths(read_toml(path), path.resolve().parent)
    raw = apply_overrides(raw, overrides)
    raw = resolve_paths(raw, Path.cwd())  # paths given on the command line are relative to cwd
    return resolve_config(raw, registry, source=path, require=require)
