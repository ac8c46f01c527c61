"""Per-seed numbers of the planted-drift tests (``tests/test_planted.py``), at their settings.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/sidkit-dact/scripts/planted.py --seeds 0 1 2 3 4
    OMP_NUM_THREADS=1 .venv/bin/python plugins/sidkit-dact/scripts/planted.py --seeds 0 --lr 1e-3 --conf-weight 0.25
    OMP_NUM_THREADS=1 .venv/bin/python plugins/sidkit-dact/scripts/planted.py --seeds 0 --rotate

One JSON line per seed: CDIM's AUC (moved vs unmoved) before and after the ``dact`` update,
the share of moved / unmoved items whose layer-1 code changes under ``dact`` and under
``tok-finetune``, and CPU seconds. ``--rotate`` expresses the second CF matrix in a random
orthonormal basis (what a collaborative encoder retrained from scratch gives: the same
neighbourhoods, other coordinates)."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch
from sidkit.context import Context
from sidkit.registry import get_registry
from sidkit.types import ItemEmbeddings
from sidkit_dact.configs import DactUpdaterConfig
from sidkit_dact.tokenizer import DactTokenizer
from sidkit_dact.update import DriftAwareFinetune

TESTS = Path(__file__).resolve().parents[1] / "tests"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_dact_{name}", TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="update steps (default: the tests')")
    parser.add_argument("--lr", type=float, default=None, help="both updaters' lr (default: the tests')")
    parser.add_argument("--conf-weight", type=float, default=None, help="dact's conf_weight (default: the tests')")
    parser.add_argument("--rotate", action="store_true", help="second CF matrix in a random orthonormal basis")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fixtures, planted_tests = _load("conftest"), _load("test_planted")
    dact_kw = dict(planted_tests.DACT)
    naive_kw = dict(planted_tests.NAIVE)
    for key, value in (("steps", args.steps), ("lr", args.lr)):
        if value is not None:
            dact_kw[key] = naive_kw[key] = value
    if args.conf_weight is not None:
        dact_kw["conf_weight"] = args.conf_weight
    registry = get_registry()
    for seed in args.seeds:
        started = time.process_time()
        before, after, moved = fixtures.planted_drift(content_dim=256, seed=seed)
        if args.rotate:
            cf = after.views["collaborative"]
            basis, _ = np.linalg.qr(np.random.default_rng(1000 + seed).standard_normal((cf.shape[1],) * 2))
            after = ItemEmbeddings(after.values, views={"collaborative": (cf @ basis).astype(np.float32)})
        tok = DactTokenizer(fixtures.small_config())
        tok.fit(before, Context(seed=seed, progress=False))
        previous = tok.assign(before)
        row: dict[str, object] = {"seed": seed}
        results = {}
        for name, kw in (("dact", dact_kw), ("tok-finetune", naive_kw)):
            spec = registry.get("sid-updater", name)
            adapted, table, _ = spec.build(spec.config(**kw)).adapt(tok, previous, after, Context(seed=seed, progress=False))
            changed = table.codes[:, 0] != previous.codes[:, 0]
            row[f"{name}_layer1_moved"] = round(float(changed[moved].mean()), 3)
            row[f"{name}_layer1_unmoved"] = round(float(changed[~moved].mean()), 3)
            results[name] = adapted
        probe = DriftAwareFinetune(copy.deepcopy(tok), after, DactUpdaterConfig(**dact_kw))
        row["auc_untrained"] = round(planted_tests.auc(probe.confidence(), moved), 3)
        probe.tokenizer = results["dact"]
        row["auc"] = round(planted_tests.auc(probe.confidence(), moved), 3)
        row["cpu_s"] = round(time.process_time() - started, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
