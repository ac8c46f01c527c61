"""Seeding, devices, optimizers, schedules, throughput and single-process distributed helpers."""

from __future__ import annotations

import random
from itertools import pairwise

import numpy as np
import pytest
import torch
from sidkit.training import (
    DeviceUnavailableError,
    OptimConfig,
    SchedulerConfig,
    Throughput,
    build_optimizer,
    build_scheduler,
    make_generator,
    resolve_device,
    seed_everything,
    steps_per_epoch,
)
from sidkit.training.distributed import all_gather_bytes, all_reduce_sum, broadcast_float, dist_info, is_main_process
from sidkit.training.optim import fusable


def test_seed_everything_resets_all_global_rngs():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(3)
    first = draw()
    seed_everything(3)
    assert draw() == first


def test_make_generator_streams():
    perm = lambda g: torch.randperm(50, generator=g)  # noqa: E731
    assert torch.equal(perm(make_generator(1, 0, 4)), perm(make_generator(1, 0, 4)))
    assert not torch.equal(perm(make_generator(1, 0, 4)), perm(make_generator(1, 0, 5)))
    assert not torch.equal(perm(make_generator(1, 0, 4)), perm(make_generator(2, 0, 4)))
    assert make_generator(5).initial_seed() == 5


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(ValueError):
        resolve_device("cpu:1")
    with pytest.raises(DeviceUnavailableError, match="cuda:99"):
        resolve_device("cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize(
    ("cfg", "cls", "group"),
    [
        (
            OptimConfig(lr=0.1, weight_decay=0.01, betas=(0.8, 0.9)),
            torch.optim.AdamW,
            {"betas": (0.8, 0.9), "weight_decay": 0.01},
        ),
        (OptimConfig(name="adam", lr=0.1), torch.optim.Adam, {"betas": (0.9, 0.999), "weight_decay": 0.0}),
        (OptimConfig(name="sgd", lr=0.1, momentum=0.9), torch.optim.SGD, {"momentum": 0.9}),
    ],
)
def test_build_optimizer(cfg, cls, group):
    opt = build_optimizer(torch.nn.Linear(2, 2).parameters(), cfg)
    assert type(opt) is cls
    assert opt.param_groups[0]["lr"] == 0.1
    for k, v in group.items():
        assert opt.param_groups[0][k] == v


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_build_optimizer_fuses_adam_and_updates_as_the_per_tensor_loop(name):
    cfg = OptimConfig(name=name, lr=0.01, weight_decay=0.1)
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(5, 3, generator=gen), torch.randn(3, generator=gen)]
    fused = [torch.nn.Parameter(t.clone()) for t in start]
    loop = [torch.nn.Parameter(t.clone()) for t in start]
    opt = build_optimizer(fused, cfg)
    assert opt.param_groups[0]["fused"] is True
    reference = type(opt)(loop, lr=0.01, weight_decay=0.1, foreach=False)
    for _ in range(5):
        grads = [torch.randn(t.shape, generator=gen) for t in start]
        for params, o in ((fused, opt), (loop, reference)):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            o.step()
    for a, b, s in zip(fused, loop, start, strict=True):
        assert not torch.equal(a, s)
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fused", [True, False])
def test_weights_version_changes_with_every_optimizer_step_and_in_place_write(fused):
    """A cache keyed on ``weights_version`` is invalidated by a fused Adam step, which leaves
    the tensors' version counters unchanged, as by the per-tensor loop and by ``copy_``."""
    from sidkit.training import weights_version

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1, fused=fused)
    before = weights_version(model)
    versions = [p._version for p in model.parameters()]
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    assert weights_version(model) != before
    assert ([p._version for p in model.parameters()] == versions) is fused
    stepped = weights_version(model)
    assert weights_version(model) == stepped  # reading changes nothing
    with torch.no_grad():
        model.bias.copy_(torch.zeros(2))
    assert weights_version(model) != stepped


def test_fusable_needs_dense_floating_cpu_or_cuda_tensors():
    assert fusable([torch.nn.Parameter(torch.zeros(2)), {"params": [torch.nn.Parameter(torch.zeros(3))]}]) is True
    assert fusable([{"params": [torch.zeros(2, dtype=torch.int64)]}]) is False
    assert fusable([torch.sparse_coo_tensor(torch.zeros(1, 1, dtype=torch.long), torch.ones(1), (2,), check_invariants=False)]) is False
    assert fusable([torch.zeros(2, device="meta")]) is False
    assert fusable([]) is False


def _lrs(name: str, warmup: int, total: int) -> list[float]:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name="sgd", lr=1.0))
    sched = build_scheduler(opt, SchedulerConfig(name=name, warmup_steps=warmup), total)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("name", ["constant", "linear", "cosine"])
def test_schedule_shapes(name):
    lrs = _lrs(name, warmup=4, total=20)
    warm, rest = lrs[:5], lrs[4:]
    assert all(a < b for a, b in pairwise(warm)) and warm[0] == pytest.approx(0.2)
    assert lrs[4] == 1.0  # peak = base lr right after warm-up
    if name == "constant":
        assert rest == [1.0] * len(rest)
    else:
        assert all(a > b for a, b in pairwise(rest))
        assert lrs[-1] < 0.07
    if name == "cosine":  # half-way through the decay the factor is 0.5
        assert _lrs(name, 0, 20)[10] == pytest.approx(0.5)
    if name == "linear":
        assert _lrs(name, 0, 10) == pytest.approx([1 - i / 10 for i in range(10)])


def test_steps_per_epoch():
    assert steps_per_epoch(100, 32) == 4
    assert steps_per_epoch(96, 32, world_size=2) == 3
    assert steps_per_epoch(97, 32, world_size=2) == 3  # a last batch of 1 cannot be split over 2 ranks
    assert steps_per_epoch(98, 32, world_size=2) == 4


def test_throughput_with_fake_clock():
    now = [0.0]
    meter = Throughput(window=2, clock=lambda: now[0])
    for n in (10, 10, 40):
        now[0] += 1.0
        meter.update(n)
    assert meter.rate == pytest.approx(25.0)  # last two steps: 50 samples in 2 s
    assert meter.overall == pytest.approx(20.0)
    assert meter.total == 60


def test_distributed_helpers_single_process():
    info = dist_info()
    assert (info.rank, info.world_size, info.distributed) == (0, 1, False)
    assert is_main_process()
    assert broadcast_float(1.5) == 1.5
    assert all_gather_bytes(b"abc") == [b"abc"]
    assert all_reduce_sum(torch.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
