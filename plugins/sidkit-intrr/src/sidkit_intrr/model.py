"""The IntRR network: item side (UID embedding → RAN → item vector), a backbone over one
vector per history item, and the user side (RAN over the backbone's last hidden state).

A backbone input row is ``[start vector, E(item 1), ..., E(item n)]``, left-padded; every
position's hidden state guides the RAN towards the SID of the item after it. The training
forward returns the loss (``L_rec + λ · L_aln``) so that it runs as one call of the module,
as DDP requires.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from sidkit_grid.api import use_fast_attention
from torch import nn
from transformers import GPT2Config, GPT2Model

from .ran import INIT_STD, RAN, level_nll

__all__ = ["NetSpec", "IntRRNet", "PAD", "START"]

PAD, START = -1, -2
"""Slot values of a backbone input row besides item rows: padding and the start vector."""
ITEM_CHUNK = 65_536


@attrs.frozen(kw_only=True)
class NetSpec:
    """Everything that decides the network's shape and forward pass (saved in ``meta.json``)."""

    n_items: int
    codebook_sizes: tuple[int, ...] = attrs.field(converter=lambda s: tuple(int(x) for x in s))
    max_len: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    dropout: float
    activation: str
    item_dim: int
    mlp_hidden: int
    redistribution: str
    aln_weight: float
    user_teacher_forcing: bool
    shared_ran: bool
    init_std: float = INIT_STD  # checkpoints saved before the option existed used GPT-2's 0.02
    ran_context: str = "previous"  # ... and conditioned each level on the previous codeword
    attn_dropout: float | None = None  # None: ``dropout`` (left out of the JSON, as before the option)

    @classmethod
    def of(cls, config: Any, n_items: int, codebook_sizes: tuple[int, ...]) -> NetSpec:
        names = {f.name for f in attrs.fields(cls)} - {"n_items", "codebook_sizes"}
        return cls(n_items=n_items, codebook_sizes=codebook_sizes, **{n: getattr(config, n) for n in names})

    @property
    def uses_uid(self) -> bool:
        """Whether the item side has a UID embedding: it feeds the item vector, or L_aln trains it."""
        return self.redistribution != "none" or self.aln_weight > 0

    def to_json(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["codebook_sizes"] = list(self.codebook_sizes)
        if d["attn_dropout"] is None:  # so the checkpoint fingerprints of earlier runs stay valid
            del d["attn_dropout"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NetSpec:
        return cls(**d)


def gpt2_backbone(spec: NetSpec) -> GPT2Model:
    """transformers' ``GPT2Model`` fed ``inputs_embeds`` (its token table is dropped)."""
    model = GPT2Model(
        use_fast_attention(
            GPT2Config(
                vocab_size=1,
                n_positions=spec.max_len + 1,
                n_embd=spec.d_model,
                n_layer=spec.num_layers,
                n_head=spec.num_heads,
                n_inner=spec.d_ff,
                activation_function=spec.activation,
                resid_pdrop=spec.dropout,
                embd_pdrop=spec.dropout,
                attn_pdrop=spec.dropout if spec.attn_dropout is None else spec.attn_dropout,
                bos_token_id=None,
                eos_token_id=None,
                use_cache=False,
            )
        )
    )
    model.wte = None  # never used with inputs_embeds; an unused parameter would break DDP
    return model


class IntRRNet(nn.Module):
    """See the module docstring. ``ran`` is the user side's RAN; the item side uses it too
    (``shared_ran``) or its own ``item_ran``."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        d = spec.d_model
        std = spec.init_std
        ctx = spec.ran_context
        self.ran = RAN(spec.codebook_sizes, d, spec.mlp_hidden, init_std=std, context=ctx)
        self.item_ran = (
            None
            if spec.shared_ran
            else RAN(spec.codebook_sizes, d, spec.mlp_hidden, mlps=spec.uses_uid, init_std=std, context=ctx)
        )
        self.uid = nn.Embedding(spec.n_items, spec.item_dim) if spec.uses_uid else None
        self.project = nn.Linear(spec.item_dim, d) if spec.uses_uid else None
        if self.uid is not None:
            nn.init.normal_(self.uid.weight, std=std)
        self.start = nn.Parameter(torch.randn(d) * INIT_STD)
        self.backbone = gpt2_backbone(spec)

    @property
    def item_side(self) -> RAN:
        return self.ran if self.item_ran is None else self.item_ran

    # -- item side ---------------------------------------------------------------------------
    def item_vectors(
        self, items: torch.Tensor, codes: torch.Tensor, with_aln: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(E [n, d], Σ_l −log p_l(c_l) [n] or None)`` of ``items`` with SIDs ``codes``."""
        ran, mode = self.item_side, self.spec.redistribution
        x = None if self.uid is None else self.project(self.uid(items))
        if mode == "none":
            vectors = ran.codeword_sum(codes)
            aln = level_nll(ran.teacher_forced(x, codes), codes) if with_aln and x is not None else None
            return vectors, aln
        logits, vectors = ran.redistributed(x, mode)
        return sum(vectors), (level_nll(logits, codes) if with_aln else None)

    @torch.no_grad()
    def item_assignment(self, items: torch.Tensor) -> torch.Tensor:
        """``[n, L]`` codes the item side assigns ``items``: each level's argmax along its
        redistributed path (``"ste"`` for ``redistribution = "none"``)."""
        if self.uid is None:
            raise ValueError("this network has no UID embedding (redistribution = 'none' and aln_weight = 0)")
        x = self.project(self.uid(items.to(self.start.device)))
        mode = "soft" if self.spec.redistribution == "soft" else "ste"
        logits, _ = self.item_side.redistributed(x, mode)
        return torch.stack([lg.argmax(dim=-1) for lg in logits], dim=1).cpu()

    @torch.no_grad()
    def item_table(self, codes: torch.Tensor) -> torch.Tensor:
        """``[n_items, d]`` float32 item vectors of the whole catalog (``codes``: its
        ``[n_items, L]`` SIDs), computed outside any autocast: the table is cached, and a
        cached bf16 table would leak into a later float32 ranking."""
        items = torch.arange(codes.shape[0], device=codes.device)
        with torch.autocast(device_type=codes.device.type, enabled=False):
            parts = [
                self.item_vectors(items[i : i + ITEM_CHUNK], codes[i : i + ITEM_CHUNK], with_aln=False)[0]
                for i in range(0, codes.shape[0], ITEM_CHUNK)
            ]
        return torch.cat(parts) if parts else torch.zeros((0, self.spec.d_model), device=codes.device)

    # -- backbone ------------------------------------------------------------------------------
    def hidden(self, slots: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Backbone states ``[B, S, d]`` of input rows ``slots`` (``PAD``, ``START`` or a row of ``table``)."""
        mask = slots != PAD
        rows = table.index_select(0, slots.clamp(min=0).reshape(-1)).view(*slots.shape, -1)
        x = torch.where((slots >= 0)[..., None], rows, torch.zeros((), dtype=rows.dtype, device=rows.device))
        x = torch.where((slots == START)[..., None], self.start.to(x.dtype), x)
        positions = (mask.long().cumsum(1) - 1).clamp(min=0)
        out = self.backbone(inputs_embeds=x, attention_mask=mask.long(), position_ids=positions, use_cache=False)
        return out.last_hidden_state

    # -- user side ----------------------------------------------------------------------------
    def user_logits(self, h: torch.Tensor, codes: torch.Tensor) -> list[torch.Tensor]:
        """Training logits of every level for user states ``h [n, d]`` and target SIDs ``codes``."""
        if self.spec.user_teacher_forcing:
            return self.ran.teacher_forced(h, codes)
        return self.ran.redistributed(h, "soft" if self.spec.redistribution == "soft" else "ste")[0]

    def level_logits(
        self, level: int, h: torch.Tensor, previous: torch.Tensor | None, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoding: ``([B, W, K_level] logits, the beams' new context)`` of ``level`` for user
        states ``h [B, d]`` after codes ``previous [B, W]`` of the level before (``None`` at
        the first level: ``W = 1``); ``context [B, W, d]``: the beams' context before that
        level (``"prefix"`` contexts accumulate; ``None`` at the first two levels)."""
        if level == 0:
            return self.ran.logits(0, h)[:, None, :], None
        context = self.ran.next_context(context, self.ran.codeword(level - 1, previous))
        return self.ran.logits(level, self.ran.guide(level, h[:, None, :], context)), context

    def forward(
        self,
        slots: torch.Tensor,
        targets: torch.Tensor,
        target_codes: torch.Tensor,
        items: torch.Tensor,
        item_codes: torch.Tensor,
        item_counts: torch.Tensor,
    ) -> torch.Tensor:
        """Training loss of one batch: mean over its targets of ``Σ_l −log p_l`` (user side,
        at the positions ``targets``, SIDs ``target_codes`` in row-major order) plus ``λ`` times
        the mean over its history item occurrences of the item side's ``Σ_l −log p_l``.
        ``slots`` index ``items`` (the batch's distinct history items, ``item_counts`` of each)."""
        with_aln = self.spec.aln_weight > 0 and self.uid is not None
        table, aln = self.item_vectors(items, item_codes, with_aln)
        h = self.hidden(slots, table)[targets]
        loss = level_nll(self.user_logits(h, target_codes), target_codes).mean()
        if aln is not None:
            weights = item_counts.float()
            loss = loss + self.spec.aln_weight * (aln * weights).sum() / weights.sum().clamp(min=1.0)
        return loss
