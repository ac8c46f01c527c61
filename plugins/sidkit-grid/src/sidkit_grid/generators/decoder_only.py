"""Generator ``decoder-only``: a GPT-2 causal LM (transformers' ``GPT2LMHeadModel``) over
``[user token] BOS [SID tokens of the history items] [SID tokens of the next item]``; GRID's
decoder-only comparison point.

Every position predicts the next token, so the first token of an item is predicted at the
last token of the item before it (at BOS for an empty history). One window of items is
then a causal prefix of the next-longer one, and ``windows = "all"`` trains every item of a
window in one pass with the same predictions a sliding-window sample of each prefix would
make (a test checks loss and gradients against the sum over prefixes).

Histories are left-padded with position ids counted from each row's first real token, so
a row's result does not depend on its batch. Decoding runs the context once per history
(the shared keys/values of :mod:`.incremental`, and the first token's logits) and then one
token per step for all beams.
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ..configs.generators import DecoderOnlyConfig
from .base import SIDGenerator
from .incremental import DecodeState, attend, mask_bias
from .sequences import BOS, EOS, PAD

__all__ = ["DecoderOnlyGenerator"]


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(1) - 1).clamp(min=0)


class DecoderOnlyGenerator(SIDGenerator):
    """GPT-2 over SID tokens. Config: :class:`~sidkit_grid.configs.DecoderOnlyConfig`."""

    name = "decoder-only"
    config_class = GPT2Config
    model_class = GPT2LMHeadModel
    context_eos = False
    context_bos = True

    def __init__(self, config: DecoderOnlyConfig | None = None):
        super().__init__(config or DecoderOnlyConfig())

    def model_config(self, vocab_size: int) -> GPT2Config:
        c = self.config
        levels = len(self.vocab.codebook_sizes)
        return GPT2Config(
            vocab_size=vocab_size,
            n_positions=2 + (self.max_len + 1) * levels,  # user, BOS, max_len + 1 items less one token
            n_embd=c.d_model,
            n_layer=c.num_layers,
            n_head=c.num_heads,
            n_inner=c.d_ff,
            activation_function=c.activation,
            resid_pdrop=c.dropout,
            embd_pdrop=c.dropout,
            attn_pdrop=c.attention_dropout,
            pad_token_id=PAD,
            eos_token_id=EOS,
            bos_token_id=BOS,
            use_cache=False,
        )

    def teacher_forced_logits(self, context: torch.Tensor, targets: torch.Tensor, model=None) -> torch.Tensor:
        ids = torch.cat([context, targets[:, :-1]], dim=1)
        mask = torch.cat([context != PAD, torch.ones_like(targets[:, :-1], dtype=torch.bool)], dim=1)
        out = (self.model if model is None else model)(
            input_ids=ids, attention_mask=mask, position_ids=_positions(mask), use_cache=False
        )
        return out.logits[:, -targets.shape[1] :]

    def causal_logits(self, inputs: torch.Tensor, model=None) -> torch.Tensor:
        mask = inputs != PAD
        out = (self.model if model is None else model)(
            input_ids=inputs, attention_mask=mask, position_ids=_positions(mask), use_cache=False
        )
        return out.logits

    def encode_context(self, context: torch.Tensor) -> DecodeState:
        mask = context != PAD
        out = self.model.transformer(
            input_ids=context, attention_mask=mask, position_ids=_positions(mask), use_cache=True
        )
        keep = mask[:, None, :, None].to(out.last_hidden_state.dtype)  # zero padded keys/values: finite, masked
        # transformers >= 5.2x names the cache ``cache`` (``past_key_values`` warns); 5.0/5.1 only have the old name
        cache = out.cache if "cache" in out else out.past_key_values
        layers = cache.layers
        keys = [layer.keys * keep for layer in layers]
        values = [layer.values * keep for layer in layers]
        n = len(keys)
        state = DecodeState(keys, values, mask_bias(mask, keys[0].dtype), [None] * n, [None] * n)
        state.positions = mask.sum(1) - 1
        state.first_logits = self.model.lm_head(out.last_hidden_state[:, -1:])
        return state

    def first_step(self, state: DecodeState) -> torch.Tensor:
        return state.first_logits

    def decode_step(self, state: DecodeState, tokens: torch.Tensor) -> torch.Tensor:
        tr = self.model.transformer
        b, w = tokens.shape
        heads = self.model.config.n_head
        d = self.model.config.n_embd // heads
        pos = (state.positions + state.steps)[:, None].expand(b, w)
        x = tr.wte(tokens) + tr.wpe(pos)
        for i, block in enumerate(tr.h):
            q, k, v = block.attn.c_attn(block.ln_1(x)).split(self.model.config.n_embd, dim=-1)
            own = state.append(i, k.view(b, w, heads, d), v.view(b, w, heads, d))
            shared = (state.shared_k[i], state.shared_v[i], state.shared_bias)
            x = x + block.attn.c_proj(attend(q.view(b, w, heads, d), own=own, shared=shared, scale=block.attn.scaling))
            x = x + block.mlp(block.ln_2(x))
        return self.model.lm_head(tr.ln_f(x))
