"""Generator ``tiger``: a T5 encoder-decoder (transformers' ``T5ForConditionalGeneration``)
reading the flattened SID tokens of a history and writing the ``L`` tokens of the next item.

Training runs the stock Hugging Face forward. Decoding uses :meth:`TigerGenerator.step`, a
KV-cached replay of the same T5 decoder weights in which all beams of a history share that
history's cross-attention keys/values (see :mod:`.incremental`); a test checks it against
the full forward.
"""

from __future__ import annotations

import torch
from transformers import T5Config, T5ForConditionalGeneration

from ..configs.generators import TigerConfig
from .base import SIDGenerator
from .incremental import DecodeState, attend, mask_bias
from .sequences import BOS, EOS, PAD

__all__ = ["TigerGenerator"]


class TigerGenerator(SIDGenerator):
    """TIGER / GRID: T5 over SID tokens. Config: :class:`~sidkit_grid.configs.TigerConfig`."""

    name = "tiger"
    config_class = T5Config
    model_class = T5ForConditionalGeneration
    context_eos = True  # the encoder input ends with EOS, so it is never empty

    def __init__(self, config: TigerConfig | None = None):
        super().__init__(config or TigerConfig())

    def model_config(self, vocab_size: int) -> T5Config:
        c = self.config
        return T5Config(
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

    def teacher_forced_logits(self, context: torch.Tensor, targets: torch.Tensor, model=None) -> torch.Tensor:
        decoder_in = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
        out = (self.model if model is None else model)(
            input_ids=context, attention_mask=context != PAD, decoder_input_ids=decoder_in, use_cache=False
        )
        return out.logits

    def encode_context(self, context: torch.Tensor) -> DecodeState:
        mask = context != PAD
        hidden = self.model.encoder(input_ids=context, attention_mask=mask).last_hidden_state
        b, s, _ = hidden.shape
        heads, d = self.model.config.num_heads, self.model.config.d_kv
        keys, values = [], []
        for block in self.model.decoder.block:
            att = block.layer[1].EncDecAttention
            keys.append(att.k(hidden).view(b, s, heads, d).transpose(1, 2))
            values.append(att.v(hidden).view(b, s, heads, d).transpose(1, 2))
        n = len(keys)
        return DecodeState(keys, values, mask_bias(mask, hidden.dtype), [None] * n, [None] * n)

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
