"""Load a finished run directory and recommend for new histories."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .artifacts import StageRecord, load_sids, read_json
from .config import load_config
from .context import Context
from .errors import ArtifactError
from .registry import Registry, get_registry
from .types import Ragged, Rankings, SIDTable

__all__ = ["LoadedRun", "load_run"]


@attrs.define
class LoadedRun:
    """A trained pipeline ready to rank: generator, decoder, SIDs and the item id mapping."""

    run_dir: Path
    generator: Any
    decoder: Any
    sids: SIDTable
    item_ids: list[str]
    titles: list[str | None]
    device: str = "cpu"
    tokenizer: Any = None
    seed: int = 0

    _index: dict[str, int] | None = attrs.field(default=None, init=False, repr=False)

    def item_index(self, history: Sequence[str]) -> list[int]:
        """Catalog indices of external item ids; an unknown id is an :class:`ArtifactError`."""
        if self._index is None:
            self._index = {item: i for i, item in enumerate(self.item_ids)}
        index = self._index
        unknown = [h for h in history if h not in index]
        if unknown:
            raise ArtifactError(
                f"unknown item id(s) {', '.join(map(repr, unknown[:5]))}: not in the catalog of {self.run_dir} "
                f"({len(self.item_ids)} items, e.g. {', '.join(self.item_ids[:3])})"
            )
        return [index[h] for h in history]

    def rank_indices(self, histories: Sequence[Sequence[int]], k: int, batch_size: int = 256) -> Rankings:
        """The decoder's top-``k`` for catalog-index ``histories``, ``batch_size`` at a time."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ctx = Context(device=self.device, progress=False, tokenizer=self.tokenizer, seed=self.seed)
        items, scores = [], []
        for start in range(0, len(histories), batch_size):
            ranking = self.decoder.rank(self.generator, self.sids, Ragged.from_lists(histories[start : start + batch_size]), k, ctx)
            items.append(ranking.items)
            scores.append(ranking.scores)
        if not items:
            return Rankings(np.zeros((0, k), dtype=np.int64))
        has_scores = all(s is not None for s in scores)
        return Rankings(np.concatenate(items), np.concatenate(scores) if has_scores else None)

    def _entries(self, ranking: Rankings, row: int) -> list[dict[str, Any]]:
        out = []
        for rank, item in enumerate(ranking.items[row].tolist(), start=1):
            if item < 0:
                break
            entry = {"rank": rank, "item_id": self.item_ids[item], "title": self.titles[item], "sid": self.sids.codes[item].tolist()}
            if ranking.scores is not None:
                entry["score"] = float(ranking.scores[row][rank - 1])
            out.append(entry)
        return out

    def recommend(self, history: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
        """Top-``k`` items after ``history`` (external item ids, oldest first): rank, item
        id, title, SID and (when the decoder gives one) score."""
        return self.recommend_batch([history], k)[0]

    def recommend_batch(self, histories: Sequence[Sequence[str]], k: int = 10, batch_size: int = 256) -> list[list[dict[str, Any]]]:
        """:meth:`recommend` for many histories, decoded ``batch_size`` at a time (one
        decoder call per batch instead of one per history); same order as ``histories``."""
        ranking = self.rank_indices([self.item_index(h) for h in histories], k, batch_size)
        return [self._entries(ranking, row) for row in range(len(histories))]


def _verified(run_dir: Path, stage: str) -> dict[str, Any]:
    """``stage.json`` of a finished stage whose artifacts still have their recorded digests."""
    record = StageRecord(run_dir / stage)
    if not record.path.exists():
        raise ArtifactError(f"{run_dir}: stage {stage!r} did not finish; run `sidkit run` again to complete it")
    problems = record.verify()
    if problems:
        raise ArtifactError(f"{run_dir}: stage {stage!r} is damaged: {'; '.join(problems)}; run `sidkit run` again to rebuild it")
    return read_json(record.path)


def load_run(
    run_dir: str | Path, *, registry: Registry | None = None, device: str = "cpu", decoder_overrides: Iterable[str] = ()
) -> LoadedRun:
    """Rebuild the tokenizer, generator and decoder of a finished run from its directory,
    after checking every artifact against the digests recorded when it was written and the
    generator against the SIDs it was trained on. ``decoder_overrides``: ``KEY=VALUE``
    options of the decoder section (``precision=bf16``, ``beam_width=50``), applied as
    ``--set decoder.KEY=VALUE`` would be; the trained stages cannot be overridden."""
    from .pipeline import sids_digest
    from .training import flush_denormals

    flush_denormals()  # before the first parallel torch operation
    run_dir = Path(run_dir)
    config_path = run_dir / "config.resolved.toml"
    if not config_path.exists():
        raise ArtifactError(f"{run_dir}: not a sidkit run directory (no config.resolved.toml)")
    registry = registry or get_registry()
    cfg = load_config(config_path, registry, [f"decoder.{o}" for o in decoder_overrides])
    _verified(run_dir, "tokenizer")
    gen_info = _verified(run_dir, "generator")
    items = read_json(run_dir / "data" / "items.json")
    n_items = len(items["item_ids"])
    tok_sids = load_sids(run_dir / "tokenizer" / "sids.safetensors", n_items)
    trained_on = gen_info.get("tokenizer_sids_digest")
    if trained_on is not None and trained_on != sids_digest(tok_sids):
        raise ArtifactError(
            f"{run_dir}: the generator was trained on other SIDs than this run's tokenizer assigned "
            "(a generator folder from another run?); run `sidkit run` again to retrain it"
        )
    sid_file = run_dir / "generator" / "sids.safetensors"
    sids = load_sids(sid_file, n_items) if sid_file.exists() else tok_sids
    tok_choice, gen_choice, dec_choice = (cfg.component(k) for k in ("tokenizer", "generator", "decoder"))
    tokenizer = registry.build("tokenizer", tok_choice.name, tok_choice.config)
    tokenizer.load(run_dir / "tokenizer" / "state")
    generator = registry.build("generator", gen_choice.name, gen_choice.config)
    generator.load(run_dir / "generator" / "state")
    if device != "cpu" and hasattr(generator, "to"):
        generator.to(device)
    decoder = registry.build("decoder", dec_choice.name, dec_choice.config)
    return LoadedRun(
        run_dir, generator, decoder, sids, list(items["item_ids"]), list(items["titles"]), device,
        tokenizer=tokenizer, seed=cfg.run.seed,
    )
