"""The ``periods`` protocol of ``sidkit continual`` (DACT's setting).

The time-sorted interactions are period 0 (the first ``first_share``, Base) and then
``n_periods`` equal periods. In period t each user's last interaction is the test target,
the one before it the validation target and earlier ones the training targets
(:func:`sidkit.data.period_split`); histories reach back into earlier periods. Every item
seen up to period t has a SID and is ranked (a table that keeps only the previous items is
an error). Per period: the encoder is refreshed on training interactions only
(``refresh_data``), the tokenizer re-fitted when a policy or ``Full`` needs it, every policy
updates its SIDs (an adapter adapts its own tokenizer) and its generator
(``generator_modes``), and is tested on the period's test targets beside Markov and MostPop
fitted on everything before them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sidkit.data import period_split, user_sequences
from sidkit.metrics import markov_rankings, mostpop_rankings
from sidkit.types import EvalSet, Ragged, Rankings

from .data import ItemSpace, encoder_split, local_eval_set, local_split, period_train_rows

__all__ = ["PeriodsProtocol"]

log = logging.getLogger("sidkit.continual")


class PeriodsProtocol:
    """The periods protocol, mixed into :class:`~sidkit_continual.runner.ContinualRunner`
    (it uses the runner's stages: ``_sids``, ``_fit``, ``_policy_step``, ``_rank``)."""

    def _period_rows(self, t: int) -> dict[str, np.ndarray]:
        """Rows of period ``t``'s roles: ``seen`` (periods 0..t, every role), ``train``
        (everything before period t plus its training targets), ``encoder`` (what a refresh
        trains on, per ``refresh_data``), ``before_test`` (all but the test targets)."""
        ds, periods = self.dataset, self.periods
        past = np.concatenate(periods[:t]) if t else np.zeros(0, dtype=np.int64)
        train_t = period_train_rows(ds, periods[t])
        test_t = _last_rows(ds, periods[t])
        train = np.concatenate([past, train_t])
        return {
            "seen": np.concatenate([past, periods[t]]),
            "train": train,
            "encoder": train if self.sc.refresh_data == "cumulative" else train_t,
            "before_test": np.setdiff1d(np.concatenate([past, periods[t]]), test_t),
        }

    def _baselines(self, before_test: np.ndarray, test: EvalSet, k: int, space: ItemSpace | None = None) -> dict[str, float]:
        """Markov and MostPop on ``test``, fitted on the interactions ``before_test``; with
        ``space`` both fit on and rank only that space's items (the blocks protocol decodes
        every policy among Base's items, and ``test`` holds only those)."""
        ds = self.dataset
        n_items = ds.n_items
        if space is not None:
            before_test = before_test[space.mask(n_items)[ds.interactions.item[before_test]]]
        seqs, users = user_sequences(ds, before_test)
        if space is not None:
            seqs, test, n_items = Ragged(space.local(seqs.values), seqs.offsets), local_eval_set(test, space), len(space)
        out: dict[str, float] = {}
        for name, ranks in (
            ("markov", markov_rankings(seqs, n_items, test, k, train_users=users, ties="popularity")),
            ("mostpop", mostpop_rankings(seqs, n_items, test, k)),
        ):
            out.update({f"{name}/{m}": v for m, v in self._metrics(ranks, test).items() if "@" in m})
        return out

    def _warm_cold(self, ranks: Rankings, test: EvalSet, previous: ItemSpace) -> dict[str, float]:
        """HR@10 (or the largest cutoff below it) on targets seen before the period (warm)
        and on items new in it (cold), with their counts."""
        k = max([x for x in self.sc.ks if x <= 10] or [min(self.sc.ks)])
        first = test.targets.values[test.targets.offsets[:-1]]
        cold = ~previous.mask(self.dataset.n_items)[first]
        out: dict[str, float] = {}
        for name, rows in (("warm", np.flatnonzero(~cold)), ("cold", np.flatnonzero(cold))):
            sub = test.take(rows)
            out[f"{name}/hr@{k}"] = self._metrics(Rankings(ranks.items[rows]), sub, [k])[f"hr@{k}"] if len(rows) else 0.0
            out[f"n_{name}"] = int(len(rows))
        return out

    def _run_periods(self, seed: int) -> dict[str, Any]:
        from .runner import PolicyState

        sc, comps, ds, meter = self.sc, self.config.components, self.dataset, self._meter
        k = max(sc.ks)
        decoder, valid_decoder = self._decoder(), self._decoder(sc.valid_beam_width)
        started = time.perf_counter()

        # Base: period 0 (encoder on its training targets, generator validated on its validation targets)
        split0 = period_split(ds, self.periods, 0, sc.max_len)
        roles = self._period_rows(0)
        space = ItemSpace.of_rows(ds, roles["seen"])
        ref = self._sids(comps["encoder"], comps["tokenizer"], encoder_split(ds, roles["encoder"], split0.valid), space, seed, "base")
        self.base_space = space
        base = PolicyState(space, ref.sids, ref.tokenizer, None)
        validate = meter.excluded(self._validator(base, split0.valid, valid_decoder, seed, space))
        base.generator = self._fit(base, local_split(split0, space), seed, "base/generator", validate=validate)
        full_epochs = sc.full_epochs or self._selected_epochs(base.generator)
        base_flops = meter.get("base/sids") + meter.get("base/generator")
        base_test = self._evaluate(base, split0.test, decoder, k, seed, space=space)
        base_test.update(self._baselines(roles["before_test"], split0.test, k, space))  # Base's own comparators
        log.info("seed %d: Base trained on period 0 (%d items), test hr@%d %.4f", seed, len(space), k, base_test[f"hr@{k}"])
        states: dict[str, PolicyState] = {p: base for p in self.config.updaters}
        cumulative = {p: base_flops for p in self.config.updaters}
        adapters_only = "Full" not in sc.policies and all(self._is_adapter(c) for c in self.config.updaters.values())
        steps, refresh, previous_space = [], ref, space
        for t in range(1, len(self.periods)):
            split = period_split(ds, self.periods, t, sc.max_len)
            roles = self._period_rows(t)
            space = ItemSpace.of_rows(ds, roles["seen"])
            refresh = self._sids(
                comps["encoder"], comps["tokenizer"], encoder_split(ds, roles["encoder"], split.valid), space, seed, f"step{t}",
                previous=refresh, tokenize=not adapters_only,
            )
            cumulative_split = encoder_split(ds, roles["train"])  # every training interaction so far, no evaluation
            rows: dict[str, dict[str, Any]] = {}
            for policy, choice in self.config.updaters.items():
                state, report, delta = self._policy_step(
                    policy, choice, states[policy], refresh, seed, t, step_split=split,
                    finetune_split=lambda s, split=split: local_split(split, s),
                    retrain_split=lambda s, cs=cumulative_split: local_split(cs, s),
                    validation=split.valid, valid_space=space, full_epochs=full_epochs,
                )
                states[policy] = state
                cumulative[policy] += delta
                rows[policy] = self._period_row(state, split.test, decoder, k, seed, space, previous_space)
                rows[policy].update({"delta_flops": delta, "train_flops": cumulative[policy], "update": report})
                log.info("seed %d period %d: %s hr@%d %.4f", seed, t, policy, k, rows[policy][f"hr@{k}"])
            if "Full" in sc.policies:
                state = PolicyState(space, refresh.sids, refresh.tokenizer, None)
                label = f"step{t}/Full"
                state.generator = self._fit(state, local_split(cumulative_split, space), seed, label, epochs=full_epochs, early_stopping_patience=0)
                delta = meter.get(label) + refresh.flops
                rows["Full"] = {**self._period_row(state, split.test, decoder, k, seed, space, previous_space), "delta_flops": delta, "train_flops": delta}
            steps.append({
                "step": t, "period": t, "n_test_users": len(split.test), "policies": rows,
                "baselines": self._baselines(roles["before_test"], split.test, k),
            })
            previous_space = space
        return {
            "seed": seed, "protocol": "periods", "base_items": len(self.base_space), "base_test": base_test,
            "full_epochs": full_epochs, "finetune_epochs": self.finetune_epochs, "flops": dict(meter.totals),
            "seconds": time.perf_counter() - started, "steps": steps,
        }

    def _period_row(self, state, test: EvalSet, decoder, k: int, seed: int, space: ItemSpace, previous: ItemSpace) -> dict[str, Any]:
        ranks = self._rank(state, test, decoder, k, seed, space)
        return {**self._metrics(ranks, test), **self._warm_cold(ranks, test, previous)}

    def _is_adapter(self, choice: Any) -> bool:
        from sidkit.protocols import TokenizerAdapter

        return isinstance(self.registry.build("sid-updater", choice.name, choice.config), TokenizerAdapter)


def _last_rows(dataset, rows: np.ndarray) -> np.ndarray:
    """Each user's last row among ``rows`` (the period's test targets)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    users = dataset.interactions.user[rows]
    return rows[np.r_[users[1:] != users[:-1], True]] if len(rows) else rows

