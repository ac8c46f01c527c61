"""The pipeline runner: data -> split -> encoder -> tokenizer -> generator -> decoder -> metrics.

Each stage (:class:`sidkit.stages.Stage`) writes into its own folder of the run directory
and records a fingerprint of its inputs and config, and the sha256 of its artifacts
(``stage.json``). Re-running the same config reuses every stage whose fingerprint still
matches and whose files are intact; a changed stage recomputes itself and what depends on
it, and replaces the finished run's copy only when the whole run has finished.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from . import __version__
from .artifacts import atomic_write_text, file_digest, fingerprint, load_arrays, save_arrays, write_json
from .capabilities import excludes_history
from .config import ComponentChoice, PipelineConfig, dump_toml, load_config, non_default, resolve_config
from .context import Context
from .errors import SidkitError
from .protocols import PROTOCOLS
from .registry import Registry, get_registry
from .stages import RunDirectory, Stage, encoder_stage, generator_stage, tokenizer_stage
from .types import Rankings, SIDTable, SplitData

__all__ = ["Pipeline", "RunResult", "run_pipeline", "build_split", "data_fingerprint", "sids_digest", "changed_share"]

log = logging.getLogger("sidkit")

CONFIG_FILE = "config.resolved.toml"


@attrs.define
class RunResult:
    """What a finished run produced (everything is also on disk in ``run_dir``)."""

    run_dir: Path
    metrics: dict[str, dict[str, float]]
    sid_stats: dict[str, Any]
    reused: dict[str, bool]
    sids: SIDTable | None = None
    components: dict[str, Any] = attrs.field(factory=dict)


def sids_digest(sids: SIDTable) -> str:
    """A digest of a SID table's codes and codebook sizes (ties a generator to its SIDs)."""
    import numpy as np

    return fingerprint("sids", list(sids.codebook_sizes), hashlib.sha256(np.ascontiguousarray(sids.codes).tobytes()).hexdigest())


def changed_share(before: SIDTable, after: SIDTable) -> float:
    """Share of items whose SID differs between two tables of the same items (every item
    when the SID lengths differ)."""
    if before.codes.shape != after.codes.shape:
        return 1.0 if len(after.codes) else 0.0
    return float((before.codes != after.codes).any(axis=1).mean()) if len(after.codes) else 0.0


def data_fingerprint(table: Mapping[str, Any], ident: Mapping[str, Any] | None = None) -> str:
    """Fingerprint of a ``[data]`` table: ``ident`` (default: the table; the pipeline passes
    it without default keys) plus a digest of every file the table names."""
    digests = {}
    for key in ("path", "items"):
        value = table.get(key)
        if not value:
            continue
        p = Path(value)
        if p.is_dir():
            digests[key] = {f.name: file_digest(f) for f in sorted(p.iterdir()) if f.is_file()}
        elif p.is_file():
            digests[key] = file_digest(p)
    return fingerprint("data", dict(table if ident is None else ident), digests)


def build_split(dataset: Any, split_cfg: Any) -> SplitData:
    """The split named by ``[split]`` (leave-one-out or chronological blocks)."""
    from .data import blocks_split, leave_one_out

    if split_cfg.name == "leave-one-out":
        return leave_one_out(dataset, max_len=split_cfg.max_len)
    n = split_cfg.n_blocks
    return blocks_split(dataset, n_blocks=n, k=n - 2, max_len=split_cfg.max_len)


def _check(kind: str, obj: Any) -> Any:
    proto = PROTOCOLS[kind]
    if not isinstance(obj, proto):
        missing = [m for m in dir(proto) if not m.startswith("_") and not hasattr(obj, m)]
        raise SidkitError(f"{kind} {type(obj).__name__} does not implement {proto.__name__}: missing {', '.join(missing)}")
    return obj


class Pipeline:
    """Run a resolved :class:`PipelineConfig` into ``out``.

    ``components`` may hand in ready objects by kind (``{"tokenizer": MyTokenizer()}``);
    they replace the configured ones and their stages are always recomputed, since an
    object cannot be fingerprinted.
    """

    def __init__(
        self,
        config: PipelineConfig,
        out: str | Path,
        *,
        registry: Registry | None = None,
        components: Mapping[str, Any] | None = None,
    ):
        self.config = config
        self.out = Path(out)
        self.registry = registry or get_registry()
        self.given = dict(components or {})
        for kind, obj in self.given.items():
            _check(kind, obj)
        self.reused: dict[str, bool] = {}

    # -- helpers -------------------------------------------------------------------------
    def _component(self, kind: str) -> Any:
        if kind in self.given:
            return self.given[kind]
        choice = self.config.component(kind)
        if choice is None:
            raise SidkitError(f"the config has no [{kind}] section")
        return _check(kind, self.registry.build(kind, choice.name, choice.config))

    def _stage_fp(self, kind: str, *upstream: Any, choice: ComponentChoice | None = None) -> str:
        """Fingerprint of the component ``kind`` (``choice``: another table of that kind than
        the configured one, e.g. the validation decoder) and its ``upstream`` parts; keys at
        their default value are left out, so a new option does not invalidate old runs."""
        if choice is None:
            if kind in self.given:
                return fingerprint(kind, "object", time.time_ns())  # never reused
            choice = self.config.component(kind)
        spec = self.registry.get(kind, choice.name)
        return fingerprint(kind, choice.fingerprint_table(), spec.plugin, spec.version, self.config.run.seed, *upstream)

    def _validation_decoder(self, decoder: Any) -> Any:
        """The decoder validation uses (``[validation.decoder]``, see the config docs); the
        handed-in decoder object when one was given."""
        choice = self.config.validation_decoder
        if "decoder" in self.given or choice is None:
            return decoder
        return _check("decoder", self.registry.build("decoder", choice.name, choice.config))

    def _context(self, **kw: Any) -> Context:
        return Context(seed=self.config.run.seed, device=self.device, progress=self.config.run.progress, **kw)

    # -- the run -------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run every stage into the run directory (locked while it runs; the finished run
        there is replaced only when this one finishes, see :mod:`sidkit.stages`)."""
        from .training import flush_denormals, resolve_device, seed_everything
        from .training.distributed import init_distributed

        flush_denormals()  # before the first parallel torch operation (see its docstring)
        seed_everything(self.config.run.seed)
        self.dist = init_distributed(resolve_device(self.config.run.device))  # a no-op without torchrun
        self.device = str(resolve_device(self.config.run.device, local_rank=self.dist.local_rank))
        with RunDirectory(self.out, rank=self.dist.rank, world_size=self.dist.world_size) as run_dir:
            self.run_dir = run_dir
            result = self._run(run_dir)
        return result

    def _write_json(self, path: Path, obj: Any) -> None:
        if self.dist.is_main:  # under torchrun rank 0 alone writes the run directory
            write_json(path, obj)

    def _run(self, rd: RunDirectory) -> RunResult:
        from .data import dataset_info, load_from_config
        from .metrics import baseline_metrics, sid_statistics

        cfg = self.config
        if self.dist.is_main:
            atomic_write_text(self.out / CONFIG_FILE, dump_toml(cfg.to_dict()))
        t0 = time.perf_counter()
        dataset = load_from_config(cfg.data.config, cfg.data.format)
        data_fp = data_fingerprint(cfg.data.to_table(), cfg.data.fingerprint_table())
        info = dataset_info(dataset)
        self._write_json(self.out / "data" / "info.json", info)
        self._write_json(
            self.out / "data" / "items.json",
            {"item_ids": list(dataset.catalog.item_ids), "titles": [dataset.catalog.title(i) for i in range(dataset.n_items)]},
        )
        split = build_split(dataset, cfg.split)
        split_fp = fingerprint("split", data_fp, non_default(cfg.split))
        rd.timings["data"] = time.perf_counter() - t0
        log.info("data: %d users, %d items, %d interactions", dataset.n_users, dataset.n_items, len(dataset.interactions))

        enc_fp = self._stage_fp("encoder", split_fp)
        encoder = self._component("encoder")
        label = f"encoder {self.config.component('encoder').name if 'encoder' not in self.given else type(encoder).__name__!r}"
        embeddings = rd.run(encoder_stage("encoder", enc_fp, encoder, self._context(dataset=dataset, split=split), label=label))

        tokenizer = self._component("tokenizer")
        tok_fp = self._stage_fp("tokenizer", enc_fp)
        stage = tokenizer_stage("tokenizer", tok_fp, tokenizer, embeddings, self._context(dataset=dataset, split=split))
        sids = rd.run(attrs.evolve(stage, info=lambda t: {**stage.info(t), "sids_digest": sids_digest(t)}))

        # the generator: validation scores it with the evaluator and the validation decoder
        # on a fixed subset of the validation users ([validation]), so those are part of its
        # fingerprint; the test decoder is not
        decoder = self._component("decoder")
        evaluator = self._component("evaluator")
        k = int(evaluator.required_k)
        val_rows = cfg.validation.rows(len(split.valid))
        subset = len(val_rows) < len(split.valid)
        gen_fp = self._stage_fp(
            "generator", tok_fp, split_fp,
            self._stage_fp("decoder", choice=cfg.validation_decoder) if "decoder" not in self.given else self._stage_fp("decoder"),
            self._stage_fp("evaluator"),
            *([["validation", len(val_rows), cfg.validation.seed]] if subset else []),
        )
        generator = self._component("generator")
        tokenizer_sids = sids
        sids = rd.run(generator_stage(
            "generator", gen_fp, generator, tokenizer_sids,
            self._training_context(decoder, evaluator, k, val_rows, tokenizer, tokenizer_sids, embeddings, dataset, split),
            info=lambda t: {
                "validation": {"users": len(val_rows), "of": len(split.valid), "decoder": self._vchoice_table()},
                "sids_digest": sids_digest(t), "tokenizer_sids_digest": sids_digest(tokenizer_sids),
            },
        ))

        rank_fp = fingerprint("rankings", gen_fp, self._stage_fp("decoder"), k)
        rctx = self._context(dataset=dataset, split=split, tokenizer=tokenizer)
        rankings = rd.run(Stage(
            "rankings", rank_fp,
            compute=lambda d: self._rank(d, decoder, generator, sids, split, k, rctx),
            load=lambda d: {s: Rankings(load_arrays(d / f"{s}.safetensors")["items"]) for s in ("valid", "test")},
            info=lambda r: {"k": k},
            collective=True,  # under torchrun each rank ranks a shard of the users
        ))

        # metrics (cheap: always recomputed)
        ctx = self._context(dataset=dataset, split=split, tokenizer=tokenizer)
        ks = tuple(getattr(evaluator, "ks", None) or (k,))
        exclude = excludes_history(decoder)
        baselines = baseline_metrics(split, ks, user_rank=dataset.user_rank, exclude_history=exclude)
        metrics = {}
        for name, examples in (("valid", split.valid), ("test", split.test)):
            metrics[name] = {**evaluator.evaluate(rankings[name], examples, ctx), **baselines[name]}
        stats = sid_statistics(sids)
        if sids is not tokenizer_sids:  # the generator returned its own table (joint training)
            stats["tokenizer_stage"] = sid_statistics(tokenizer_sids)
            stats["changed_share"] = changed_share(tokenizer_sids, sids)
        self._write_json(self.out / "metrics.json", metrics)
        self._write_json(self.out / "sid_stats.json", stats)
        self.reused = dict(rd.reused)
        rd.finish({
            "sidkit": __version__,
            "status": "done",
            "seed": cfg.run.seed,
            "device": self.device,
            "world_size": self.dist.world_size,
            "ties": dataset.meta.get("ties"),
            "exclude_history": exclude,
            "data": info,
            "plugins": {
                kind: {"name": c.name, **{k2: v for k2, v in self.registry.get(kind, c.name).as_dict().items() if k2 in ("plugin", "version")}}
                for kind, c in cfg.components.items()
            },
            "reused": self.reused,
            "timings_s": rd.timings,
        })
        return RunResult(
            self.out, metrics, stats, dict(self.reused), sids,
            {"tokenizer": tokenizer, "generator": generator, "decoder": decoder, "evaluator": evaluator},
        )

    # -- what the stages need ---------------------------------------------------------------
    def _vchoice_table(self) -> dict[str, Any] | None:
        choice = None if "decoder" in self.given else self.config.validation_decoder
        return choice.to_table() if choice is not None else None

    def _training_context(
        self, decoder: Any, evaluator: Any, k: int, val_rows: Any,
        tokenizer: Any, sids: SIDTable, embeddings: Any, dataset: Any, split: SplitData,
    ) -> Context:
        """The generator's context: ``validate`` scores it on the validation subset."""
        cfg = self.config
        subset = len(val_rows) < len(split.valid)
        # the subset is the ``valid`` of the validation context's split, so decoders that look
        # users up by ``ctx.split.valid.histories is histories`` find them
        vsplit = attrs.evolve(split, valid=split.valid.take(val_rows)) if subset else split
        vdecoder = self._validation_decoder(decoder)
        table = self._vchoice_table()
        log.info(
            "validation: %d of %d users%s, decoder %s",
            len(val_rows), len(split.valid), f" (seed {cfg.validation.seed})" if subset else "",
            type(vdecoder).__name__ if table is None else " ".join(f"{key}={value}" for key, value in table.items()),
        )
        vctx = self._context(dataset=dataset, split=vsplit, tokenizer=tokenizer)

        def validate(model: Any, current: SIDTable | None = None) -> dict[str, float]:
            ranks = vdecoder.rank(model, current if current is not None else sids, vsplit.valid.histories, k, vctx)
            return evaluator.evaluate(ranks, vsplit.valid, vctx)

        return self._context(dataset=dataset, split=split, embeddings=embeddings, tokenizer=tokenizer, validate=validate)

    def _rank(self, d: Path, decoder: Any, generator: Any, sids: SIDTable, split: SplitData, k: int, ctx: Context) -> dict[str, Rankings]:
        rankings = {}
        for name, examples in (("valid", split.valid), ("test", split.test)):
            rankings[name] = self._sharded_rank(decoder, generator, sids, examples, k, ctx)
            if self.dist.is_main:
                save_arrays(d / f"{name}.safetensors", {"items": rankings[name].items})
        return rankings

    def _sharded_rank(self, decoder: Any, generator: Any, sids: SIDTable, examples: Any, k: int, ctx: Context) -> Rankings:
        """``decoder.rank`` over ``examples``; under torchrun rank ``r`` ranks rows ``r::world``
        and every rank gathers the whole table (safetensors bytes, no pickle)."""
        rank, world = self.dist.rank, self.dist.world_size
        if world == 1:
            return decoder.rank(generator, sids, examples.histories, k, ctx)
        import numpy as np
        from safetensors.numpy import load, save

        from .training.distributed import all_gather_bytes

        rows = np.arange(len(examples.histories))[rank::world]
        shard_ctx = attrs.evolve(ctx, extras={**ctx.extras, "users": examples.users[rows]})
        part = decoder.rank(generator, sids, examples.histories.take(rows), k, shard_ctx).items
        items = np.full((len(examples.histories), k), -1, dtype=np.int64)
        for r, blob in enumerate(all_gather_bytes(save({"items": np.ascontiguousarray(part, dtype=np.int64)}))):
            items[r::world] = load(blob)["items"]
        return Rankings(items)


def run_pipeline(
    config: str | Path | Mapping[str, Any] | PipelineConfig,
    out: str | Path,
    *,
    overrides: tuple[str, ...] | list[str] = (),
    components: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> RunResult:
    """Run a pipeline from a TOML path, a dict, or a resolved config. ``components`` may
    pass component objects by kind instead of registered names."""
    registry = registry or get_registry()
    require = tuple(k for k in ("encoder", "tokenizer", "generator", "decoder") if k not in (components or {}))
    if isinstance(config, PipelineConfig):
        resolved = config
    elif isinstance(config, Mapping):
        from .config import apply_overrides, resolve_paths

        raw = apply_overrides(resolve_paths(dict(config), Path.cwd()), overrides)
        resolved = resolve_config(raw, registry, source="<dict>", require=require)
    else:
        resolved = load_config(config, registry, overrides, require=require)
    return Pipeline(resolved, out, registry=registry, components=components).run()
