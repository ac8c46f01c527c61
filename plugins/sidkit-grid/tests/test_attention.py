"""sidkit's attention for the GPT-2 and T5 generators (``sidkit_grid.generators.attention``)
and the ``attn_dropout`` option: float32 fused SDPA exactly where no attention dropout
applies, transformers' sdpa everywhere else, and nothing saved or fingerprinted changes."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from seq_toys import GENERATORS, built, random_sids, tiny
from sidkit.config.structure import structure
from sidkit_grid.configs import DecoderOnlyConfig
from sidkit_grid.generators.attention import ATTENTION, fast_sdpa
from transformers.integrations.sdpa_attention import sdpa_attention_forward

B, H, T, D = 2, 3, 7, 8


def _qkv(dtype):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, H, T, D, generator=g).to(dtype) for _ in range(3)]


def _causal_float_mask(dtype):
    keep = torch.ones(T, T, dtype=torch.bool).tril()
    return torch.zeros(B, 1, T, T, dtype=dtype).masked_fill(~keep, torch.finfo(dtype).min)


def test_float32_inputs_are_transformers_sdpa_unchanged():
    q, k, v = _qkv(torch.float32)
    mask = _causal_float_mask(torch.float32)
    module = torch.nn.Module()
    ours, _ = fast_sdpa(module, q, k, v, mask, scaling=D**-0.5)
    theirs, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=D**-0.5)
    assert torch.equal(ours, theirs)


def test_bf16_inputs_without_dropout_are_attended_in_float32():
    q, k, v = _qkv(torch.bfloat16)
    mask = _causal_float_mask(torch.bfloat16)
    seen = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kw):
        seen.append((args[0].dtype, kw.get("dropout_p")))
        return real(*args, **kw)

    module = torch.nn.Module()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "scaled_dot_product_attention", spy)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = fast_sdpa(module, q, k, v, mask, scaling=D**-0.5)
    assert seen == [(torch.float32, 0.0)]
    assert out.dtype == torch.bfloat16 and out.shape == (B, T, H, D)
    # the float32 attention of the same bf16 values, rounded once
    reference = real(q.float(), k.float(), v.float(), attn_mask=mask.float(), scale=D**-0.5).transpose(1, 2)
    assert torch.equal(out, reference.to(torch.bfloat16))


def test_t5_position_bias_joins_the_float32_mask():
    q, k, v = _qkv(torch.bfloat16)
    bias = torch.randn(1, H, T, T).to(torch.bfloat16)
    module = torch.nn.Module()
    out, _ = fast_sdpa(module, q, k, v, None, scaling=1.0, position_bias=bias, is_causal=False)
    reference = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=bias.float(), scale=1.0)
    assert torch.equal(out, reference.transpose(1, 2).to(torch.bfloat16))


def test_attention_dropout_keeps_transformers_sdpa():
    q, k, v = _qkv(torch.bfloat16)
    module = torch.nn.Module()
    torch.manual_seed(3)
    ours, _ = fast_sdpa(module, q, k, v, None, dropout=0.5, scaling=D**-0.5)
    torch.manual_seed(3)
    theirs, _ = sdpa_attention_forward(module, q, k, v, None, dropout=0.5, scaling=D**-0.5)
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, theirs)


def _attention_dropouts(model) -> set[float]:
    return {m.attn_dropout.p for m in model.modules() if hasattr(m, "attn_dropout")}


def test_attn_dropout_sets_only_the_attention_probabilities_dropout():
    sids = random_sids(30)
    default = built("decoder-only", sids, dropout=0.2)
    assert _attention_dropouts(default.model) == {0.2}
    fast = built("decoder-only", sids, dropout=0.2, attn_dropout=0.0)
    assert _attention_dropouts(fast.model) == {0.0}
    assert fast.model.config.resid_pdrop == fast.model.config.embd_pdrop == 0.2
    cfg, issues = structure({"attn_dropout": 0}, DecoderOnlyConfig, "generator")
    assert not issues and cfg.attn_dropout == 0.0 and cfg.attention_dropout == 0.0
    _, issues = structure({"attn_dropout": 1.5}, DecoderOnlyConfig, "generator")
    assert "attn_dropout" in str(issues[0]) and "between 0.0 and 1.0" in str(issues[0])


@pytest.mark.parametrize("name", GENERATORS)
def test_models_use_it_after_build_and_load_and_their_saved_config_is_unchanged(name, tmp_path):
    sids = random_sids(30)
    gen = built(name, sids)
    assert gen.model.config._attn_implementation == ATTENTION
    plain = gen.model_config(gen.vocab.size)  # what every earlier run saved and fingerprinted
    assert gen.model.config.to_diff_dict() == plain.to_diff_dict()
    gen.save(tmp_path)
    again = tiny(name)
    again.load(tmp_path)
    assert again.model.config._attn_implementation == ATTENTION


@pytest.mark.parametrize("name", GENERATORS)
def test_models_give_transformers_sdpa_logits_on_left_padded_histories(name):
    """The same masks as transformers' ``sdpa`` (padding and causality), so float32 logits are
    identical; under bf16 autocast they differ only by the attention's bf16 rounding."""
    from sidkit_grid.generators.sequences import PAD

    sids = random_sids(30)
    gen = built(name, sids)
    tokens = torch.randint(4, gen.vocab.size, (3, 9))
    tokens[0, :4] = PAD  # left padding
    tokens[1, :1] = PAD
    targets = torch.randint(4, gen.vocab.size, (3, 3))

    def logits(implementation: str, precision: str) -> torch.Tensor:
        for module in gen.model.modules():
            if hasattr(module, "config"):
                module.config._attn_implementation = implementation
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            return gen.teacher_forced_logits(tokens, targets).float()

    assert torch.equal(logits(ATTENTION, "fp32"), logits("sdpa", "fp32"))
    torch.testing.assert_close(logits(ATTENTION, "bf16"), logits("sdpa", "bf16"), atol=0.1, rtol=0.05)


def test_bf16_training_with_attn_dropout_zero_attends_in_float32():
    """Through the real GPT-2 blocks: ``attn_dropout = 0`` gives float32 attention under
    bf16 autocast while training; the default (dropout on the probabilities) stays bf16."""
    sids = random_sids(30)
    real = F.scaled_dot_product_attention
    for attn_dropout, expected in ((0.0, torch.float32), (None, torch.bfloat16)):
        gen = built("decoder-only", sids, dropout=0.1, attn_dropout=attn_dropout)
        gen.model.train()
        seen: list[torch.dtype] = []

        def spy(*args, seen=seen, **kw):
            seen.append(args[0].dtype)
            return real(*args, **kw)

        tokens = torch.randint(4, gen.vocab.size, (3, 9))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(F, "scaled_dot_product_attention", spy)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                gen.model(input_ids=tokens).logits.float().sum().backward()
        assert seen and set(seen) == {expected}, (attn_dropout, seen)


def _block_mask(t: int, size: int) -> torch.Tensor:
    position = torch.arange(t)
    return (position[:, None] // size == position[None, :] // size) & (position[None, :] <= position[:, None])


@pytest.mark.parametrize("with_bias", [False, True])
def test_block_attention_equals_full_attention_under_the_block_mask(with_bias):
    from sidkit_grid.generators.attention import block_attention

    g = torch.Generator().manual_seed(1)
    t, size = 12, 4
    q, k, v = (torch.randn(B, H, t, D, generator=g, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, H, t, t, generator=g, requires_grad=True) if with_bias else None
    keep = _block_mask(t, size)
    full_mask = torch.zeros(1, 1, t, t).masked_fill(~keep, float("-inf"))
    if with_bias:
        full_mask = full_mask + bias
    full = F.scaled_dot_product_attention(q, k, v, attn_mask=full_mask, scale=1.0).transpose(1, 2)
    ours = block_attention(q, k, v, size, bias, scaling=1.0)
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-6)
    leaves = [q, k, v] + ([bias] if with_bias else [])
    weights = torch.randn(full.shape, generator=g)
    want = torch.autograd.grad((full * weights).sum(), leaves)
    got = torch.autograd.grad((ours * weights).sum(), leaves)
    for name, a, b in zip("qkvb", got, want, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)  # both float32: ~1e-6 from float64
    with pytest.raises(ValueError, match="do not split into blocks of 5"):
        block_attention(q, k, v, 5)


def test_tiger_windows_train_through_block_attention_with_the_full_attentions_values():
    """``tiger``'s every-position loss and gradients are those of the full ``[T, T]``
    decoder self-attention under the block mask, and the block path is the one taken."""
    import numpy as np
    import sidkit_grid.generators.attention as attention
    import sidkit_grid.generators.tiger as tiger
    from sidkit.types import Ragged

    sids = random_sids(20, sizes=(4, 4, 3))
    gen = built("tiger", sids, windows="all", max_len=6)
    gen.model.train()  # dropout 0: deterministic
    train = Ragged.from_lists([[1, 5, 9, 2, 7], [3, 4, 0, 11, 12, 13, 14], [8, 19]])
    windows = gen.training_samples(train, np.array([0, 1, 2]), None)
    batch = gen.batch(sids, windows, np.arange(len(windows)))

    def loss_and_grads():
        gen.model.zero_grad()
        loss = gen.loss(batch, reduction="sum")
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in gen.model.named_parameters() if p.grad is not None}

    calls = []
    real = attention.block_attention
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(attention, "block_attention", lambda *a, **kw: calls.append(a[0].shape) or real(*a, **kw))
        blocked = loss_and_grads()
    assert len(calls) == gen.config.decoder_layers and calls[0][2] % sids.n_levels == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiger, "decoder_blocks", lambda size: contextlib.nullcontext())
        full = loss_and_grads()
    torch.testing.assert_close(blocked[0], full[0], rtol=1e-5, atol=1e-5)
    assert blocked[1].keys() == full[1].keys()
    for name, grad in blocked[1].items():
        torch.testing.assert_close(grad, full[1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_t5_feed_forward_skips_only_the_autocast_round_trip():
    """``AutocastDense`` (every ``tiger`` feed-forward block) gives transformers' values and
    gradients bit for bit, under bf16 autocast and in float32."""
    from sidkit_grid.generators.tiger import AutocastDense
    from transformers import T5Config
    from transformers.models.t5.modeling_t5 import T5DenseActDense

    sids = random_sids(20, sizes=(4, 4, 3))
    gen = built("tiger", sids, windows="all", max_len=6)
    dense = [m for m in gen.model.modules() if isinstance(m, T5DenseActDense)]
    assert dense and all(type(m) is AutocastDense for m in dense)

    theirs = T5DenseActDense(T5Config(d_model=16, d_ff=64, dropout_rate=0.0, feed_forward_proj="relu"))
    ours = copy.deepcopy(theirs)
    ours.__class__ = AutocastDense
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0))
    for autocast in (True, False):
        outs, grads = [], []
        for module in (theirs, ours):
            module.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                out = module(x)
            out.float().square().sum().backward()
            outs.append(out)
            grads.append([p.grad.clone() for p in module.parameters()])
        assert outs[0].dtype == outs[1].dtype == (torch.bfloat16 if autocast else torch.float32)
        assert torch.equal(outs[0], outs[1])
        assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))
