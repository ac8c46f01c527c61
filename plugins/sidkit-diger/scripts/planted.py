"""Planted-data probes of DIGER's two claims, over several seeds (the numbers behind
``tests/test_planted.py`` and the "Planted tests" of ``sdk_docs/plugins/diger.md``).

``collapse``: a collapsed start (at every level 2 of 8 codes live, the other 6 on a sphere
of ``--far`` × the residuals' radius, nearest to no item; 64 items, successor walks) and
``--epochs`` joint epochs; prints the level-2/3 perplexity per variant and STE / FrqUD.

``gain``: ``G`` successor groups of ``S`` items (the next item is a random member of the
next group); the catalog "text" is a strong nuisance clustering independent of the groups
plus a weak group signal (``--nuisance``, ``--signal``), so the RQ-VAE's level-1 codes
follow the nuisance. Prints test Recall@10 and the level-1 group purity of the final SIDs
for frozen-SID ``tiger``, ``tiger`` on oracle SIDs (level 1 = group) and ``diger`` variants
(``name@tokenizer_lr``).

    OMP_NUM_THREADS=1 python plugins/sidkit-diger/scripts/planted.py collapse --seeds 0 1 2 3 4
    OMP_NUM_THREADS=1 python plugins/sidkit-diger/scripts/planted.py gain --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import attrs
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from diger_toys import plant_dead_codes, tiny_config, tiny_tokenizer  # noqa: E402
from sidkit.context import Context  # noqa: E402
from sidkit.testing import successor_split  # noqa: E402
from sidkit.training.config import ParamGroupConfig  # noqa: E402
from sidkit.types import EvalSet, ItemEmbeddings, Ragged, SIDTable, SplitData  # noqa: E402
from sidkit_diger.config import DigerOptimConfig, DigerTokenizerConfig  # noqa: E402
from sidkit_diger.diagnostics import level_usage  # noqa: E402
from sidkit_diger.generator import DigerGenerator  # noqa: E402
from sidkit_diger.tokenizer import DigerTokenizer  # noqa: E402
from sidkit_grid.api import TigerConfig, TigerGenerator, deduplicate  # noqa: E402
from sidkit_grid.configs import BeamConfig  # noqa: E402
from sidkit_grid.decoding.beam import BeamDecoder  # noqa: E402

VARIANTS = {
    "ste": {"assignment": "ste", "noise": "none"},
    "frqud": {"noise": "frqud"},
    "sdud": {"noise": "sdud"},
    "no-ud": {"noise": "none", "sigma_init": 1.0},
    "no-gumbel": {"noise": "none", "sigma_init": 0.0},
    "detached": {"bridge": "detached"},
}


def collapse(args: argparse.Namespace) -> None:
    groups = {
        "tokenizer.": ParamGroupConfig(lr=args.encoder_lr),
        "tokenizer.codebooks": ParamGroupConfig(lr=args.codebook_lr),
    }
    optim = DigerOptimConfig(lr=5e-3, groups=groups)
    for seed in args.seeds:
        tok, emb = tiny_tokenizer(n_items=64, seed=seed, levels=3, steps=300, dedup_size=64)
        plant_dead_codes(tok, emb, live=2, far=args.far, seed=seed)
        sids = tok.assign(emb)
        split = successor_split(n_items=64, seed=seed)
        row = {"start": [round(p, 2) for p in level_usage(sids.codes[:, :3], 8)[2]]}
        deep = {}
        for name in args.variants:
            t = time.time()
            gen = DigerGenerator(tiny_config(epochs=args.epochs, train={"optim": optim}, **VARIANTS[name]))
            out = gen.fit(sids, Context(split=split, embeddings=emb, tokenizer=tok, progress=False, seed=seed))
            perplexity = level_usage(out.codes[:, :3], 8)[2]
            deep[name] = float(np.mean(perplexity[1:3]))
            row[name] = [round(p, 2) for p in perplexity] + [f"{time.time() - t:.1f}s"]
        if "ste" in deep and "frqud" in deep:
            row["ste/frqud L2-3"] = round(deep["ste"] / deep["frqud"], 3)
        print(f"seed {seed}: {row}", flush=True)


def grouped_data(seed: int, groups: int, size: int, nuisance: float, signal: float, dim: int = 16):
    """``(split, embeddings, group of each item)``: successor groups hidden in the text."""
    rng = np.random.default_rng(seed)
    n = groups * size
    group = rng.permutation(np.repeat(np.arange(groups), size))
    members = [np.flatnonzero(group == g) for g in range(groups)]

    def walk(length: int) -> np.ndarray:
        items = [int(rng.integers(n))]
        for _ in range(length - 1):
            items.append(int(rng.choice(members[(group[items[-1]] + 1) % groups])))
        return np.array(items)

    train = Ragged.from_lists([walk(int(rng.integers(3, 9))) for _ in range(300)])
    held = [walk(int(rng.integers(2, 7))) for _ in range(200)]
    valid = EvalSet(
        np.arange(len(held)), Ragged.from_lists([h[:-1] for h in held]), Ragged.from_lists([[h[-1]] for h in held])
    )
    clusters = rng.permutation(np.repeat(np.arange(groups), size))  # the nuisance: independent of the groups
    text = rng.normal(size=(groups, dim))[clusters] * nuisance + rng.normal(size=(groups, dim))[group] * signal
    text = text + rng.normal(size=(n, dim)) * 0.1
    return SplitData(train, valid, valid, n), ItemEmbeddings(text.astype(np.float32)), group


def purity(codes: np.ndarray, group: np.ndarray) -> float:
    """Mean share of a level-1 code's items that belong to its most common group."""
    first = codes[:, 0]
    return float(np.mean([np.bincount(group[first == c]).max() / (first == c).sum() for c in np.unique(first)]))


def gain(args: argparse.Namespace) -> None:
    g, s = args.groups, args.size
    n = g * s
    decoder = BeamDecoder(BeamConfig(beam_width=20))
    for seed in args.seeds:
        split, emb, group = grouped_data(seed, g, s, args.nuisance, args.signal)
        cfg = DigerTokenizerConfig(levels=2, codebook_size=g, dedup_size=n, hidden_dims=(32,), latent_dim=8,
                                   steps=300, batch_size=n, lr=0.01)  # fmt: skip
        tok = DigerTokenizer(cfg)
        tok.fit(emb, Context(progress=False, seed=seed))
        sids = tok.assign(emb)
        row: dict[str, object] = {"text purity": round(purity(sids.codes, group), 2)}
        for variant in args.rows:
            t = time.time()
            base = tiny_config(epochs=args.epochs, max_len=4)
            ctx = Context(split=split, embeddings=emb, tokenizer=tok, progress=False, seed=seed)
            if variant in ("tiger", "oracle"):
                kw = {f.name: getattr(base, f.name) for f in attrs.fields(TigerConfig)}
                kw["train"] = attrs.evolve(base.train, optim=attrs.evolve(base.train.optim, groups={}))
                gen = TigerGenerator(TigerConfig(**kw))
                out = sids
                if variant == "oracle":  # level 1 = the item's group
                    codes = sids.codes[:, :2].copy()
                    codes[:, 0] = group
                    out = SIDTable(deduplicate(codes, g, "digit", n).codes, sids.codebook_sizes)
                gen.fit(out, ctx)
            else:
                name, lr = variant.split("@")
                gen = DigerGenerator(
                    tiny_config(epochs=args.epochs, max_len=4, tokenizer_lr=float(lr), **VARIANTS[name])
                )
                out = gen.fit(sids, ctx)
            ranks = decoder.rank(gen, out, split.valid.histories, 10, None)
            r10 = float((ranks.items == split.valid.targets.values[:, None]).any(1).mean())
            row[variant] = (round(r10, 3), round(purity(out.codes, group), 2), f"{time.time() - t:.1f}s")
        print(f"seed {seed}: R@10, level-1 purity: {row}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="probe", required=True)
    c = sub.add_parser("collapse")
    c.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    c.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=["ste", "frqud"])
    c.add_argument("--epochs", type=int, default=10)
    c.add_argument("--far", type=float, default=2.0)
    c.add_argument("--codebook-lr", type=float, default=3e-2)
    c.add_argument("--encoder-lr", type=float, default=1e-6)
    c.set_defaults(run=collapse)
    g = sub.add_parser("gain")
    g.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    g.add_argument("--rows", nargs="+", default=["tiger", "oracle", "frqud@1e-2", "frqud@1e-3", "no-gumbel@1e-2"])
    g.add_argument("--epochs", type=int, default=12)
    g.add_argument("--groups", type=int, default=8)
    g.add_argument("--size", type=int, default=8)
    g.add_argument("--nuisance", type=float, default=3.0)
    g.add_argument("--signal", type=float, default=0.5)
    g.set_defaults(run=gain)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    args.run(args)


if __name__ == "__main__":
    main()
