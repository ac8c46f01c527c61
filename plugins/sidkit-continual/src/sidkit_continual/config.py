"""The scenario file of ``sidkit continual``: sections, defaults and resolution.

A scenario TOML has ``[run]`` and ``[data]`` as in a pipeline, a ``[scenario]`` table
(:class:`ScenarioSection`), the component tables ``[encoder]``, ``[tokenizer]``,
``[generator]``, ``[decoder]`` (the collaborative SIDs and the retriever every policy
shares), optionally ``[updaters.<policy>]`` tables (which registered ``sid-updater`` a
fine-tuning policy uses) and ``[content.encoder]`` + ``[content.tokenizer]`` (content-only
SIDs, the ``TIGER-FT`` row). Every problem is reported at once, like ``sidkit run``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from sidkit.config import (
    ComponentChoice,
    DataChoice,
    RunSection,
    apply_overrides,
    component_choice,
    data_choice,
    read_toml,
    resolve_paths,
    structure,
    unstructure,
)
from sidkit.config.schema import unknown_sections
from sidkit.config.validators import at_least, greater_than, one_of
from sidkit.errors import ConfigError, ConfigIssue, did_you_mean

__all__ = [
    "ScenarioSection",
    "ScenarioConfig",
    "DEFAULT_UPDATERS",
    "SPECIAL_POLICIES",
    "REFRESH_MODES",
    "PROTOCOLS",
    "GENERATOR_MODES",
    "REFRESH_DATA",
    "resolve_scenario",
    "load_scenario",
]

#: fine-tuning policies and the sid-updater each uses unless ``[updaters.<policy>]`` says otherwise
DEFAULT_UPDATERS: dict[str, dict[str, Any]] = {
    "FT-old": {"name": "keep"},
    "FT-new": {"name": "rebuild"},
    "FT-ours-greedy": {"name": "align", "solver": "greedy"},
    "FT-ours-hungarian": {"name": "align", "solver": "hungarian"},
}
#: policies that are not an updater: retrain from scratch, and content-only SIDs
SPECIAL_POLICIES = ("Full", "TIGER-FT")
#: how a refresh re-fits the encoder
REFRESH_MODES = ("scratch", "warm")
#: how the interactions are cut: equal blocks (the staleness paper) or a first share then periods (DACT)
PROTOCOLS = ("blocks", "periods")
#: what a policy does with its generator at each step
GENERATOR_MODES = ("finetune", "frozen", "retrain")
#: the interactions a refreshed encoder trains on
REFRESH_DATA = ("cumulative", "period")
SECTIONS = ("run", "data", "scenario", "encoder", "tokenizer", "generator", "decoder", "updaters", "content")
COMPONENTS = ("encoder", "tokenizer", "generator", "decoder")


def _int_list(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    ok = isinstance(value, (list, tuple)) and len(value) > 0
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    if not ok:
        raise ValueError(f"{attribute.name} must be a non-empty list of non-negative integers, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} has duplicates: {list(value)!r}")


def _positive_list(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    _int_list(_inst, attribute, value)
    if 0 in value:
        raise ValueError(f"{attribute.name} must be positive cutoffs, got {list(value)!r}")


def _share(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
        raise ValueError(f"{attribute.name} must be a number between 0 and 1 (exclusive), got {value!r}")


def _modes(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    bad = {p: m for p, m in value.items() if m not in GENERATOR_MODES}
    if bad:
        raise ValueError(f"{attribute.name}: {bad!r}: a mode is one of {', '.join(GENERATOR_MODES)}")


@attrs.frozen(kw_only=True)
class ScenarioSection:
    """``[scenario]``: the strict chronological protocol.

    ``n_blocks``: equal-count blocks of the time-sorted interactions. ``multi_step_start``:
    0 = one adaptation step (Base on blocks 1..N-2, adapt on N-1, test on N); ``t0`` >= 1 =
    Base on blocks 1..t0, then for t = t0+1..N-1 adapt on block t and test on t+1.
    ``multi_step_end``: the last adaptation block of multi-step mode (0 = N-1; the paper's
    RQ2 is ``multi_step_start = 5``, ``multi_step_end = 8``).
    ``max_len``: history items (context) of evaluation and fine-tuning samples.
    ``seeds``: every seed repeats the whole scenario. ``policies``: the rows to run
    (``Base`` is always reported). ``finetune_epochs``: the fixed fine-tuning budget of
    every FT policy (optimizer re-initialised, constant learning rate). ``finetune_lr``: that
    constant learning rate (default: the generator's ``[generator.train.optim] lr``; a model
    that ended a cosine schedule near 0 is thrown off by its peak rate, see the doc page).
    ``full_epochs``: epochs of ``Full`` (default: the epoch Base's validation selected).
    ``ks``: cutoffs of Recall/NDCG on the test block (ranked ``max(ks)`` deep).
    ``valid_beam_width``: beam width (and ranking depth) of Base's epoch selection.
    ``count_flops``: count training FLOPs with ``torch.utils.flop_counter``.
    ``refresh``: how the encoder is re-fitted at every refresh, ``"scratch"`` = trained anew
    (the paper), ``"warm"`` = warm-started from the previous refresh's encoder (Base's at the
    first step; the encoder must support ``ctx.encoder``, as ``sasrec`` does).
    ``refresh_epochs``: the epoch budget of every refresh's encoder training (default: its
    ``[encoder.train]`` epochs); Base's encoder always trains with its own settings.
    ``pilot_epochs``: 0 = fine-tune for ``finetune_epochs``; n >= 1 = choose the fine-tuning
    budget once by a pilot one block earlier (SIDs and generator on blocks 1..t0-1, stale-SID
    fine-tuning on block t0 for up to n epochs, scored on block t0+1 after each epoch).

    ``protocol``: ``"blocks"`` (the above) or ``"periods"`` (DACT): the first ``first_share``
    of the interactions is period 0 (Base), the rest ``n_periods`` equal periods; in period
    t each user's last interaction is the test target, the one before it the validation
    target, earlier ones the training targets (:func:`sidkit.data.period_split`); every item
    seen so far has a SID and is ranked. ``n_blocks`` and the multi-step keys are unused.
    ``generator_modes``: per policy, ``"finetune"`` (default: warm start, ``finetune_epochs``),
    ``"frozen"`` (the previous generator, untrained) or ``"retrain"`` (from scratch on all
    training interactions so far, ``full_epochs``). ``finetune_patience``: 0 = the fixed
    fine-tuning budget; n = early stopping after n epochs without a better score on the
    step's validation targets (periods: the period's; blocks: the adaptation block's
    predicted from the history before it), ``finetune_epochs`` at most.
    ``refresh_data``: the training interactions a refreshed encoder sees, ``"cumulative"``
    (all so far) or ``"period"`` (periods only: the period's training targets).
    ``reference_policy``: the policies the report's Wilcoxon tests compare with every other
    one (default ``[]``: every ``FT-ours*`` policy present, the staleness paper's comparison).
    """

    n_blocks: int = attrs.field(default=10, validator=at_least(3))
    multi_step_start: int = attrs.field(default=0, validator=at_least(0))
    multi_step_end: int = attrs.field(default=0, validator=at_least(0))
    max_len: int = attrs.field(default=20, validator=at_least(1))
    seeds: list[int] = attrs.field(factory=lambda: [0], validator=_int_list)
    policies: list[str] = attrs.field(factory=lambda: [*DEFAULT_UPDATERS, "Full"])
    finetune_epochs: int = attrs.field(default=1, validator=at_least(1))
    finetune_lr: float | None = attrs.field(default=None, validator=attrs.validators.optional(greater_than(0.0)))
    full_epochs: int | None = attrs.field(default=None, validator=at_least(1))
    ks: list[int] = attrs.field(factory=lambda: [10, 100, 500], validator=_positive_list)
    valid_beam_width: int = attrs.field(default=50, validator=at_least(1))
    count_flops: bool = True
    refresh: str = attrs.field(default="scratch", validator=one_of(REFRESH_MODES))
    refresh_epochs: int | None = attrs.field(default=None, validator=at_least(1))
    pilot_epochs: int = attrs.field(default=0, validator=at_least(0))
    protocol: str = attrs.field(default="blocks", validator=one_of(PROTOCOLS))
    first_share: float = attrs.field(default=0.6, validator=_share)
    n_periods: int = attrs.field(default=4, validator=at_least(1))
    generator_modes: dict[str, str] = attrs.field(factory=dict, validator=_modes)
    finetune_patience: int = attrs.field(default=0, validator=at_least(0))
    refresh_data: str = attrs.field(default="cumulative", validator=one_of(REFRESH_DATA))
    reference_policy: list[str] = attrs.field(factory=list)

    def generator_mode(self, policy: str) -> str:
        return self.generator_modes.get(policy, "finetune")

    @property
    def reference_policies(self) -> list[str]:
        """The policies the Wilcoxon tests compare with the others."""
        return list(self.reference_policy) or [p for p in self.policies if p.startswith("FT-ours")]

    @property
    def first_block(self) -> int:
        """Blocks Base trains on (1-based count): ``t0``, or N-2 in single-step mode."""
        return self.multi_step_start or self.n_blocks - 2

    @property
    def steps(self) -> list[int]:
        """The adaptation blocks t (1-based); each step tests on block t + 1."""
        return list(range(self.first_block + 1, (self.multi_step_end or self.n_blocks - 1) + 1))


@attrs.frozen
class ScenarioConfig:
    """A resolved scenario: every section structured, every default filled in."""

    run: RunSection
    data: DataChoice
    scenario: ScenarioSection
    components: Mapping[str, ComponentChoice]
    updaters: Mapping[str, ComponentChoice]
    content: Mapping[str, ComponentChoice] | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": unstructure(self.run),
            "data": self.data.to_table(),
            "scenario": unstructure(self.scenario),
        }
        out.update({kind: c.to_table() for kind, c in self.components.items()})
        out["updaters"] = {p: c.to_table() for p, c in self.updaters.items()}
        if self.content:
            out["content"] = {kind: c.to_table() for kind, c in self.content.items()}
        return out


_FOLDER_NAME = re.compile(r"[A-Za-z0-9._+-]+")


def _updaters(raw: Any, policies: Iterable[str], registry: Any, issues: list[ConfigIssue]) -> dict[str, ComponentChoice]:
    if not isinstance(raw, Mapping):
        issues.append(ConfigIssue("updaters", f"expected tables [updaters.<policy>], got {raw!r}"))
        return {}
    tables = {**DEFAULT_UPDATERS, **raw}
    out = {}
    for policy in policies:
        if not _FOLDER_NAME.fullmatch(policy):
            issues.append(ConfigIssue("scenario.policies", f"policy {policy!r}: use letters, digits, '.', '_', '+' and '-' (it names the policy's stage folders)"))
            continue
        if policy in SPECIAL_POLICIES:
            continue
        if policy not in tables:
            known = [*tables, *SPECIAL_POLICIES]
            issues.append(
                ConfigIssue(
                    "scenario.policies",
                    f"unknown policy {policy!r}{did_you_mean(policy, known)}; policies: {', '.join(known)} "
                    "(or name a sid-updater for it in [updaters.<policy>])",
                )
            )
            continue
        choice = component_choice("sid-updater", tables[policy], registry, issues, path=f"updaters.{policy}")
        if choice is not None:
            out[policy] = choice
    return out


def _check_modes(sc: ScenarioSection, issues: list[ConfigIssue]) -> None:
    """Keys that must agree with the policies and the protocol."""
    modal = [p for p in sc.policies if p not in SPECIAL_POLICIES]
    for policy in sc.generator_modes:
        if policy not in modal:
            issues.append(ConfigIssue(f"scenario.generator_modes.{policy}", f"not a policy of this scenario with a sid-updater; those are: {', '.join(modal) or 'none'}"))
    for policy in sc.reference_policy:
        if policy not in (*sc.policies, "Base"):
            issues.append(ConfigIssue("scenario.reference_policy", f"{policy!r} is not one of the policies: {', '.join(sc.policies)}"))
    if sc.protocol == "periods" and "TIGER-FT" in sc.policies:
        issues.append(ConfigIssue("scenario.policies", "'TIGER-FT' runs only with protocol = \"blocks\" (its content SIDs cover Base's items)"))
    if sc.protocol == "blocks" and sc.refresh_data != "cumulative":
        issues.append(ConfigIssue("scenario.refresh_data", "\"period\" needs protocol = \"periods\" (a block refresh trains on blocks 1..t)"))
    if sc.protocol == "periods" and sc.pilot_epochs:
        issues.append(ConfigIssue("scenario.pilot_epochs", "the pilot runs only with protocol = \"blocks\"; with periods use finetune_patience"))


def _content(raw: Any, registry: Any, issues: list[ConfigIssue]) -> dict[str, ComponentChoice] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"encoder", "tokenizer"}:
        issues.append(ConfigIssue("content", "expected exactly the tables [content.encoder] and [content.tokenizer]"))
        return None
    out = {}
    for kind in ("encoder", "tokenizer"):
        choice = component_choice(kind, raw[kind], registry, issues, path=f"content.{kind}")
        if choice is not None:
            out[kind] = choice
    return out


def resolve_scenario(raw: Mapping[str, Any], registry: Any, *, source: str | Path | None = None) -> ScenarioConfig:
    """Structure a raw scenario dict; raise :class:`ConfigError` listing every problem."""
    issues = unknown_sections(raw, SECTIONS)
    run, problems = structure(raw.get("run", {}), RunSection, "run")
    issues.extend(problems)
    scenario, problems = structure(raw.get("scenario", {}), ScenarioSection, "scenario")
    issues.extend(problems)
    data = data_choice(raw.get("data", {}), issues)
    components = {}
    for kind in COMPONENTS:
        if kind not in raw:
            issues.append(ConfigIssue(kind, f"missing section [{kind}]; registered {kind}s: {', '.join(registry.names(kind)) or 'none'}"))
            continue
        choice = component_choice(kind, raw[kind], registry, issues)
        if choice is not None:
            components[kind] = choice
    content = _content(raw.get("content"), registry, issues)
    updaters: dict[str, ComponentChoice] = {}
    if scenario is not None:
        if scenario.multi_step_start and scenario.multi_step_start > scenario.n_blocks - 2:
            issues.append(
                ConfigIssue(
                    "scenario.multi_step_start",
                    f"must be between 1 and n_blocks - 2 = {scenario.n_blocks - 2} (0 = a single step), got {scenario.multi_step_start}",
                )
            )
        if scenario.multi_step_end and not scenario.first_block < scenario.multi_step_end <= scenario.n_blocks - 1:
            issues.append(
                ConfigIssue(
                    "scenario.multi_step_end",
                    f"must be after Base's last block t0 = {scenario.first_block} and at most n_blocks - 1 = "
                    f"{scenario.n_blocks - 1} (0 = n_blocks - 1), got {scenario.multi_step_end}",
                )
            )
        if scenario.pilot_epochs and scenario.first_block < 2:
            issues.append(
                ConfigIssue(
                    "scenario.pilot_epochs",
                    f"the pilot trains on blocks 1..t0-1 and needs Base on at least 2 blocks, but Base trains on blocks "
                    f"1..{scenario.first_block}; raise n_blocks or multi_step_start, or set pilot_epochs = 0",
                )
            )
        _check_modes(scenario, issues)
        if "TIGER-FT" in scenario.policies and content is None:
            issues.append(ConfigIssue("scenario.policies", "policy 'TIGER-FT' needs [content.encoder] and [content.tokenizer]"))
        if len(set(scenario.policies)) != len(scenario.policies):
            issues.append(ConfigIssue("scenario.policies", f"has duplicates: {list(scenario.policies)!r}"))
        updaters = _updaters(raw.get("updaters", {}), scenario.policies, registry, issues)
    if issues:
        raise ConfigError(issues, source=source)
    return ScenarioConfig(run, data, scenario, components, updaters, content, None if source is None else str(source))


def load_scenario(path: str | Path, registry: Any, overrides: Iterable[str] = ()) -> ScenarioConfig:
    """Read a scenario TOML file, apply ``--set`` overrides, and resolve it."""
    path = Path(path)
    raw = resolve_paths(read_toml(path), path.resolve().parent)
    raw = apply_overrides(raw, overrides)
    raw = resolve_paths(raw, Path.cwd())
    return resolve_scenario(raw, registry, source=path)
