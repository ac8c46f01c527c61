"""``sidkit-sdpa``: transformers' SDPA attention, run in float32 on CPU under bf16 autocast
whenever no attention dropout applies.

On CPU, torch's fused (flash) attention kernel serves float32 inputs without dropout. With
bfloat16 inputs, or a dropout on the attention probabilities, ``scaled_dot_product_attention``
takes the unfused path: a ``bmm`` for QKᵀ, softmax, a Bernoulli mask over the
``[batch, heads, T, T]`` probabilities, another ``bmm``; on the flattened ``decoder-only``
(124 tokens, 8 heads of 16) that path was about 80 % of a bf16 training step (profiled:
``sdk_docs/plugins/grid-generation.md``, *Attention on CPU*). So when the attention dropout is 0 (the generators'
``attn_dropout = 0``, and every evaluation) this function computes the attention of bf16
queries, keys and values in float32 through the fused kernel and hands back bf16; otherwise
it is transformers' ``sdpa`` unchanged. The result differs from the bf16 path only by bf16
rounding (float32 is the more precise of the two).

Inside :func:`decoder_blocks` (``tiger``'s every-position windows: one block of ``L`` decoder
tokens per target, causal inside a block, nothing across), a causal self-attention
(T5's decoder; ``module.is_causal``) is computed block by block (:func:`block_attention`):
the same values as the full ``[T, T]`` attention under that block mask, at ``1/J`` of its
cost for ``J`` blocks (the full one was about a fifth of a CPU training step at the ML-100K
size, ``sdk_docs/plugins/grid-generation.md``). The block mask is still passed, so a model
under any other attention implementation computes the same thing the slow way.

It is registered with transformers' attention and mask interfaces under :data:`ATTENTION`
(masks are ``sdpa``'s: padding and causality exactly as before; float32 logits are
identical, tested). Every GPT-2 and T5 model a sidkit generator builds or loads uses it
(:func:`use_fast_attention`); ``config._attn_implementation`` is not part of the saved
config or of the checkpoint fingerprint (``to_diff_dict``), so runs trained before it
resume and load unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = ["ATTENTION", "block_attention", "decoder_blocks", "fast_sdpa", "use_fast_attention"]

ATTENTION = "sidkit-sdpa"
"""The attention implementation's registered name."""


_DECODER_BLOCK: contextvars.ContextVar[int] = contextvars.ContextVar("sidkit_decoder_block", default=0)


@contextlib.contextmanager
def decoder_blocks(size: int) -> Iterator[None]:
    """While active, :func:`fast_sdpa` attends a causal self-attention (``module.is_causal``)
    in blocks of ``size`` tokens, causal inside a block and nothing across
    (:func:`block_attention`). The caller's mask must be that block mask."""
    token = _DECODER_BLOCK.set(int(size))
    try:
        yield
    finally:
        _DECODER_BLOCK.reset(token)


def block_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    size: int,
    position_bias: torch.Tensor | None = None,
    scaling: float | None = None,
    dropout: float = 0.0,
) -> torch.Tensor:
    """Self-attention of ``[B, H, T, D]`` inputs over consecutive blocks of ``size`` tokens
    (causal inside a block, nothing across), in float32; ``[B, T, H, D]`` in the query's
    dtype. ``position_bias`` (``[1 or B, H, T, T]``, T5's relative bias) contributes its
    diagonal blocks, so the result equals the full attention under the block mask."""
    b, h, t, d = query.shape
    if t % size or key.shape[2] != t:
        raise ValueError(f"block attention: {t} queries and {key.shape[2]} keys do not split into blocks of {size}")
    j = t // size
    q, k, v = (x.float().reshape(b, h, j, size, d) for x in (query, key, value))
    scores = (q @ k.transpose(-1, -2)) * (d**-0.5 if scaling is None else scaling)  # [B, H, J, L, L]
    if position_bias is not None:
        pb = position_bias.float()
        blocks = pb.reshape(pb.shape[0], h, j, size, j, size).diagonal(dim1=2, dim2=4)  # [B', H, L, L, J]
        scores = scores + blocks.movedim(-1, 2)
    causal = torch.ones(size, size, dtype=torch.bool, device=query.device).tril()
    probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
    if dropout:
        probs = torch.nn.functional.dropout(probs, dropout)
    return (probs @ v).reshape(b, h, t, d).transpose(1, 2).contiguous().to(query.dtype)


def _float(t: torch.Tensor | None) -> torch.Tensor | None:
    return t if t is None or not t.is_floating_point() else t.float()


def fast_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature (``[B, H, T, D]`` inputs, ``[B, T, H, D]``
    output): float32 fused SDPA for bf16 CPU inputs without dropout, else transformers' sdpa;
    a causal self-attention inside :func:`decoder_blocks` goes through :func:`block_attention`."""
    size = _DECODER_BLOCK.get()
    if size and getattr(module, "is_causal", False) and query.shape[2] == key.shape[2] > 1:
        out = block_attention(query, key, value, size, kwargs.get("position_bias"), kwargs.get("scaling"), dropout)
        return out, None
    if dropout or query.device.type != "cpu" or query.dtype != torch.bfloat16:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, **kwargs)
    if kwargs.get("position_bias") is not None:  # T5's relative bias joins the mask: same dtype as the queries
        kwargs["position_bias"] = kwargs["position_bias"].float()
    with torch.autocast("cpu", enabled=False):
        out, weights = sdpa_attention_forward(
            module, query.float(), key.float(), value.float(), _float(attention_mask), dropout=0.0, **kwargs
        )
    return out.to(query.dtype), weights


AttentionInterface.register(ATTENTION, fast_sdpa)
# the masks of transformers' sdpa: an implementation without a registered mask function gets
# no mask at all (padding would be attended)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def use_fast_attention(config: Any) -> Any:
    """Set a transformers config (GPT-2, T5) to :data:`ATTENTION`; returns the config."""
    config._attn_implementation = ATTENTION
    return config
