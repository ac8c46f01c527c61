"""The joint model the training loop optimises: the T5 recommender (``recommender.*``) and the
tokenizer (``tokenizer.*``), with the gradient bridge between them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from sidkit_grid.api import BOS, EOS, IGNORE, PAD, block_mask, causal_encoder_mask, cross_distance
from torch import nn

from .assignment import sdud_loss
from .quantizer import JointTokenizer

__all__ = ["DigerModel", "level_deltas"]


def level_deltas(y: torch.Tensor, table: torch.Tensor, offsets: Sequence[int], sid_levels: int) -> torch.Tensor:
    """``[B, L', d]``: ``(y_l − sg(y_l))·W_l`` per item and level, ``W_l`` the token table's rows
    of level ``l``. Zero-valued; added to a token's embedding it makes
    ``shared(c) + (y − sg(y))·W_l``, whose gradient reaches ``y``. Levels past ``y``'s (the
    conflict level) get zeros."""
    levels, k = y.shape[1], y.shape[2]
    parts = [(y[:, level] - y[:, level].detach()) @ table[offsets[level] : offsets[level] + k] for level in range(levels)]
    out = torch.stack(parts, 1)
    if sid_levels > levels:
        out = torch.cat([out, out.new_zeros(len(y), sid_levels - levels, out.shape[-1])], 1)
    return out


class DigerModel(nn.Module):
    """``forward(batch)`` returns the loss terms of a batch of sliding-window samples, or of
    all-position windows for ``tiger``'s item-causal encoder (``windows = "all"``).

    ``batch``: ``items [U]`` (the batch's distinct items), ``hist [n, M]`` and ``target [n]``
    (indices into ``items``; -1 pads ``hist`` on the left), or ``win [n, W]`` (window items,
    indices into ``items``, -1 = padding) and ``is_target [n, W]``. The tokenizer assigns the ``U``
    items; under ``bridge = "soft"`` their codes are the tokens (``tokens = "argmin"``: the
    argmin chain's, the SIDs inference gives; ``"sampled"``: the exploring chain's), embedded
    with :func:`level_deltas` of that chain's weights wherever they are inputs (the context and
    the decoder's teacher-forced input; the targets stay plain labels: a soft label would let
    the loss pull every target onto the codes the model already predicts, which collapsed the
    codebooks in our tests); without ``soft_update`` no delta is added (L_gen stops at the
    tokens). Under ``"detached"`` the tokens are the current SIDs and the
    recommender's loss does not reach the tokenizer. ``total = L_gen + L_vq + L_recon``,
    with ``L_σ`` in place of ``L_gen`` under SDUD.
    """

    def __init__(
        self, recommender: nn.Module, tokenizer: JointTokenizer, offsets: Sequence[int], bridge: str,
        tokens: str = "argmin",
    ):  # fmt: skip
        super().__init__()
        self.recommender = recommender
        self.tokenizer = tokenizer
        self.offsets = [int(o) for o in offsets]
        self.bridge = bridge
        self.tokens = tokens
        self.register_buffer("token_offsets", torch.tensor(self.offsets, dtype=torch.long), persistent=False)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        items = batch["items"]
        a = tok(tok.inputs.index_select(0, items))
        soft = self.bridge == "soft"
        current = tok.sids.index_select(0, items)
        sampled = self.tokens == "sampled"
        picked, y = (a.codes, a.y) if sampled else (a.argmax, a.y_argmax)
        codes = torch.cat([picked, current[:, tok.levels :]], 1) if soft else current
        tokens = codes + self.token_offsets
        bridged = soft and tok.options.soft_update
        table = self.recommender.get_input_embeddings().weight
        deltas = level_deltas(y, table, self.offsets, tokens.shape[1]) if bridged else None
        if "win" in batch:
            gen = self._window_loss(batch["win"], batch["is_target"], tokens, deltas)
        else:
            gen = self._sliding_loss(batch["hist"], batch["target"], tokens, deltas)

        terms = tok.losses(a)
        opt = tok.options
        main = sdud_loss(gen, tok.sigma, opt.sdud_lambda) if opt.learns_sigma else gen
        total = main + terms["vq"] + terms["recon"]
        with torch.no_grad():
            hot = a.z.new_zeros(()) if a.hot is None else a.hot.sum()
            agree = (a.codes == a.argmax).all(1).sum()
            parts = [a.z.new_tensor(float(len(items))), agree, hot, a.z.new_ones(()), gen, terms["vq"], terms["recon"]]
            tok.stats += torch.stack([p.detach().double() for p in parts])
        return {"total": total, "gen": gen, **terms}

    def _sliding_loss(
        self, hist: torch.Tensor, target: torch.Tensor, tokens: torch.Tensor, deltas: torch.Tensor | None
    ) -> torch.Tensor:
        """``L_gen`` of sliding-window samples (GRID's bidirectional encoder)."""
        rec = self.recommender
        table, sid_levels = rec.get_input_embeddings(), tokens.shape[1]
        n, m = hist.shape
        valid = hist >= 0
        rows = hist.clamp(min=0)
        context = torch.where(valid[:, :, None], tokens[rows], PAD).reshape(n, m * sid_levels)
        context = torch.cat([context, context.new_full((n, 1), EOS)], 1)
        mask = context != PAD
        embedded = table(context)
        if deltas is not None:
            d = (deltas[rows] * valid[:, :, None, None]).reshape(n, m * sid_levels, -1)
            embedded = embedded + torch.cat([d, d.new_zeros(n, 1, d.shape[-1])], 1)
        encoded = rec.encoder(inputs_embeds=embedded, attention_mask=mask).last_hidden_state

        labels = tokens[target]
        decoder_in = table(torch.cat([labels.new_full((n, 1), BOS), labels[:, :-1]], 1))
        if deltas is not None:
            decoder_in = decoder_in + torch.cat([deltas.new_zeros(n, 1, deltas.shape[-1]), deltas[target][:, :-1]], 1)
        hidden = rec.decoder(inputs_embeds=decoder_in, encoder_hidden_states=encoded, encoder_attention_mask=mask)
        hidden = hidden.last_hidden_state
        if getattr(rec.config, "scale_decoder_outputs", False):
            hidden = hidden * rec.config.d_model**-0.5
        logits = rec.lm_head(hidden).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    def _window_loss(
        self, win: torch.Tensor, is_target: torch.Tensor, tokens: torch.Tensor, deltas: torch.Tensor | None
    ) -> torch.Tensor:
        """``L_gen`` of all-position windows: one pass of ``tiger``'s item-causal encoder over
        ``BOS tokens(window without its last item)`` (laid out as the generator's ``context``
        does), one decoder block per target column (:class:`sidkit_grid.generators.tiger.SIDT5`)."""
        rec = self.recommender
        table, levels = rec.get_input_embeddings(), tokens.shape[1]
        n, width = win.shape
        history = win[:, :-1]
        valid, rows = history >= 0, history.clamp(min=0)
        # [BOS] + tokens, right-aligned: BOS sits just before each row's first real item
        context = torch.where(valid[:, :, None], tokens[rows], PAD).reshape(n, -1)
        context = torch.cat([context.new_full((n, 1), PAD), context], 1)
        bos_at = (width - 1 - valid.sum(1)) * levels
        context[torch.arange(n, device=win.device), bos_at] = BOS
        embedded = table(context)
        if deltas is not None:
            d = (deltas[rows] * valid[:, :, None, None]).reshape(n, context.shape[1] - 1, -1)
            embedded = embedded + torch.cat([d.new_zeros(n, 1, d.shape[-1]), d], 1)
        start = int(bos_at.min())  # drop the columns that are padding in every row
        context, embedded = context[:, start:], embedded[:, start:]

        cols = torch.nonzero(is_target.any(0)).flatten()
        targets = win[:, cols].clamp(min=0)  # [n, J]
        labels = tokens[targets]  # [n, J, L]
        decoder = table(torch.cat([labels.new_full((*labels.shape[:2], 1), BOS), labels[:, :, :-1]], 2))
        if deltas is not None:
            shifted = deltas[targets][:, :, :-1]
            decoder = decoder + torch.cat([shifted.new_zeros(*shifted.shape[:2], 1, shifted.shape[-1]), shifted], 2)
        length = len(cols) * levels
        labels = torch.where(is_target[:, cols, None], labels, IGNORE).reshape(n, length)
        logits = rec(
            inputs_embeds=embedded,
            attention_mask=causal_encoder_mask(context, levels),
            decoder_inputs_embeds=decoder.reshape(n, length, -1),
            decoder_attention_mask=block_mask(n, length, levels, win.device),
            cross_distance=cross_distance(context, (width - 1 - cols).repeat_interleave(levels), levels),
            decoder_block=levels,
        ).logits.float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
