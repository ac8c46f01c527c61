"""Score an IntRR training checkpoint on a run's validation users, as trained and with the
query/key weights of chosen GPT-2 blocks zeroed (such a block attends uniformly to every
visible position, as the blocks that Adam's coupled decay collapses do).

Reads the run directory's ``config.resolved.toml`` (data, split, validation subset, decoder)
and SIDs (``tokenizer`` or an unfinished ``tokenizer.new``); the checkpoint is a
``generator*/work/checkpoints/step-*`` folder of that run (a run need not have finished).
Ranks with the run's decoder, top 10, one thread, flush-to-zero on.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/intrr_checkpoint.py RUN CHECKPOINT --zero 3 --zero 2,3
"""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("checkpoint", type=Path, help="a checkpoint folder holding model.safetensors")
    p.add_argument("--zero", action="append", default=[], metavar="I,J", help="blocks whose W_q/W_k are zeroed (repeatable)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from sidkit.artifacts import load_sids
    from sidkit.config.schema import load_config
    from sidkit.context import Context
    from sidkit.data import load_from_config
    from sidkit.errors import SidkitError
    from sidkit.metrics import ranking_metrics
    from sidkit.pipeline import build_split
    from sidkit.registry import get_registry
    from sidkit.training import flush_denormals
    from sidkit.training.checkpoint import load_weights

    torch.set_num_threads(1)
    flush_denormals()
    registry = get_registry()
    cfg = load_config(args.run_dir / "config.resolved.toml", registry)
    tokenizer = next((p for p in (args.run_dir / "tokenizer", args.run_dir / "tokenizer.new") if p.exists()), None)
    if tokenizer is None:
        raise SidkitError(f"{args.run_dir}: no tokenizer stage (tokenizer/ or tokenizer.new/)")
    sids = load_sids(tokenizer / "sids.safetensors")
    dataset = load_from_config(cfg.data.config, cfg.data.format)
    split = build_split(dataset, cfg.split)
    valid = split.valid.take(cfg.validation.rows(len(split.valid)))
    choice = cfg.component("generator")
    if choice.name != "intrr":
        raise SidkitError(f"{args.run_dir}: generator {choice.name!r}, this script reads intrr checkpoints")
    gen = registry.build("generator", choice.name, choice.config)
    gen.build(sids)
    load_weights(args.checkpoint / "model.safetensors", gen.model)
    decoder = registry.build("decoder", cfg.component("decoder").name, cfg.component("decoder").config)
    ctx = Context(seed=0, device="cpu", progress=False)
    blocks = gen.model.backbone.h
    d = blocks[0].attn.c_attn.weight.shape[0]
    print(f"{args.checkpoint}: {len(valid)} validation users")
    for i, block in enumerate(blocks):
        q, k, v = block.attn.c_attn.weight.detach().chunk(3, dim=1)
        print(f"  block {i}: |W_q| {q.norm():.3g}, |W_k| {k.norm():.3g}, |W_v| {v.norm():.3g}")

    def score(label: str) -> None:
        ranks = decoder.rank(gen, sids, valid.histories, 10, ctx)
        m = ranking_metrics(ranks, valid.targets, [10], metrics=("recall", "ndcg"))
        print(f"{label:32s} valid R@10 {m['recall@10']:.4f}  N@10 {m['ndcg@10']:.4f}", flush=True)

    score("as trained")
    for spec in args.zero:
        chosen = [int(x) for x in spec.split(",")]
        saved = [(blocks[i].attn.c_attn.weight.detach().clone(), blocks[i].attn.c_attn.bias.detach().clone()) for i in chosen]
        with torch.no_grad():
            for i in chosen:
                blocks[i].attn.c_attn.weight[:, : 2 * d] = 0
                blocks[i].attn.c_attn.bias[: 2 * d] = 0
        score(f"W_q, W_k zeroed in {chosen}")
        with torch.no_grad():
            for i, (w, b) in zip(chosen, saved, strict=True):
                blocks[i].attn.c_attn.weight.copy_(w)
                blocks[i].attn.c_attn.bias.copy_(b)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
