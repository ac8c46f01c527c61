"""Per-epoch diagnostics of joint training: SID drift, train–inference agreement, code usage
per level, σ and the hot share, written to ``diger.json`` with 16 × 16 usage heatmaps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from sidkit.artifacts import write_json

__all__ = ["level_usage", "adjusted_rand", "sid_change", "epoch_diagnostics", "write_report", "write_heatmap"]

REPORT = "diger.json"


def level_usage(codes: np.ndarray, codebook_size: int) -> tuple[np.ndarray, list[int], list[float]]:
    """``(counts [L, K], codes used per level, perplexity per level)`` of ``[n, L]`` codes;
    perplexity is ``exp(entropy)`` of the level's code distribution over items."""
    levels = codes.shape[1]
    counts = np.stack([np.bincount(codes[:, level], minlength=codebook_size) for level in range(levels)])
    used, perplexity = [], []
    for row in counts:
        p = row[row > 0] / max(1, row.sum())
        used.append(int((row > 0).sum()))
        perplexity.append(float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0)
    return counts, used, perplexity


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings of the same items: 1 when they group the items
    alike whatever the label names (a relabeling scores 1), about 0 for unrelated groupings."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"adjusted_rand needs two labelings of the same items, got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        return 1.0
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    _, joint = np.unique(ai * (bi.max() + 1) + bi, return_counts=True)

    def pairs(counts: np.ndarray) -> float:
        c = counts.astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    both, rows, cols = pairs(joint), pairs(np.bincount(ai)), pairs(np.bincount(bi))
    expected = rows * cols / (len(a) * (len(a) - 1) / 2)
    top = (rows + cols) / 2
    return 1.0 if top == expected else (both - expected) / (top - expected)


def _prefix_labels(codes: np.ndarray, depth: int) -> np.ndarray:
    return np.unique(codes[:, :depth], axis=0, return_inverse=True)[1].reshape(-1)


def sid_change(before: np.ndarray, after: np.ndarray, levels: int) -> dict[str, list[float]]:
    """How ``[n, L]`` SIDs changed over the first ``levels`` columns: the share of items whose
    code changed at each level (``changed_per_level``), and per prefix depth 1..levels the
    adjusted Rand index of the two prefix groupings (``prefix_ari``). A relabeling of codes
    changes every item's code but keeps the ARI at 1; re-grouping the items lowers it."""
    before, after = np.asarray(before)[:, :levels], np.asarray(after)[:, :levels]
    if before.shape != after.shape:
        raise ValueError(f"sid_change needs SIDs of the same items, got shapes {before.shape} and {after.shape}")
    return {
        "changed_per_level": [
            float((before[:, lv] != after[:, lv]).mean()) if len(after) else 0.0 for lv in range(levels)
        ],
        "prefix_ari": [
            adjusted_rand(_prefix_labels(before, d), _prefix_labels(after, d)) for d in range(1, levels + 1)
        ],
    }


def epoch_diagnostics(
    previous: np.ndarray, current: np.ndarray, initial: np.ndarray, levels: int, codebook_size: int,
    stats: dict[str, float], sigma: list[float],
) -> dict[str, Any]:  # fmt: skip
    """What one epoch did to the SIDs (``[n, L']`` tables before it, after it, at the start;
    the first ``levels`` columns are the semantic codes) and the training sums ``stats``."""
    semantic = current[:, :levels]
    _, used, perplexity = level_usage(semantic, codebook_size)
    seen = max(1.0, stats["seen"])
    return {
        "drift_incremental": float((previous != current).any(1).mean()) if len(current) else 0.0,
        "drift_cumulative": float((initial != current).any(1).mean()) if len(current) else 0.0,
        **{f"{key}_cumulative": value for key, value in sid_change(initial, current, levels).items()},
        "agreement": stats["agree"] / seen,
        "hot_share": stats["hot"] / seen,
        "collisions": int(len(current) - len(np.unique(current, axis=0))),
        "used": used,
        "perplexity": perplexity,
        "sigma": sigma,
        "losses": {k: stats[k] / max(1.0, stats["steps"]) for k in ("gen", "vq", "recon")},
    }


def write_report(folder: Path, history: list[dict[str, Any]]) -> None:
    """``folder/diger.json``: one record per epoch (the ``diger`` entries of the history)."""
    rows = [{"epoch": r["epoch"], **r["diger"]} for r in history if "diger" in r]
    write_json(Path(folder) / REPORT, {"epochs": rows})


def write_heatmap(path: Path, codes: np.ndarray, codebook_size: int, title: str) -> None:
    """A PNG with one usage heatmap per level (``K`` codes on a ⌈√K⌉ × ⌈√K⌉ grid: 16 × 16
    for 256 codes), each cell the share of items on that code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts, _, perplexity = level_usage(codes, codebook_size)
    side = math.ceil(math.sqrt(codebook_size))
    fig, axes = plt.subplots(1, len(counts), figsize=(3.2 * len(counts), 3.2), squeeze=False)
    for level, (ax, row) in enumerate(zip(axes[0], counts, strict=True)):
        grid = np.zeros(side * side)
        grid[:codebook_size] = row / max(1, row.sum())
        ax.imshow(grid.reshape(side, side), cmap="viridis", vmin=0.0)
        ax.set_title(f"level {level + 1}: perplexity {perplexity[level]:.1f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)
