"""The data path at scale: peak memory and seconds of load -> split -> one epoch of training
batches -> decoding 1,000 users, for synthetic interaction logs of growing size.

For each ``--interactions N`` a CSV log (``user_id,item_id,timestamp``, written once into
``--workdir`` with pyarrow's CSV writer and reused) is measured in a fresh process, so that
the peak RSS is that size's own. The log has ``N / --per-user`` users, ``--items`` items
drawn from a Zipf-like popularity, rows in time order (users interleaved, as a real log).
Stages, timed one after the other:

- ``load``: ``load_dataset("delimited", ...)``, the chunked loader (dedup, ordering, indexing);
- ``split``: leave-one-out with histories cut to ``--max-len`` items;
- ``batches``: one epoch of the ``tiger`` generator's training batches (sliding windows over
  every prefix, ``GRID``'s default), built by ``generator.batch`` exactly as training builds
  them (lazy windows -> padded histories -> token tensors), in a random order of batches
  of ``--batch-size``; batch construction only, no model step;
- ``decode``: constrained beam search (width ``--width``, top 10) of ``--decode-users`` test
  histories over the whole catalog, with a small untrained ``tiger`` (d 64, 1 + 1 layers)
  and random 3 x 256 SIDs (a trained model decodes the same amount of work).

Prints one line per size (``n=... load_s=... split_s=... batches_s=... decode_s=...
total_s=... peak_rss_gb=...``), writes a PNG of the growth curves (``--png``), and last
``peak_rss_gb_50m=`` (when 5e7 was measured), ``seconds_per_million_ratio=`` and
``cpu_seconds_per_million_ratio=`` (wall / CPU seconds per million interactions of the
largest size over the smallest: 1.0 is linear time; CPU seconds are the fairer figure on a
machine shared with other jobs).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --interactions 1000000 5000000 50000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, positive_int

STAGES = ("load", "split", "batches", "decode")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def write_log(path: Path, n: int, n_items: int, per_user: int, seed: int) -> float:
    """A synthetic CSV log of ``n`` interactions; returns the seconds it took."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_users = max(1, n // per_user)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(b"user_id,item_id,timestamp\n")
        options = pcsv.WriteOptions(include_header=False, quoting_style="none")
        step = 5_000_000
        for lo in range(0, n, step):
            m = min(step, n - lo)
            users = rng.integers(1, n_users + 1, m)
            rank = np.minimum((n_items ** rng.random(m)).astype(np.int64), n_items) - 1  # P(rank) ~ 1 / rank
            items = (rank * 2_654_435_761) % n_items + 1  # popular items spread over the id range
            stamps = 1_500_000_000 + lo + np.arange(m)
            table = pa.table({"user_id": users, "item_id": items, "timestamp": stamps})
            pcsv.write_csv(table, out, options)
    tmp.rename(path)
    return time.perf_counter() - t


class Clock:
    """Wall and CPU seconds of each stage, and the peak RSS after it, into ``out``."""

    def __init__(self, out: dict):
        self.out = out
        self.restart()

    def restart(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stage(self, name: str) -> None:
        self.out[f"{name}_s"] = time.perf_counter() - self.wall
        self.out[f"{name}_cpu_s"] = time.process_time() - self.cpu
        self.out[f"rss_after_{name}_gb"] = peak_rss_gb()
        self.restart()


def child(args) -> None:
    """Measure one size in this process; print one JSON line."""
    import numpy as np
    import torch
    from sidkit.data import leave_one_out, load_dataset
    from sidkit.types import SIDTable
    from sidkit_grid.configs import BeamConfig, TigerConfig
    from sidkit_grid.decoding.beam import BeamDecoder
    from sidkit_grid.generators.sequences import SIDVocab
    from sidkit_grid.generators.tiger import TigerGenerator

    torch.set_num_threads(args.threads)
    path = Path(args.child)
    base = peak_rss_gb()
    out: dict = {"n": args.interactions[0], "file_gb": path.stat().st_size / 2**30, "baseline_rss_gb": base}
    clock = Clock(out)
    ds = load_dataset("delimited", path=str(path))
    clock.stage("load")
    out.update(users=ds.n_users, items=ds.n_items, interactions=len(ds.interactions))

    split = leave_one_out(ds, max_len=args.max_len)
    clock.stage("split")

    codes = np.random.default_rng(0).integers(0, 256, (ds.n_items, 3))
    sids = SIDTable(codes, (256, 256, 256))
    gen = TigerGenerator(
        TigerConfig(
            d_model=64, d_ff=128, num_heads=2, d_kv=32, encoder_layers=1, decoder_layers=1, max_len=args.max_len
        )
    )
    gen.max_len = args.max_len
    gen.build(SIDVocab(sids.codebook_sizes), seed=0)
    clock.restart()
    windows = gen.training_samples(split.train, split.train_users)
    perm = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0)).numpy()
    tokens = 0
    for lo in range(0, len(perm), args.batch_size):
        context, targets = gen.batch(sids, windows, perm[lo : lo + args.batch_size])
        tokens += context.numel() + targets.numel()
    clock.stage("batches")
    out.update(samples=len(windows), batches=-(-len(perm) // args.batch_size), batch_tokens=tokens)
    del perm

    histories = split.test.histories.take(np.arange(min(args.decode_users, len(split.test))))
    decoder = BeamDecoder(BeamConfig(beam_width=args.width, batch_size=256))
    clock.restart()
    ranks = decoder.rank(gen, sids, histories, 10, None)
    clock.stage("decode")
    out["decoded_users"], out["all_valid"] = len(histories), bool((ranks.items >= 0).all())
    out["total_s"] = sum(out[f"{s}_s"] for s in STAGES)
    out["total_cpu_s"] = sum(out[f"{s}_cpu_s"] for s in STAGES)
    out["peak_rss_gb"] = peak_rss_gb()
    print(json.dumps(out), flush=True)


def plot(rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n"] / 1e6 for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        ax1.plot(n, [r[f"{stage}_cpu_s"] for r in rows], "o-", label=f"{stage} (CPU)")
    ax1.plot(n, [r["total_cpu_s"] for r in rows], "k.-", label="total (CPU)")
    ax1.plot(n, [r["total_s"] for r in rows], "k.--", alpha=0.5, label="total (wall, shared cores)")
    ax1.set(xlabel="interactions (millions)", ylabel="seconds", title="time per stage")
    ax1.legend()
    for key, label in (("rss_after_load_gb", "after load"), ("rss_after_split_gb", "after split"),
                       ("peak_rss_gb", "peak (with batches, decoding)")):  # fmt: skip
        ax2.plot(n, [r[key] for r in rows], "o-", label=label)
    ax2.axhline(8, color="red", linestyle="--", linewidth=1, label="8 GB goal")
    ax2.set(xlabel="interactions (millions)", ylabel="peak RSS (GB)", title="memory")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.suptitle("sidkit data path: load -> split -> one epoch of batches -> decode 1,000 users")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=positive_int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--items", type=positive_int, default=1_000_000, help="catalog size")
    parser.add_argument("--per-user", type=positive_int, default=50, help="mean interactions per user")
    parser.add_argument("--max-len", type=positive_int, default=20, help="history items per sample")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--decode-users", type=positive_int, default=1000)
    parser.add_argument("--width", type=positive_int, default=20, help="beam width")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    parser.add_argument("--workdir", type=Path, default=REPO / "runs" / "scale", help="where the CSV logs are kept")
    parser.add_argument("--png", type=Path, default=REPO / "runs" / "scale" / "scale.png")
    parser.add_argument("--json", type=Path, help="also write every size's measurements here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replot", type=Path, help="only redraw --png from a --json file of an earlier run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.png)
        print(f"wrote {args.png}")
        return 0
    import torch

    print(f"torch {torch.__version__}, {args.threads} thread(s); {' '.join(sys.argv)}", flush=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sorted(args.interactions):
        path = args.workdir / f"log-{n}-{args.items}-{args.per_user}-{args.seed}.csv"
        if not path.is_file():
            seconds = write_log(path, n, args.items, args.per_user, args.seed)
            print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GB) in {seconds:.0f}s", flush=True)
        cmd = [sys.executable, __file__, "--child", str(path), "--interactions", str(n)]
        for flag in ("max_len", "batch_size", "decode_users", "width", "threads"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            print(f"error: size {n} failed (exit {result.returncode})", file=sys.stderr)
            return 1
        row = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"n={n} users={row['users']} items={row['items']} samples={row['samples']} "
            + " ".join(f"{s}_s={row[f'{s}_s']:.1f}" for s in STAGES)
            + f" total_s={row['total_s']:.1f} total_cpu_s={row['total_cpu_s']:.1f} rss_after_load_gb={row['rss_after_load_gb']:.2f} "
            f"rss_after_split_gb={row['rss_after_split_gb']:.2f} peak_rss_gb={row['peak_rss_gb']:.2f}",
            flush=True,
        )
    plot(rows, args.png)
    print(f"wrote {args.png}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if 50_000_000 in [r["n"] for r in rows]:
        print(f"peak_rss_gb_50m={next(r for r in rows if r['n'] == 50_000_000)['peak_rss_gb']:.2f}")
    first, last = rows[0], rows[-1]
    for key in ("total_s", "total_cpu_s"):
        ratio = (last[key] / last["n"]) / (first[key] / first["n"])
        name = "seconds" if key == "total_s" else "cpu_seconds"
        print(f"{name}_per_million_ratio={ratio:.2f} ({last['n']:,} vs {first['n']:,} interactions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
