"""Does a refreshed collaborative encoder see planted item drift? (the continual blocks protocol)

On the synthetic data with planted item-side drift (``item_drift`` of the items join another
topic's successor cycle at ``drift_at``), a SASRec is trained from scratch on blocks
``1..--upto`` of 10 chronological blocks, as ``sidkit continual``'s refresh does
(``refresh = "scratch"``, cumulative data), and its item embeddings are read for:

- the moved items' share of cosine top-10 neighbours in their **new** topic and in their
  **old** one (a refresh that saw the move: the first high, the second low);
- the unmoved items' share in their own topic (how crisp the embedding is at all).

The SASRec is ``examples/synthetic-continual.toml``'s encoder (32-d, 1 block, ce, all
positions, lr 3e-3) at each of ``--epochs`` (no early stopping). One line per epoch budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refresh_drift.py --epochs 15 50
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refresh_drift.py --drift-at 0.5 0.4
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=1200)
    p.add_argument("--items", type=int, default=800)
    p.add_argument("--topics", type=int, default=16)
    p.add_argument("--drift", type=float, default=0.8, help="users' topic drift")
    p.add_argument("--follow", type=float, default=0.5)
    p.add_argument("--item-drift", type=float, default=0.3)
    p.add_argument("--drift-at", type=float, nargs="+", default=[0.7])
    p.add_argument("--epochs", type=int, nargs="+", default=[15])
    p.add_argument("--upto", type=int, default=9, help="the refresh trains on blocks 1..upto (of 10)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def neighbour_share(x: np.ndarray, topics: np.ndarray, k: int = 10) -> np.ndarray:
    """Per item, the share of its ``k`` cosine nearest neighbours with the same ``topics`` value."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn @ xn.T
    np.fill_diagonal(sim, -np.inf)
    return (topics[np.argsort(-sim, axis=1)[:, :k]] == topics[:, None]).mean(1)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from sidkit.config.structure import structure
    from sidkit.context import Context
    from sidkit.data.formats import load_dataset
    from sidkit.data.splits import chronological_blocks
    from sidkit.registry import get_registry
    from sidkit_continual.data import encoder_split

    torch.set_num_threads(1)
    spec = get_registry().get("encoder", "sasrec")
    for drift_at in args.drift_at:
        ds = load_dataset(
            "synthetic", n_users=args.users, n_items=args.items, n_topics=args.topics, drift=args.drift,
            follow=args.follow, item_drift=args.item_drift, drift_at=drift_at, seed=args.seed,
        )  # fmt: skip
        moved = np.zeros(ds.n_items, dtype=bool)
        moved[np.asarray(ds.meta["moved_items"], dtype=np.int64)] = True
        before, after = np.asarray(ds.meta["planted_topics"]), np.asarray(ds.meta["planted_topics_after"])
        rows = np.concatenate(chronological_blocks(ds, 10)[: args.upto])
        per_item = len(rows) / ds.n_items
        for epochs in args.epochs:
            t = time.perf_counter()
            table = {
                "hidden": 32, "num_blocks": 1, "num_heads": 1, "ffn": 64, "dropout": 0.2, "max_len": 20, "loss": "ce",
                "windows": "all", "train": {"epochs": epochs, "batch_size": 128, "early_stopping_patience": 0,
                                            "progress": False, "optim": {"lr": 3e-3}},
            }  # fmt: skip
            cfg, issues = structure(table, spec.config, "encoder")
            if issues:
                raise SystemExit(f"encoder config: {issues}")
            ctx = Context(seed=args.seed, progress=False, dataset=ds, split=encoder_split(ds, rows))
            x = spec.build(cfg).encode(ctx).values
            print(
                f"drift_at {drift_at}, blocks 1..{args.upto} ({per_item:.1f} interactions an item), {epochs} epochs: "
                f"moved items' neighbours in the new topic {neighbour_share(x, after)[moved].mean():.2f}, "
                f"in the old {neighbour_share(x, before)[moved].mean():.2f}; unmoved in their own "
                f"{neighbour_share(x, before)[~moved].mean():.2f} ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
