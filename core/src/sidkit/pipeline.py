"""The pipeline runner: data -> split -> encoder -> tokenizer -> generator -> decoder -> metrics.

Each stage writes into its own folder of the run directory and records a fingerprint of
its inputs and config (``stage.json``). Re-running the same config reuses every stage
whose fingerprint still matches; a changed stage recomputes itself and what depends on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from . import __version__
from .artifacts import (
    StageRecord,
    atomic_write_text,
    file_digest,
    fingerprint,
    load_arrays,
    load_embeddings,
    load_sids,
    save_arrays,
    save_embeddings,
    save_sids,
    write_json,
)
from .config import ComponentChoice, PipelineConfig, dump_toml, load_config, resolve_config
from .context import Context
from .errors import SidkitError
from .protocols import PROTOCOLS
from .registry import Registry, get_registry
from .types import Rankings, SIDTable, SplitData

__all__ = ["Pipeline", "RunResult", "run_pipeline", "build_split", "data_fingerprint"]

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


def data_fingerprint(table: Mapping[str, Any]) -> str:
    """Fingerprint of a ``[data]`` table: the table plus a digest of every file it names."""
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
    return fingerprint("data", dict(table), digests)


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
        the configured one, e.g. the validation decoder) and its ``upstream`` parts."""
        if choice is None:
            if kind in self.given:
                return fingerprint(kind, "object", time.time_ns())  # never reused
            choice = self.config.component(kind)
        spec = self.registry.get(kind, choice.name)
        return fingerprint(kind, choice.to_table(), spec.plugin, spec.version, self.config.run.seed, *upstream)

    def _validation_decoder(self, decoder: Any) -> Any:
        """The decoder validation uses: ``decoder`` itself unless ``[validation.decoder]``
        changes its table (then built from the merged table through the registry)."""
        choice = self.config.validation_decoder
        base = self.config.component("decoder")
        if choice is None or ("decoder" not in self.given and base is not None and choice.to_table() == base.to_table()):
            return decoder
        return _check("decoder", self.registry.build("decoder", choice.name, choice.config))

    def _context(self, **kw: Any) -> Context:
        return Context(seed=self.config.run.seed, device=self.device, progress=self.config.run.progress, **kw)

    # -- the run -------------------------------------------------------------------------
    def run(self) -> RunResult:
        from .data import dataset_info, load_from_config
        from .metrics import baseline_metrics, sid_statistics
        from .training import resolve_device, seed_everything

        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.run.seed)
        self.device = str(resolve_device(cfg.run.device))
        write_json(self.out / "run.json", {"sidkit": __version__, "status": "running", "started": time.time()})
        atomic_write_text(self.out / CONFIG_FILE, dump_toml(cfg.to_dict()))
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        data_table = cfg.data.to_table()
        dataset = load_from_config(cfg.data.config if hasattr(cfg.data, "config") else cfg.data, cfg.data.format)
        data_fp = data_fingerprint(data_table)
        info = dataset_info(dataset)
        write_json(self.out / "data" / "info.json", info)
        write_json(
            self.out / "data" / "items.json",
            {"item_ids": list(dataset.catalog.item_ids), "titles": [dataset.catalog.title(i) for i in range(dataset.n_items)]},
        )
        split = build_split(dataset, cfg.split)
        split_fp = fingerprint("split", data_fp, attrs.asdict(cfg.split))
        timings["data"] = time.perf_counter() - t0
        log.info("data: %d users, %d items, %d interactions", dataset.n_users, dataset.n_items, len(dataset.interactions))

        # encoder
        t0 = time.perf_counter()
        enc_dir = self.out / "encoder"
        enc_fp = self._stage_fp("encoder", split_fp)
        record = StageRecord(enc_dir)
        if record.is_current(enc_fp):
            embeddings = load_embeddings(enc_dir / "embeddings.safetensors", dataset.n_items)
            self.reused["encoder"] = True
        else:
            record.start(enc_fp)
            encoder = self._component("encoder")
            embeddings = encoder.encode(self._context(workdir=enc_dir / "work", dataset=dataset, split=split))
            if embeddings.n_items != dataset.n_items:
                raise SidkitError(f"encoder returned {embeddings.n_items} rows for {dataset.n_items} items")
            save_embeddings(enc_dir / "embeddings.safetensors", embeddings)
            record.mark_done(enc_fp, shape=list(embeddings.values.shape))
            self.reused["encoder"] = False
        timings["encoder"] = time.perf_counter() - t0

        # tokenizer
        t0 = time.perf_counter()
        tok_dir = self.out / "tokenizer"
        tok_fp = self._stage_fp("tokenizer", enc_fp)
        record = StageRecord(tok_dir)
        tokenizer = self._component("tokenizer")
        if record.is_current(tok_fp):
            tokenizer.load(tok_dir / "state")
            sids = load_sids(tok_dir / "sids.safetensors", dataset.n_items)
            self.reused["tokenizer"] = True
        else:
            record.start(tok_fp)
            ctx = self._context(workdir=tok_dir / "work", dataset=dataset, split=split, embeddings=embeddings)
            tokenizer.fit(embeddings, ctx)
            sids = tokenizer.assign(embeddings)
            if sids.n_items != dataset.n_items:
                raise SidkitError(f"tokenizer assigned {sids.n_items} SIDs for {dataset.n_items} items")
            (tok_dir / "state").mkdir(parents=True, exist_ok=True)
            tokenizer.save(tok_dir / "state")
            save_sids(tok_dir / "sids.safetensors", sids)
            record.mark_done(tok_fp, codebook_sizes=list(sids.codebook_sizes))
            self.reused["tokenizer"] = False
        timings["tokenizer"] = time.perf_counter() - t0

        # generator. Validation scores it with the evaluator and the validation decoder
        # ([decoder] + [validation.decoder]) on a fixed subset of the validation users
        # ([validation]), so those are part of its fingerprint; the test decoder is not.
        t0 = time.perf_counter()
        decoder = self._component("decoder")
        evaluator = self._component("evaluator")
        k = int(evaluator.required_k)
        val_rows = cfg.validation.rows(len(split.valid))
        subset = len(val_rows) < len(split.valid)
        # the subset is the ``valid`` of the validation context's split, so decoders that look
        # users up by ``ctx.split.valid.histories is histories`` find them
        vsplit = attrs.evolve(split, valid=split.valid.take(val_rows)) if subset else split
        gen_fp = self._stage_fp(
            "generator", tok_fp, split_fp,
            self._stage_fp("decoder", choice=cfg.validation_decoder), self._stage_fp("evaluator"),
            *([["validation", len(val_rows), cfg.validation.seed]] if subset else []),
        )
        gen_dir = self.out / "generator"
        record = StageRecord(gen_dir)
        generator = self._component("generator")
        if record.is_current(gen_fp):
            generator.load(gen_dir / "state")
            if (gen_dir / "sids.safetensors").exists():
                sids = load_sids(gen_dir / "sids.safetensors", dataset.n_items)
            self.reused["generator"] = True
        else:
            record.start(gen_fp)
            vdecoder = self._validation_decoder(decoder)
            vchoice = cfg.validation_decoder or (None if "decoder" in self.given else cfg.component("decoder"))
            vname = type(vdecoder).__name__ if vchoice is None else vchoice.name
            overrides = ", ".join(f"{key}: {value}" for key, value in cfg.validation.decoder.items() if key != "name")
            log.info(
                "validation: %d of %d users%s, decoder %s %s",
                len(val_rows), len(split.valid), f" (seed {cfg.validation.seed})" if subset else "",
                vname, f"{{{overrides}}}" if overrides else "(as [decoder])",
            )

            def validate(model: Any, current: SIDTable | None = None) -> dict[str, float]:
                table = current if current is not None else sids
                ranks = vdecoder.rank(model, table, vsplit.valid.histories, k, vctx)
                return evaluator.evaluate(ranks, vsplit.valid, vctx)

            vctx = self._context(dataset=dataset, split=vsplit)
            ctx = self._context(
                workdir=gen_dir / "work", dataset=dataset, split=split, embeddings=embeddings,
                tokenizer=tokenizer, validate=validate,
            )
            new_sids = generator.fit(sids, ctx)
            (gen_dir / "state").mkdir(parents=True, exist_ok=True)
            generator.save(gen_dir / "state")
            if new_sids is not None:
                sids = new_sids
                save_sids(gen_dir / "sids.safetensors", sids)
            elif (gen_dir / "sids.safetensors").exists():
                (gen_dir / "sids.safetensors").unlink()
            record.mark_done(
                gen_fp,
                validation={"users": len(val_rows), "of": len(split.valid), "decoder": vchoice.to_table() if vchoice else None},
            )
            self.reused["generator"] = False
        timings["generator"] = time.perf_counter() - t0

        # rankings
        t0 = time.perf_counter()
        rank_dir = self.out / "rankings"
        rank_fp = fingerprint("rankings", gen_fp, self._stage_fp("decoder"), k)
        record = StageRecord(rank_dir)
        if record.is_current(rank_fp):
            rankings = {s: Rankings(load_arrays(rank_dir / f"{s}.safetensors")["items"]) for s in ("valid", "test")}
            self.reused["rankings"] = True
        else:
            record.start(rank_fp)
            ctx = self._context(dataset=dataset, split=split)
            rankings = {}
            for name, examples in (("valid", split.valid), ("test", split.test)):
                rankings[name] = decoder.rank(generator, sids, examples.histories, k, ctx)
                save_arrays(rank_dir / f"{name}.safetensors", {"items": rankings[name].items})
            record.mark_done(rank_fp, k=k)
            self.reused["rankings"] = False
        timings["rankings"] = time.perf_counter() - t0

        # metrics (cheap: always recomputed)
        ctx = self._context(dataset=dataset, split=split)
        ks = tuple(getattr(evaluator, "ks", None) or (k,))
        baselines = baseline_metrics(split, ks, user_rank=dataset.user_rank)
        metrics = {}
        for name, examples in (("valid", split.valid), ("test", split.test)):
            metrics[name] = {**evaluator.evaluate(rankings[name], examples, ctx), **baselines[name]}
        stats = sid_statistics(sids)
        write_json(self.out / "metrics.json", metrics)
        write_json(self.out / "sid_stats.json", stats)
        write_json(
            self.out / "run.json",
            {
                "sidkit": __version__,
                "status": "done",
                "seed": cfg.run.seed,
                "device": self.device,
                "ties": dataset.meta.get("ties"),
                "data": info,
                "plugins": {
                    kind: {"name": c.name, **{k2: v for k2, v in self.registry.get(kind, c.name).as_dict().items() if k2 in ("plugin", "version")}}
                    for kind, c in cfg.components.items()
                },
                "reused": self.reused,
                "timings_s": timings,
            },
        )
        return RunResult(
            self.out, metrics, stats, dict(self.reused), sids,
            {"tokenizer": tokenizer, "generator": generator, "decoder": decoder, "evaluator": evaluator},
        )


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
