"""The RAN and the item side: straight-through and soft redistribution, the GT lookup
ablation, and the alignment loss pulling the item side onto the given SIDs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sidkit.context import Context
from sidkit.testing import successor_split
from sidkit_intrr.ran import RAN

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference_path(ran: RAN, x: torch.Tensor):
    """The argmax recursion written out: level logits and chosen codewords."""
    logits, words, context = [], [], None
    for level, book in enumerate(ran.codebooks):
        h = x if level == 0 else ran.mlps[level - 1](torch.cat([context, x], dim=-1))
        lg = h @ book.t()
        context = book[lg.argmax(dim=-1)]
        logits.append(lg)
        words.append(context)
    return logits, words


def test_ste_forward_is_the_argmax_path_and_gradients_reach_unselected_codewords():
    torch.manual_seed(0)
    ran = RAN((6, 5, 7), dim=8, hidden=16)
    x = torch.randn(4, 8)
    logits, contexts = ran.redistributed(x, "ste")
    ref_logits, ref_words = _reference_path(ran, x)
    for level in range(3):
        torch.testing.assert_close(logits[level], ref_logits[level])
        assert torch.equal(contexts[level], ref_words[level])  # exactly the argmax codeword
    (torch.stack(contexts) * torch.randn(3, 4, 8)).sum().backward()
    for level, book in enumerate(ran.codebooks):
        chosen = set(logits[level].argmax(dim=-1).tolist())
        unselected = [k for k in range(book.shape[0]) if k not in chosen]
        assert unselected and (book.grad[unselected].abs().sum(dim=1) > 0).all(), level
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ran.mlps.parameters())


def test_soft_context_is_the_probability_weighted_mixture():
    torch.manual_seed(1)
    ran = RAN((6, 5), dim=8, hidden=16)
    x = torch.randn(3, 8)
    logits, contexts = ran.redistributed(x, "soft")
    for level, book in enumerate(ran.codebooks):
        torch.testing.assert_close(contexts[level], torch.softmax(logits[level], dim=-1) @ book)
    h2 = ran.mlps[0](torch.cat([contexts[0], x], dim=-1))
    torch.testing.assert_close(logits[1], h2 @ ran.codebooks[1].t())


def test_prefix_context_reads_every_earlier_level_and_previous_only_the_last():
    """Level 3's logits under teacher forcing: with ``"previous"`` they ignore the first
    code, with ``"prefix"`` they read ``V_1[c_1] + V_2[c_2]``."""
    torch.manual_seed(2)
    x = torch.randn(2, 8).repeat(2, 1)
    codes = torch.tensor([[0, 3, 1], [1, 3, 1], [2, 3, 1], [3, 3, 1]])  # same c_2, different c_1
    previous = RAN((4, 4, 4), dim=8, hidden=16)
    prefix = RAN((4, 4, 4), dim=8, hidden=16, context="prefix")
    prefix.load_state_dict(previous.state_dict())
    lp, lx = previous.teacher_forced(x, codes), prefix.teacher_forced(x, codes)
    torch.testing.assert_close(lp[2][0], lp[2][2])  # rows 0 and 2: same x, same c_2
    assert not torch.allclose(lx[2][0], lx[2][2])
    torch.testing.assert_close(lx[1], lp[1])  # level 2 reads level 1 alone either way
    context = prefix.codebooks[0][codes[:, 0]] + prefix.codebooks[1][codes[:, 1]]
    torch.testing.assert_close(lx[2], prefix.mlps[1](torch.cat([context, x], dim=-1)) @ prefix.codebooks[2].t())
    with pytest.raises(ValueError, match="context must be one of"):
        RAN((4, 4), dim=8, hidden=16, context="all")


def test_none_item_vector_is_the_sum_of_the_given_codewords(tiny, make_sids):
    sids = make_sids(30, sizes=(4, 5, 3))
    gen = tiny(sids, redistribution="none")
    net = gen.model
    codes = torch.from_numpy(sids.codes)
    vectors, aln = net.item_vectors(torch.arange(30), codes, with_aln=True)
    books = net.ran.codebooks
    expect = books[0][codes[:, 0]] + books[1][codes[:, 1]] + books[2][codes[:, 2]]
    assert torch.equal(vectors, expect)
    assert aln.shape == (30,) and torch.isfinite(aln).all()  # L_aln still trains the UID side
    with torch.no_grad():
        net.uid.weight.normal_()
    assert torch.equal(net.item_vectors(torch.arange(30), codes, with_aln=False)[0], expect)


def test_none_without_alignment_has_no_uid_table(tiny, make_sids):
    sids = make_sids(30)
    gen = tiny(sids, redistribution="none", aln_weight=0.0, shared_ran=False)
    assert gen.model.uid is None and gen.model.item_ran.mlps is None


def test_large_alignment_weight_makes_the_item_side_reproduce_the_given_sids(tiny, make_sids):
    split = successor_split(n_items=40, n_users=160)
    sids = make_sids(split.n_items, sizes=(4, 4, 4), seed=5)
    gen = tiny(aln_weight=20.0, train={"epochs": 30})
    gen.fit(sids, Context(split=split, progress=False))
    assigned = gen.model.item_assignment(torch.arange(split.n_items)).numpy()
    assert float((assigned == sids.codes).all(axis=1).mean()) >= 0.95
    untrained = tiny(sids, seed=1).model.item_assignment(torch.arange(split.n_items)).numpy()
    assert float((untrained == sids.codes).all(axis=1).mean()) < 0.2


def test_every_parameter_gets_a_gradient_under_every_ablation(tiny, make_sids, make_histories):
    """DDP needs a gradient for every parameter: no ablation may leave one unused."""
    from sidkit_intrr.batches import make_batch, training_samples

    sids = make_sids(25)
    train = make_histories(12, 25, longest=7, seed=3)
    for options in (
        {},
        {"redistribution": "soft"},
        {"redistribution": "none"},
        {"redistribution": "none", "aln_weight": 0.0},
        {"aln_weight": 0.0},
        {"user_teacher_forcing": False},
        {"shared_ran": False},
        {"shared_ran": False, "redistribution": "none", "aln_weight": 0.0},
    ):
        gen = tiny(sids, **options)
        samples = training_samples(train, gen.max_len, "all")
        gen.model.train()
        gen.model(**make_batch(samples, sids.codes, np.arange(len(samples)))).backward()
        missing = [n for n, p in gen.model.named_parameters() if p.grad is None]
        assert not missing, (options, missing)


def test_init_std_scales_codewords_and_uid_table_and_old_specs_keep_gpt2_scale():
    from sidkit_intrr.model import IntRRNet, NetSpec

    fields = dict(
        n_items=400, codebook_sizes=(64, 64), max_len=4, d_model=32, num_layers=1, num_heads=2, d_ff=32,
        dropout=0.0, activation="relu", item_dim=64, mlp_hidden=16, redistribution="ste", aln_weight=0.1,
        user_teacher_forcing=True, shared_ran=True,
    )
    torch.manual_seed(0)
    net = IntRRNet(NetSpec(**fields, init_std=1.0))
    assert 0.9 < float(net.ran.codebooks[0].detach().std()) < 1.1 and 0.9 < float(net.uid.weight.detach().std()) < 1.1
    legacy = NetSpec.from_json({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
    assert legacy.init_std == 0.02 and legacy.ran_context == "previous"  # metas saved before the options
    torch.manual_seed(0)
    assert 0.015 < float(IntRRNet(legacy).ran.codebooks[1].detach().std()) < 0.025
