"""Aggregate the seeds of a continual run: ``report.json``, ``report.md`` and ``recall.png``.

Metrics are averaged over seeds (mean, sample std, and every seed's value); policies are
compared with a paired two-sided Wilcoxon signed-rank test on Recall (blocks) or HR
(periods) at the largest cutoff (``scipy.stats.wilcoxon``), pairing runs by seed: every
``reference_policy`` (default: every ``FT-ours*`` policy) against every other policy (all
pairs when there is none). In the periods protocol ``policies`` holds each seed's mean
over the periods. Every step (block or period) also has Markov and MostPop on the same
examples (``baselines``; the report's own ``baselines`` are the final step's, or the mean
over periods).
"""

from __future__ import annotations

import io
import itertools
import statistics
from pathlib import Path
from typing import Any

from sidkit.artifacts import atomic_write_bytes, atomic_write_text, write_json

__all__ = ["build_report", "write_report", "wilcoxon"]

ORDER = ("Base", "TIGER-FT", "FT-old", "FT-new", "FT-ours-greedy", "FT-ours-hungarian", "Full")


def _order(names) -> list[str]:
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "seeds": list(values),
    }


def wilcoxon(a: list[float], b: list[float]) -> dict[str, Any]:
    """Paired two-sided Wilcoxon signed-rank test of ``a`` vs ``b`` (same seeds); ``p`` is
    ``None`` (with a ``note``) when it cannot be computed: fewer than 2 pairs or no difference."""
    out: dict[str, Any] = {"n": len(a), "mean_diff": statistics.fmean(x - y for x, y in zip(a, b, strict=True)) if a else 0.0}
    if len(a) < 2 or all(x == y for x, y in zip(a, b, strict=True)):
        return {**out, "statistic": None, "p": None, "note": "needs >= 2 seeds with a difference"}
    from scipy.stats import wilcoxon as scipy_wilcoxon

    res = scipy_wilcoxon(a, b, alternative="two-sided")
    return {**out, "statistic": float(res.statistic), "p": float(res.pvalue)}


def _aggregate(rows_per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for policy in _order(rows_per_seed[0]):
        rows = [r[policy] for r in rows_per_seed]
        metrics = [k for k, v in rows[0].items() if "@" in k and isinstance(v, (int, float))]
        agg: dict[str, Any] = {m: _summary([float(r[m]) for r in rows]) for m in metrics}
        agg.update({c: statistics.fmean(float(r[c]) for r in rows) for c in ("n_warm", "n_cold") if c in rows[0]})
        for key in ("train_flops", "delta_flops"):
            agg[key] = statistics.fmean(float(r.get(key, 0)) for r in rows)
        seconds = [r["update"]["seconds"] for r in rows if isinstance(r.get("update"), dict) and "seconds" in r["update"]]
        if seconds:
            agg["update_seconds"] = statistics.fmean(seconds)
        out[policy] = agg
    return out


def _period_means(rows_per_period: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One seed's rows averaged over the periods (metrics and ΔFLOPs; total FLOPs: the last)."""
    out = {}
    for policy, last in rows_per_period[-1].items():
        rows = [r[policy] for r in rows_per_period]
        mean = {m: statistics.fmean(float(r[m]) for r in rows) for m, v in last.items() if "@" in m and isinstance(v, (int, float))}
        mean.update({c: sum(int(r[c]) for r in rows) for c in ("n_warm", "n_cold") if c in last})
        out[policy] = {**mean, "delta_flops": statistics.fmean(float(r.get("delta_flops", 0)) for r in rows), "train_flops": last.get("train_flops", 0)}
    return out


def _baseline_summary(per_seed: list[dict[str, float]]) -> dict[str, Any]:
    """Mean ± std over seeds of every metric all seeds have (a seed cached by an older
    version may lack some)."""
    return {m: _summary([float(b[m]) for b in per_seed]) for m in per_seed[0] if all(m in b for b in per_seed)}


def build_report(results: list[dict[str, Any]], config: Any, pilot: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report of per-seed results (all from the same scenario); ``pilot``: the result of
    the pilot that chose the fine-tuning budget, if one ran."""
    sc = config.scenario
    periods = sc.protocol == "periods"
    k = max(sc.ks)
    main = f"hr@{k}" if periods else f"recall@{k}"
    steps = []
    for i, step in enumerate(results[0]["steps"]):
        per_seed = [r["steps"][i]["policies"] for r in results]
        where = {"period": step["period"]} if periods else {"adapt_block": step["adapt_block"], "test_block": step["test_block"]}
        steps.append({"step": step["step"], **where, "n_test_users": step["n_test_users"], "policies": _aggregate(per_seed)})
        if all("baselines" in r["steps"][i] for r in results):  # seeds run before blocks had baselines lack them
            steps[-1]["baselines"] = _baseline_summary([r["steps"][i]["baselines"] for r in results])
    if periods:  # the mean over periods, per seed, then over seeds
        final = _aggregate([_period_means([s["policies"] for s in r["steps"]]) for r in results])
        baseline_means = [{m: statistics.fmean(s["baselines"][m] for s in r["steps"]) for m in r["steps"][0]["baselines"]} for r in results]
    else:
        final = steps[-1]["policies"]
    names = _order(final)
    ours = [p for p in sc.reference_policies if p in names]
    pairs = [(a, b) for a in ours for b in names if b not in ours] + list(itertools.combinations(ours, 2))
    tests = [
        {"a": a, "b": b, "metric": main, **wilcoxon(final[a][main]["seeds"], final[b][main]["seeds"])}
        for a, b in (pairs or itertools.combinations(names, 2))
    ]
    if periods:
        return {
            "protocol": "periods", "metric": main, "seeds": [r["seed"] for r in results], "n_periods": len(steps),
            "first_share": sc.first_share, "base_items": results[0]["base_items"],
            "base_test": _baseline_summary([r["base_test"] for r in results]),
            "full_epochs": [r["full_epochs"] for r in results], "finetune_epochs": results[0]["finetune_epochs"],
            "seconds": [r["seconds"] for r in results], "policies": final,
            "baselines": _baseline_summary(baseline_means), "steps": steps, "wilcoxon": tests,
        }
    return {
        "metric": main,
        "seeds": [r["seed"] for r in results],
        "n_blocks": config.scenario.n_blocks,
        "base_blocks": results[0]["base_blocks"],
        "base_items": results[0]["base_items"],
        "full_epochs": [r["full_epochs"] for r in results],
        "finetune_epochs": results[0].get("finetune_epochs", config.scenario.finetune_epochs),
        "pilot": pilot,
        "seconds": [r["seconds"] for r in results],
        "policies": final,
        "baselines": steps[-1].get("baselines"),
        "steps": steps,
        "wilcoxon": tests,
    }


def _flops(x: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.0f}"


def _budget_line(report: dict[str, Any]) -> str:
    pilot = report.get("pilot")
    epochs = report.get("finetune_epochs")
    if not pilot:
        return f"Fine-tuning budget: {epochs} epochs (fixed by finetune_epochs)."
    curve = ", ".join("–" if v is None else f"{v:.4f}" for v in pilot["curve"])
    return (
        f"Fine-tuning budget: {epochs} epochs, chosen by a pilot (seed {pilot['seed']}): Base on blocks "
        f"1..{pilot['base_blocks']}, fine-tuned on block {pilot['adapt_block']} with its SIDs, {pilot['monitor']} on block "
        f"{pilot['scored_block']} after each epoch: {curve}. The pilot cost {_flops(pilot['flops'])} FLOPs and "
        f"{pilot['seconds']:.0f} s, counted in no policy."
    )


def _baseline_rows(baselines: dict[str, Any], ks: list[int], metrics: tuple[str, str], empty: int) -> list[str]:
    """The ``markov/`` and ``mostpop/`` rows of a final table (``empty`` trailing cells)."""
    rows = []
    for name in ("markov", "mostpop"):
        cells = [f"{baselines[f'{name}/{m}@{k}']['mean']:.4f}" for k in ks for m in metrics]
        rows.append(f"| `{name}/` | " + " | ".join(cells) + " |" + " |" * empty)
    return rows


def _steps_table(report: dict[str, Any], where: str, policies: list[str], main: str) -> list[str]:
    """``main`` per step (``where``: ``period`` or ``test_block``) for every policy, and for
    Markov and MostPop when every step has them."""
    base = all("baselines" in s for s in report["steps"])
    names = ("markov", "mostpop") if base else ()
    lines = [f"| {where.replace('_', ' ')} | " + " | ".join([*policies, *(f"{b}/" for b in names)]) + " |",
             "|---|" + "---|" * (len(policies) + len(names))]
    for step in report["steps"]:
        cells = [f"{step['policies'][p][main]['mean']:.4f}" for p in policies]
        cells += [f"{step['baselines'][f'{b}/{main}']['mean']:.4f}" for b in names]
        lines.append(f"| {step[where]} | " + " | ".join(cells) + " |")
    return lines


def _base_lines(base: dict[str, Any], ks: list[int]) -> list[str]:
    """Base's test row on period 0, with Markov and MostPop fitted on period 0 beside it
    (seeds run before they were computed have no baseline rows)."""
    cells = [f"{base[f'{m}@{k}']['mean']:.4f}" for k in ks for m in ("hr", "ndcg")]
    lines = ["| model | " + " | ".join(f"HR@{k} | N@{k}" for k in ks) + " |", "|---|" + "---|---|" * len(ks),
             "| Base | " + " | ".join(cells) + " |"]  # fmt: skip
    if all(f"{b}/{m}@{k}" in base for b in ("markov", "mostpop") for k in ks for m in ("hr", "ndcg")):
        lines += _baseline_rows(base, ks, ("hr", "ndcg"), 0)
    return lines


def _periods_markdown(report: dict[str, Any], config: Any) -> str:
    ks = sorted(config.scenario.ks)
    main, final = report["metric"], report["policies"]
    policies = _order(final)
    warm = next((m for m in final[policies[0]] if m.startswith("warm/")), None)
    cold = warm.replace("warm/", "cold/") if warm else None
    warm_k = warm.split("/")[1].upper() if warm else "HR"
    head = "| policy | " + " | ".join(f"HR@{k} | N@{k}" for k in ks)
    lines = [
        "# Continual scenario report (periods)",
        "",
        f"Source: `{config.source}`; seeds {report['seeds']}; period 0 = the first {report['first_share']:.0%} of the "
        f"interactions ({report['base_items']} items), then {report['n_periods']} periods. Per period and user: the last "
        "interaction is the test target, the one before it the validation target. Wall time per seed: "
        + ", ".join(f"{s:.0f} s" for s in report["seconds"]) + ".",
        "",
        "## Mean over periods",
        "",
        head + f" | warm {warm_k} | cold {warm_k} | ΔFLOPs (mean) | total FLOPs |",
        "|---|" + "---|---|" * len(ks) + "---|---|---|---|",
    ]
    for policy in policies:
        row = final[policy]
        cells = [f"{row[f'{m}@{k}']['mean']:.4f} ± {row[f'{m}@{k}']['std']:.4f}" for k in ks for m in ("hr", "ndcg")]
        wc = [f"{row[x]['mean']:.4f}" if x in row and row.get(f"n_{x.split('/')[0]}", 1) else "–" for x in (warm, cold)]
        lines.append(f"| {policy} | " + " | ".join(cells + wc) + f" | {_flops(row['delta_flops'])} | {_flops(row['train_flops'])} |")
    lines += _baseline_rows(report["baselines"], ks, ("hr", "ndcg"), 4)
    lines += ["", "## Base on period 0's test targets", "", *_base_lines(report["base_test"], ks)]
    lines += ["", f"## {main} per period", ""] + _steps_table(report, "period", policies, main)
    lines += ["", f"## Paired two-sided Wilcoxon on {main} averaged over periods (pairs = seeds)", "", "| a | b | mean(a − b) | p |", "|---|---|---|---|"]
    for t in report["wilcoxon"]:
        p = "–" if t["p"] is None else f"{t['p']:.4f}"
        lines.append(f"| {t['a']} | {t['b']} | {t['mean_diff']:+.4f} | {p} |")
    return "\n".join(lines) + "\n"


def _markdown(report: dict[str, Any], config: Any) -> str:
    if report.get("protocol") == "periods":
        return _periods_markdown(report, config)
    ks = sorted(config.scenario.ks)
    main = report["metric"]
    final = report["policies"]
    lines = [
        "# Continual scenario report",
        "",
        f"Source: `{config.source}`; seeds {report['seeds']}; {report['n_blocks']} blocks; Base on blocks "
        f"1..{report['base_blocks']} ({report['base_items']} items in its SID vocabulary); Full trains "
        f"{report['full_epochs']} epochs (per seed). Wall time per seed: "
        + ", ".join(f"{s:.0f} s" for s in report["seconds"]) + ".",
        "",
        _budget_line(report),
        "",
        f"## Final step (adapt on block {report['steps'][-1]['adapt_block']}, test on block {report['steps'][-1]['test_block']}: "
        f"{report['steps'][-1]['n_test_users']} users)",
        "",
        "| policy | " + " | ".join(f"R@{k} | N@{k}" for k in ks) + " | ΔFLOPs | total FLOPs | Full ΔFLOPs / ΔFLOPs |",
        "|---|" + "---|---|" * len(ks) + "---|---|---|",
    ]
    full_delta = final.get("Full", {}).get("delta_flops")
    for policy in _order(final):
        row = final[policy]
        cells = []
        for k in ks:
            for m in ("recall", "ndcg"):
                s = row[f"{m}@{k}"]
                cells.append(f"{s['mean']:.4f} ± {s['std']:.4f}")
        ratio = f"{full_delta / row['delta_flops']:.1f}×" if full_delta and row["delta_flops"] else "–"
        lines.append(f"| {policy} | " + " | ".join(cells) + f" | {_flops(row['delta_flops'])} | {_flops(row['train_flops'])} | {ratio} |")
    if report.get("baselines"):
        lines += _baseline_rows(report["baselines"], ks, ("recall", "ndcg"), 3)
    if len(report["steps"]) > 1:
        lines += ["", f"## {main} over adaptation steps", ""] + _steps_table(report, "test_block", _order(final), main)
    seconds = {p: r["update_seconds"] for p, r in final.items() if "update_seconds" in r}
    if seconds:
        lines += ["", "SID update time (CPU, final step, mean over seeds): " + ", ".join(f"{p} {s:.3f} s" for p, s in seconds.items()) + "."]
    lines += ["", f"## Paired two-sided Wilcoxon on {main} (pairs = seeds)", "", "| a | b | mean(a − b) | p |", "|---|---|---|---|"]
    for t in report["wilcoxon"]:
        p = "–" if t["p"] is None else f"{t['p']:.4f}"
        lines.append(f"| {t['a']} | {t['b']} | {t['mean_diff']:+.4f} | {p} |")
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    main = report["metric"]
    policies = _order(report["policies"])
    n = len(report["seeds"])
    seeds = f"{n} seed{'s' if n != 1 else ''}, error bars = std"
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    if len(report["steps"]) == 1:  # one step: a bar per policy
        row = report["policies"]
        ax.bar(policies, [row[p][main]["mean"] for p in policies], yerr=[row[p][main]["std"] for p in policies], capsize=3)
        ax.set_ylabel(main)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        low = min(row[p][main]["mean"] - row[p][main]["std"] for p in policies)
        ax.set_ylim(bottom=max(0.0, low * 0.9))
        where = "period" if report.get("protocol") == "periods" else "test block"
        ax.set_title(f"{main} on {where} {report['steps'][0].get('test_block', report['steps'][0].get('period'))} ({seeds})")
    else:
        where = "period" if report.get("protocol") == "periods" else "test_block"
        x = [s[where] for s in report["steps"]]
        for policy in policies:
            mean = [s["policies"][policy][main]["mean"] for s in report["steps"]]
            std = [s["policies"][policy][main]["std"] for s in report["steps"]]
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=policy)
        ax.set_xlabel(where.replace("_", " "))
        ax.set_ylabel(main)
        ax.set_xticks(x)
        ax.set_title(f"{main} over adaptation steps ({seeds})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(out: Path, report: dict[str, Any], config: Any) -> None:
    """``report.json``, ``report.md`` and ``recall.png`` in ``out`` (each written atomically)."""
    out = Path(out)
    write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", _markdown(report, config))
    atomic_write_bytes(out / "recall.png", _plot(report))
