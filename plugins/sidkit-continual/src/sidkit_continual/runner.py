"""The continual scenario runner behind ``sidkit continual`` (strict chronological protocol).

Per seed: the interactions sorted by time are cut into ``N`` equal-count blocks. Base
(collaborative encoder + tokenizer + generator) trains on blocks ``1..t0``; block ``t0+1``
selects its epoch budget. Then for every adaptation block ``t`` (``t0+1..N-1``, or up to
``multi_step_end``; one step ``N-1`` unless multi-step) the SIDs are refreshed on blocks
``1..t`` and every policy is updated and tested on block ``t+1``, beside Markov and MostPop fitted on blocks ``1..t``:

- ``FT-*``: the policy's ``sid-updater`` turns (its previous SIDs, the refreshed SIDs) into
  the SIDs to continue with; the generator is warm-started from the policy's previous one
  (fresh optimizer, constant learning rate) and fine-tuned on block ``t`` for
  ``finetune_epochs``;
- ``Full``: the refreshed SIDs and a generator trained from scratch on blocks ``1..t``;
- ``TIGER-FT``: content-only SIDs (they never go stale), fine-tuned like ``FT-old``;
- ``Base``: the Base generator, never updated.

Evaluation on block ``t+1``: each user's last ``max_len`` interactions before it -> every
item the user interacts with in it; histories and targets are restricted to the items of
Base's SID vocabulary, and decoding is constrained to those items, for every policy and
for Markov and MostPop (fitted on blocks ``1..t`` restricted to those items).
"""

from __future__ import annotations

import copy
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from sidkit.artifacts import fingerprint, load_sids, read_json, save_sids, write_json
from sidkit.context import Context
from sidkit.data import block_eval_set
from sidkit.errors import SidkitError
from sidkit.metrics import ranking_metrics
from sidkit.protocols import TokenizerAdapter
from sidkit.registry import Registry, get_registry
from sidkit.stages import RunDirectory, Stage, encoder_stage, generator_stage, tokenizer_stage
from sidkit.types import EvalSet, ItemEmbeddings, Rankings, SIDTable, SplitData

from .config import ScenarioConfig
from .data import ItemSpace, encoder_split, local_eval_set, training_split
from .flops import FlopMeter
from .periods import PeriodsProtocol

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
    """Refreshed SIDs: ``sids``/``tokenizer`` are ``None`` when only the encoder was
    refreshed (every policy adapts its own tokenizer); ``flops`` = encoder + tokenizer."""

    space: ItemSpace
    sids: SIDTable | None
    tokenizer: Any
    flops: int
    encoder: Any = None
    embeddings: ItemEmbeddings | None = None  # the space's rows of the refreshed embeddings
    encoder_flops: int = 0


class ContinualRunner(PeriodsProtocol):
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
        self._shared_adapts: dict[tuple, tuple] = {}  # adapter results one step's policies share (see _update)

    # -- building blocks -------------------------------------------------------------------
    def _build(self, choice: Any, **train_changes: Any) -> Any:
        config = choice.config
        if train_changes:
            config = _with_train(config, train_changes)
            if config is None:
                raise SidkitError(
                    f"{choice.kind} {choice.name} has no [{choice.kind}.train] settings (nor one nested component "
                    "with them, as content+collab's collaborative encoder); the continual runner needs them "
                    "to set its training budget"
                )
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
        metered). Every stage of a seed depends on the whole scenario and the seed, except
        Base's (``base-*``), which leave out what only shapes the updates after Base
        (:func:`base_fingerprint`), so a sweep over fine-tuning or policies reuses Base."""
        rd, meter = self._rd, self._meter
        key = (self._base_key,) if stage.name.startswith("base-") else (self._key, self.finetune_epochs)
        stage = attrs.evolve(stage, fingerprint=fingerprint("continual-stage", stage.name, *key))
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
        self, encoder_choice: Any, tokenizer_choice: Any, split: SplitData, space: ItemSpace, seed: int, label: str,
        *, previous: _Refresh | None = None, tokenize: bool = True,
    ) -> _Refresh:
        """Encoder trained on ``split`` (early stopping on its ``valid``, if any) and a
        tokenizer fitted on the embeddings of ``space``'s items: stages ``<label>-encoder``
        and ``<label>-tokenizer`` (``tokenize=False``: the encoder alone).

        ``previous``: the SIDs this refreshes. Its encoder trains ``refresh_epochs`` epochs,
        or as many as the previous encoder's validation selected; with ``refresh = "warm"``
        it starts from the previous encoder."""
        budget, warm = {}, None
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
        encoder_flops = self._meter.get(meter_label)
        sub = space.embeddings(embeddings)
        tokenizer = sids = None
        if tokenize:
            tokenizer = self.registry.build("tokenizer", tokenizer_choice.name, tokenizer_choice.config)
            sids = self._stage(tokenizer_stage(f"{label}-tokenizer", "", tokenizer, sub, self._ctx(seed, split=split)), meter_label)
        return _Refresh(space, sids, tokenizer, self._meter.get(meter_label), encoder, sub, encoder_flops)

    def _rank(self, state: PolicyState, examples: EvalSet, decoder: Any, k: int, seed: int, space: ItemSpace | None = None) -> Rankings:
        """Top-``k`` global item indices for ``examples`` (global indices, inside ``space``;
        default: Base's space) from the policy's generator, decoding only among ``space``'s items."""
        space = space or self.base_space
        table = SIDTable(state.sids.codes[state.space.local(space.items)], state.sids.codebook_sizes)
        local = local_eval_set(examples, space)
        ctx = self._ctx(seed, tokenizer=state.tokenizer, extras={"users": examples.users})
        ranks = decoder.rank(state.generator, table, local.histories, k, ctx).items
        return Rankings(np.where(ranks >= 0, space.items[np.maximum(ranks, 0)], -1))

    def _metrics(self, rankings: Rankings, examples: EvalSet, ks: list[int] | None = None) -> dict[str, float]:
        """Recall (capped) and NDCG; in periods mode (one target per example) also HR, which
        equals recall there (a generator's ``monitor`` may name either)."""
        names = ("hr", "recall", "ndcg") if self.sc.protocol == "periods" else ("recall", "ndcg")
        return ranking_metrics(rankings, examples.targets, ks or self.sc.ks, metrics=names, capped_recall=True)

    def _evaluate(
        self, state: PolicyState, examples: EvalSet, decoder: Any, k: int, seed: int, ks: list[int] | None = None,
        space: ItemSpace | None = None,
    ) -> dict[str, float]:
        return self._metrics(self._rank(state, examples, decoder, k, seed, space), examples, ks)

    def _fit(self, state: PolicyState, split: SplitData, seed, label, *, warm=None, validate=None, **train) -> Any:
        """A generator trained on ``split`` (local indices of ``state``'s space): stage
        ``label`` (``/`` replaced by ``-``), FLOPs charged to ``label``."""
        generator = self._build(self.config.components["generator"], **train)
        ctx = self._ctx(seed, split=split, tokenizer=state.tokenizer, generator=warm, validate=validate)
        self._stage(generator_stage(label.replace("/", "-"), "", generator, state.sids, ctx), label)
        return generator

    def _finetune_train(self) -> dict[str, Any]:
        """The ``[generator.train]`` changes every fine-tune shares: a constant schedule, at
        ``finetune_lr`` when it is set."""
        changes: dict[str, Any] = {"scheduler": _constant_schedule()}
        if (lr := self.sc.finetune_lr) is not None:
            changes["optim"] = lambda train: attrs.evolve(train.optim, lr=lr)  # resolved by _with_train
        return changes

    def _block_split(self, space: ItemSpace, target_rows: np.ndarray, context_rows: np.ndarray | None = None) -> SplitData:
        return training_split(self.dataset, target_rows, space, context_rows=context_rows, max_len=self.sc.max_len)

    def _update(
        self, policy: str, choice: Any, prev: PolicyState, fresh: _Refresh, seed: int, t: int, split: SplitData | None = None,
    ) -> tuple[SIDTable, dict, Any]:
        """The policy's ``sid-updater`` at step ``t``: stage ``step<t>-<policy>-sids`` (the
        table and the updater's report). Returns the table, the report and the tokenizer an
        adapter (:class:`sidkit.protocols.TokenizerAdapter`) carries forward (else ``None``).

        An adapter gets a copy of the previous tokenizer (the shared one is never changed),
        the refreshed embeddings of the refreshed space and the step's ``split``; its work is
        metered under ``step<t>/<policy>/adapt``. Any other updater reconciles (its previous
        SIDs, the refreshed SIDs).

        Policies whose adapter has the same name and options and whose previous tokenizer,
        SIDs and refresh are the same objects (``tok-ft``, ``both-ft`` and ``tok-ft-grm-rt``
        all fine-tune Base's tokenizer alike) share one computation: the later ones write
        the first one's result into their own stage and are charged its FLOPs, so reports
        and ΔFLOPs are what separate computations would give (adapters read no RNG state
        outside their own seeded streams, and none reads the generator)."""
        updater = self.registry.build("sid-updater", choice.name, choice.config)
        adapter = isinstance(updater, TokenizerAdapter)
        name, label = f"step{t}-{policy}-sids", (f"step{t}/{policy}/adapt" if adapter else None)
        share_key = (t, choice.name, repr(choice.config), id(prev.tokenizer), id(prev.sids), id(prev.space), id(fresh))
        shared = self._shared_adapts.get(share_key) if adapter else None

        def write(folder: Path, table: SIDTable, report: dict, tokenizer: Any) -> tuple[SIDTable, dict, Any]:
            if tokenizer is not None:
                (folder / "state").mkdir(parents=True, exist_ok=True)
                tokenizer.save(folder / "state")
            save_sids(folder / "sids.safetensors", table)
            write_json(folder / "report.json", report)
            return table, report, tokenizer

        def reuse(folder: Path) -> tuple[SIDTable, dict, Any]:
            tokenizer, table, report, flops, first = shared[:5]
            if self._meter.enabled:  # inside the stage's count: the policy pays the work it reuses
                self._meter.totals[label] = self._meter.get(label) + flops
            return write(folder, table, {**report, "shared_with": first}, tokenizer)

        def compute(folder: Path) -> tuple[SIDTable, dict, Any]:
            extras = {"previous_items": prev.space.items, "refreshed_items": fresh.space.items, "items": fresh.space.items}
            ctx = self._ctx(
                seed, split=split, tokenizer=fresh.tokenizer, previous_tokenizer=prev.tokenizer, previous_sids=prev.sids,
                generator=prev.generator, extras=extras,
            )
            if adapter:
                tokenizer, table, report = updater.adapt(copy.deepcopy(prev.tokenizer), prev.sids, fresh.embeddings, ctx)
                return write(folder, table, report, tokenizer)
            return write(folder, *updater.update(prev.sids, fresh.sids, ctx), None)

        def load(folder: Path) -> tuple[SIDTable, dict, Any]:
            tokenizer = None
            if adapter:  # restored into a copy of the previous tokenizer: an adapter returns the same kind
                tokenizer = copy.deepcopy(prev.tokenizer)
                tokenizer.load(folder / "state")
            return load_sids(folder / "sids.safetensors"), read_json(folder / "report.json"), tokenizer

        before = self._meter.get(label) if adapter else 0
        table, report, tokenizer = self._stage(Stage(name, "", reuse if shared else compute, load), label)
        if adapter and shared is None:  # prev and fresh ride along so that the ids in the key stay theirs
            spent = self._meter.get(label) - before
            self._shared_adapts[share_key] = (tokenizer, table, report, spent, policy, prev, fresh)
        return table, report, tokenizer

    def _policy_step(
        self, policy: str, choice: Any, prev: PolicyState, fresh: _Refresh, seed: int, t: int, *,
        step_split: SplitData | None, finetune_split, retrain_split, validation: EvalSet | None, valid_space: ItemSpace | None,
        full_epochs: int,
    ) -> tuple[PolicyState, dict[str, Any], int]:
        """One policy at step ``t``: its SIDs (``_update``), then its generator per
        ``generator_modes`` (``finetune_split(space)`` / ``retrain_split(space)`` build the
        training data in the policy's space; ``validation``: the examples a fine-tune with
        ``finetune_patience`` stops early on). Returns the new state, the update report and
        the step's ΔFLOPs."""
        sc = self.sc
        table, report, adapted = self._update(policy, choice, prev, fresh, seed, t, step_split)
        keeps = report.get("rows") == "previous"
        if keeps and sc.protocol == "periods":
            raise SidkitError(
                f"sid-updater {choice.name} (policy {policy}) keeps the previous rows, but with protocol = \"periods\" every "
                "item seen so far needs a SID; use an updater that covers the refreshed items"
            )
        if adapted is not None:
            space, tok = fresh.space, adapted
        else:
            space, tok = (prev.space, prev.tokenizer) if keeps else (fresh.space, fresh.tokenizer)
        if table.n_items != len(space):
            raise SidkitError(
                f"sid-updater {choice.name} returned {table.n_items} rows; its report says rows "
                f"{report.get('rows')!r}, which have {len(space)} items"
            )
        state = PolicyState(space, table, tok, None)
        label = f"step{t}/{policy}"
        mode = sc.generator_mode(policy)
        if mode == "frozen":
            state.generator = prev.generator
        elif mode == "retrain":
            state.generator = self._fit(state, retrain_split(space), seed, label, epochs=full_epochs, early_stopping_patience=0)
        else:
            validate = None
            if sc.finetune_patience and validation is not None:
                validate = self._meter.excluded(self._validator(state, validation, self._decoder(sc.valid_beam_width), seed, valid_space))
            state.generator = self._fit(
                state, finetune_split(space), seed, label, warm=prev.generator, validate=validate,
                epochs=self.finetune_epochs, early_stopping_patience=sc.finetune_patience, **self._finetune_train(),
            )
        refresh_cost = 0 if keeps else (fresh.encoder_flops + self._meter.get(f"{label}/adapt") if adapted is not None else fresh.flops)
        return state, report, self._meter.get(label) + refresh_cost

    # -- one seed ----------------------------------------------------------------------------
    def run_seed(self, seed: int) -> dict[str, Any]:
        """One seed, as stages in ``out/seeds/seed-<seed>/`` (an interrupted seed resumes)."""
        from sidkit.training import seed_everything

        seed_everything(seed)
        self._meter = FlopMeter(self.sc.count_flops)
        self._shared_adapts = {}
        self._key = fingerprint(scenario_fingerprint(self.config), seed)
        self._base_key = fingerprint(base_fingerprint(self.config), seed)
        with RunDirectory(self.out / "seeds" / f"seed-{seed}") as self._rd:
            result = self._run_periods(seed) if self.sc.protocol == "periods" else self._run_blocks(seed)
            self._rd.finish({"status": "done", "seed": seed, "reused": self._rd.reused, "timings_s": self._rd.timings})
        return result

    def _run_blocks(self, seed: int) -> dict[str, Any]:
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
        ds = self.dataset
        base_rows = rows_upto(t0)
        valid_rows = (base_rows, blocks[t0])
        base_encoder_split = encoder_split(ds, base_rows, block_eval_set(ds, *valid_rows, sc.max_len))
        ref = self._sids(comps["encoder"], comps["tokenizer"], base_encoder_split, ItemSpace.of_rows(ds, base_rows), seed, "base")
        self.base_space = ref.space
        base = PolicyState(ref.space, ref.sids, ref.tokenizer, None)
        valid = self._examples(*valid_rows)
        validate = meter.excluded(self._validator(base, valid, valid_decoder, seed))
        base.generator = self._fit(base, self._block_split(base.space, base_rows), seed, "base/generator", validate=validate)
        full_epochs = sc.full_epochs or self._selected_epochs(base.generator)
        log.info("seed %d: Base trained on blocks 1..%d (%d items); Full will train %d epochs", seed, t0, len(ref.space), full_epochs)
        base_flops = meter.get("base/sids") + meter.get("base/generator")
        states: dict[str, PolicyState] = {p: base for p in self.config.updaters}
        content = None
        if "TIGER-FT" in sc.policies:
            cref = self._sids(
                self.config.content["encoder"], self.config.content["tokenizer"], base_encoder_split, ref.space, seed, "content"
            )
            content = PolicyState(cref.space, cref.sids, cref.tokenizer, None)
            cvalidate = meter.excluded(self._validator(content, valid, valid_decoder, seed))
            content.generator = self._fit(content, self._block_split(content.space, base_rows), seed, "content/generator", validate=cvalidate)
        cumulative = {p: base_flops for p in self.config.updaters}
        if content is not None:
            cumulative["TIGER-FT"] = meter.get("content/sids") + meter.get("content/generator")

        ft = dict(epochs=self.finetune_epochs, early_stopping_patience=0, **self._finetune_train())
        needs_refresh = "Full" in sc.policies or any(c.name != "keep" for c in self.config.updaters.values())
        steps = []
        refresh = None  # the last refresh: the next one's warm start and epoch budget
        for t in sc.steps:
            hist_rows, adapt_rows = rows_upto(t), blocks[t - 1]
            test = self._examples(hist_rows, blocks[t])
            rows: dict[str, dict[str, Any]] = {"Base": {**self._evaluate(base, test, decoder, k, seed), "delta_flops": 0, "train_flops": base_flops}}
            if needs_refresh:
                # a refresh trains on the block its validation would use, so it does not validate
                refresh = self._sids(
                    comps["encoder"], comps["tokenizer"], encoder_split(ds, hist_rows), ItemSpace.of_rows(ds, hist_rows), seed,
                    f"step{t}", previous=refresh or ref,
                )
            context = rows_upto(t - 1)
            for policy, choice in self.config.updaters.items():
                prev = states[policy]
                fresh = refresh if refresh is not None else _Refresh(prev.space, prev.sids, prev.tokenizer, 0)
                state, report, delta = self._policy_step(
                    policy, choice, prev, fresh, seed, t, step_split=None,
                    finetune_split=partial(self._block_split, target_rows=adapt_rows, context_rows=context),
                    retrain_split=partial(self._block_split, target_rows=hist_rows),
                    validation=self._examples(context, adapt_rows), valid_space=None, full_epochs=full_epochs,
                )
                states[policy] = state
                cumulative[policy] += delta
                rows[policy] = {
                    **self._evaluate(state, test, decoder, k, seed),
                    "delta_flops": delta, "train_flops": cumulative[policy], "update": report,
                }
                log.info("seed %d step %d: %s recall@%d %.4f", seed, t, policy, k, rows[policy][f"recall@{k}"])
            if "Full" in sc.policies:
                state = PolicyState(refresh.space, refresh.sids, refresh.tokenizer, None)
                label = f"step{t}/Full"
                state.generator = self._fit(state, self._block_split(state.space, hist_rows), seed, label, epochs=full_epochs, early_stopping_patience=0)
                delta = meter.get(label) + refresh.flops
                rows["Full"] = {**self._evaluate(state, test, decoder, k, seed), "delta_flops": delta, "train_flops": delta}
                log.info("seed %d step %d: Full recall@%d %.4f", seed, t, k, rows["Full"][f"recall@{k}"])
            if content is not None:
                label = f"step{t}/TIGER-FT"
                gen = self._fit(content, self._block_split(content.space, adapt_rows, context), seed, label, warm=content.generator, **ft)
                content = PolicyState(content.space, content.sids, content.tokenizer, gen)
                cumulative["TIGER-FT"] += meter.get(label)
                rows["TIGER-FT"] = {
                    **self._evaluate(content, test, decoder, k, seed), "delta_flops": meter.get(label), "train_flops": cumulative["TIGER-FT"],
                }
            steps.append({
                "step": t, "adapt_block": t, "test_block": t + 1, "n_test_users": len(test), "policies": rows,
                "baselines": self._baselines(hist_rows, test, k, self.base_space),
            })
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

    def _with_block_baselines(self, result: dict[str, Any]) -> dict[str, Any]:
        """A blocks-protocol seed finished before steps carried Markov and MostPop, with them
        added (they need no training: Base's items are those of blocks ``1..first_block``)."""
        if self.sc.protocol == "periods" or all("baselines" in s for s in result["steps"]):
            return result
        self.base_space = ItemSpace.of_rows(self.dataset, np.concatenate(self.blocks[: self.sc.first_block]))
        steps = []
        for step in result["steps"]:
            hist_rows = np.concatenate(self.blocks[: step["adapt_block"]])
            test = self._examples(hist_rows, self.blocks[step["adapt_block"]])
            steps.append({**step, "baselines": self._baselines(hist_rows, test, max(self.sc.ks), self.base_space)})
        return {**result, "steps": steps}

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
        ds = self.dataset
        split = encoder_split(ds, rows, block_eval_set(ds, rows, adapt, sc.max_len))
        ref = self._sids(comps["encoder"], comps["tokenizer"], split, ItemSpace.of_rows(ds, rows), seed, "pilot")
        self.base_space = ref.space  # what _examples and _evaluate restrict to, until Base sets its own
        state = PolicyState(ref.space, ref.sids, ref.tokenizer, None)
        select = meter.excluded(self._validator(state, self._examples(rows, adapt), decoder, seed))
        state.generator = self._fit(state, self._block_split(state.space, rows), seed, "pilot/base", validate=select)
        score = meter.excluded(self._validator(state, self._examples(np.concatenate([rows, adapt]), scored), decoder, seed))
        tuned = self._fit(
            state, self._block_split(state.space, adapt, rows), seed, "pilot/finetune", warm=state.generator, validate=score,
            epochs=sc.pilot_epochs, early_stopping_patience=0, **self._finetune_train(),
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

    def _validator(self, state: PolicyState, valid: EvalSet, decoder: Any, seed: int, space: ItemSpace | None = None):
        depth = self.sc.valid_beam_width
        ks = sorted({depth, *[x for x in (10, 20, 50, 100) if x <= depth], *[x for x in self.sc.ks if x <= depth]})

        def validate(generator: Any, current: SIDTable | None = None) -> dict[str, float]:
            probe = PolicyState(state.space, current if current is not None else state.sids, state.tokenizer, generator)
            return self._evaluate(probe, valid, decoder, depth, seed, ks, space)

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
        from sidkit.data import chronological_blocks, load_from_config, period_stream
        from sidkit.training import flush_denormals, resolve_device

        from .report import build_report, write_report

        flush_denormals()  # before the first parallel torch operation
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = str(resolve_device(self.config.run.device))
        self.dataset = load_from_config(self.config.data.config, self.config.data.format)
        if self.sc.protocol == "periods":
            self.periods = period_stream(self.dataset, self.sc.first_share, self.sc.n_periods)
            if min(len(p) for p in self.periods) == 0:
                raise SidkitError(f"{len(self.dataset.interactions)} interactions cannot make {self.sc.n_periods} non-empty periods")
        elif len(self.dataset.interactions) < self.sc.n_blocks * 2:
            raise SidkitError(f"{len(self.dataset.interactions)} interactions cannot make {self.sc.n_blocks} blocks")
        else:
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
                    results.append(self._with_block_baselines(saved["result"]))
                    continue
            result = self.run_seed(seed)
            write_json(path, {"fingerprint": key, "result": result})
            results.append(result)
        report = build_report(results, self.config, pilot)
        write_report(self.out, report, self.config)
        return report


#: scenario keys added after results were first cached, and their defaults: left out of the
#: fingerprint at the default, so seeds finished before the key existed are still reused
_LATER_KEYS = {
    "refresh": "scratch", "refresh_epochs": None, "pilot_epochs": 0, "multi_step_end": 0,
    "protocol": "blocks", "first_share": 0.6, "n_periods": 4, "generator_modes": {}, "finetune_patience": 0,
    "refresh_data": "cumulative", "finetune_lr": None,
}
#: scenario keys that change only the report, never a seed's result
_REPORT_KEYS = ("seeds", "reference_policy")


#: scenario keys that shape only what follows Base (its updates, fine-tunes, refreshes, Full)
_AFTER_BASE_KEYS = (
    "policies", "generator_modes", "finetune_epochs", "finetune_lr", "finetune_patience", "full_epochs",
    "refresh", "refresh_epochs", "refresh_data",
)


def base_fingerprint(config: ScenarioConfig) -> str:
    """What Base's stages (encoder, tokenizer, generator on the first blocks or period 0)
    depend on: the resolved scenario without the seed list, the report keys, the keys that
    shape only the updates after Base, the ``[updaters.*]`` tables and ``[content]``."""
    table = config.to_dict()
    table.pop("updaters", None)
    table.pop("content", None)
    table["scenario"] = {
        k: v for k, v in table["scenario"].items() if k not in _REPORT_KEYS and k not in _AFTER_BASE_KEYS
    }
    return fingerprint("continual-base", table)


def scenario_fingerprint(config: ScenarioConfig) -> str:
    """What a cached seed result must match to be reused: the whole resolved scenario
    except the seed list, later keys left at their defaults, and the ``[content]`` tables
    while no ``TIGER-FT`` row uses them."""
    table = config.to_dict()
    if "TIGER-FT" not in config.scenario.policies:
        table.pop("content", None)
    table["scenario"] = {
        k: v for k, v in table["scenario"].items()
        if k not in _REPORT_KEYS and not (k in _LATER_KEYS and v == _LATER_KEYS[k])
    }
    return fingerprint("continual", table)


def _with_train(config: Any, changes: dict[str, Any]) -> Any:
    """``config`` with ``changes`` applied to its ``train`` table, or to the one nested
    component config that has one (e.g. ``content+collab``'s collaborative encoder under
    ``collaborative.config``); ``None`` when there is none or more than one. A callable
    change is called with the ``train`` table found and gives the value."""
    if not attrs.has(type(config)):
        return None
    fields = attrs.fields_dict(type(config))
    train = getattr(config, "train", None) if "train" in fields else None
    if train is not None and attrs.has(type(train)):
        values = {k: v(train) if callable(v) else v for k, v in changes.items()}
        return attrs.evolve(config, train=attrs.evolve(train, **values))
    found = []
    for name in fields:
        value = getattr(config, name)
        inner = getattr(value, "config", None) if attrs.has(type(value)) else None
        if inner is not None and (new := _with_train(inner, changes)) is not None:
            found.append(attrs.evolve(config, **{name: attrs.evolve(value, config=new)}))
        elif attrs.has(type(value)) and (new := _with_train(value, changes)) is not None:
            found.append(attrs.evolve(config, **{name: new}))
    return found[0] if len(found) == 1 else None


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
