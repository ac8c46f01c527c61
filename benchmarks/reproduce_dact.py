"""Reproduce DACT's comparison (drift-aware continual tokenization) on ML-100K and Amazon Beauty.

Runs ``sidkit continual`` (periods protocol: the first 60 % of the interactions, then 4
periods) on ``examples/ml100k-dact.toml`` and ``examples/beauty-dact.toml`` for every
``--seeds``, one output directory per dataset under ``OUT/<dataset>/`` (a re-run resumes:
finished seeds are reused, an interrupted one resumes at its stage). Every run has the
paper's seven policies (``frozen``, ``tok-ft``, ``grm-ft``, ``both-ft``, ``tok-ft-grm-rt``,
``reformer``, ``dact``; ``sdk_docs/plugins/dact.md``).

Budgets. ML-100K runs the example as it is (sized for a CPU). Beauty runs the example (the
paper's sizes: GRID-size tiger, 2,000 tokenizer fine-tuning steps a period) when a GPU is
visible or ``--device cuda``; on a CPU it runs a reduced budget (tiger d 64, 2 + 2 layers,
at most 6 + 2 epochs, 300 tokenizer steps a period, 1,500 tokenizer steps at Base, SASRec 10
epochs) and says so in the table and in ``summary.json``. ``--budget full|reduced`` forces
either; ``--set KEY=VALUE`` overrides any scenario value of every dataset.

Output: per dataset a markdown table of H@10 (mean over the periods, mean ± std over the
seeds, every seed's value), H@10 per period, NDCG@10, the warm/cold H@10, ΔFLOPs, the
update's change rates (layer 1 and overall, mean over periods and seeds), Markov/MostPop on
the same examples, the paired Wilcoxon test of ``dact`` against every policy (the runner's,
on the largest cutoff and on H@10 here) and, for Beauty, the published H@10. ``OUT/summary.json`` has the same.

The last lines are about the last dataset of ``--datasets`` (Beauty by default):
``dact_mean_h10=``, ``bothft_mean_h10=``, ``reformer_mean_h10=`` (H@10 averaged over periods
and seeds), ``dact_layer1_change_rate=`` (share of old items whose layer-1 code ``dact``
changed, mean over periods and seeds), ``tokft_overall_change_rate=`` (share of old items
whose SID ``tok-ft`` changed at any level) and ``dact_goal_met=true|false``: DACT ≥ both-FT
and > Reformer on mean H@10, and DACT's layer-1 change rate at most half of ``tok-ft``'s.

GPU (full budget, 3 seeds)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_dact.py --device cuda --out runs/reproduce-dact

CPU (ML-100K as in the example, Beauty reduced; hours)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_dact.py --device cpu --out runs/reproduce-dact-cpu

Smoke test (ML-100K, one seed, a tiny budget; the numbers mean nothing)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reproduce_dact.py --device cpu \\
        --datasets ml100k --seeds 0 --smoke --out /tmp/reproduce-dact-smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

EXAMPLES = {"ml100k": common.REPO / "examples" / "ml100k-dact.toml", "beauty": common.REPO / "examples" / "beauty-dact.toml"}
POLICIES = ("frozen", "tok-ft", "grm-ft", "both-ft", "tok-ft-grm-rt", "reformer", "dact")
FINETUNED = ("tok-ft", "both-ft", "tok-ft-grm-rt", "reformer", "dact")  # policies with tokenizer steps
PUBLISHED_BEAUTY_H10 = {  # the DACT paper, TIGER backbone, periods 1-4
    "frozen": (0.0443, 0.0341, 0.0268, 0.0223),
    "grm-ft": (0.0469, 0.0407, 0.0524, 0.0514),
    "both-ft": (0.0483, 0.0422, 0.0547, 0.0575),
    "tok-ft-grm-rt": (0.0401, 0.0378, 0.0628, 0.0534),
    "reformer": (0.0483, 0.0438, 0.0544, 0.0515),
    "dact": (0.0531, 0.0465, 0.0605, 0.0609),
}
REDUCED = [  # Beauty on a CPU
    "generator.d_model=64", "generator.d_ff=256", "generator.num_heads=4", "generator.d_kv=16",
    "generator.encoder_layers=2", "generator.decoder_layers=2", "generator.train.epochs=6",
    "generator.train.early_stopping_patience=2", "scenario.finetune_epochs=2", "scenario.finetune_patience=0",
    "tokenizer.steps=1500", "encoder.collaborative.train.epochs=10",
]
SMOKE = [
    "generator.d_model=32", "generator.d_ff=64", "generator.num_heads=2", "generator.d_kv=16",
    "generator.encoder_layers=1", "generator.decoder_layers=1", "generator.train.epochs=1",
    "scenario.finetune_epochs=1", "scenario.finetune_patience=0", "tokenizer.steps=50",
    "encoder.collaborative.train.epochs=1",
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", choices=list(EXAMPLES), default=["ml100k", "beauty"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--budget", choices=["auto", "full", "reduced"], default="auto",
                   help="Beauty's budget: full on a GPU, reduced on a CPU (auto)")
    p.add_argument("--adapt-steps", type=common.positive_int, help="tokenizer steps a period of every fine-tuning updater")
    p.add_argument("--smoke", action="store_true", help="a tiny budget for checking the script (numbers mean nothing)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a scenario override, for every dataset")
    p.add_argument("--out", type=Path, default=common.REPO / "runs" / "reproduce-dact")
    return p.parse_args(argv)


def gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def overrides(dataset: str, args: argparse.Namespace, budget: str) -> list[str]:
    """The ``--set`` list of one dataset's run: seeds, device, budget, the user's overrides."""
    out = [f"scenario.seeds={json.dumps(args.seeds)}", f"run.device={args.device}"]
    steps = args.adapt_steps
    if args.smoke:
        out += SMOKE
        steps = steps or 10
    elif budget == "reduced":
        out += REDUCED
        steps = steps or 300
    if steps:
        out += [f"updaters.{p}.steps={steps}" for p in FINETUNED]
    return out + list(args.set)


def update_rates(out: Path, seeds: Sequence[int]) -> dict[str, dict[str, float]]:
    """Mean over seeds and periods of every policy's ``layer1_change_rate`` and ``change_rate``."""
    acc: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        result = json.loads((out / "seeds" / f"seed-{seed}.json").read_text())["result"]
        for step in result["steps"]:
            for policy, row in step["policies"].items():
                rates = acc.setdefault(policy, {"layer1": [], "overall": []})
                rates["layer1"].append(row["update"].get("layer1_change_rate", 0.0))
                rates["overall"].append(row["update"].get("change_rate", 0.0))
    return {p: {k: statistics.fmean(v) for k, v in r.items()} for p, r in acc.items()}


def h10_wilcoxon(report: dict[str, Any], reference: str = "dact") -> dict[str, dict[str, Any]]:
    """Paired two-sided Wilcoxon of ``reference`` against every policy on the per-seed mean H@10."""
    from scipy.stats import wilcoxon

    ref = report["policies"][reference]["hr@10"]["seeds"]
    out = {}
    for policy, row in report["policies"].items():
        if policy == reference:
            continue
        other = row["hr@10"]["seeds"]
        diffs = [a - b for a, b in zip(ref, other, strict=True)]
        test = {"n": len(diffs), "mean_diff": statistics.fmean(diffs)}
        if sum(d != 0 for d in diffs) >= 2:
            res = wilcoxon(ref, other)
            test.update({"statistic": float(res.statistic), "p": float(res.pvalue)})
        out[policy] = test
    return out


def dataset_table(name: str, report: dict[str, Any], rates: dict[str, dict[str, float]], budget: str) -> str:
    policies = [p for p in POLICIES if p in report["policies"]]
    periods = report["steps"]
    tests = h10_wilcoxon(report) if "dact" in report["policies"] else {}
    head = ["policy", "H@10 mean ± std", "per seed", *[f"H@10 p{s['period']}" for s in periods], "N@10",
            "warm / cold H@10", "layer-1 / overall change", "ΔFLOPs", "Wilcoxon p (dact vs)"]
    rows = []
    for policy in policies:
        row = report["policies"][policy]
        h = row["hr@10"]
        per_period = [common.fmt(s["policies"][policy]["hr@10"]["mean"]) for s in periods]
        rate = rates.get(policy, {})
        p = tests.get(policy, {}).get("p")
        rows.append([
            policy, f"{h['mean']:.4f} ± {h['std']:.4f}", " ".join(f"{v:.4f}" for v in h["seeds"]), *per_period,
            common.fmt(row["ndcg@10"]["mean"]),
            f"{row['warm/hr@10']['mean']:.4f} / {row['cold/hr@10']['mean']:.4f}",
            f"{rate.get('layer1', 0.0):.3f} / {rate.get('overall', 0.0):.3f}",
            f"{row['delta_flops']['mean'] if isinstance(row['delta_flops'], dict) else row['delta_flops']:.3g}",
            "–" if p is None else f"{p:.3f}",
        ])
    for base in ("markov", "mostpop"):
        key = f"{base}/hr@10"
        values = [s["baselines"][key]["mean"] if isinstance(s["baselines"][key], dict) else s["baselines"][key] for s in periods]
        rows.append([base, f"{statistics.fmean(values):.4f}", "", *[f"{v:.4f}" for v in values], "", "", "", "", ""])
    if name == "beauty":
        for policy, values in PUBLISHED_BEAUTY_H10.items():
            rows.append([f"published {policy}", f"{statistics.fmean(values):.4f}", "", *[f"{v:.4f}" for v in values],
                         "", "", "", "", ""])
    title = f"### {name} ({budget} budget, seeds {report['seeds']})"
    return title + "\n\n" + common.markdown_table(head, rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    common.setup_logging()
    from sidkit.cli import command_registry
    from sidkit_continual.runner import run_continual

    registry = command_registry()
    gpu = args.device == "cuda" or (args.device == "auto" and gpu_visible())
    summary: dict[str, Any] = {**common.invocation(args), "machine": common.machine_facts(), "datasets": {}}
    final = None
    for dataset in args.datasets:
        budget = "smoke" if args.smoke else (args.budget if args.budget != "auto" else ("full" if gpu or dataset == "ml100k" else "reduced"))
        out = args.out / dataset
        sets = overrides(dataset, args, budget)
        started = time.perf_counter()
        report = run_continual(EXAMPLES[dataset], out, overrides=sets, registry=registry)
        wall = time.perf_counter() - started
        rates = update_rates(out, args.seeds)
        print(dataset_table(dataset, report, rates, budget) + f"\n\nwall {wall:.0f} s; report: {out / 'report.md'}\n")
        pol = report["policies"]
        final = {
            "dact_mean_h10": pol["dact"]["hr@10"]["mean"], "bothft_mean_h10": pol["both-ft"]["hr@10"]["mean"],
            "reformer_mean_h10": pol["reformer"]["hr@10"]["mean"],
            "dact_layer1_change_rate": rates["dact"]["layer1"], "tokft_layer1_change_rate": rates["tok-ft"]["layer1"],
            "tokft_overall_change_rate": rates["tok-ft"]["overall"],
        }
        summary["datasets"][dataset] = {
            "budget": budget, "overrides": sets, "wall_s": wall, "report": str(out / "report.json"),
            "hr@10": {p: pol[p]["hr@10"] for p in pol}, "change_rates": rates,
            "wilcoxon_h10": h10_wilcoxon(report), **final,
        }
        common.write_summary(args.out / "summary.json", False, summary)
    met = (final["dact_mean_h10"] >= final["bothft_mean_h10"] and final["dact_mean_h10"] > final["reformer_mean_h10"]
           and final["dact_layer1_change_rate"] <= 0.5 * final["tokft_layer1_change_rate"])
    summary["dact_goal_met"] = met
    common.write_summary(args.out / "summary.json", True, summary)
    for key in ("dact_mean_h10", "bothft_mean_h10", "reformer_mean_h10", "dact_layer1_change_rate", "tokft_overall_change_rate"):
        print(f"{key}={final[key]:.4f}")
    print(f"dact_goal_met={'true' if met else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
