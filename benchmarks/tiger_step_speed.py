"""What sidkit's two changes to transformers' T5 save ``tiger``'s every-position training step.

1. Block-by-block decoder self-attention. With ``windows = "all"`` the T5 decoder reads one
block of ``L`` tokens per target of a window (``J`` blocks, ``T = J·L`` tokens), causal
inside a block and blind across blocks.
Computed as one ``[T, T]`` attention under that mask, the learned T5 position bias (which
needs a gradient) keeps SDPA off its fused kernels, so the masked ``J²`` blocks are paid
in full; :func:`sidkit_grid.generators.attention.block_attention` computes the ``J``
diagonal blocks only, with the same values (tested).
2. The feed-forward block without its bf16 -> float32 -> bf16 round trip of the ``d_ff``-wide
hidden state under autocast (:class:`sidkit_grid.generators.tiger.AutocastDense`).

Three copies of the same initial model take turns on the same batch: ``before`` (neither),
``blocks`` (1) and ``blocks+dense`` (1 and 2, what ``tiger`` runs now), each step the
loop's (bf16 autocast forward and loss, backward, clipping 1.0, Adam), at the size of the ML-100K `tiger` row of the IntRR comparison by
default: 30 history items, L = 4 (3 x 128 random codes + a de-dup digit over 1,682 items),
d 128, 4 + 4 layers, 6 heads x 64, d_ff 1024, dropout 0.1, attention dropout 0, batch 64
windows of 31 items.

The last lines are ``tiger_block_attention_step_speedup=`` (before / blocks, median s/step),
``tiger_autocast_dense_step_speedup=`` (blocks / blocks+dense) and ``tiger_step_speedup=``
(before / blocks+dense).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tiger_step_speed.py [--batch 64] [--steps 5] [--precision bf16|fp32]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64, help="windows per step")
    p.add_argument("--max-len", type=int, default=30, help="history items N (windows of N + 1 items)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per variant (after one warm-up each)")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import sidkit_grid.generators.tiger as tiger
    import torch
    from sidkit.types import SIDTable
    from sidkit_grid.configs import TigerConfig
    from sidkit_grid.generators.sequences import SIDVocab
    from transformers.models.t5.modeling_t5 import T5DenseActDense

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n_items, sizes = 1682, (128, 128, 128, 8)
    sids = SIDTable(np.stack([rng.integers(0, w, n_items) for w in sizes], 1), sizes)
    cfg = TigerConfig(windows="all", attn_dropout=0.0, d_model=128, d_ff=1024, num_heads=6, d_kv=64,
                      encoder_layers=4, decoder_layers=4, dropout=0.1, max_len=args.max_len)
    gen = tiger.TigerGenerator(cfg)
    gen.max_len = args.max_len
    gen.build(SIDVocab(sizes, 0), seed=0)
    items = rng.integers(0, n_items, (args.batch, args.max_len + 1))
    is_target = np.ones(items.shape, dtype=bool)
    is_target[:, 0] = False
    batch = gen.window_batch(gen.item_tokens(sids), items, is_target, None)
    models = {"before": gen.model, "blocks": copy.deepcopy(gen.model), "blocks+dense": copy.deepcopy(gen.model)}
    for name in ("before", "blocks"):  # transformers' feed-forward block
        for module in models[name].modules():
            if isinstance(module, tiger.AutocastDense):
                module.__class__ = T5DenseActDense
    optims = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    real_blocks = tiger.decoder_blocks

    def step(name: str) -> float:
        model = models[name]
        model.train()
        # "before": the decoder's self-attention over all T tokens under the block mask
        tiger.decoder_blocks = (lambda size: contextlib.nullcontext()) if name == "before" else real_blocks
        start = time.perf_counter()
        with autocast:
            loss = gen.loss(batch, model)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optims[name].step()
        optims[name].zero_grad(set_to_none=True)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {k: [] for k in models}
    try:
        for name in models:
            step(name)  # warm-up
        for _ in range(args.steps):
            for name in models:
                times[name].append(step(name))
    finally:
        tiger.decoder_blocks = real_blocks
    med = {k: statistics.median(v) for k, v in times.items()}
    tokens = batch["decoder"].shape[1]
    print(f"tiger every-position step, batch {args.batch} windows, decoder {tokens} tokens "
          f"({tokens // len(sizes)} blocks of {len(sizes)}), {args.precision}, {args.threads} thread(s)")
    for name in models:
        print(f"{name}: median {med[name]:.3f} s/step ({', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"tiger_block_attention_step_speedup={med['before'] / med['blocks']:.3f}")
    print(f"tiger_autocast_dense_step_speedup={med['blocks'] / med['blocks+dense']:.3f}")
    print(f"tiger_step_speedup={med['before'] / med['blocks+dense']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
