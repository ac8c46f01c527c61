"""How joint training changed a finished run's SIDs: per level the share of items whose code
changed, and per prefix depth the adjusted Rand index of the groupings (1 = the same items
share a prefix, only the code names moved; about 0 = re-grouped). Compares the tokenizer
stage's SIDs (``RUN/tokenizer/sids.safetensors``) with the generator's
(``RUN/generator/sids.safetensors``); ``diger.json`` has the same per epoch since session 25.

    .venv/bin/python plugins/sidkit-diger/scripts/sid_change.py runs/.../frqud-seed0 runs/.../ste-seed0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sidkit.artifacts import load_sids
from sidkit.errors import SidkitError
from sidkit_diger.diagnostics import sid_change


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories of a diger generator")
    p.add_argument("--levels", type=int, default=3, help="semantic levels (the conflict level is left out)")
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


if __name__ == "__main__":
    main()
