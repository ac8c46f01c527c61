"""Generator ``intrr``: IntRR's recursive-assignment network with a backbone that reads one
vector per history item (``sdk_docs/plugins/intrr.md``).

Decoding implements the incremental interface grid's ``beam`` decoder drives (``vocab``,
``device``, :meth:`~IntRRGenerator.encode`, :meth:`~IntRRGenerator.step`): ``encode`` runs
the backbone once per history, and each ``step`` is one RAN level for every beam.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from sidkit.artifacts import read_json, write_json
from sidkit.data import trim_left_padding
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training import Monitor, fit, resolve_device, weights_version
from sidkit.training.checkpoint import load_weights, save_weights
from sidkit.types import Ragged, SIDTable
from sidkit_grid.api import SIDVocab

from .batches import Samples, make_batch, slot_rows, training_samples
from .config import IntRRConfig
from .model import PAD, IntRRNet, NetSpec
from .ran import level_nll

__all__ = ["IntRRGenerator", "IntRRState"]

WEIGHTS, META = "model.safetensors", "meta.json"
FORMAT_VERSION = 1


@attrs.define(eq=False)
class IntRRState:
    """Decoding state: the user state ``hidden [B, d]`` of every history (the backbone's
    last position), the SID levels decoded so far and, with ``ran_context = "prefix"``, each
    beam's RAN context ``[B, W, d]`` after them (else ``None``)."""

    hidden: torch.Tensor
    steps: int = 0
    context: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return self.hidden.shape[0]

    def restart(self, rows: torch.Tensor | None = None) -> IntRRState:
        """A state before the first step over the same histories (only ``rows`` of them)."""
        return IntRRState(self.hidden if rows is None else self.hidden[rows])


class IntRRGenerator:
    """IntRR over a SID table. Config: :class:`~sidkit_intrr.config.IntRRConfig`."""

    name = "intrr"

    def __init__(self, config: IntRRConfig | None = None):
        self.config = config or IntRRConfig()
        self.model: IntRRNet | None = None
        self.vocab: SIDVocab | None = None
        self.history: list[dict[str, float]] = []
        self._table: tuple[Any, torch.Tensor] | None = None

    # -- model ---------------------------------------------------------------------------
    def build(self, sids: SIDTable, seed: int = 0) -> None:
        """A freshly initialised network for ``sids`` (seeded)."""
        self.vocab = SIDVocab(sids.codebook_sizes)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = IntRRNet(NetSpec.of(self.config, sids.n_items, tuple(sids.codebook_sizes)))
        self.model.eval()
        self._table = None

    def _require_model(self) -> IntRRNet:
        if self.model is None:
            raise SidkitError(f"generator {self.name}: call fit() or load() first")
        return self.model

    @property
    def max_len(self) -> int:
        return self._require_model().spec.max_len

    @property
    def device(self) -> torch.device:
        return self._require_model().start.device

    def to(self, device: str | torch.device) -> IntRRGenerator:
        """Move the network (``"auto"``, ``"cpu"``, ``"cuda:1"``, ...)."""
        self._require_model().to(resolve_device(device))
        return self

    def check(self, sids: SIDTable, who: str) -> None:
        """Refuse SIDs of another code space or another item count (the UID table is per item)."""
        self.vocab.check(sids, who)
        n = self._require_model().spec.n_items
        if sids.n_items != n:
            raise ArtifactError(
                f"{who}: the model was built for {n} items (one UID embedding per item), "
                f"the SID table has {sids.n_items} items; retrain it on these items"
            )

    # -- training --------------------------------------------------------------------------
    def fit(self, sids: SIDTable, ctx: Any) -> None:
        """Train on ``ctx.split.train`` with the shared sidkit loop (checkpoints and resume
        in ``ctx.workdir``, early stopping on ``ctx.validate``, best weights kept)."""
        if ctx is None or ctx.split is None:
            raise SidkitError(f"generator {self.name} needs ctx.split (it trains on ctx.split.train)")
        self._prepare(sids, ctx)
        samples = training_samples(
            ctx.split.train, self.max_len, self.config.windows, getattr(ctx.split, "train_first_target", None)
        )
        if len(samples) == 0:
            raise SidkitError(f"generator {self.name}: no training sample (every training sequence has < 2 items)")
        cfg = self.config.train if ctx.progress else attrs.evolve(self.config.train, progress=False)
        monitor = None
        if ctx.validate is not None:
            monitor = Monitor(lambda: ctx.validate(self), self.config.monitor, f"generator {self.name}")
        codes = np.ascontiguousarray(sids.codes, dtype=np.int64)
        result = fit(
            self.model,
            loss_fn=lambda model, batch: model(**batch),
            n_examples=len(samples),
            make_batch=lambda idx: make_batch(samples, codes, idx.numpy()),
            cfg=cfg,
            seed=int(ctx.seed),
            device=ctx.device,
            workdir=ctx.workdir,
            validate=monitor,
            metric_name=self.config.monitor,
            on_epoch_end=None if monitor is None else monitor.on_epoch_end,
            fingerprint_extra=self._fingerprint(sids, samples),
            lengths=samples.lengths,
        )
        self.model.eval()
        self._table = None
        self.history = list(result.history)

    def _prepare(self, sids: SIDTable, ctx: Any) -> None:
        """Keep the current network (warm start), or copy ``ctx.generator``'s, or build one;
        in every case it must fit the SIDs' code space and item count."""
        warm = ctx.generator
        if self.model is None and isinstance(warm, IntRRGenerator) and warm.model is not None:
            self.model, self.vocab = copy.deepcopy(warm.model), warm.vocab
        if self.model is None:
            self.build(sids, seed=int(ctx.seed))
        self.check(sids, f"generator {self.name} (warm start)")
        self._table = None

    def _fingerprint(self, sids: SIDTable, samples: Samples) -> dict[str, Any]:
        """What a resumable checkpoint must have been trained with: the network and digests
        of the SIDs and the training rows."""
        return {
            "generator": self.name,
            "net": self.model.spec.to_json(),
            "windows": self.config.windows,
            "sids": hashlib.sha256(np.ascontiguousarray(sids.codes).tobytes()).hexdigest()[:20],
            "data": samples.digest(),
        }

    # -- decoding interface --------------------------------------------------------------
    def item_table(self, sids: SIDTable) -> torch.Tensor:
        """``[n_items, d]`` item vectors, cached per SID table and weights version
        (:func:`sidkit.training.weights_version`: any optimizer step or in-place write)."""
        model = self._require_model()
        key = (sids, weights_version(model), self.device)
        if self._table is None or self._table[0][0] is not sids or self._table[0][1:] != key[1:]:
            self.check(sids, f"generator {self.name}")
            codes = torch.from_numpy(np.ascontiguousarray(sids.codes, dtype=np.int64)).to(self.device)
            self._table = (key, model.item_table(codes))
        return self._table[1]

    @torch.no_grad()
    def user_states(self, histories: Ragged, sids: SIDTable) -> torch.Tensor:
        """``[n, d]`` backbone state at the last position of each history (its last ``max_len`` items)."""
        model = self._require_model()
        model.eval()
        padded = histories.to_padded(self.max_len)
        if padded.size and padded.max() >= sids.n_items:
            raise SidkitError(f"histories name item {int(padded.max())}, but the SID table has {sids.n_items} items")
        table = self.item_table(sids)
        slots = torch.from_numpy(trim_left_padding(slot_rows(padded), pad=PAD)).to(self.device)
        return model.hidden(slots, table)[:, -1]

    def encode(self, histories: Ragged, sids: SIDTable, users: np.ndarray | None = None) -> IntRRState:
        """One backbone pass over the histories (``users`` is unused: no user tokens)."""
        return IntRRState(self.user_states(histories, sids))

    @torch.no_grad()
    def step(
        self, state: IntRRState, tokens: torch.Tensor | None = None, parents: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B, beams, vocab]`` of the next SID level: that level's logits at its
        token offset, ``-inf`` elsewhere. ``tokens`` are the beams' tokens of the previous
        level (``None`` at the first call: one beam per history), ``parents`` the beams they
        extend (which carry their context forward)."""
        level = state.steps
        model = self._require_model()
        previous = None if tokens is None else tokens - self.vocab.offsets[level - 1]
        context = state.context  # a prefix context follows its beam's parent; "previous" keeps none
        if context is not None:
            context = context[torch.arange(context.shape[0], device=context.device)[:, None], parents]
        logits, context = model.level_logits(level, state.hidden, previous, context)
        state.context = context if model.ran.prefix else None
        logits = logits.float()
        out = torch.full((*logits.shape[:2], self.vocab.size), float("-inf"), device=logits.device)
        offset = self.vocab.offsets[level]
        out[..., offset : offset + logits.shape[-1]] = logits
        state.steps += 1
        return out

    @torch.no_grad()
    def sequence_log_probs(
        self, histories: Ragged, sids: SIDTable, codes: np.ndarray, users: np.ndarray | None = None
    ) -> torch.Tensor:
        """``[n]`` log-probability of SID ``codes[i]`` after ``histories[i]`` (teacher forcing
        through the RAN): the quantity beam search ranks by."""
        model = self._require_model()
        h = self.user_states(histories, sids)
        target = torch.from_numpy(np.asarray(codes, dtype=np.int64)).to(self.device)
        return -level_nll(model.ran.teacher_forced(h, target), target)

    # -- state -----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """``model.safetensors`` (weights) + ``meta.json`` (network spec, vocabulary, history)."""
        model = self._require_model()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_weights(path / WEIGHTS, model)
        write_json(
            path / META,
            {
                "generator": self.name,
                "format_version": FORMAT_VERSION,
                "vocab": self.vocab.to_json(),
                "net": model.spec.to_json(),
                "history": self.history,
            },
        )

    def load(self, path: Path) -> None:
        """Restore from what :meth:`save` wrote (no other input needed)."""
        path = Path(path)
        meta = read_json(path / META)
        if meta.get("generator") != self.name:
            raise ArtifactError(f"{path / META}: written by generator {meta.get('generator')!r}, not {self.name!r}")
        spec = NetSpec.from_json(meta["net"])
        vocab = SIDVocab.from_json(meta["vocab"])
        if vocab.codebook_sizes != spec.codebook_sizes:
            raise ArtifactError(f"{path / META}: network codebooks {list(spec.codebook_sizes)} != SID vocabulary")
        model = IntRRNet(spec)
        load_weights(path / WEIGHTS, model)
        self.model, self.vocab = model.eval(), vocab
        self.history = list(meta.get("history", []))
        self._table = None
