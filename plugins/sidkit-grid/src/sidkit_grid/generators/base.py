"""What the ``tiger`` and ``decoder-only`` generators share: vocabulary, batching, the
training objective, the incremental-decoding interface the ``beam`` decoder calls, and the
state directory. A subclass only says how to build its transformers model and how to run
it (teacher-forced forward, context encoding, one cached decoding step).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from sidkit.artifacts import read_json, write_json
from sidkit.errors import ArtifactError, SidkitError
from sidkit.training import Monitor, fit, resolve_device
from sidkit.training.checkpoint import load_weights, save_weights
from sidkit.types import Ragged, SIDTable

from .attention import use_fast_attention
from .incremental import DecodeState
from .sequences import (
    BOS,
    IGNORE,
    CausalWindows,
    SampledWindows,
    SIDVocab,
    Windows,
    causal_tokens,
    causal_training_windows,
    context_tokens,
    sampled_windows,
    training_windows,
)

__all__ = ["SIDGenerator"]

WEIGHTS, META = "model.safetensors", "meta.json"
FORMAT_VERSION = 1


class SIDGenerator:
    """Base class of the GRID generators (subclasses: ``TigerGenerator``, ``DecoderOnlyGenerator``).

    Decoder interface: ``vocab``, ``device``, :meth:`encode`, :meth:`step`. Training:
    :meth:`fit` (next-SID cross-entropy with the shared sidkit training loop) on the samples
    ``config.windows`` names: ``"sliding"`` (every prefix of a history is a sample) or
    ``"all"`` (one pass over a window trains every item in it: :meth:`window_batch` and
    :meth:`window_logits`; by default a model causal over the flattened tokens,
    :meth:`causal_logits`; ``tiger`` overrides both for its item-causal encoder).
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    model_class: ClassVar[type]
    context_eos: ClassVar[bool]
    context_bos: ClassVar[bool] = False

    def __init__(self, config: Any):
        self.config = config
        self.model: torch.nn.Module | None = None
        self.vocab: SIDVocab | None = None
        self._tokens_of: tuple[SIDTable, np.ndarray] | None = None
        self.max_len: int = config.max_len
        self.history: list[dict[str, float]] = []

    # -- what subclasses provide ---------------------------------------------------------
    def model_config(self, vocab_size: int):
        raise NotImplementedError

    def teacher_forced_logits(self, context: torch.Tensor, targets: torch.Tensor, model: Any = None) -> torch.Tensor:
        """``[n, L, vocab]`` logits of every target token given the context and the previous
        targets, by calling ``model`` (default ``self.model``; the DDP wrapper in training)."""
        raise NotImplementedError

    def causal_logits(self, inputs: torch.Tensor, model: Any = None) -> torch.Tensor:
        """``[n, T, vocab]`` next-token logits at every position of all-position windows
        (``windows = "all"``); only models causal over the flattened tokens have it."""
        raise SidkitError(f"generator {self.name} is not causal over its tokens: use windows = 'sliding'")

    def encode_context(self, context: torch.Tensor) -> DecodeState:
        raise NotImplementedError

    def decode_step(self, state: DecodeState, tokens: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- model ---------------------------------------------------------------------------
    def build(self, vocab: SIDVocab, seed: int = 0) -> None:
        """A freshly initialised model for ``vocab`` (seeded)."""
        self.vocab = vocab
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = self.model_class(use_fast_attention(self.model_config(vocab.size)))
        self.model.eval()

    def _require_model(self) -> torch.nn.Module:
        if self.model is None:
            raise SidkitError(f"generator {self.name}: call fit() or load() first")
        return self.model

    @property
    def device(self) -> torch.device:
        return next(self._require_model().parameters()).device

    def to(self, device: str | torch.device) -> SIDGenerator:
        """Move the model (``"auto"``, ``"cpu"``, ``"cuda:1"``, ...)."""
        self._require_model().to(resolve_device(device))
        return self

    # -- batching ------------------------------------------------------------------------
    def item_tokens(self, sids: SIDTable) -> np.ndarray:
        """``[n_items, L]`` token ids of ``sids`` (checked against the model's vocabulary)."""
        if self._tokens_of is None or self._tokens_of[0] is not sids:
            self.vocab.check(sids, f"generator {self.name}")
            self._tokens_of = (sids, self.vocab.item_tokens(sids.codes))
        return self._tokens_of[1]

    def context(self, sids: SIDTable, items: np.ndarray, users: np.ndarray | None) -> torch.Tensor:
        """Model input for ``[n, max_len]`` history items (-1 = padding) on the model's device."""
        if self.vocab.user_buckets and users is None:
            raise SidkitError(
                f"generator {self.name} uses user tokens (user_buckets={self.vocab.user_buckets}): the "
                "histories' user indices are needed (ctx.extras['users'] or the split's valid/test users)"
            )
        if items.size and items.max() >= sids.n_items:
            raise SidkitError(f"histories name item {int(items.max())}, but the SID table has {sids.n_items} items")
        tokens = context_tokens(
            self.vocab, self.item_tokens(sids), items, users, eos=self.context_eos, bos=self.context_bos
        )
        return torch.from_numpy(tokens).to(self.device)

    def training_samples(
        self, train: Ragged, users: np.ndarray | None = None, first_target: np.ndarray | None = None
    ) -> Windows | CausalWindows | SampledWindows:
        """The samples of ``config.windows`` over training sequences ``train``."""
        if self.windows == "all":
            return causal_training_windows(train, self.max_len, users, first_target)
        if self.windows == "sample":
            return sampled_windows(train, self.max_len, self.config.samples_per_sequence, users, first_target)
        return training_windows(train, self.max_len, users, first_target)

    @property
    def windows(self) -> str:
        return self.config.windows

    def batch(self, sids: SIDTable, windows: Windows | CausalWindows | SampledWindows, rows: np.ndarray) -> Any:
        """CPU batch of samples ``rows``: ``(context tokens, target tokens)`` of sliding windows,
        or ``{"inputs", "labels"}`` of all-position windows."""
        user_tokens = bool(self.vocab.user_buckets)
        if isinstance(windows, SampledWindows):
            windows, rows = windows.windows, windows.draw(rows)
        if isinstance(windows, CausalWindows):
            items, is_target, users = windows.rows(rows)
            return self.window_batch(self.item_tokens(sids), items, is_target, users if user_tokens else None)
        items, targets, users = windows.batch(rows, self.max_len)
        context = context_tokens(
            self.vocab,
            self.item_tokens(sids),
            items,
            users if user_tokens else None,
            eos=self.context_eos,
            bos=self.context_bos,
        )
        return torch.from_numpy(context), torch.from_numpy(self.item_tokens(sids)[targets])

    def window_batch(
        self, item_tokens: np.ndarray, items: np.ndarray, is_target: np.ndarray, users: np.ndarray | None
    ) -> dict[str, torch.Tensor]:
        """CPU batch of all-position windows (``items``/``is_target`` ``[n, max_len + 1]``):
        ``{"inputs", "labels"}`` of one causal sequence per window."""
        inputs, labels = causal_tokens(self.vocab, item_tokens, items, is_target, users)
        return {"inputs": torch.from_numpy(inputs), "labels": torch.from_numpy(labels)}

    def window_logits(self, batch: dict[str, torch.Tensor], model: Any = None) -> torch.Tensor:
        """Logits aligned with ``batch["labels"]`` for a :meth:`window_batch` batch."""
        return self.causal_logits(batch["inputs"], model)

    def loss(self, batch: Any, model: Any = None, reduction: str = "mean") -> torch.Tensor:
        """Next-SID cross-entropy over the target tokens of a batch (mean, or ``"sum"``)."""
        if isinstance(batch, dict):
            logits, labels = self.window_logits(batch, model), batch["labels"]
        else:
            context, labels = batch
            logits = self.teacher_forced_logits(context, labels, model)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE, reduction=reduction
        )

    # -- training --------------------------------------------------------------------------
    def fit(self, sids: SIDTable, ctx: Any) -> None:
        """Train on ``ctx.split.train`` (sliding or all-position windows, see the class) with
        the shared sidkit loop (checkpoints and resume in ``ctx.workdir``, early stopping on
        ``ctx.validate``, best-validation weights kept, every validation metric in ``history``)."""
        if ctx is None or ctx.split is None:
            raise SidkitError(f"generator {self.name} needs ctx.split (it trains on ctx.split.train)")
        self._prepare(sids, ctx)
        windows = self.training_samples(
            ctx.split.train, ctx.split.train_users, getattr(ctx.split, "train_first_target", None)
        )
        if len(windows) == 0:
            raise SidkitError(f"generator {self.name}: no training sample (every training sequence has < 2 items)")
        self._tokens_of = None
        cfg = self.config.train
        if not ctx.progress:
            cfg = attrs.evolve(cfg, progress=False)
        monitor = None
        if ctx.validate is not None:
            monitor = Monitor(lambda: ctx.validate(self), self.config.monitor, f"generator {self.name}")
        result = fit(
            self.model,
            loss_fn=lambda model, batch: self.loss(batch, model),
            n_examples=len(windows),
            make_batch=lambda idx: self.batch(sids, windows, idx.numpy()),
            cfg=cfg,
            seed=int(ctx.seed),
            device=ctx.device,
            workdir=ctx.workdir,
            validate=monitor,
            metric_name=self.config.monitor,
            on_epoch_end=None if monitor is None else monitor.on_epoch_end,
            fingerprint_extra=self._fingerprint(sids, windows),
            lengths=windows.lengths if cfg.group_by_length else None,
        )
        self.model.eval()
        self.history = list(result.history)
        return None

    def _prepare(self, sids: SIDTable, ctx: Any) -> None:
        """Keep the current model (warm start), or copy ``ctx.generator``'s (continual runs),
        or build a fresh one; in every case it must fit the SIDs' vocabulary."""
        warm = ctx.generator
        if self.model is None and isinstance(warm, type(self)) and warm.model is not None:
            self.model, self.vocab, self.max_len = copy.deepcopy(warm.model), warm.vocab, warm.max_len
        if self.model is None:
            self.max_len = self.config.max_len
            self.build(SIDVocab(sids.codebook_sizes, self.config.user_buckets), seed=int(ctx.seed))
        self.vocab.check(sids, f"generator {self.name} (warm start)")

    def _fingerprint(self, sids: SIDTable, windows: Windows | CausalWindows | SampledWindows) -> dict[str, Any]:
        """What a resumable checkpoint must have been trained with: model, vocabulary, and
        digests of the SIDs and the training samples (same sizes are not enough)."""
        model = {k: v for k, v in self.model.config.to_diff_dict().items() if k != "transformers_version"}
        per_sequence = None
        if isinstance(windows, SampledWindows):
            windows, per_sequence = windows.windows, windows.per_sequence
        # the samples are fixed by the window index (sequences, first targets, max_len) and the users
        digest = hashlib.sha256(windows.index.digest().encode())
        for array in (sids.codes, windows.sequence_users):
            digest.update(np.ascontiguousarray(array).tobytes())
        return {
            "generator": self.name,
            "model": model,
            "max_len": self.max_len,
            "windows": self.windows if per_sequence is None else [self.windows, per_sequence],
            **self.vocab.to_json(),
            "data": digest.hexdigest()[:20],
        }

    # -- decoding interface --------------------------------------------------------------
    @torch.no_grad()
    def encode(self, histories: Ragged, sids: SIDTable, users: np.ndarray | None = None) -> DecodeState:
        """Run the context of every history once (the last ``max_len`` items are used)."""
        model = self._require_model()
        model.eval()
        return self.encode_context(self.context(sids, histories.to_padded(self.max_len), users))

    @torch.no_grad()
    def step(
        self, state: DecodeState, tokens: torch.Tensor | None = None, parents: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Next-token logits ``[B, beams, vocab]`` after feeding ``tokens [B, beams]``.

        ``parents[b, j]`` is the beam (of the previous call) that new beam ``j`` extends;
        the cache is reordered accordingly. The first call passes ``tokens=None``: every
        history starts one beam (:meth:`first_step`).
        """
        if tokens is None:
            logits = self.first_step(state)
        else:
            state.reorder(parents)
            logits = self.decode_step(state, tokens)
        state.steps += 1
        return logits

    def first_step(self, state: DecodeState) -> torch.Tensor:
        """Logits ``[B, 1, vocab]`` of the first SID token: by default, feed BOS."""
        return self.decode_step(state, torch.full((state.batch, 1), BOS, dtype=torch.long, device=self.device))

    @torch.no_grad()
    def sequence_log_probs(
        self, histories: Ragged, sids: SIDTable, codes: np.ndarray, users: np.ndarray | None = None
    ) -> torch.Tensor:
        """``[n]`` log-probability of SID ``codes[i]`` after ``histories[i]`` (teacher forcing,
        full forward, no cache): the quantity beam search ranks by."""
        self._require_model().eval()
        context = self.context(sids, histories.to_padded(self.max_len), users)
        targets = torch.from_numpy(self.vocab.item_tokens(codes)).to(context.device)
        logp = torch.log_softmax(self.teacher_forced_logits(context, targets).float(), dim=-1)
        return logp.gather(2, targets[:, :, None])[:, :, 0].sum(1)

    # -- state -----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """``model.safetensors`` (weights) + ``meta.json`` (vocabulary, transformers config)."""
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
                "max_len": self.max_len,
                "model_config": json.loads(model.config.to_json_string(use_diff=False)),
                "history": self.history,
            },
        )

    def load(self, path: Path) -> None:
        """Restore from what :meth:`save` wrote (no other input needed)."""
        path = Path(path)
        meta = read_json(path / META)
        if meta.get("generator") != self.name:
            raise ArtifactError(f"{path / META}: written by generator {meta.get('generator')!r}, not {self.name!r}")
        self.vocab = SIDVocab.from_json(meta["vocab"])
        hf_config = self.config_class.from_dict(meta["model_config"])
        if hf_config.vocab_size != self.vocab.size:
            raise ArtifactError(
                f"{path / META}: model vocabulary {hf_config.vocab_size} != SID vocabulary {self.vocab.size}"
            )
        model = self.model_class(use_fast_attention(hf_config))
        load_weights(path / WEIGHTS, model)
        self.model = model.eval()
        self.max_len = int(meta["max_len"])
        self.history = list(meta.get("history", []))
        self._tokens_of = None
