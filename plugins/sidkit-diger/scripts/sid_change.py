"""How joint training changed a finished run's SIDs: per level the share of items whose code
changed, and per prefix depth the adjusted Rand index of the groupings (1 = the same items
share a prefix, only the code names moved; about 0 = re-grouped). Compares the tokenizer
stage's SIDs (``RUN/tokenizer/sids.safetensors``) with the generator's
(``RUN/generator/sids.safetensors``); ``diger.json`` has the same per epoch since session 25.

``--perturb REL...`` also asks how fragile the pretrained assignment is: it adds Gaussian
noise of ``REL`` × each weight tensor's rms to every weight of the first run's tokenizer
stage (seeded) and prints the share of items whose argmin code changes per level.

    .venv/bin/python plugins/sidkit-diger/scripts/sid_change.py runs/.../frqud-seed0 runs/.../ste-seed0
    .venv/bin/python plugins/sidkit-diger/scripts/sid_change.py runs/.../frqud-seed0 --perturb 0.001 0.003 0.01
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
from sidkit.artifacts import load_embeddings, load_sids
from sidkit.errors import SidkitError
from sidkit_diger.diagnostics import sid_change


@torch.no_grad()
def perturbed_change(run: Path, rel: float, seed: int = 0) -> list[float]:
    """Per level, the share of items whose argmin code moves when every weight of the run's
    pretrained tokenizer gets noise of ``rel`` × its rms."""
    from sidkit.serving import load_run

    tok = load_run(run).tokenizer
    emb = load_embeddings(run / "encoder" / "embeddings.safetensors")
    noisy = copy.deepcopy(tok)
    gen = torch.Generator().manual_seed(seed)
    for p in noisy.model.parameters():
        p.add_(torch.randn(p.shape, generator=gen) * p.pow(2).mean().sqrt() * rel)
    base, moved = tok.codes(emb), noisy.codes(emb)
    return [float((base[:, lv] != moved[:, lv]).mean()) for lv in range(base.shape[1])]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories of a diger generator")
    p.add_argument("--levels", type=int, default=3, help="semantic levels (the conflict level is left out)")
    p.add_argument("--perturb", type=float, nargs="*", default=[], help="relative weight-noise scales (first run)")
    args = p.parse_args(argv)
    depths = ", ".join(f"prefix {d}" for d in range(1, args.levels + 1))
    print(f"| run | changed per level (1..{args.levels}) | ARI ({depths}) |")
    print("|---|---|---|")
    for run in args.runs:
        stages = [run / stage / "sids.safetensors" for stage in ("tokenizer", "generator")]
        missing = [str(s) for s in stages if not s.exists()]
        if missing:
            raise SidkitError(f"{run}: not a finished diger run, missing {', '.join(missing)}")
        before, after = (load_sids(s).codes for s in stages)
        change = sid_change(before, after, args.levels)
        changed = " / ".join(f"{v:.3f}" for v in change["changed_per_level"])
        ari = " / ".join(f"{v:.3f}" for v in change["prefix_ari"])
        print(f"| {run} | {changed} | {ari} |")
    for rel in args.perturb:
        changed = " / ".join(f"{v:.3f}" for v in perturbed_change(args.runs[0], rel))
        print(f"weight noise {rel:g} x rms on {args.runs[0]}'s tokenizer: codes changed per level {changed}")


if __name__ == "__main__":
    main()
