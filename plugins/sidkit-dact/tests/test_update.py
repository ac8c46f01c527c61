"""DACT's loss: the STE mask, the KL at the period start, the reduction to letter's loss."""

from __future__ import annotations

import copy

import attrs
import numpy as np
import pytest
import torch
from sidkit_dact.cdim import ste_topk_mask
from sidkit_dact.configs import DactUpdaterConfig
from sidkit_dact.update import DriftAwareFinetune


def test_ste_mask_is_hard_forward_and_passes_gradients_to_c():
    c = torch.tensor([0.2, 0.9, 0.5, 0.7, 0.1], requires_grad=True)
    mask = ste_topk_mask(c, 0.4)  # k = floor(0.4 * 5) = 2
    assert mask.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    weights = torch.tensor([1.0, -2.0, 3.0, 0.5, 4.0])
    (mask * weights).sum().backward()
    assert torch.equal(c.grad, weights)  # d m̃ / d c = 1 for every row
    assert ste_topk_mask(torch.tensor([0.3, 0.1, 0.3]), 0.1).tolist() == [1.0, 0.0, 0.0]  # k >= 1, ties to the lower row


def _update(fitted, **kw) -> DriftAwareFinetune:
    tok, _, after, _ = fitted
    config = DactUpdaterConfig(**{"batch_size": 10_000, **kw})
    return DriftAwareFinetune(copy.deepcopy(tok), after, config)


def _perturb_encoder(update: DriftAwareFinetune) -> None:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in update.model.encoder.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def test_kl_is_zero_for_the_unchanged_tokenizer_and_positive_once_it_moves(fitted_planted):
    update = _update(fitted_planted)
    rows = torch.arange(len(update.x))
    assert float(update.losses(rows)["kl"].detach()) == pytest.approx(0.0, abs=1e-6)
    _perturb_encoder(update)
    kl = float(update.losses(rows)["kl"].detach())
    assert kl > 1e-3
    per_code = _update(fitted_planted, kl_per_code=True)
    _perturb_encoder(per_code)
    assert float(per_code.losses(rows)["kl"].detach()) == pytest.approx(kl / 32, rel=1e-5)  # the authors' 1/K


def test_cdim_learns_only_once_the_live_latent_leaves_the_old_one(fitted_planted):
    """At the period start u = v = z_old whatever the mask, so the passes give CDIM no
    gradient; once z moves, the STE carries ⟨∂L/∂u − α ∂L/∂v, z − z_old⟩ to it."""
    update = _update(fitted_planted, conf_weight=0.0, gamma=0.0)
    rows = torch.arange(len(update.x))

    def cdim_grad() -> float:
        update.model.zero_grad(set_to_none=False)
        update.losses(rows)["total"].backward()
        return sum(float(p.grad.abs().sum()) for p in update.model.cdim.parameters())

    assert cdim_grad() == 0.0
    _perturb_encoder(update)
    assert cdim_grad() > 0.0


def test_cdim_off_and_alpha_gamma_zero_is_letters_loss(fitted_planted, ctx):
    tok, _, after, _ = fitted_planted
    update = _update(fitted_planted, cdim=False, alpha=0.0, gamma=0.0)
    ours = update.losses(torch.arange(len(update.x)))
    assert set(ours) == {"drift", "total"}
    letter = copy.deepcopy(tok)
    letter.config = attrs.evolve(letter.config, batch_size=10_000)  # one batch = every item
    letter.finetune(after, ctx, steps=1)  # history[0]: letter's loss at the fitted weights
    assert float(ours["total"].detach()) == pytest.approx(letter.history[0]["total"], rel=1e-5)
    assert letter.history[0]["cf"] > 0.1 * letter.history[0]["total"]  # the collaborative term is in both


def test_losses_are_all_the_terms(fitted_planted):
    update = _update(fitted_planted)
    terms = update.losses(torch.arange(64))
    cfg = update.config
    expected = cfg.gamma * terms["kl"] + terms["drift"] + cfg.alpha * terms["stationary"] + cfg.conf_weight * terms["conf"]
    assert float(terms["total"].detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    c = update.confidence()
    assert c.shape == (len(update.x),) and np.all((c > 0) & (c < 1))
