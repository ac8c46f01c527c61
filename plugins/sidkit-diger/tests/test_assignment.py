"""DIGER's assignment: the soft update's exact forward value and its gradients, the bridge
(soft vs detached), SDUD's equilibrium, FrqUD's frequencies and hot set, STE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diger_toys import tiny_config, tiny_tokenizer
from sidkit_diger.assignment import (
    AssignOptions,
    code_logits,
    explore,
    hot_items,
    sdud_loss,
    soft_select,
    straight_through,
    update_frequency,
)
from sidkit_diger.model import DigerModel
from sidkit_diger.quantizer import JointTokenizer
from sidkit_grid.api import SIDVocab, TigerGenerator


def _quantizer(options: AssignOptions, n_items: int = 30, seed: int = 0):
    tok, emb = tiny_tokenizer(n_items=n_items, seed=seed)
    sids = tok.assign(emb)
    q = JointTokenizer.from_rqvae(tok.model, options, torch.from_numpy(sids.codes))
    q.set_inputs(torch.from_numpy(emb.values))
    return q, sids


def test_soft_update_forward_is_exactly_the_selected_code():
    gen = torch.Generator().manual_seed(0)
    book = torch.randn(16, 8, generator=gen, requires_grad=True)
    r = torch.randn(40, 8, generator=gen)
    c, y = explore(code_logits(r, book, minmax=True), torch.ones(40), tau=2.0)
    e = soft_select(book, c, y)
    assert torch.equal(e, book.detach()[c])  # bitwise, not approximately
    assert not torch.equal(y, F.one_hot(c, 16).float())  # y itself is soft
    q, _ = _quantizer(AssignOptions(noise="sdud"))
    q.train()
    a = q(q.inputs)
    for level in range(q.levels):
        assert torch.equal(a.quantized[:, level], q.codebooks.detach()[level][a.codes[:, level]])


def _joint(bridge: str, tokens: str = "argmin", **options):
    """``(model, quantizer, the tokenizer's SIDs, the T5 generator)`` of a fresh joint model."""
    torch.manual_seed(0)
    q, sids = _quantizer(AssignOptions(**options))
    vocab = SIDVocab(sids.codebook_sizes)
    rec = TigerGenerator(tiny_config())
    rec.build(vocab, seed=0)
    return DigerModel(rec.model, q, vocab.offsets, bridge, tokens).train(), q, sids, rec


def _gen_backward(bridge: str, **options):
    """One backward of L_gen through the joint model; returns the codebook gradient and the
    codes the batch selected per level."""
    model, q, _, _ = _joint(bridge, **options)
    items = torch.tensor([2, 7, 11, 19, 23])  # a few items: some codes are nobody's in the batch
    batch = {"items": items, "hist": torch.tensor([[0, 1], [-1, 2], [3, 1]]), "target": torch.tensor([2, 3, 4])}
    model(batch)["gen"].backward()
    with torch.no_grad():
        a = q.eval()(q.inputs.index_select(0, items))
    return q.codebooks.grad, a.codes


def test_soft_bridge_reaches_codes_no_item_selected_and_detached_reaches_none():
    grad, codes = _gen_backward("soft", noise="none", sigma_init=0.0)
    unselected = np.setdiff1d(np.arange(8), codes[:, 0].numpy())
    assert len(unselected) > 0
    assert grad is not None and grad[0, unselected].abs().sum() > 0  # the gradient reaches every code through y
    grad, _ = _gen_backward("detached", noise="none", sigma_init=0.0)
    assert grad is None or torch.count_nonzero(grad) == 0  # L_gen does not reach the tokenizer at all


def test_the_recommender_reads_the_argmin_sids_while_hot_items_explore():
    # every item gets noise of scale 1: the exploring chain is elsewhere for most items
    model, q, sids, rec = _joint("soft", noise="none", sigma_init=1.0)
    a = q(q.inputs)
    assert torch.equal(a.argmax, q.argmin_codes(q.inputs))  # the argmin chain, not argmax along the sampled one
    assert (a.codes != a.argmax).any(1).float().mean() > 0.5
    # L_gen is plain TIGER's teacher-forced loss on the tokenizer's SIDs, though the items explore
    hist, target = torch.tensor([[0, 1, 2], [-1, 3, 4], [-1, -1, 5]]), torch.tensor([6, 7, 8])
    batch = {"items": torch.arange(30), "hist": hist, "target": target}
    labels = torch.from_numpy(rec.item_tokens(sids)[target.numpy()])
    plain = rec.loss((rec.context(sids, hist.numpy(), None), labels))
    torch.testing.assert_close(model(batch)["gen"], plain)
    sampled, *_ = _joint("soft", tokens="sampled", noise="none", sigma_init=1.0)
    assert not torch.allclose(sampled(batch)["gen"], plain)  # the paper read literally: the T5 reads the samples


def test_without_soft_update_only_selected_codes_learn_and_lgen_stops_at_the_tokens():
    grad, _ = _gen_backward("soft", noise="none", sigma_init=0.0, soft_update=False)
    assert grad is None or torch.count_nonzero(grad) == 0
    q, _ = _quantizer(AssignOptions(noise="none", sigma_init=1.0, soft_update=False))
    a = q.train()(q.inputs)
    terms = q.losses(a)
    (terms["vq"] + terms["recon"]).backward()
    for level in range(q.levels):
        touched = torch.nonzero(q.codebooks.grad[level].abs().sum(1)).flatten()
        assert set(touched.tolist()) <= set(a.codes[:, level].tolist())  # hard update: selected codes only
        assert torch.equal(a.quantized[:, level], q.codebooks.detach()[level][a.codes[:, level]])


@pytest.mark.parametrize("gen_loss, lam", [(9.0, 1.7), (1.0, 1.7), (4.0, 1.0)])
def test_sdud_drives_sigma_to_its_equilibrium(gen_loss, lam):
    sigma = torch.nn.Parameter(torch.full((3,), 1.0))
    opt = torch.optim.Adam([sigma], lr=0.02)
    fixed = torch.tensor(gen_loss)  # L_gen held fixed
    for _ in range(2000):
        opt.zero_grad()
        sdud_loss(fixed, sigma, lam).backward()
        opt.step()
    expected = max(0.0, math.sqrt(gen_loss) - lam)
    assert float(sigma.detach().abs().mean()) == pytest.approx(expected, abs=0.03)


def test_frqud_frequencies_and_hot_set_match_a_hand_computed_batch():
    freq = torch.tensor([0.1, 0.5, 0.3, 0.1])  # K = 4: hot above 1.5 / 4 = 0.375
    codes = torch.tensor([1, 1, 2, 0, 1])
    assert hot_items(freq, codes, 1.5).tolist() == [True, True, False, False, True]
    update_frequency(freq, codes, 0.99)
    hand = [0.99 * 0.1 + 0.01 * 1 / 5, 0.99 * 0.5 + 0.01 * 3 / 5, 0.99 * 0.3 + 0.01 * 1 / 5, 0.99 * 0.1]
    assert freq.tolist() == pytest.approx(hand)


def test_frqud_gives_noise_to_hot_items_only():
    q, _ = _quantizer(AssignOptions(noise="frqud", sigma_init=5.0))
    q.train()
    with torch.no_grad():
        first = q.eval()(q.inputs).codes[:, 0]
        q.train()
        freq = torch.full((8,), 0.01)
        freq[first[0]] = 0.5  # item 0's level-1 code is hot, so are the items sharing it
        hot = first == first[0]
        draws = []
        for _ in range(30):
            q.freq[0] = freq
            a = q(q.inputs)
            draws.append(a.codes)
            assert torch.equal(a.hot, hot)
            # cold items: deterministic codes and y = softmax(l / tau) at every level
            assert torch.equal(a.codes[~hot], a.argmax[~hot])
            logits = code_logits(a.z, q.codebooks[0], True)[~hot]  # min-max over the whole batch
            torch.testing.assert_close(a.y[~hot, 0], F.softmax(logits / 2.0, -1))
        draws = torch.stack(draws)
    assert (draws[:, hot] != draws[0, hot]).any()  # hot items explore
    update = AssignOptions(noise="frqud")
    assert update.frequency_gated and not update.learns_sigma
    assert AssignOptions(noise="both").learns_sigma and not AssignOptions(assignment="ste", noise="both").learns_sigma


def test_training_updates_the_frequency_ema_with_the_batch_histogram():
    q, _ = _quantizer(AssignOptions(noise="frqud"))
    with torch.no_grad():
        det = q.eval()(q.inputs).argmax
        q.train()
        before = q.freq.clone()
        q(q.inputs)
    for level in range(2):
        hist = torch.bincount(det[:, level], minlength=8).float() / 30
        torch.testing.assert_close(q.freq[level], 0.99 * before[level] + 0.01 * hist)


def test_straight_through_is_hard_forward_and_passes_gradient_to_the_selected_logit_only():
    logits = torch.randn(5, 6, requires_grad=True)
    c, y = straight_through(logits)
    hard = F.one_hot(logits.argmax(-1), 6).float()
    assert torch.equal(y.detach(), hard)
    w = torch.randn(5, 6)
    (y * w).sum().backward()
    assert torch.equal(logits.grad, w * hard)  # the selected code's logit gets its gradient, no other


def test_ste_updates_only_the_codes_some_item_selected():
    # L_gen (through the soft bridge) and the VQ/reconstruction losses: under STE the codebook
    # gradient is zero on every code no item of the batch selected, at every level
    model, q, _, _ = _joint("soft", assignment="ste", noise="none")
    items = torch.tensor([2, 7, 11, 19, 23])
    batch = {"items": items, "hist": torch.tensor([[0, 1], [-1, 2], [3, 1]]), "target": torch.tensor([2, 3, 4])}
    out = model(batch)
    out["total"].backward()
    with torch.no_grad():
        codes = q.eval()(q.inputs.index_select(0, items)).codes
    grad = q.codebooks.grad
    assert grad is not None and grad.abs().sum() > 0
    for level in range(q.levels):
        touched = set(torch.nonzero(grad[level].abs().sum(1)).flatten().tolist())
        assert touched and touched <= set(codes[:, level].tolist())
    assert q.encoder[0].weight.grad.abs().sum() > 0  # the residual path reaches the encoder
    # the soft update under Gumbel reaches codes nobody selected (the contrast)
    grad, codes = _gen_backward("soft", noise="none", sigma_init=0.0)
    assert grad[1, np.setdiff1d(np.arange(8), codes[:, 1].numpy())].abs().sum() > 0


def test_assignment_stays_float32_inside_a_bf16_autocast():
    """``train.precision = "bf16"`` runs the joint model under autocast; a near-tie that bf16
    products round together must still go to the nearer code (it is 2e-4 nearer here)."""
    encoder = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with torch.no_grad():
        encoder[0].weight.copy_(torch.eye(4))
        encoder[0].bias.zero_()
    books = torch.zeros(1, 2, 4)
    books[0, 0, 0], books[0, 1, 0] = 1.0, 1.001
    q = JointTokenizer(encoder, books, AssignOptions(noise="none"), torch.zeros(1, 2, dtype=torch.long))
    x = torch.tensor([[1.0006, 0.0, 0.0, 0.0]])
    q.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nearest = q.argmin_codes(x)
        a = q(x)
    assert nearest.tolist() == [[1]] and a.argmax.tolist() == [[1]]
    assert a.y.dtype == torch.float32 and a.quantized.dtype == torch.float32
