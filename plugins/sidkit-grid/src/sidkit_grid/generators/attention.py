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

It is registered with transformers' attention and mask interfaces under :data:`ATTENTION`
(masks are ``sdpa``'s: padding and causality exactly as before; float32 logits are
identical, tested). Every GPT-2 and T5 model a sidkit generator builds or loads uses it
(:func:`use_fast_attention`); ``config._attn_implementation`` is not part of the saved
config or of the checkpoint fingerprint (``to_diff_dict``), so runs trained before it
resume and load unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = ["ATTENTION", "fast_sdpa", "use_fast_attention"]

ATTENTION = "sidkit-sdpa"
"""The attention implementation's registered name."""


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
    output): float32 fused SDPA for bf16 CPU inputs without dropout, else transformers' sdpa."""
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
