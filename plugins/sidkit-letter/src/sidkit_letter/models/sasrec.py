"""SASRec (Kang & McAuley, ICDM 2018), shared by the ``sasrec`` encoder and generator.

Model. Item ``i`` of the catalog is token ``i + 1``; token 0 is padding (its embedding row
stays zero and is dropped on export). A history is its last ``max_len`` items, left-padded.
Input = item embedding × √hidden + a learned position embedding, where positions count
slots from the right (the most recent item always has position ``max_len - 1``, so a
short history is just a longer one with padding, and trimming all-padding columns off a
batch changes nothing). Then ``num_blocks`` blocks ``x + Dropout(Attention(LN(x)))``,
``x + Dropout(FFN(LN(x)))`` with causal multi-head attention that never attends to padding,
and a final layer norm. The score of item ``j`` after position ``t`` is ``h_t · E_j`` with
the same item embedding table ``E`` (the paper's shared embedding).

Training. Every training sequence gives one window of its last ``max_len + 1`` items (the
paper; or, with ``windows = "all"``, windows covering the whole sequence), and every position
of a window predicts the item after it. ``loss = "bce"``: one negative per position, drawn
uniformly from the items not in the window (the paper's objective); ``"ce"``: softmax over
the whole catalog. The shared loop :func:`sidkit.training.fit` runs it (seeded, exact
resume from checkpoints in the work directory, early stopping, best weights restored).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
import torch.nn.functional as F
from sidkit.artifacts import read_json, write_json
from sidkit.context import Context
from sidkit.data import CausalWindowIndex, trim_left_padding
from sidkit.errors import ArtifactError, SidkitError
from sidkit.metrics import ranking_metrics
from sidkit.training import FitResult, fit
from sidkit.training.checkpoint import load_weights, save_weights
from sidkit.types import EvalSet, Ragged
from torch import nn

from ..configs.sasrec import SASRecModelConfig, parse_monitor

__all__ = [
    "PAD",
    "SASRec",
    "build_model",
    "training_windows",
    "WindowIndex",
    "sample_negatives",
    "history_inputs",
    "score_histories",
    "catalog_metric",
    "train_sasrec",
    "save_model",
    "load_model",
]

PAD = 0
NEGATIVE_ROUNDS = 10
"""Re-draws of a negative that falls inside its window (afterwards it is kept as is)."""
SCORE_BATCH = 512
FORMAT_VERSION = 1


class _Block(nn.Module):
    """Pre-layer-norm causal self-attention + point-wise feed-forward, each with a residual."""

    def __init__(self, hidden: int, num_heads: int, ffn: int, dropout: float):
        super().__init__()
        self.num_heads, self.p = num_heads, dropout
        self.attn_norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.ffn_norm = nn.LayerNorm(hidden)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.num_heads, h // self.num_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.p if self.training else 0.0)
        x = x + self.dropout(self.attn_out(a.transpose(1, 2).reshape(b, t, h)))
        return x + self.dropout(self.ffn_out(self.dropout(F.relu(self.ffn_in(self.ffn_norm(x))))))


class SASRec(nn.Module):
    """The SASRec network. ``forward(inputs, targets, negatives)`` is the training loss (so
    the shared loop can call it through a DDP wrapper); :meth:`encode` gives hidden states,
    :meth:`scores` full-catalog scores after the last position."""

    def __init__(
        self,
        n_items: int,
        *,
        hidden: int = 64,
        num_blocks: int = 2,
        num_heads: int = 2,
        ffn: int = 256,
        dropout: float = 0.3,
        max_len: int = 50,
        loss: str = "bce",
    ):
        super().__init__()
        if n_items < 1:
            raise SidkitError(f"SASRec needs at least one item, got n_items={n_items}")
        if hidden % num_heads:
            raise SidkitError(f"SASRec: num_heads={num_heads} must divide hidden={hidden}")
        if loss not in ("bce", "ce"):
            raise SidkitError(f"SASRec: loss must be 'bce' or 'ce', got {loss!r}")
        self.hparams = {
            "n_items": int(n_items),
            "hidden": int(hidden),
            "num_blocks": int(num_blocks),
            "num_heads": int(num_heads),
            "ffn": int(ffn),
            "dropout": float(dropout),
            "max_len": int(max_len),
            "loss": str(loss),
        }
        self.n_items, self.max_len, self.loss = int(n_items), int(max_len), loss
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=PAD)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.emb_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(hidden, num_heads, ffn, dropout) for _ in range(num_blocks))
        self.final_norm = nn.LayerNorm(hidden)
        std = 1.0 / math.sqrt(hidden)  # item rows have norm ~1: initial logits h·e are O(1)
        nn.init.normal_(self.item_emb.weight, std=std)
        nn.init.normal_(self.pos_emb.weight, std=std)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()

    @property
    def item_table(self) -> torch.Tensor:
        """``[n_items, hidden]`` embeddings of the real items (padding row dropped)."""
        return self.item_emb.weight[1:]

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[B, T, hidden]`` of token ids ``[B, T]`` (``T <= max_len``, left-padded with 0)."""
        b, t = inputs.shape
        if t > self.max_len:
            raise SidkitError(f"SASRec got {t} positions, more than its max_len={self.max_len}")
        real = inputs != PAD
        positions = torch.arange(self.max_len - t, self.max_len, device=inputs.device)
        x = self.item_emb(inputs) * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(positions)
        keep = real.unsqueeze(-1).to(x.dtype)
        x = self.emb_dropout(x) * keep
        causal = torch.ones(t, t, dtype=torch.bool, device=inputs.device).tril()
        # a query sees earlier real items and always itself (a padding query then sees only
        # itself: finite, and zeroed right after)
        allowed = causal & (real[:, None, :] | torch.eye(t, dtype=torch.bool, device=inputs.device))
        allowed = allowed[:, None]  # [B, 1, T, T], broadcast over heads
        for block in self.blocks:
            x = block(x, allowed) * keep
        return self.final_norm(x)

    def forward(
        self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean training loss over the positions that have a real input and a real target."""
        h = self.encode(inputs)
        mask = (inputs != PAD) & (targets != PAD)
        if self.loss == "ce":
            logits = h[mask] @ self.item_table.T
            return F.cross_entropy(logits.float(), targets[mask] - 1)
        if negatives is None:
            raise SidkitError("SASRec with loss 'bce' needs negatives for every position")
        pos = (h * self.item_emb(targets)).sum(-1)[mask]
        neg = (h * self.item_emb(negatives)).sum(-1)[mask]
        return (F.softplus(-pos) + F.softplus(neg)).float().mean()

    def scores(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, n_items]`` score of every item as the next one after the last position."""
        return self.encode(inputs)[:, -1] @ self.item_table.T


# -- building ---------------------------------------------------------------------------------
def build_model(config: SASRecModelConfig, n_items: int, seed: int = 0) -> SASRec:
    """A freshly initialised SASRec for ``n_items`` (its initial weights depend only on ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = SASRec(
            n_items,
            hidden=config.hidden,
            num_blocks=config.num_blocks,
            num_heads=config.num_heads,
            ffn=config.ffn,
            dropout=config.dropout,
            max_len=config.max_len,
            loss=config.loss,
        )
    return model.eval()


# -- data -------------------------------------------------------------------------------------
def _check_items(seqs: Ragged, n_items: int, what: str) -> None:
    if len(seqs.values) and (seqs.values.min() < 0 or seqs.values.max() >= n_items):
        raise SidkitError(
            f"{what} name items in [{int(seqs.values.min())}, {int(seqs.values.max())}], "
            f"but the catalog has {n_items} items (0..{n_items - 1})"
        )


@attrs.frozen(eq=False)
class WindowIndex:
    """Training windows as an index over the training sequences: :meth:`rows` builds the
    ``[n, max_len + 1]`` token ids (item + 1, left-padded with 0) of a batch's windows when the
    batch is built; nothing per window is stored.

    ``"last"``: one window per sequence of at least 2 items, its last ``max_len + 1`` items.
    ``"all"``: the windows of :func:`sidkit.data.causal_windows` (ending at ``end``,
    ``end - max_len``, ``end - 2·max_len``, ...: consecutive windows overlap by one item and
    every transition is a target exactly once).
    """

    train: Ragged
    max_len: int
    mode: str
    causal: CausalWindowIndex | None  # mode "all"
    sequences: np.ndarray | None  # mode "last": the sequences with >= 2 items

    @classmethod
    def build(cls, train: Ragged, max_len: int, mode: str = "last") -> WindowIndex:
        if mode == "all":
            return cls(train, int(max_len), mode, CausalWindowIndex.build(train, max_len), None)
        if mode != "last":
            raise ValueError(f"windows must be 'last' or 'all', got {mode!r}")
        return cls(train, int(max_len), mode, None, np.flatnonzero(train.lengths >= 2))

    def __len__(self) -> int:
        return len(self.causal) if self.causal is not None else len(self.sequences)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), max_len + 1]`` token ids of windows ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.causal is not None:
            return self.causal.windows(rows)[1] + 1
        return self.train.to_padded(self.max_len + 1, rows=self.sequences[rows]) + 1

    def digest(self) -> str:
        """What the windows are made of: the sequences, the mode and ``max_len``."""
        h = hashlib.sha256(f"{self.mode}:{self.max_len}".encode())
        for array in (self.train.values, self.train.offsets):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()[:20]


def training_windows(train: Ragged, max_len: int, mode: str = "last") -> np.ndarray:
    """All training windows of :class:`WindowIndex` at once, ``[N, max_len + 1]`` (for
    inspection and tests; training gathers them batch by batch)."""
    index = WindowIndex.build(train, max_len, mode)
    return index.rows(np.arange(len(index)))


def sample_negatives(windows: torch.Tensor, n_items: int) -> torch.Tensor:
    """``[B, T]`` negatives for the targets ``windows[:, 1:]``: uniform over the items, re-drawn
    (up to :data:`NEGATIVE_ROUNDS` times) while one falls inside its window. Uses torch's
    global RNG, which the training loop seeds and checkpoints."""
    shape = (windows.shape[0], windows.shape[1] - 1)
    neg = torch.randint(1, n_items + 1, shape)
    for _ in range(NEGATIVE_ROUNDS):
        bad = (neg[:, :, None] == windows[:, None, :]).any(-1)
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        neg[bad] = torch.randint(1, n_items + 1, (n_bad,))
    return neg


def history_inputs(histories: Ragged, max_len: int) -> np.ndarray:
    """``[n, T]`` token ids of the last ``max_len`` items of every history (left-padded, trimmed)."""
    return trim_left_padding(histories.to_padded(max_len) + 1, pad=PAD)


# -- scoring and validation -------------------------------------------------------------------
@torch.no_grad()
def score_histories(model: SASRec, histories: Ragged, batch_size: int = SCORE_BATCH) -> torch.Tensor:
    """``[len(histories), n_items]`` next-item scores (float32, on the model's device)."""
    _check_items(histories, model.n_items, "histories")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = []
        for start in range(0, len(histories), batch_size):
            chunk = histories.take(np.arange(start, min(len(histories), start + batch_size)))
            inputs = torch.from_numpy(history_inputs(chunk, model.max_len)).to(device)
            out.append(model.scores(inputs).float())
        if not out:
            return torch.zeros((0, model.n_items), device=device)
        return torch.cat(out)
    finally:
        model.train(was_training)


@torch.no_grad()
def catalog_metric(model: SASRec, examples: EvalSet, monitor: str, batch_size: int = SCORE_BATCH) -> float:
    """``monitor`` (e.g. ``"ndcg@10"``) of full-catalog rankings by the model's own scores
    (history items not filtered, as everywhere in sidkit's evaluation)."""
    metric, k = parse_monitor(monitor)
    tops = []
    for start in range(0, len(examples), batch_size):
        rows = np.arange(start, min(len(examples), start + batch_size))
        scores = score_histories(model, examples.histories.take(rows), batch_size)
        top = torch.topk(scores, min(k, model.n_items), dim=1).indices.cpu().numpy()
        tops.append(np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-1))
    items = np.concatenate(tops) if tops else np.zeros((0, k), dtype=np.int64)
    return float(ranking_metrics(items, examples.targets, (k,), metrics=(metric,))[monitor])


# -- training ---------------------------------------------------------------------------------
def _fingerprint(model: SASRec, config: SASRecModelConfig, windows: WindowIndex) -> dict[str, Any]:
    return {
        "model": "sasrec",
        **model.hparams,
        "windows": config.windows,
        "data": windows.digest(),
        # a warm start resumes only its own checkpoints: the initial weights are part of the run
        "init": hashlib.sha256(model.item_table.detach().cpu().numpy().tobytes()).hexdigest()[:20],
    }


def train_sasrec(
    model: SASRec,
    config: SASRecModelConfig,
    train: Ragged,
    ctx: Context | None,
    *,
    validate: Callable[[SASRec], float] | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    who: str = "sasrec",
) -> FitResult:
    """Train ``model`` in place on the sequences ``train`` with the shared loop.

    ``ctx`` gives the seed, device, work directory (checkpoints, resume, best weights) and
    ``progress`` (``None``: a default :class:`~sidkit.context.Context`). ``validate(model)`` is the early-stopping metric; ``None`` = the model's own
    ``config.monitor`` on ``ctx.split.valid`` (no validation when that has no examples).
    ``on_epoch_end(epoch, record)`` is forwarded to :func:`sidkit.training.fit` (e.g.
    :meth:`sidkit.training.Monitor.on_epoch_end`, which adds ``valid/<name>`` metrics).
    """
    if ctx is None:
        ctx = Context()
    _check_items(train, model.n_items, f"{who}: the training sequences")
    windows = WindowIndex.build(train, model.max_len, config.windows)
    if len(windows) == 0:
        raise SidkitError(f"{who}: no training sample (every training sequence has fewer than 2 items)")
    cfg = config.train
    if not ctx.progress:
        cfg = attrs.evolve(cfg, progress=False)
    split = ctx.split
    if validate is None and split is not None and len(split.valid) > 0:
        valid = split.valid
        validate = lambda m: catalog_metric(m, valid, config.monitor)  # noqa: E731
    bce = model.loss == "bce"
    n_items = model.n_items

    def make_batch(indices: torch.Tensor):
        rows = torch.from_numpy(trim_left_padding(windows.rows(indices.numpy()), pad=PAD))
        batch = (rows[:, :-1], rows[:, 1:])
        return (*batch, sample_negatives(rows, n_items)) if bce else batch

    result = fit(
        model,
        loss_fn=lambda m, batch: m(*batch),
        n_examples=len(windows),
        make_batch=make_batch,
        cfg=cfg,
        seed=int(ctx.seed),
        device=ctx.device or "cpu",
        workdir=ctx.workdir,
        validate=validate,
        metric_name=config.monitor,
        on_epoch_end=on_epoch_end,
        fingerprint_extra=_fingerprint(model, config, windows),
    )
    model.eval()
    return result


# -- state ------------------------------------------------------------------------------------
def save_model(directory: Path, model: SASRec, *, weights: str, meta: str, extra: dict[str, Any]) -> None:
    """``directory/weights`` (safetensors ``state_dict``) + ``directory/meta`` (JSON: the
    model's dimensions and ``extra``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(directory / weights, model)
    write_json(directory / meta, {"format_version": FORMAT_VERSION, "sasrec": model.hparams, **extra})


def load_model(directory: Path, *, weights: str, meta: str) -> tuple[SASRec, dict[str, Any]]:
    """The model :func:`save_model` wrote (rebuilt from the JSON alone) and its metadata."""
    directory = Path(directory)
    doc = read_json(directory / meta)
    if doc.get("format_version") != FORMAT_VERSION or not isinstance(doc.get("sasrec"), dict):
        raise ArtifactError(f"{directory / meta}: not a SASRec state file (format {doc.get('format_version')!r})")
    try:
        model = SASRec(**doc["sasrec"])
    except (TypeError, SidkitError) as exc:
        raise ArtifactError(f"{directory / meta}: unusable SASRec dimensions ({exc})") from None
    load_weights(directory / weights, model)
    return model.eval(), doc
