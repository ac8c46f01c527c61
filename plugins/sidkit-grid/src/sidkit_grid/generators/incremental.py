"""Incremental decoding state shared by both generators: a per-history *shared* context
(T5 cross-attention keys/values, or the decoder-only history prefix) computed once per
history, plus a small per-beam cache of the tokens generated so far.

Beams of one history share the context keys/values instead of copying them ``beam`` times
(what ``generate(num_beams=...)`` does): the beam dimension becomes the query dimension of
one batched attention over the shared keys. Reordering beams only gathers the per-beam
cache (at most ``L + 1`` tokens), never the context.
"""

from __future__ import annotations

import attrs
import torch

__all__ = ["DecodeState", "attend", "mask_bias"]


def mask_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[B, S]`` 0/1 attention mask -> additive bias ``[B, 1, 1, S]`` (0 or a large negative)."""
    return ((1.0 - mask.to(dtype)) * torch.finfo(dtype).min)[:, None, None, :]


@attrs.define(eq=False)
class DecodeState:
    """What :meth:`step` needs between calls.

    ``shared_k/shared_v``: per layer ``[B, H, S, d]`` context keys/values (``shared_bias``
    ``[B, 1, 1, S]`` masks padding); ``own_k/own_v``: per layer ``[B, beams, H, T, d]`` keys/values of
    the ``T`` tokens fed so far; ``steps``: tokens fed so far; ``positions``: ``[B]``
    position of the last context token, and ``first_logits``: ``[B, 1, vocab]`` logits of the
    first SID token, computed with the context (decoder-only models).
    """

    shared_k: list[torch.Tensor]
    shared_v: list[torch.Tensor]
    shared_bias: torch.Tensor
    own_k: list[torch.Tensor | None]
    own_v: list[torch.Tensor | None]
    steps: int = 0
    positions: torch.Tensor | None = None
    first_logits: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return self.shared_bias.shape[0]

    def restart(self, rows: torch.Tensor | None = None) -> DecodeState:
        """A state before the first step over the same contexts (only ``rows`` of them),
        without encoding them again."""

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t if rows is None else t[rows]

        n = len(self.own_k)
        return DecodeState(
            [pick(k) for k in self.shared_k],
            [pick(v) for v in self.shared_v],
            pick(self.shared_bias),
            [None] * n,
            [None] * n,
            positions=None if self.positions is None else pick(self.positions),
            first_logits=None if self.first_logits is None else pick(self.first_logits),
        )

    def reorder(self, parents: torch.Tensor | None) -> None:
        """Keep, for new beam ``j`` of history ``b``, the cache of old beam ``parents[b, j]``."""
        if parents is None or self.own_k[0] is None:
            return
        rows = torch.arange(parents.shape[0], device=parents.device)[:, None]
        self.own_k = [k[rows, parents] for k in self.own_k]
        self.own_v = [v[rows, parents] for v in self.own_v]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add this step's ``[B, beams, H, d]`` keys/values of ``layer`` to its cache; return the cache."""
        k, v = k.unsqueeze(3), v.unsqueeze(3)
        if self.own_k[layer] is not None:
            k = torch.cat([self.own_k[layer], k], dim=3)
            v = torch.cat([self.own_v[layer], v], dim=3)
        self.own_k[layer], self.own_v[layer] = k, v
        return k, v


def attend(
    q: torch.Tensor,
    *,
    own: tuple[torch.Tensor, torch.Tensor] | None = None,
    own_bias: torch.Tensor | None = None,
    shared: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """One-token attention of ``q [B, beams, H, d]`` over a history's shared keys and/or the
    beam's own cached keys, with one softmax over both. Returns ``[B, beams, H * d]``.

    ``own = (k, v)`` with ``[B, beams, H, T, d]``; ``own_bias`` broadcasts to ``[B, beams, H, T]``;
    ``shared = (k, v, bias)`` with ``[B, H, S, d]`` keys/values and ``[B, 1, 1, S]`` bias.
    """
    b, w, h, d = q.shape
    if own is None:
        k, v, bias = shared
        out = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k, v, attn_mask=bias, scale=scale)
        return out.transpose(1, 2).reshape(b, w, h * d)
    # own keys are few (T <= SID levels): broadcast products beat a batched matmul per beam
    ok, ov = own
    s_own = (q.unsqueeze(3) * ok).sum(-1) * scale  # [B, beams, H, T]
    if own_bias is not None:
        s_own = s_own + own_bias
    s_own = s_own.transpose(1, 2)  # [B, H, beams, T]
    if shared is None:
        p_own = torch.softmax(s_own, dim=-1)
    else:
        k, v, bias = shared
        s_sh = torch.matmul(q.transpose(1, 2), k.transpose(-1, -2)) * scale + bias  # [B, H, beams, S]
        p = torch.softmax(torch.cat([s_sh, s_own], dim=-1), dim=-1)
        p_sh, p_own = p[..., : k.shape[2]], p[..., k.shape[2] :]
    out = (p_own.transpose(1, 2).unsqueeze(-1).to(ov.dtype) * ov).sum(3)  # [B, beams, H, d]
    if shared is not None:
        out = out + torch.matmul(p_sh.to(v.dtype), v).transpose(1, 2)
    return out.reshape(b, w, h * d)
