"""Training ``intrr``: learning a planted rule, all-position windows = sliding prefixes,
kill-and-resume, DDP with two gloo processes, bf16, save/load, warm starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sidkit.context import Context
from sidkit.errors import ArtifactError, SidkitError
from sidkit.protocols import Generator
from sidkit.testing import successor_split
from sidkit.types import Ragged
from sidkit_intrr.batches import make_batch, training_samples
from sidkit_intrr.model import IntRRNet

pytestmark = pytest.mark.usefixtures("one_thread")


def recall_at(rankings, split, k: int) -> float:
    return float((rankings.items[:, :k] == split.valid.targets.values[:, None]).any(1).mean())


# -- learning --------------------------------------------------------------------------------
def test_learns_a_deterministic_successor_rule(tiny, make_sids, beam):
    split = successor_split()
    sids = make_sids(split.n_items)
    gen = tiny(train={"validate_every": 20})
    decoder = beam(beam_width=10)
    seen = []

    def validate(model):
        seen.append(model)
        r = decoder.rank(model, sids, split.valid.histories, 10, None)
        return {"recall@10": recall_at(r, split, 10), "ndcg@10": recall_at(r, split, 1)}

    assert gen.fit(sids, Context(split=split, validate=validate, progress=False)) is None
    assert isinstance(gen, Generator) and seen and all(m is gen for m in seen)
    assert [h["epoch"] for h in gen.history if "ndcg@10" in h] == [20, 40]
    assert "valid/recall@10" in gen.history[-1]
    rankings = decoder.rank(gen, sids, split.valid.histories, 10, None)
    assert recall_at(rankings, split, 1) >= 0.95


def test_validation_during_training_sees_the_current_weights(tiny, make_sids):
    """The item table the decoder reads is rebuilt after every optimizer step. torch's fused
    Adam (what ``build_optimizer`` picks on CPU) updates the weights without bumping their
    version counters, and a cache keyed on those alone fed every validation the item table of
    the first one (sessions 22-23: IntRR's curves under fused Adam were stale)."""
    split = successor_split()
    sids = make_sids(split.n_items)
    gen = tiny(train={"epochs": 3})
    codes = torch.from_numpy(sids.codes.astype(np.int64))
    gaps = []

    def validate(model):
        cached = model.item_table(sids)
        with torch.no_grad():
            fresh = model.model.eval().item_table(codes)
        gaps.append(float((cached - fresh).abs().max()))
        return {"ndcg@10": -gaps[-1]}

    gen.fit(sids, Context(split=split, validate=validate, progress=False))
    assert len(gaps) == 3 and max(gaps) == 0.0, gaps


def test_bf16_training_learns_too(tiny, make_sids, beam):
    split = successor_split()
    sids = make_sids(split.n_items, seed=1)
    gen = tiny(train={"precision": "bf16", "epochs": 30})
    gen.fit(sids, Context(split=split, progress=False))
    assert all(p.dtype == torch.float32 for p in gen.model.parameters())
    rankings = beam(beam_width=10).rank(gen, sids, split.valid.histories, 10, None)
    assert recall_at(rankings, split, 1) >= 0.95


@pytest.mark.parametrize("first_target", [None, np.array([0, 3, 0])])
def test_all_position_windows_equal_the_sum_over_sliding_prefixes(tiny, make_sids, first_target):
    """One causal pass over a window trains its targets with the same predictions, loss and
    gradients as the sliding-window samples of its prefixes (alignment off: it is a mean
    over history item occurrences, which the two sample sets count differently)."""
    sids = make_sids(20, sizes=(4, 4, 3))
    train = Ragged.from_lists([[1, 5, 9, 2, 7], [3, 4, 0, 11, 12, 13], [8, 19]])  # <= max_len + 1 = 6 items
    gen = tiny(sids, seed=3, aln_weight=0.0)
    gen.model.train()  # dropout is 0: deterministic

    def loss_and_grads(windows):
        samples = training_samples(train, gen.max_len, windows, first_target)
        gen.model.zero_grad()
        loss = gen.model(**make_batch(samples, sids.codes, np.arange(len(samples)))) * samples.n_targets
        loss.backward()
        return samples.n_targets, loss.detach(), {n: p.grad.clone() for n, p in gen.model.named_parameters()}

    n_all, all_loss, all_grads = loss_and_grads("all")
    n_sliding, sliding_loss, sliding_grads = loss_and_grads("sliding")
    assert n_all == n_sliding == (4 + 5 + 1 if first_target is None else 4 + 3 + 1)
    torch.testing.assert_close(all_loss, sliding_loss, rtol=1e-5, atol=1e-4)
    for name, grad in all_grads.items():
        torch.testing.assert_close(grad, sliding_grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_fit_without_split_or_samples_fails_clearly(tiny, make_sids):
    with pytest.raises(SidkitError, match="needs ctx.split"):
        tiny().fit(make_sids(5), Context())
    split = successor_split()
    short = type(split)(Ragged.from_lists([[1], [2]]), split.valid, split.test, split.n_items)
    with pytest.raises(SidkitError, match="no training sample"):
        tiny().fit(make_sids(split.n_items), Context(split=short, progress=False))


# -- resume and DDP --------------------------------------------------------------------------
def test_kill_and_resume_equals_an_unbroken_run(tiny, make_sids, tmp_path, monkeypatch):
    """Interrupted mid-epoch, a new fit in the same workdir resumes from the loop's
    checkpoint and ends with the same weights as an unbroken run."""
    split = successor_split(n_users=60)
    sids = make_sids(split.n_items)
    options = {"dropout": 0.1, "train": {"epochs": 3, "batch_size": 16, "checkpoint_every_steps": 4}}

    def run(workdir):
        gen = tiny(**options)
        gen.fit(sids, Context(split=split, workdir=workdir, seed=3, progress=False))
        return gen

    reference = run(tmp_path / "a")
    forward, calls = IntRRNet.forward, [0]

    def failing(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 7:
            raise KeyboardInterrupt
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(IntRRNet, "forward", failing)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b")
    monkeypatch.setattr(IntRRNet, "forward", forward)
    assert (tmp_path / "b" / "checkpoints" / "latest.json").exists()
    resumed = run(tmp_path / "b")
    for (name, want), got in zip(
        reference.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(want, got), name
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in reference.history]


@pytest.mark.slow
def test_ddp_with_two_gloo_processes_matches_one_process(tmp_path):
    from ddp_fit import train, untrained_generator
    from safetensors.torch import load_file

    script = Path(__file__).with_name("ddp_fit.py")
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        str(out),
    ]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = load_file(f"{out}-rank0.safetensors"), load_file(f"{out}-rank1.safetensors")
    assert rank0.keys() == rank1.keys() and all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    single = train().model.state_dict()
    assert single.keys() == rank0.keys()
    for name, value in single.items():
        torch.testing.assert_close(rank0[name], value, atol=1e-5, rtol=0, msg=name)
    untrained = untrained_generator().model.state_dict()
    assert all(not torch.equal(untrained[k], rank0[k]) for k in ("start", "ran.codebooks.0", "uid.weight"))


# -- state -----------------------------------------------------------------------------------
def test_save_load_gives_identical_rankings(tiny, make_sids, beam, tmp_path):
    split = successor_split(n_users=40)
    sids = make_sids(split.n_items)
    gen = tiny(train={"epochs": 2}, shared_ran=False, redistribution="soft")
    gen.fit(sids, Context(split=split, progress=False))
    gen.save(tmp_path)
    fresh = tiny()  # other defaults: the saved spec decides the network
    fresh.load(tmp_path)
    decoder = beam(beam_width=6)
    a = decoder.rank(gen, sids, split.valid.histories, 5, None)
    b = decoder.rank(fresh, sids, split.valid.histories, 5, None)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert fresh.model.spec == gen.model.spec and fresh.history == gen.history and len(gen.history) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json", "model.safetensors"]


def test_load_refuses_another_generators_state(tmp_path, tiny):
    (tmp_path / "meta.json").write_text('{"generator": "tiger"}')
    with pytest.raises(ArtifactError, match="written by generator 'tiger'"):
        tiny().load(tmp_path)


def test_warm_start_with_another_item_count_fails_naming_both_counts(tiny, make_sids):
    split = successor_split(n_users=40)
    old = tiny(make_sids(split.n_items))
    grown = successor_split(n_items=25, n_users=40)
    with pytest.raises(ArtifactError, match=r"built for 20 items .* the SID table has 25 items"):
        tiny().fit(make_sids(25), Context(split=grown, generator=old, progress=False))
    with pytest.raises(ArtifactError, match=r"codebook sizes \[4, 4, 4\].*\[4, 4, 5\]"):
        tiny().fit(make_sids(20, sizes=(4, 4, 5)), Context(split=split, generator=old, progress=False))


def test_warm_start_continues_from_the_given_generator(tiny, make_sids):
    split = successor_split(n_users=40)
    sids = make_sids(split.n_items)
    old = tiny(sids, seed=7)
    gen = tiny(train={"epochs": 1})
    gen.fit(sids, Context(split=split, generator=old, progress=False))
    moved = [n for n, p in gen.model.state_dict().items() if not torch.equal(p, old.model.state_dict()[n])]
    assert moved and gen.model is not old.model
    fresh = tiny(train={"epochs": 1})
    fresh.fit(sids, Context(split=split, progress=False))
    assert not torch.equal(fresh.model.start, gen.model.start)  # not a rebuild from the run's seed


@pytest.mark.parametrize("windows", ["all", "sliding"])
@pytest.mark.parametrize("first_target", [None, np.array([0, 4, 1, 2])])
def test_lazy_rows_equal_the_materialised_windows(windows, first_target):
    """The index gathers exactly the rows the materialised windows had, in the same order."""
    from sidkit.data import causal_windows, sliding_windows

    train = Ragged.from_lists([[1, 5, 9, 2, 7, 4, 4, 6], [3, 4, 0, 11, 12, 13], [8, 19], [2, 3, 5, 7, 11]])
    samples = training_samples(train, 3, windows, first_target)
    if windows == "all":
        _, items, want_target = causal_windows(train, 3, first_target=first_target)
        want_history, want_next = items[:, :-1], items[:, -1]
    else:
        inputs, want_next = sliding_windows(train, 3, first_target=first_target)
        want_history = inputs.to_padded(3)
        want_target = np.zeros((len(want_next), 4), dtype=bool)
        want_target[:, -1] = True
    order = np.random.default_rng(0).permutation(len(samples))
    history, following, is_target = samples.rows(order)
    assert len(samples) == len(want_next) > 0
    np.testing.assert_array_equal(history, want_history[order])
    np.testing.assert_array_equal(following, want_next[order])
    np.testing.assert_array_equal(is_target, want_target[order])
    np.testing.assert_array_equal(samples.lengths, (want_history >= 0).sum(axis=1))
    assert samples.n_targets == int(want_target.sum())
