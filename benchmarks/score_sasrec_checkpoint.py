"""Score the best-validation checkpoint of a SASRec `sidkit run` that has not finished.

The shared training loop keeps the best weights so far in ``<run>/generator/work/best.safetensors``.
This script rebuilds the model from the run's config and ranks the whole catalog for the
validation and test users of the config's split, printing Recall/NDCG/HR at 5, 10 and 20.

    .venv/bin/python benchmarks/score_sasrec_checkpoint.py examples/beauty-sasrec.toml runs/beauty-sasrec
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the pipeline TOML the run was started with")
    parser.add_argument("run_dir", type=Path, help="the run directory (holds generator/work/best.safetensors)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sidkit.config import load_config
    from sidkit.data import load_from_config
    from sidkit.metrics import ranking_metrics
    from sidkit.pipeline import build_split
    from sidkit.registry import get_registry
    from sidkit.training.checkpoint import load_weights
    from sidkit_letter.models.sasrec import build_model, score_histories

    weights = args.run_dir / "generator" / "work" / "best.safetensors"
    if not weights.is_file():
        raise SystemExit(f"{weights}: no best checkpoint (has the run validated at least once?)")
    cfg = load_config(args.config, get_registry(), args.overrides)
    if cfg.component("generator").name != "sasrec":
        raise SystemExit(f"{args.config}: the generator is {cfg.component('generator').name!r}, not 'sasrec'")
    dataset = load_from_config(cfg.data.config, cfg.data.format)
    split = build_split(dataset, cfg.split)
    model = build_model(cfg.component("generator").config, dataset.n_items, seed=cfg.run.seed)
    load_weights(weights, model)
    model.eval()
    for name, examples in (("valid", split.valid), ("test", split.test)):
        tops = []
        with torch.no_grad():
            for start in range(0, len(examples), 1024):
                rows = np.arange(start, min(len(examples), start + 1024))
                tops.append(score_histories(model, examples.histories.take(rows)).topk(20, dim=1).indices.cpu())
        metrics = ranking_metrics(torch.cat(tops).numpy(), examples.targets, (5, 10, 20))
        print(name, {k: round(v, 4) for k, v in metrics.items()})


if __name__ == "__main__":
    main()
