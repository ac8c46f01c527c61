"""Generator ``tiger``: a T5 encoder-decoder (transformers' ``T5ForConditionalGeneration``)
reading the flattened SID tokens of a history and writing the ``L`` tokens of the next item.

Training runs the stock Hugging Face forward. Decoding uses :meth:`TigerGenerator.step`, a
KV-cached replay of the same T5 decoder weights in which all beams of a history share that
history's cross-attention keys/values (see :mod:`.incremental`); a test checks it against
the full forward.

``windows = "all"`` builds a T5 whose encoder is causal over items (an item's tokens read
each other and every earlier item, never a later one; the context starts with BOS instead
of ending with EOS). The encoding of a history's prefix then does not depend on what comes
after it, so one encoder pass over a window of ``max_len + 1`` items serves every target in
it: the decoder runs one block of ``L`` tokens per target, each reading only the encoder
positions of the items before its target (block-diagonal self-attention, T5's relative
bias unchanged inside a block). A test checks each block's logits against the sliding
sample of the same prefix. This is a different model from GRID's bidirectional encoder
(``sdk_docs/plugins/grid-generation.md``), chosen where sliding windows cost too much.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from transformers import T5Config, T5ForConditionalGeneration
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.models.t5.modeling_t5 import T5Attention, T5DenseActDense

from ..configs.generators import TigerConfig
from .attention import decoder_blocks
from .base import SIDGenerator
from .incremental import DecodeState, attend, mask_bias
from .sequences import BOS, EOS, PAD, encoder_decoder_window_tokens, item_rank

__all__ = ["TigerGenerator", "SIDT5", "causal_encoder_mask", "block_mask", "cross_distance"]


def recency_init(heads: int, distances: int) -> torch.Tensor:
    """``[heads, distances]`` starting values of the cross-attention recency bias: ALiBi's
    geometric slopes (head ``h`` adds ``−2^(−8(h+1)/heads)`` per item of distance), so that
    from the first step some heads read the latest items and others the whole history."""
    slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1, dtype=torch.float32) / heads)
    return -slopes[:, None] * torch.arange(distances, dtype=torch.float32)[None, :]


def causal_encoder_mask(context: torch.Tensor, levels: int) -> torch.Tensor:
    """``[n, 1, S, S]`` self-attention mask of an encoder causal over items: a token reads
    the non-padding tokens of its own item, of earlier items and the lead tokens."""
    rank = torch.from_numpy(item_rank(context.shape[1], levels)).to(context.device)
    return (rank[None, :] >= rank[:, None])[None, None] & (context != PAD)[:, None, None, :]


def block_mask(n: int, length: int, levels: int, device: torch.device) -> torch.Tensor:
    """``[n, 1, T, T]`` decoder self-attention over blocks of ``levels`` tokens, one block per
    target: causal inside a block, nothing across blocks."""
    position = torch.arange(length, device=device)
    block = position // levels
    own = (block[:, None] == block[None, :]) & (position[None, :] <= position[:, None])
    return own[None, None].expand(n, 1, length, length)


def cross_distance(context: torch.Tensor, visible: torch.Tensor, levels: int) -> torch.Tensor:
    """``[n, T, S]`` item distance from each decoder position (whose target reads the items
    ranked ``>= visible[t]`` from the end) to each context token; −1 where it may not read."""
    rank = torch.from_numpy(item_rank(context.shape[1], levels)).to(context.device)
    distance = rank[None, :] - visible[:, None]
    return distance.where((distance >= 0)[None] & (context != PAD)[:, None, :], -1)


class AutocastDense(T5DenseActDense):
    """T5's feed-forward block without its cast of the ``d_ff``-wide hidden state to the
    output weight's dtype when autocast is on. transformers casts it so that a float16 model
    can keep ``wo`` in float32; under bf16 autocast the cast turns bf16 into float32, and
    ``wo``'s autocast turns it straight back: the same values, two copies of the widest
    activation forward and two more backward (about a tenth of a CPU training step at the
    ML-100K `tiger` size). Without autocast it casts as transformers does."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.act(self.wi(hidden_states)))
        if not torch.is_autocast_enabled(hidden.device.type) and hidden.dtype != self.wo.weight.dtype:
            hidden = hidden.to(self.wo.weight.dtype)
        return self.wo(hidden)


class SIDT5(T5ForConditionalGeneration):
    """transformers' T5, plus, for an encoder causal over items (``config.causal_encoder``),
    separate masks and a learned recency bias on the cross-attention, and
    ``config.attention_dropout`` (when set) on the attention probabilities only, and its
    feed-forward blocks as :class:`AutocastDense`.

    T5's cross-attention has no position bias: a bidirectional encoder tells each token how
    far it is from the end, a causal one cannot, so the decoder would not know which
    history item is the latest. ``recency_bias`` (``[heads, distances]``, shared by the
    decoder layers as T5 shares its relative bias) is added to the cross-attention logits
    by the key's item distance from the target (0 = the item just before it).

    Without ``cross_distance`` this is the stock forward. With it (``input_ids`` or
    ``inputs_embeds``, ``decoder_input_ids`` or ``decoder_inputs_embeds``), ``attention_mask``
    (``[n, 1, S, S]``, True = attend) masks the encoder's self-attention,
    ``decoder_attention_mask`` (``[n, 1, T, T]``) the decoder's, and ``cross_distance``
    (``[n, T, S]``, −1 = not visible) gives each query's item distance to each key, and
    ``decoder_block`` (optional) says that ``decoder_attention_mask`` is :func:`block_mask`
    with blocks of that many tokens, which the decoder's self-attention then computes block
    by block (:func:`~.attention.decoder_blocks`)."""

    def __init__(self, config: T5Config):
        super().__init__(config)
        for module in self.modules():
            if type(module) is T5DenseActDense:
                module.__class__ = AutocastDense  # same parameters and state-dict keys
        attention_dropout = getattr(config, "attention_dropout", None)  # T5 has one dropout_rate for all
        if attention_dropout is not None:
            for module in self.modules():
                if isinstance(module, T5Attention):
                    module.dropout = float(attention_dropout)
        if getattr(config, "causal_encoder", False):
            self.recency_bias = torch.nn.Parameter(recency_init(config.num_heads, config.recency_distances))

    def cross_bias(self, distance: torch.Tensor) -> torch.Tensor:
        """Additive cross-attention bias ``[n, heads, T, S]`` for ``[n, T, S]`` distances (−1 = masked)."""
        bias = self.recency_bias[:, distance.clamp(0, self.recency_bias.shape[1] - 1)].movedim(0, 1)
        return bias.masked_fill((distance < 0)[:, None], torch.finfo(bias.dtype).min)

    def forward(
        self, *args: Any, cross_distance: torch.Tensor | None = None, decoder_block: int | None = None, **kwargs: Any
    ):
        if cross_distance is None:
            return super().forward(*args, **kwargs)
        encoded = self.encoder(
            input_ids=kwargs.get("input_ids"),
            inputs_embeds=kwargs.get("inputs_embeds"),
            attention_mask=kwargs["attention_mask"],
        )
        with decoder_blocks(decoder_block) if decoder_block else contextlib.nullcontext():
            decoded = self.decoder(
                input_ids=kwargs.get("decoder_input_ids"),
                inputs_embeds=kwargs.get("decoder_inputs_embeds"),
                attention_mask=kwargs["decoder_attention_mask"],
                encoder_hidden_states=encoded.last_hidden_state,
                encoder_attention_mask=self.cross_bias(cross_distance),
                use_cache=False,
            ).last_hidden_state
        if self.config.scale_decoder_outputs:
            decoded = decoded * (self.model_dim**-0.5)
        return Seq2SeqLMOutput(logits=self.lm_head(decoded))


class TigerGenerator(SIDGenerator):
    """TIGER / GRID: T5 over SID tokens. Config: :class:`~sidkit_grid.configs.TigerConfig`."""

    name = "tiger"
    config_class = T5Config
    model_class = SIDT5

    def __init__(self, config: TigerConfig | None = None):
        super().__init__(config or TigerConfig())

    @property
    def causal_encoder(self) -> bool:
        """Whether the encoder is causal over items: the model's (built or loaded) setting,
        else ``windows == "all"``."""
        if self.model is not None:
            return bool(getattr(self.model.config, "causal_encoder", False))
        return self.config.windows == "all"

    @property
    def context_eos(self) -> bool:  # a bidirectional encoder's input ends with EOS, so it is never empty
        return not self.causal_encoder

    @property
    def context_bos(self) -> bool:  # a causal one starts with BOS, read by every prefix
        return self.causal_encoder

    def model_config(self, vocab_size: int) -> T5Config:
        c = self.config
        # only set when used, so the saved configs (and resume fingerprints) of earlier models are unchanged
        extra = {"causal_encoder": True, "recency_distances": self.max_len + 1} if c.windows == "all" else {}
        if c.attn_dropout is not None:
            extra["attention_dropout"] = c.attn_dropout
        return T5Config(
            **extra,
            vocab_size=vocab_size,
            d_model=c.d_model,
            d_kv=c.d_kv,
            d_ff=c.d_ff,
            num_layers=c.encoder_layers,
            num_decoder_layers=c.decoder_layers,
            num_heads=c.num_heads,
            dropout_rate=c.dropout,
            feed_forward_proj=c.activation,
            relative_attention_num_buckets=c.relative_attention_buckets,
            pad_token_id=PAD,
            eos_token_id=EOS,
            bos_token_id=BOS,
            decoder_start_token_id=BOS,
            use_cache=False,
        )

    def encoder_mask(self, context: torch.Tensor) -> torch.Tensor:
        """The encoder's self-attention mask: padding only (``[n, S]``), or for a causal
        encoder :func:`causal_encoder_mask`."""
        return causal_encoder_mask(context, self.vocab.n_levels) if self.causal_encoder else context != PAD

    def teacher_forced_logits(self, context: torch.Tensor, targets: torch.Tensor, model=None) -> torch.Tensor:
        decoder_in = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
        model = self.model if model is None else model
        if not self.causal_encoder:
            return model(
                input_ids=context, attention_mask=context != PAD, decoder_input_ids=decoder_in, use_cache=False
            ).logits
        levels = targets.shape[1]
        return model(
            input_ids=context,
            attention_mask=self.encoder_mask(context),
            decoder_input_ids=decoder_in,
            decoder_attention_mask=block_mask(len(targets), levels, levels, context.device),
            cross_distance=cross_distance(context, torch.zeros_like(targets[0]), self.vocab.n_levels),
            decoder_block=levels,
        ).logits

    def window_batch(
        self, item_tokens: np.ndarray, items: np.ndarray, is_target: np.ndarray, users: np.ndarray | None
    ) -> dict[str, torch.Tensor]:
        """One encoder input per window and one decoder block per target column
        (:func:`~.sequences.encoder_decoder_window_tokens`)."""
        arrays = encoder_decoder_window_tokens(self.vocab, item_tokens, items, is_target, users)
        return {key: torch.from_numpy(value) for key, value in arrays.items()}

    def window_logits(self, batch: dict[str, torch.Tensor], model: Any = None) -> torch.Tensor:
        """``[n, J·L, vocab]`` logits of every target block of all-position windows."""
        context, decoder, levels = batch["context"], batch["decoder"], self.vocab.n_levels
        return (self.model if model is None else model)(
            input_ids=context,
            attention_mask=self.encoder_mask(context),
            decoder_input_ids=decoder,
            decoder_attention_mask=block_mask(len(decoder), decoder.shape[1], levels, decoder.device),
            cross_distance=cross_distance(context, batch["visible"], levels),
            decoder_block=levels,
        ).logits

    def encode_context(self, context: torch.Tensor) -> DecodeState:
        mask = context != PAD
        hidden = self.model.encoder(input_ids=context, attention_mask=self.encoder_mask(context)).last_hidden_state
        b, s, _ = hidden.shape
        heads, d = self.model.config.num_heads, self.model.config.d_kv
        keys, values = [], []
        for block in self.model.decoder.block:
            att = block.layer[1].EncDecAttention
            keys.append(att.k(hidden).view(b, s, heads, d).transpose(1, 2))
            values.append(att.v(hidden).view(b, s, heads, d).transpose(1, 2))
        n = len(keys)
        if self.causal_encoder:  # padding and the recency bias of the next item (distance = rank from the end)
            next_item = torch.zeros(1, dtype=torch.long, device=context.device)
            bias = self.model.cross_bias(cross_distance(context, next_item, self.vocab.n_levels)).to(hidden.dtype)
        else:
            bias = mask_bias(mask, hidden.dtype)
        return DecodeState(keys, values, bias, [None] * n, [None] * n)

    def decode_step(self, state: DecodeState, tokens: torch.Tensor) -> torch.Tensor:
        dec, cfg = self.model.decoder, self.model.config
        b, w = tokens.shape
        heads, d = cfg.num_heads, cfg.d_kv
        t = state.steps
        # relative position bias of the new query (position t) over keys 0..t: [1, 1, H, t+1]
        pos_bias = dec.block[0].layer[0].SelfAttention.compute_bias(1, t + 1, past_seen_tokens=t).transpose(1, 2)
        x = dec.embed_tokens(tokens)
        for i, block in enumerate(dec.block):
            sa = block.layer[0]
            h = sa.layer_norm(x)
            att = sa.SelfAttention
            q, k, v = (proj(h).view(b, w, heads, d) for proj in (att.q, att.k, att.v))
            own = state.append(i, k, v)
            x = x + att.o(attend(q, own=own, own_bias=pos_bias))
            ca = block.layer[1]
            q = ca.EncDecAttention.q(ca.layer_norm(x)).view(b, w, heads, d)
            x = x + ca.EncDecAttention.o(attend(q, shared=(state.shared_k[i], state.shared_v[i], state.shared_bias)))
            x = block.layer[2](x)
        x = dec.final_layer_norm(x)
        if cfg.scale_decoder_outputs:
            x = x * (cfg.d_model**-0.5)
        return self.model.lm_head(x)
