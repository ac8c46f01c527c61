"""What ``sidkit continual``'s FLOP accounting (``count_flops = true``) costs in training speed.

Two training steps, each timed with and without ``sidkit_continual.FlopMeter`` counting,
the two modes taking turns on the same model in one process (medians of ``--steps``):

- ``tokenizer``: a training step of sidkit-grid's ``RQVAE`` at DACT's tokenizer size (384-d
  input, MLP 512-256-128-64-32 and its mirror decoder, 3 × 256 codes, batch 1024,
  ``rqvae_loss``);
- ``tiger``: a T5 step at the CPU examples' size (d 64, d_ff 256, 2 + 2 layers, 4 heads),
  64 windows of 84 context tokens and 4 target tokens.

Prints ``flop_overhead_tokenizer=`` and ``flop_overhead_tiger=`` (counted s/step over plain
s/step, so 1.40 = 40 % slower).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/flop_overhead.py [--steps 12]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from _common import positive_int
from sidkit_continual.flops import FlopMeter


def _tokenizer_step() -> Callable[[], None]:
    from sidkit_grid.api import RQVAE, rqvae_loss

    model = RQVAE(384, [512, 256, 128, 64], 32, levels=3, codebook_size=256)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(1682, 384)

    def step() -> None:
        batch = x[torch.randint(0, len(x), (1024,))]
        loss = rqvae_loss(batch, model(batch))["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _tiger_step() -> Callable[[], None]:
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=300, d_model=64, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16,
                   decoder_start_token_id=0, pad_token_id=0)  # fmt: skip
    model = T5ForConditionalGeneration(cfg)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x, y = torch.randint(0, 300, (64, 84)), torch.randint(0, 300, (64, 4))

    def step() -> None:
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=positive_int, default=12, help="timed steps per mode (2 warm-up steps each)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    for name, make in (("tokenizer", _tokenizer_step), ("tiger", _tiger_step)):
        step, times = make(), {False: [], True: []}
        for i in range(args.steps + 2):
            for counted in (False, True):
                meter = FlopMeter(enabled=counted)
                start = time.perf_counter()
                with meter.count("step"):
                    step()
                if i >= 2:
                    times[counted].append(time.perf_counter() - start)
        plain, counted = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name}: plain {plain * 1e3:.1f} ms/step, counted {counted * 1e3:.1f} ms/step")
        print(f"flop_overhead_{name}={counted / plain:.2f}")


if __name__ == "__main__":
    main()
