"""How much of a finished run's rankings is spent on items the user already interacted with.

For each run directory it rebuilds the run's dataset and split from ``config.resolved.toml``
and reads ``rankings/{valid,test}.safetensors``. Per split it prints Recall@10, the mean
number of the top 10 that are in the user's **whole** earlier sequence (not only the
``max_len`` items the model reads) and the share of lists holding the history's last item.
On data where a user meets an item once (MovieLens ratings, the Amazon 5-core sets with
``dedup = "first"``) every such slot is a sure miss; ``[decoder] exclude_history = true``
removes those of the history the decoder is given (sdk_docs/results.md, "Leaving history
items out").

``--rerank`` also ranks the run's validation and test users again with its trained
generator and ``decoder.exclude_history = true`` (through ``sidkit.api.load_run``, so a run
whose stage fingerprints an older sidkit wrote, which ``sidkit run --set
decoder.exclude_history=true`` would retrain, is re-ranked as it is) and prints Recall/NDCG@10
beside ``markov/`` and ``mostpop/`` ranked the same way.

    .venv/bin/python benchmarks/history_share.py RUN [RUN ...] [--k 10] [--rerank]
"""

from __future__ import annotations

import argparse
import sys

import attrs
import numpy as np
from _common import positive_int


def shares(items: np.ndarray, examples, k: int) -> tuple[float, float, float]:
    """``(recall@k, mean history items in the top k, share of lists with the last item)``."""
    from sidkit.metrics import history_mask

    top = items[:, :k]
    hist = examples.histories
    in_hist = history_mask(top, hist)
    nonempty = hist.lengths > 0
    last = np.full(len(hist), -1)
    last[nonempty] = hist.values[hist.offsets[1:][nonempty] - 1]
    hit = (top == examples.targets.values[examples.targets.offsets[:-1], None]).any(axis=1)
    return float(hit.mean()), float(in_hist.sum(axis=1).mean()), float((top == last[:, None]).any(axis=1).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--k", type=positive_int, default=10)
    p.add_argument("--rerank", action="store_true", help="re-rank with decoder.exclude_history = true")
    args = p.parse_args(argv)
    from safetensors.numpy import load_file
    from sidkit.config import load_config
    from sidkit.data import load_from_config
    from sidkit.pipeline import build_split
    from sidkit.registry import get_registry

    print(f"| run | split | recall@{args.k} | history items in the top {args.k} | lists with the last item |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        cfg = load_config(f"{run}/config.resolved.toml", get_registry())
        dataset = load_from_config(cfg.data.config, cfg.data.format)
        split = build_split(dataset, attrs.evolve(cfg.split, max_len=None))  # whole histories
        for name, examples in (("valid", split.valid), ("test", split.test)):
            items = load_file(f"{run}/rankings/{name}.safetensors")["items"]
            r, seen, last = shares(items, examples, args.k)
            print(f"| {run} | {name} | {r:.4f} | {seen:.2f} | {last:.3f} |")
        if args.rerank:
            rerank(run, cfg, dataset, args.k)
    return 0


def rerank(run: str, cfg, dataset, k: int) -> None:
    """Rank the run's validation and test users with ``exclude_history = true`` and print the
    metrics beside the baselines ranked the same way."""
    from sidkit.api import load_run
    from sidkit.context import Context
    from sidkit.metrics import baseline_metrics, ranking_metrics
    from sidkit.pipeline import build_split

    loaded = load_run(run, decoder_overrides=["exclude_history=true"])
    split = build_split(dataset, cfg.split)  # the histories the decoder was given
    ctx = Context(seed=cfg.run.seed, progress=False, dataset=dataset, split=split, tokenizer=loaded.tokenizer)
    base = baseline_metrics(split, (k,), user_rank=dataset.user_rank, exclude_history=True)
    for name, examples in (("valid", split.valid), ("test", split.test)):
        ranks = loaded.decoder.rank(loaded.generator, loaded.sids, examples.histories, k, ctx)
        m = ranking_metrics(ranks, examples.targets, (k,))
        b = base[name]
        print(f"{run} {name}, history items left out: R@{k} {m[f'recall@{k}']:.4f} N@{k} {m[f'ndcg@{k}']:.4f} "
              f"(markov {b[f'markov/recall@{k}']:.4f} / {b[f'markov/ndcg@{k}']:.4f}, "
              f"mostpop {b[f'mostpop/recall@{k}']:.4f} / {b[f'mostpop/ndcg@{k}']:.4f})")


if __name__ == "__main__":
    sys.exit(main())
