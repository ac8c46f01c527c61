"""sidkit's attention for the GPT-2 and T5 generators (``sidkit_grid.generators.attention``)
and the ``attn_dropout`` option: float32 fused SDPA exactly where no attention dropout
applies, transformers' sdpa everywhere else, and nothing saved or fingerprinted changes."""

from __future__ import annotations

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
