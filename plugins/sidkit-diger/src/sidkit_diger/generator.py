"""Generator ``diger``: TIGER's T5 trained jointly with a copy of the run's RQ-VAE tokenizer
(DIGER), returning the SIDs it ends with. Decoding (the ``beam`` decoder) is TIGER's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from sidkit.artifacts import read_json, write_json
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training import Monitor, fit, is_main_process, resolve_device
from sidkit.training.checkpoint import load_weights, save_weights
from sidkit.types import SIDTable
from sidkit_grid.api import CausalWindows, RQVAETokenizer, SIDVocab, TigerGenerator, deduplicate

from .assignment import AssignOptions
from .config import DigerConfig
from .diagnostics import REPORT, epoch_diagnostics, write_heatmap, write_report
from .model import DigerModel
from .quantizer import STATS, JointTokenizer, encoder_dims

__all__ = ["DigerGenerator"]

TOKENIZER_WEIGHTS, TOKENIZER_META = "tokenizer.safetensors", "tokenizer.json"


class DigerGenerator(TigerGenerator):
    """DIGER. ``fit(sids, ctx)`` copies ``ctx.tokenizer``'s encoder and codebooks (any
    RQ-VAE tokenizer), trains them with the T5 through the differentiable assignment
    (:class:`~sidkit_diger.model.DigerModel`), re-assigns the catalog's SIDs (argmin) before
    every validation and after every epoch, validates with ``ctx.validate(self, sids)`` and
    returns the SIDs of the best epoch. ``save``/``load`` cover both networks;
    :meth:`current_sids` and :meth:`assign_matrix` give the SIDs of the tokenizer it holds.
    Always starts from a fresh T5 (no warm start from ``ctx.generator``)."""

    name = "diger"

    def __init__(self, config: DigerConfig | None = None):
        super().__init__(config or DigerConfig())
        self.joint: DigerModel | None = None
        self.tokenizer_module: JointTokenizer | None = None
        self.dedup: tuple[str, int] = ("digit", 0)
        self._table: SIDTable | None = None
        self._previous: np.ndarray | None = None
        self._stale = False

    # -- setup ----------------------------------------------------------------------------
    def _conflict_vocabulary(self, tokenizer: Any) -> tuple[str, int]:
        cfg = tokenizer.config
        if cfg.dedup != "digit":
            return cfg.dedup, 0
        size = int(getattr(cfg, "dedup_size", 0))
        if not size:
            raise SidkitError(
                f"generator {self.name} re-assigns SIDs while it trains, so the conflict level needs a fixed "
                f"size: set dedup_size (DIGER: 256) in [tokenizer] (tokenizer {tokenizer.name} has dedup_size = 0, "
                "the largest collision group)"
            )
        return "digit", size

    def _initial_table(self, sids: SIDTable, levels: int, k: int) -> SIDTable:
        """The tokenizer stage's SIDs with the generator's fixed conflict vocabulary."""
        mode, size = self.dedup
        expected = levels + (mode == "digit")
        if sids.n_levels != expected or any(int(s) != k for s in sids.codebook_sizes[:levels]):
            raise SidkitError(
                f"generator {self.name}: the SIDs ({sids.n_levels} levels, sizes {list(sids.codebook_sizes)}) are not "
                f"the tokenizer's ({levels} levels of {k} codes{' + a conflict level' if mode == 'digit' else ''})"
            )
        sizes = (k,) * levels + ((size,) if mode == "digit" else ())
        if mode == "digit" and len(sids.codes) and int(sids.codes[:, -1].max()) >= size:
            raise SidkitError(
                f"generator {self.name}: a conflict code of the tokenizer's SIDs is {int(sids.codes[:, -1].max())}, "
                f"beyond dedup_size = {size}; raise dedup_size"
            )
        return SIDTable(sids.codes, sizes)

    def _check_context(self, ctx: Any) -> Any:
        if ctx is None or ctx.split is None:
            raise SidkitError(f"generator {self.name} needs ctx.split (it trains on ctx.split.train)")
        tokenizer = ctx.tokenizer
        if not isinstance(tokenizer, RQVAETokenizer) or tokenizer.model is None:
            raise SidkitError(
                f"generator {self.name} trains a copy of an RQ-VAE tokenizer (rqvae, letter, diger) jointly; "
                f"ctx.tokenizer is {type(tokenizer).__name__ if tokenizer is not None else 'missing'}"
            )
        if ctx.embeddings is None:
            raise SidkitError(f"generator {self.name} needs ctx.embeddings (the tokenizer's input)")
        return tokenizer

    # -- training ---------------------------------------------------------------------------
    def fit(self, sids: SIDTable, ctx: Any) -> SIDTable:
        """Train jointly on ``ctx.split.train``; return the SIDs of the best validation (or the
        last epoch), also in :meth:`current_sids`. Resumes from ``ctx.workdir``."""
        tokenizer = self._check_context(ctx)
        cfg = self.config
        levels, k, _ = tokenizer.model.codebooks.shape
        self.dedup = self._conflict_vocabulary(tokenizer)
        table = self._initial_table(sids, levels, k)
        self.max_len = cfg.max_len
        self.build(SIDVocab(table.codebook_sizes), seed=int(ctx.seed))
        whitening = None if tokenizer.whitening is None else tuple(t.cpu() for t in tokenizer.whitening)
        quantizer = JointTokenizer.from_rqvae(
            tokenizer.model, AssignOptions.from_config(cfg), torch.from_numpy(table.codes), whitening
        )
        x = torch.from_numpy(np.ascontiguousarray(tokenizer.input_matrix(ctx.embeddings), dtype=np.float32))
        with torch.no_grad():
            quantizer.set_inputs(quantizer.transform(x))
        self.tokenizer_module, self._table, self._stale = quantizer, None, False
        self.joint = DigerModel(self.model, quantizer, self.vocab.offsets, cfg.bridge, cfg.tokens)

        windows = self.training_samples(
            ctx.split.train, ctx.split.train_users, getattr(ctx.split, "train_first_target", None)
        )
        if len(windows) == 0:
            raise SidkitError(f"generator {self.name}: no training sample (every training sequence has < 2 items)")
        train = cfg.train if ctx.progress else attrs.evolve(cfg.train, progress=False)
        monitor = None
        if ctx.validate is not None:
            monitor = Monitor(lambda: ctx.validate(self, self._fresh_sids()), cfg.monitor, f"generator {self.name}")
        workdir = None if ctx.workdir is None else Path(ctx.workdir)
        if workdir is not None and is_main_process() and not (workdir / "heatmaps").exists():
            write_heatmap(workdir / "heatmaps" / "epoch-000.png", table.codes[:, :levels], k, "initial SIDs")
        result = fit(
            self.joint,
            loss_fn=self._loss,
            n_examples=len(windows),
            make_batch=lambda idx: self._batch(windows, idx.numpy()),
            cfg=train,
            seed=int(ctx.seed),
            device=ctx.device,
            workdir=workdir,
            validate=monitor,
            metric_name=cfg.monitor,
            on_epoch_end=lambda epoch, record: self._epoch_end(epoch, record, monitor, workdir),
            fingerprint_extra=self._joint_fingerprint(table, windows, quantizer),
            lengths=windows.lengths,
        )
        self.joint.eval()
        self.history = list(result.history)
        if workdir is not None and is_main_process():
            write_report(workdir, self.history)
        self._table = None
        return self.current_sids()

    def _loss(self, model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self._stale = True  # the weights change: the catalog's SIDs must be assigned again
        return model(batch)["total"]

    def _batch(self, windows: Any, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Sliding-window samples, or all-position windows, as indices into the batch's
        distinct items (assigned once per step)."""
        if isinstance(windows, CausalWindows):  # windows = "all": the item-causal encoder's windows
            items, is_target, _ = windows.rows(rows)
            present = items >= 0
            uniq, inverse = np.unique(items[present], return_inverse=True)
            win = np.full(items.shape, -1, dtype=np.int64)
            win[present] = inverse
            return {
                "items": torch.from_numpy(uniq.astype(np.int64)),
                "win": torch.from_numpy(win),
                "is_target": torch.from_numpy(is_target),
            }
        if hasattr(windows, "draw"):  # windows = "sample": fresh prefixes per batch
            windows, rows = windows.windows, windows.draw(rows)
        items, targets, _ = windows.batch(rows, self.max_len)
        present = items >= 0
        items, present = items[:, int(np.argmax(present.any(0))) :], present[:, int(np.argmax(present.any(0))) :]
        uniq, inverse = np.unique(np.concatenate([items[present], targets]), return_inverse=True)
        hist = np.full(items.shape, -1, dtype=np.int64)
        hist[present] = inverse[: int(present.sum())]
        return {
            "items": torch.from_numpy(uniq.astype(np.int64)),
            "hist": torch.from_numpy(hist),
            "target": torch.from_numpy(inverse[int(present.sum()) :].astype(np.int64)),
        }

    def _joint_fingerprint(self, table: SIDTable, windows: Any, quantizer: JointTokenizer) -> dict[str, Any]:
        """TIGER's (model, vocabulary, SIDs and samples) plus the assignment settings and a
        digest of the tokenizer copy and its inputs."""
        digest = hashlib.sha256()
        for tensor in [*quantizer.state_dict().values(), quantizer.inputs]:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {
            **self._fingerprint(table, windows),
            "diger": {
                **attrs.asdict(quantizer.options),
                "bridge": self.config.bridge,
                "tokens": self.config.tokens,
                "dedup": list(self.dedup),
                "tokenizer": digest.hexdigest()[:20],
            },
        }

    # -- the catalog's SIDs -------------------------------------------------------------------
    def _require_tokenizer(self) -> JointTokenizer:
        if self.tokenizer_module is None:
            raise SidkitError(f"generator {self.name}: call fit() or load() first")
        return self.tokenizer_module

    def _table_of(self, codes: np.ndarray) -> SIDTable:
        mode, size = self.dedup
        q = self._require_tokenizer()
        table = deduplicate(codes, q.codebook_size, mode, size, wrap=True)
        return SIDTable(table.codes, self.vocab.codebook_sizes)

    def _refresh(self) -> None:
        """Assign every item its argmin SID (and conflict code) with the current weights."""
        q = self._require_tokenizer()
        with torch.no_grad():
            codes = q.argmin_codes(q.inputs).cpu().numpy()
        table = self._table_of(codes)
        self._previous = q.sids.cpu().numpy().copy()
        q.sids.copy_(torch.from_numpy(table.codes).to(q.sids.device))
        self._table, self._stale = table, False

    def _fresh_sids(self) -> SIDTable:
        if self._stale:
            self._refresh()
        return self.current_sids()

    def current_sids(self) -> SIDTable:
        """The catalog's current SIDs (after ``fit``: those of the best validation)."""
        if self._table is None:
            self._table = SIDTable(self._require_tokenizer().sids.cpu().numpy().copy(), self.vocab.codebook_sizes)
        return self._table

    @torch.no_grad()
    def assign_matrix(self, x: np.ndarray) -> SIDTable:
        """Argmin SIDs of the tokenizer's input matrix ``x`` (``ctx.tokenizer.input_matrix``),
        de-duplicated like training does."""
        q = self._require_tokenizer()
        inputs = q.transform(torch.as_tensor(np.asarray(x, dtype=np.float32), device=q.codebooks.device))
        return self._table_of(q.argmin_codes(inputs).cpu().numpy())

    def _epoch_end(self, epoch: int, record: dict[str, Any], monitor: Monitor | None, workdir: Path | None) -> None:
        q = self._require_tokenizer()
        if self._stale:
            self._refresh()
        current = q.sids.cpu().numpy().copy()
        previous = self._previous if self._previous is not None else current
        stats = dict(zip(STATS, q.stats.tolist(), strict=True))
        q.stats.zero_()
        sigma = [float(s) for s in q.sigma.detach().abs().cpu()]
        record["diger"] = epoch_diagnostics(
            previous, current, q.initial.cpu().numpy(), q.levels, q.codebook_size, stats, sigma
        )
        self._previous = None
        if monitor is not None:
            monitor.on_epoch_end(epoch, record)
        if workdir is not None and is_main_process():
            earlier = []
            if (workdir / REPORT).exists():
                earlier = [{"epoch": r["epoch"], "diger": r} for r in read_json(workdir / REPORT)["epochs"]]
            write_report(workdir, [r for r in earlier if r["epoch"] < epoch] + [record])
            write_heatmap(
                workdir / "heatmaps" / f"epoch-{epoch:03d}.png", current[:, : q.levels], q.codebook_size, f"epoch {epoch}"
            )

    # -- state --------------------------------------------------------------------------------
    def to(self, device: str | torch.device) -> DigerGenerator:
        """Move both networks (``"auto"``, ``"cpu"``, ``"cuda:1"``, ...)."""
        super().to(device)
        self._require_tokenizer().to(resolve_device(device))
        return self

    def save(self, path: Path) -> None:
        """TIGER's files plus ``tokenizer.safetensors`` (encoder, codebooks, σ, frequencies,
        current and first SIDs, whitening) and ``tokenizer.json`` (its shapes and settings)."""
        super().save(path)
        q = self._require_tokenizer()
        path = Path(path)
        save_weights(path / TOKENIZER_WEIGHTS, q)
        write_json(
            path / TOKENIZER_META,
            {
                "dims": encoder_dims(q.encoder),
                "levels": q.levels,
                "codebook_size": q.codebook_size,
                "n_items": int(q.sids.shape[0]),
                "sid_levels": int(q.sids.shape[1]),
                "whiten": bool(q.whiten_mean.numel()),
                "options": attrs.asdict(q.options),
                "bridge": self.joint.bridge if self.joint is not None else self.config.bridge,
                "tokens": self.joint.tokens if self.joint is not None else self.config.tokens,
                "dedup": list(self.dedup),
            },
        )

    def load(self, path: Path) -> None:
        """Restore both networks from what :meth:`save` wrote."""
        super().load(path)
        path = Path(path)
        try:
            meta = read_json(path / TOKENIZER_META)
            q = JointTokenizer.empty(
                meta["dims"], int(meta["levels"]), int(meta["codebook_size"]), int(meta["n_items"]),
                int(meta["sid_levels"]), AssignOptions(**meta["options"]), bool(meta["whiten"]),
            )  # fmt: skip
            dedup = (str(meta["dedup"][0]), int(meta["dedup"][1]))
            bridge, tokens = str(meta["bridge"]), str(meta.get("tokens", "sampled"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path / TOKENIZER_META}: lacks or garbles {exc}") from None
        load_weights(path / TOKENIZER_WEIGHTS, q)
        if q.sids.shape[1] != self.vocab.n_levels:
            raise ArtifactError(f"{path}: the tokenizer's SIDs have {q.sids.shape[1]} levels, the vocabulary {self.vocab.n_levels}")
        self.tokenizer_module, self.dedup = q.eval(), dedup
        self.joint = DigerModel(self.model, q, self.vocab.offsets, bridge, tokens).eval()
        self._table, self._stale = None, False
