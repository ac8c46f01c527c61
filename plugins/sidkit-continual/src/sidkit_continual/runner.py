"""The continual scenario runner behind ``sidkit continual`` (strict chronological protocol).

Per seed: the interactions sorted by time are cut into ``N`` equal-count blocks. Base
(collaborative encoder + tokenizer + generator) trains on blocks ``1..t0``; block ``t0+1``
selects its epoch budget. Then for every adaptation block ``t`` (``t0+1..N-1``, or up to
``multi_step_end``; one step ``N-1`` unless multi-step) the SIDs are refreshed on blocks
``1..t`` and every policy is updated and tested on block ``t+1``:

- ``FT-*``: the policy's ``sid-updater`` turns (its previous SIDs, the refreshed SIDs) into
  the SIDs to continue with; the generator is warm-started from the policy's previous one
  (fresh optimizer, constant learning rate) and fine-tuned on block ``t`` for
  ``finetune_epochs``;
- ``Full``: the refreshed SIDs and a generator trained from scratch on blocks ``1..t``;
- ``TIGER-FT``: content-only SIDs (they never go stale), fine-tuned like ``FT-old``;
- ``Base``: the Base generator, never updated.

Evaluation on block ``t+1``: each user's last ``max_len`` interactions before it -> every
item the user interacts with in it; histories and targets are restricted to the items of
Base's SID vocabulary, and decoding is constrained to those items, for every policy.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from sidkit.artifacts import fingerprint, load_sids, read_json, save_sids, write_json
from sidkit.context import Context
from sidkit.errors import SidkitError
from sidkit.metrics import ranking_metrics
from sidkit.registry import Registry, get_registry
from sidkit.stages import RunDirectory, Stage, encoder_stage, generator_stage, tokenizer_stage
from sidkit.types import EvalSet, Rankings, SIDTable

from .config import ScenarioConfig
from .data import ItemSpace, encoder_split, local_eval_set, training_split
from .flops import FlopMeter

__all__ = ["ContinualRunner", "PolicyState", "run_continual"]

log = logging.getLogger("sidkit.continual")


@attrs.define
class PolicyState:
    """What a policy carries from one step to the next."""

    space: ItemSpace
    sids: SIDTable
    tokenizer: Any
    generator: Any


@attrs.define
class _Refresh:
    space: ItemSpace
    sids: SIDTable
    tokenizer: Any
    flops: int
    encoder: Any = None


class ContinualRunner:
    """Run a resolved :class:`~sidkit_continual.config.ScenarioConfig` into ``out``.

    ``out/seeds/seed-<s>.json`` holds each finished seed (reused by a re-run with the same
    config), ``out/report.json`` / ``report.md`` / ``recall.png`` the aggregate. A seed
    runs in ``out/seeds/seed-<s>/`` as core stages (:mod:`sidkit.stages`: the encoder,
    tokenizer and generator stages of ``sidkit run``, one folder each, e.g.
    ``base-generator``, ``step4-FT-new``): a seed that was interrupted resumes at the stage
    it was in (a training stage from its last epoch checkpoint).
    """

    def __init__(self, config: ScenarioConfig, out: str | Path, *, registry: Registry | None = None):
        self.config = config
        self.sc = config.scenario
        self.out = Path(out)
        self.registry = registry or get_registry()
        self.finetune_epochs = self.sc.finetune_epochs  # run() replaces it with the pilot's choice

    # -- building blocks -------------------------------------------------------------------
    def _build(self, choice: Any, **train_changes: Any) -> Any:
        config = choice.config
        if train_changes:
            train = getattr(config, "train", None)
            if train is None or not attrs.has(type(train)):
                raise SidkitError(
                    f"{choice.kind} {choice.name} has no [{choice.kind}.train] settings; the continual runner needs them "
                    "to set its training budget"
                )
            config = attrs.evolve(config, train=attrs.evolve(train, **train_changes))
        return self.registry.build(choice.kind, choice.name, config)

    def _ctx(self, seed: int, **kw: Any) -> Context:
        return Context(seed=seed, device=self.device, progress=self.config.run.progress, dataset=self.dataset, **kw)

    def _decoder(self, beam_width: int | None = None) -> Any:
        choice = self.config.components["decoder"]
        config = choice.config
        if beam_width is not None and attrs.has(type(config)) and "beam_width" in attrs.fields_dict(type(config)):
            config = attrs.evolve(config, beam_width=beam_width)
        return self.registry.build("decoder", choice.name, config)

    def _stage(self, stage: Stage, label: str | None) -> Any:
        """Run ``stage`` in the seed's run directory, its training FLOPs charged to
        ``label`` (a reused stage adds the FLOPs its ``stage.json`` recorded; ``None``: not
        metered). Every stage of a seed depends on the whole scenario and the seed."""
        rd, meter = self._rd, self._meter
        stage = attrs.evolve(stage, fingerprint=fingerprint("continual-stage", self._key, stage.name, self.finetune_epochs))
        if label is None:
            return rd.run(stage)
        spent: dict[str, int] = {}

        def compute(folder: Path) -> Any:
            before = meter.get(label)
            with meter.count(label):
                value = stage.compute(folder)
            spent["flops"] = meter.get(label) - before
            return value

        def load(folder: Path) -> Any:
            value = stage.load(folder)
            if meter.enabled:
                meter.totals[label] = meter.get(label) + int(read_json(folder / "stage.json").get("flops", 0))
            return value

        return rd.run(attrs.evolve(stage, compute=compute, load=load, info=lambda v: {**stage.info(v), **spent}))

    def _sids(
        self, encoder_choice: Any, tokenizer_choice: Any, rows: np.ndarray, valid_rows: tuple | None, seed: int, label: str,
        *, previous: _Refresh | None = None,
    ) -> _Refresh:
        """Encoder on interaction ``rows`` (early stopping on ``valid_rows`` = (history rows,
        target rows)) and a tokenizer fitted on the embeddings of the items those rows contain:
        stages ``<label>-encoder`` and ``<label>-tokenizer``.

        ``previous``: the SIDs this refreshes. A refresh trains on the block its validation
        would use, so it does not validate: the encoder trains ``refresh_epochs`` epochs, or
        as many as the previous encoder's validation selected; with ``refresh = "warm"`` it
        starts from the previous encoder."""
        ds = self.dataset
        space = ItemSpace.of_rows(ds, rows)
        budget, warm = {}, None
        split = encoder_split(ds, rows, *(valid_rows if previous is None else (None, None)), self.sc.max_len)
        if previous is not None:
            trained = bool(getattr(previous.encoder, "history", None))
            epochs = self.sc.refresh_epochs or (self._selected_epochs(previous.encoder) if trained else None)
            budget = {"epochs": epochs} if epochs else {}
            warm = previous.encoder if self.sc.refresh == "warm" else None
        encoder = self._build(encoder_choice, **budget)
        meter_label = f"{label}/sids"
        embeddings = self._stage(
            encoder_stage(f"{label}-encoder", "", encoder, self._ctx(seed, split=split, encoder=warm), label=f"encoder {encoder_choice.name!r}"),
            meter_label,
        )
        tokenizer = self.registry.build("tokenizer", tokenizer_choice.name, tokenizer_choice.config)
        sub = space.embeddings(embeddings)
        sids = self._stage(tokenizer_stage(f"{label}-tokenizer", "", tokenizer, sub, self._ctx(seed, split=split)), meter_label)
        return _Refresh(space, sids, tokenizer, self._meter.get(meter_label), encoder)

    def _evaluate(self, state: PolicyState, examples: EvalSet, decoder: Any, k: int, seed: int, ks: list[int] | None = None) -> dict[str, float]:
        """Rank for ``examples`` (global indices, restricted to the base space) with the
        policy's generator, decoding only among the base space's items."""
        base = self.base_space
        table = SIDTable(state.sids.codes[state.space.local(base.items)], state.sids.codebook_sizes)
        local = local_eval_set(examples, base)
        ctx = self._ctx(seed, tokenizer=state.tokenizer, extras={"users": examples.users})
        ranks = decoder.rank(state.generator, table, local.histories, k, ctx).items
        ranks = np.where(ranks >= 0, base.items[np.maximum(ranks, 0)], -1)
        return ranking_metrics(Rankings(ranks), examples.targets, ks or self.sc.ks, metrics=("recall", "ndcg"), capped_recall=True)

    def _fit(self, state: PolicyState, target_rows, seed, label, *, context_rows=None, warm=None, validate=None, **train) -> Any:
        """A generator trained on ``target_rows`` in ``state``'s space: stage ``label``
        (``/`` replaced by ``-``), FLOPs charged to ``label``."""
        split = training_split(
            self.dataset, target_rows, state.space, context_rows=context_rows, max_len=self.sc.max_len
        )
        generator = self._build(self.config.components["generator"], **train)
        ctx = self._ctx(seed, split=split, tokenizer=state.tokenizer, generator=warm, validate=validate)
        self._stage(generator_stage(label.replace("/", "-"), "", generator, state.sids, ctx), label)
        return generator

    def _update(self, policy: str, choice: Any, prev: PolicyState, fresh: _Refresh, seed: int, t: int) -> tuple[SIDTable, dict]:
        """The policy's ``sid-updater`` applied to (its previous SIDs, the refreshed ones):
        stage ``step<t>-<policy>-sids`` (the table and the updater's report)."""
        def compute(folder: Path) -> tuple[SIDTable, dict]:
            updater = self.registry.build("sid-updater", choice.name, choice.config)
            uctx = self._ctx(
                seed, tokenizer=fresh.tokenizer, previous_tokenizer=prev.tokenizer, previous_sids=prev.sids,
                generator=prev.generator,
                extras={"previous_items": prev.space.items, "refreshed_items": fresh.space.items},
            )
            table, report = updater.update(prev.sids, fresh.sids, uctx)
            save_sids(folder / "sids.safetensors", table)
            write_json(folder / "report.json", report)
            return table, report

        def load(folder: Path) -> tuple[SIDTable, dict]:
            return load_sids(folder / "sids.safetensors"), read_json(folder / "report.json")

        return self._stage(Stage(f"step{t}-{policy}-sids", "", compute, load), None)  # not training: not metered

    # -- one seed ----------------------------------------------------------------------------
    def run_seed(self, seed: int) -> dict[str, Any]:
        """One seed, as stages in ``out/seeds/seed-<seed>/`` (an interrupted seed resumes)."""
        from sidkit.training import seed_everything

        seed_everything(seed)
        self._meter = FlopMeter(self.sc.count_flops)
        self._key = fingerprint(scenario_fingerprint(self.config), seed)
        with RunDirectory(self.out / "seeds" / f"seed-{seed}") as self._rd:
            result = self._run_seed(seed)
            self._rd.finish({"status": "done", "seed": seed, "reused": self._rd.reused, "timings_s": self._rd.timings})
        return result

    def _run_seed(self, seed: int) -> dict[str, Any]:
        sc, comps = self.sc, self.config.components
        blocks = self.blocks
        t0 = sc.first_block
        meter = self._meter
        k = max(sc.ks)
        decoder, valid_decoder = self._decoder(), self._decoder(sc.valid_beam_width)

        def rows_upto(t: int) -> np.ndarray:
            """Interaction rows of blocks 1..t (1-based)."""
            return np.concatenate(blocks[:t])

        started = time.perf_counter()

        # Base: SIDs and generator on blocks 1..t0, epoch budget selected on block t0+1
        base_rows = rows_upto(t0)
        valid_rows = (base_rows, blocks[t0])
        ref = self._sids(comps["encoder"], comps["tokenizer"], base_rows, valid_rows, seed, "base")
        self.base_space = ref.space
        base = PolicyState(ref.space, ref.sids, ref.tokenizer, None)
        valid = self._examples(*valid_rows)
        validate = meter.excluded(self._validator(base, valid, valid_decoder, seed))
        base.generator = self._fit(base, base_rows, seed, "base/generator", validate=validate)
        full_epochs = sc.full_epochs or self._selected_epochs(base.generator)
        log.info("seed %d: Base trained on blocks 1..%d (%d items); Full will train %d epochs", seed, t0, len(ref.space), full_epochs)
        base_flops = meter.get("base/sids") + meter.get("base/generator")
        states: dict[str, PolicyState] = {p: base for p in self.config.updaters}
        content = None
        if "TIGER-FT" in sc.policies:
            cref = self._sids(self.config.content["encoder"], self.config.content["tokenizer"], base_rows, valid_rows, seed, "content")
            content = PolicyState(cref.space, cref.sids, cref.tokenizer, None)
            cvalidate = meter.excluded(self._validator(content, valid, valid_decoder, seed))
            content.generator = self._fit(content, base_rows, seed, "content/generator", validate=cvalidate)
        cumulative = {p: base_flops for p in self.config.updaters}
        if content is not None:
            cumulative["TIGER-FT"] = meter.get("content/sids") + meter.get("content/generator")

        ft = dict(epochs=self.finetune_epochs, early_stopping_patience=0, scheduler=_constant_schedule())
        needs_refresh = "Full" in sc.policies or any(c.name != "keep" for c in self.config.updaters.values())
        steps = []
        refresh = None  # the last refresh: the next one's warm start and epoch budget
        for t in sc.steps:
            hist_rows, adapt_rows = rows_upto(t), blocks[t - 1]
            test = self._examples(hist_rows, blocks[t])
            rows: dict[str, dict[str, Any]] = {"Base": {**self._evaluate(base, test, decoder, k, seed), "delta_flops": 0, "train_flops": base_flops}}
            if needs_refresh:
                refresh = self._sids(comps["encoder"], comps["tokenizer"], hist_rows, None, seed, f"step{t}", previous=refresh or ref)
            for policy, choice in self.config.updaters.items():
                prev = states[policy]
                fresh = refresh if refresh is not None else _Refresh(prev.space, prev.sids, prev.tokenizer, 0)
                table, report = self._update(policy, choice, prev, fresh, seed, t)
                keeps = report.get("rows") == "previous"
                space, tok = (prev.space, prev.tokenizer) if keeps else (fresh.space, fresh.tokenizer)
                if table.n_items != len(space):
                    raise SidkitError(
                        f"sid-updater {choice.name} returned {table.n_items} rows; its report says rows "
                        f"{report.get('rows')!r}, which have {len(space)} items"
                    )
                state = PolicyState(space, table, tok, None)
                label = f"step{t}/{policy}"
                state.generator = self._fit(state, adapt_rows, seed, label, context_rows=rows_upto(t - 1), warm=prev.generator, **ft)
                states[policy] = state
                delta = meter.get(label) + (0 if keeps else fresh.flops)
                cumulative[policy] += delta
                rows[policy] = {
                    **self._evaluate(state, test, decoder, k, seed),
                    "delta_flops": delta, "train_flops": cumulative[policy], "update": report,
                }
                log.info("seed %d step %d: %s recall@%d %.4f", seed, t, policy, k, rows[policy][f"recall@{k}"])
            if "Full" in sc.policies:
                state = PolicyState(refresh.space, refresh.sids, refresh.tokenizer, None)
                label = f"step{t}/Full"
                state.generator = self._fit(state, hist_rows, seed, label, epochs=full_epochs, early_stopping_patience=0)
                delta = meter.get(label) + refresh.flops
                rows["Full"] = {**self._evaluate(state, test, decoder, k, seed), "delta_flops": delta, "train_flops": delta}
                log.info("seed %d step %d: Full recall@%d %.4f", seed, t, k, rows["Full"][f"recall@{k}"])
            if content is not None:
                label = f"step{t}/TIGER-FT"
                gen = self._fit(content, adapt_rows, seed, label, context_rows=rows_upto(t - 1), warm=content.generator, **ft)
                content = PolicyState(content.space, content.sids, content.tokenizer, gen)
                cumulative["TIGER-FT"] += meter.get(label)
                rows["TIGER-FT"] = {
                    **self._evaluate(content, test, decoder, k, seed), "delta_flops": meter.get(label), "train_flops": cumulative["TIGER-FT"],
                }
            steps.append({"step": t, "adapt_block": t, "test_block": t + 1, "n_test_users": len(test), "policies": rows})
        return {
            "seed": seed,
            "base_blocks": t0,
            "base_items": len(self.base_space),
            "full_epochs": full_epochs,
            "finetune_epochs": self.finetune_epochs,
            "flops": dict(meter.totals),
            "seconds": time.perf_counter() - started,
            "steps": steps,
        }

    # -- the pilot that picks the fine-tuning budget -------------------------------------------
    def _cached_pilot(self, key: str) -> dict[str, Any]:
        """The pilot's result, run once per scenario (``out/pilot.json``, reused while the
        scenario's fingerprint matches) with the first seed."""
        path = self.out / "pilot.json"
        if path.exists():
            saved = read_json(path)
            if saved.get("fingerprint") == key:
                log.info("pilot: reusing %s (%d fine-tuning epochs)", path, saved["result"]["epochs"])
                return saved["result"]
        result = self.pilot(self.sc.seeds[0])
        write_json(path, {"fingerprint": key, "result": result})
        return result

    def pilot(self, seed: int) -> dict[str, Any]:
        """Choose the fine-tuning budget one block before the real run (the paper's pilot):
        SIDs and a generator on blocks 1..t0-1 (epochs selected on block t0), then a
        fine-tune with those (stale) SIDs on block t0 for up to ``pilot_epochs`` epochs,
        scored on block t0+1 after each one; the best epoch count is the budget."""
        from sidkit.training import seed_everything

        seed_everything(seed)
        self._meter = FlopMeter(self.sc.count_flops)
        self._key = fingerprint(scenario_fingerprint(self.config), "pilot", seed)
        with RunDirectory(self.out / "pilot") as self._rd:
            result = self._pilot(seed)
            self._rd.finish({"status": "done", "seed": seed, "reused": self._rd.reused, "timings_s": self._rd.timings})
        return result

    def _pilot(self, seed: int) -> dict[str, Any]:
        sc, comps, blocks = self.sc, self.config.components, self.blocks
        t0 = sc.first_block
        rows, adapt, scored = np.concatenate(blocks[: t0 - 1]), blocks[t0 - 1], blocks[t0]
        meter = self._meter
        decoder = self._decoder(sc.valid_beam_width)
        started = time.perf_counter()
        ref = self._sids(comps["encoder"], comps["tokenizer"], rows, (rows, adapt), seed, "pilot")
        self.base_space = ref.space  # what _examples and _evaluate restrict to, until Base sets its own
        state = PolicyState(ref.space, ref.sids, ref.tokenizer, None)
        select = meter.excluded(self._validator(state, self._examples(rows, adapt), decoder, seed))
        state.generator = self._fit(state, rows, seed, "pilot/base", validate=select)
        score = meter.excluded(self._validator(state, self._examples(np.concatenate([rows, adapt]), scored), decoder, seed))
        tuned = self._fit(
            state, adapt, seed, "pilot/finetune", context_rows=rows, warm=state.generator, validate=score,
            epochs=sc.pilot_epochs, early_stopping_patience=0, scheduler=_constant_schedule(),
        )
        epochs = self._selected_epochs(tuned)
        monitor = getattr(tuned.config, "monitor", None)
        curve = [r.get(monitor) for r in getattr(tuned, "history", [])]
        log.info("pilot (seed %d): fine-tuning %s per epoch %s -> %d epochs", seed, monitor, curve, epochs)
        return {
            "seed": seed, "epochs": epochs, "monitor": monitor, "curve": curve,
            "base_blocks": t0 - 1, "adapt_block": t0, "scored_block": t0 + 1,
            "flops": meter.get("pilot/sids") + meter.get("pilot/base") + meter.get("pilot/finetune"),
            "seconds": time.perf_counter() - started,
        }

    def _examples(self, history_rows: np.ndarray, target_rows: np.ndarray) -> EvalSet:
        from sidkit.data import block_eval_set

        return block_eval_set(self.dataset, history_rows, target_rows, self.sc.max_len, allowed_items=self.base_space.items)

    def _validator(self, state: PolicyState, valid: EvalSet, decoder: Any, seed: int):
        depth = self.sc.valid_beam_width
        ks = sorted({depth, *[x for x in (10, 20, 50, 100) if x <= depth], *[x for x in self.sc.ks if x <= depth]})

        def validate(generator: Any, current: SIDTable | None = None) -> dict[str, float]:
            probe = PolicyState(state.space, current if current is not None else state.sids, state.tokenizer, generator)
            return self._evaluate(probe, valid, decoder, depth, seed, ks)

        return validate

    @staticmethod
    def _selected_epochs(generator: Any) -> int:
        """The epoch Base's validation selected (best monitored metric), else epochs run."""
        history = list(getattr(generator, "history", []) or [])
        monitor = getattr(getattr(generator, "config", None), "monitor", None)
        scored = [r for r in history if monitor in r and r[monitor] == r[monitor]]  # NaN never wins
        if scored:
            return int(max(scored, key=lambda r: r[monitor])["epoch"])
        return max(1, len(history))

    # -- all seeds -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Every seed (finished ones are reused), then the aggregate report."""
        from sidkit.data import chronological_blocks, load_from_config
        from sidkit.training import resolve_device

        from .report import build_report, write_report

        self.out.mkdir(parents=True, exist_ok=True)
        self.device = str(resolve_device(self.config.run.device))
        self.dataset = load_from_config(self.config.data.config, self.config.data.format)
        if len(self.dataset.interactions) < self.sc.n_blocks * 2:
            raise SidkitError(f"{len(self.dataset.interactions)} interactions cannot make {self.sc.n_blocks} blocks")
        self.blocks = chronological_blocks(self.dataset, self.sc.n_blocks)
        key = scenario_fingerprint(self.config)
        pilot = self._cached_pilot(key) if self.sc.pilot_epochs else None
        self.finetune_epochs = pilot["epochs"] if pilot else self.sc.finetune_epochs
        results = []
        for seed in self.sc.seeds:
            path = self.out / "seeds" / f"seed-{seed}.json"
            if path.exists():
                saved = read_json(path)
                if saved.get("fingerprint") == key:
                    log.info("seed %d: reusing %s", seed, path)
                    results.append(saved["result"])
                    continue
            result = self.run_seed(seed)
            write_json(path, {"fingerprint": key, "result": result})
            results.append(result)
        report = build_report(results, self.config, pilot)
        write_report(self.out, report, self.config)
        return report


#: scenario keys added after results were first cached, and their defaults: left out of the
#: fingerprint at the default, so seeds finished before the key existed are still reused
_LATER_KEYS = {"refresh": "scratch", "refresh_epochs": None, "pilot_epochs": 0, "multi_step_end": 0}


def scenario_fingerprint(config: ScenarioConfig) -> str:
    """What a cached seed result must match to be reused: the whole resolved scenario
    except the seed list, later keys left at their defaults, and the ``[content]`` tables
    while no ``TIGER-FT`` row uses them."""
    table = config.to_dict()
    if "TIGER-FT" not in config.scenario.policies:
        table.pop("content", None)
    table["scenario"] = {
        k: v for k, v in table["scenario"].items()
        if k != "seeds" and not (k in _LATER_KEYS and v == _LATER_KEYS[k])
    }
    return fingerprint("continual", table)


def _constant_schedule() -> Any:
    from sidkit.training import SchedulerConfig

    return SchedulerConfig(name="constant", warmup_steps=0)


def run_continual(config: ScenarioConfig | str | Path, out: str | Path, *, overrides=(), registry: Registry | None = None) -> dict[str, Any]:
    """Run a scenario (a resolved config or a TOML path) into ``out``; returns the report."""
    from .config import load_scenario

    registry = registry or get_registry()
    if not isinstance(config, ScenarioConfig):
        config = load_scenario(config, registry, overrides)
    return ContinualRunner(config, out, registry=registry).run()
