"""Beam search: sidkit-grid's ``beam`` decoder vs Hugging Face ``generate`` on the same model.

Trains a GRID-size ``tiger`` briefly (synthetic data by default, or an interaction file via
``--data``), then decodes the same histories with both at several beam widths, constrained
to valid SIDs (HF: ``prefix_allowed_tokens_fn`` over a prefix dict), and reports top-K
agreement, times and the speed ratio. Both decoders are warmed up on a few histories first,
then the timed comparison runs ``--repeats`` times per width; the table gives median
seconds and the min / median / max speed-up. Exits with status 1 when fewer than 99 % of the
histories get the same top-K from both at any width. Last line:
``speedup_vs_hf_generate_w20=<median ratio>``.

``--million``: constrained decoding over a 1,000,000-item catalog of random 3 × 256 SIDs,
reporting index size, decode time and peak RSS (must stay < 2 GB).

``--items N``: constrained decoding over a catalog of ``N`` items (random ``--levels`` x 256
SIDs; e.g. ``--items 10000000``) against free decoding at the same width (20, or the one
``--widths`` value), with an untrained
GRID-size ``tiger``: the prefix index's size and build time, then ``--repeats`` alternating
timings of the search itself (encode the histories + ``beam_search``, constrained vs free,
no back-fill) and one full constrained ``BeamDecoder.rank``. Last lines: ``peak_rss_mb=``
(the whole process; goal <= 4 GB at 10^7 items) and ``constrained_over_free=`` (median
seconds constrained / free; goal <= 1.2).

``--wide``: the memory of wide beams. Decodes the same histories at width 500 (k 500) over a
Beauty-size catalog (12,101 items, random 3 × 256 SIDs + de-dup digit) with an untrained
model, ``--model decoder-only`` (the continual scenario's: d 64, 2 layers, 10 context items)
or ``--model tiger`` (GRID's default size: 4 + 4 layers, d 128, 20 context items), once per
cap on the beams advanced together (``sidkit_grid.decoding.beam.MAX_BEAMS``), each in a fresh
process so that its peak RSS is its own. Prints peak RSS above the pre-decoding baseline, seconds, and
whether the rankings equal those of the first cap. Last line:
``rss_ratio_uncapped_vs_default=<ratio>`` (one batch of all histories vs the default cap).

    .venv/bin/python benchmarks/beam_search.py [--threads 1] [--repeats 3] [--data Beauty.inter.tsv]
    .venv/bin/python benchmarks/beam_search.py --million
    .venv/bin/python benchmarks/beam_search.py --items 10000000 --threads 1
    .venv/bin/python benchmarks/beam_search.py --wide --threads 1 [--model tiger] [--histories 256]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from sidkit.context import Context
from sidkit.data import leave_one_out, load_dataset
from sidkit.types import Ragged, SIDTable
from sidkit_grid.configs import BeamConfig, DecoderOnlyConfig, TigerConfig
from sidkit_grid.configs.generators import GridOptimConfig, GridTrainConfig
from sidkit_grid.decoding import beam as beam_module
from sidkit_grid.decoding.beam import MAX_BEAMS, BeamDecoder
from sidkit_grid.decoding.prefix_index import PrefixIndex
from sidkit_grid.generators.decoder_only import DecoderOnlyGenerator
from sidkit_grid.generators.sequences import BOS, PAD, SIDVocab
from sidkit_grid.generators.tiger import TigerGenerator
from sidkit_grid.tokenizers.common import deduplicate


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def random_sids(n_items: int, levels: int, width: int, seed: int, dedup: bool) -> SIDTable:
    codes = np.random.default_rng(seed).integers(0, width, (n_items, levels))
    return deduplicate(codes, width, "digit" if dedup else "none")


def load_split(args):
    if args.data:
        ds = load_dataset("delimited", path=args.data)
    else:
        ds = load_dataset("synthetic", n_users=args.users, n_items=args.synthetic_items, seed=args.seed)
    return leave_one_out(ds, max_len=20)


def train_tiger(split, sids, args) -> TigerGenerator:
    train = GridTrainConfig(
        epochs=1,
        max_steps=args.train_steps,
        batch_size=args.train_batch,
        optim=GridOptimConfig(lr=args.lr),
        progress=False,
    )
    gen = TigerGenerator(TigerConfig(train=train))
    t = time.perf_counter()
    gen.fit(sids, Context(split=split, seed=args.seed, device="cpu", progress=False))
    print(
        f"trained tiger (GRID size) for {args.train_steps} steps of {args.train_batch} (lr {args.lr}) in {time.perf_counter() - t:.1f}s, "
        f"loss {gen.history[-1]['train_loss']:.3f}"
    )
    return gen


def hf_generate(gen: TigerGenerator, sids: SIDTable, histories: Ragged, width: int, index: PrefixIndex, k: int):
    """HF beam search with the standard trie callback; returns top-k items and seconds."""
    tokens = gen.vocab.item_tokens(sids.codes)
    allowed: dict[tuple[int, ...], set[int]] = {}
    for row in tokens.tolist():
        prefix = (BOS,)
        for tok in row:
            allowed.setdefault(prefix, set()).add(tok)
            prefix += (tok,)
    allowed_lists = {p: sorted(v) for p, v in allowed.items()}

    def prefix_allowed_tokens_fn(_batch_id, sent):
        return allowed_lists.get(tuple(sent.tolist()), [PAD])

    context = gen.context(sids, histories.to_padded(gen.max_len), None)
    levels = sids.n_levels
    t = time.perf_counter()
    with torch.no_grad():
        out = gen.model.generate(
            input_ids=context,
            attention_mask=context != PAD,
            num_beams=width,
            num_return_sequences=width,
            max_new_tokens=levels,
            prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
            do_sample=False,
            length_penalty=0.0,
            early_stopping=True,
            output_scores=True,
            return_dict_in_generate=True,
        )
    seconds = time.perf_counter() - t
    seqs = out.sequences[:, 1 : 1 + levels] - torch.tensor(gen.vocab.offsets)
    leaves = index.lookup(seqs).view(len(histories), width)
    scores = out.sequences_scores.view(len(histories), width).float()
    items, item_scores = index.expand(leaves, scores, k)
    return items.numpy(), item_scores.numpy(), seconds


MIN_AGREEMENT = 0.99  # share of histories whose top-K sets must equal HF generate's
WARMUP_HISTORIES = 4


def spread(values) -> tuple[float, float, float]:
    """``(min, median, max)`` of ``values``."""
    values = list(values)
    return min(values), statistics.median(values), max(values)


def agreement(ours_items: np.ndarray, hf_items: np.ndarray, k: int) -> tuple[float, float]:
    """``(same, overlap)``: share of rows whose top-``k`` sets are equal, and the mean share
    of a row's ``k`` items that both hold."""
    pairs = list(zip(ours_items.tolist(), hf_items.tolist(), strict=True))
    same = float(np.mean([set(a) == set(b) for a, b in pairs]))
    overlap = float(np.mean([len(set(a) & set(b)) / k for a, b in pairs]))
    return same, overlap


def agreement_failures(same_by_width: dict[int, float], threshold: float = MIN_AGREEMENT) -> list[str]:
    """``"width W: 0.973"`` for every width whose top-K agreement is below ``threshold``."""
    return [f"width {w}: {same:.3f}" for w, same in same_by_width.items() if not same >= threshold]


def compare(args) -> int:
    torch.manual_seed(args.seed)
    split = load_split(args)
    sids = random_sids(split.n_items, 3, 256, args.seed, dedup=True)
    print(
        f"data: {len(split.train)} users, {split.n_items} items; SIDs 3 x 256 + de-dup digit "
        f"(codebook sizes {list(sids.codebook_sizes)})"
    )
    gen = train_tiger(split, sids, args)
    rows = np.random.default_rng(args.seed).choice(
        len(split.valid), min(args.histories, len(split.valid)), replace=False
    )
    histories = split.valid.histories.take(rows)
    warmup = histories.take(np.arange(min(WARMUP_HISTORIES, len(histories))))
    index = PrefixIndex(sids)
    ratios, same_by_width = {}, {}
    print(
        f"{len(histories)} histories, {args.repeats} timed repeats per width after a warm-up of both decoders on "
        f"{len(warmup)}; seconds are medians"
    )
    print(
        f"{'width':>5} {'ours_s':>8} {'hf_s':>8} {'speedup min/median/max':>23} {'same_topK':>9} {'overlap@K':>9} "
        f"{'max|dscore|':>11}"
    )
    for width in args.widths:
        k = min(args.k, width)
        decoder = BeamDecoder(BeamConfig(beam_width=width, batch_size=len(histories)))
        decoder.rank(gen, sids, warmup, k, None)  # warm-up: prefix index, allocator, kernels
        hf_generate(gen, sids, warmup, width, index, k)
        ours_times, hf_times, same_min, overlap_min, dscore = [], [], 1.0, 1.0, 0.0
        for _ in range(args.repeats):
            t = time.perf_counter()
            ours = decoder.rank(gen, sids, histories, k, None)
            ours_times.append(time.perf_counter() - t)
            hf_items, hf_scores, hf_s = hf_generate(gen, sids, histories, width, index, k)
            hf_times.append(hf_s)
            same, overlap = agreement(ours.items, hf_items, k)
            same_min, overlap_min = min(same_min, same), min(overlap_min, overlap)
            finite = np.isfinite(ours.scores) & np.isfinite(hf_scores)
            diff = float(np.abs(ours.scores - hf_scores)[finite].max()) if finite.any() else float("nan")
            dscore = max(dscore, diff) if not np.isnan(diff) else dscore
        lo, mid, hi = spread(hf / ours for hf, ours in zip(hf_times, ours_times, strict=True))
        ratios[width], same_by_width[width] = mid, same_min
        print(
            f"{width:>5} {statistics.median(ours_times):>8.3f} {statistics.median(hf_times):>8.3f} "
            f"{f'{lo:.1f}x / {mid:.1f}x / {hi:.1f}x':>23} {same_min:>9.3f} {overlap_min:>9.3f} {dscore:>11.2e}"
        )
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    print(f"speedup_vs_hf_generate_w20={ratios.get(20, float('nan')):.2f}", flush=True)
    failures = agreement_failures(same_by_width)
    if failures:
        print(
            f"error: top-{args.k} agreement with HF generate below {MIN_AGREEMENT} (share of histories with the same "
            f"top-K, worst repeat) at {'; '.join(failures)}",
            file=sys.stderr,
        )
        return 1
    return 0


def million(args) -> None:
    n, histories_n = 1_000_000, args.histories
    sids = random_sids(n, 3, 256, args.seed, dedup=False)
    gen = TigerGenerator(TigerConfig())
    gen.build(SIDVocab(sids.codebook_sizes), seed=args.seed)
    rng = np.random.default_rng(args.seed)
    histories = Ragged.from_lists([rng.integers(0, n, rng.integers(5, 21)) for _ in range(histories_n)])
    decoder = BeamDecoder(BeamConfig(beam_width=20, batch_size=args.batch_size))
    t = time.perf_counter()
    index = decoder.index(sids, gen.device)  # built once, reused by rank()
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    r = decoder.rank(gen, sids, histories, 10, None)
    decode_s = time.perf_counter() - t
    print(
        f"catalog: {n} items, {index.n_sids} distinct SIDs (3 x 256, random); index {index.nbytes() / 2**20:.1f} MiB, "
        f"built in {build_s:.2f}s"
    )
    print(
        f"constrained beam search (width 20, k 10) of {histories_n} histories: {decode_s:.2f}s; "
        f"all items valid: {bool((r.items >= 0).all())}"
    )
    rss = peak_rss_mb()
    print(f"peak_rss_mb={rss:.0f} ({'OK' if rss < 2048 else 'OVER'} the 2 GB budget)")


def catalog(args) -> None:
    """Constrained vs free decoding over ``args.items`` random SIDs (see the module docstring)."""
    from sidkit_grid.decoding.beam import beam_search

    n, levels = args.items, args.levels
    width = args.widths[0] if len(args.widths) == 1 else 20
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    sids = SIDTable(rng.integers(0, 256, (n, levels)), (256,) * levels)
    gen_s = time.perf_counter() - t
    gen = TigerGenerator(TigerConfig())
    gen.build(SIDVocab(sids.codebook_sizes), seed=args.seed)
    histories = Ragged.from_lists([rng.integers(0, n, rng.integers(5, 21)) for _ in range(args.histories)])
    before = peak_rss_mb()
    decoder = BeamDecoder(BeamConfig(beam_width=width, batch_size=len(histories)))
    t = time.perf_counter()
    index = decoder.index(sids, gen.device)  # built once, reused by rank() below
    build_s = time.perf_counter() - t
    print(
        f"catalog: {n:,} items, random {levels} x 256 SIDs ({index.n_sids:,} distinct; generated in {gen_s:.1f}s); "
        f"prefix index {index.nbytes() / 2**20:.0f} MiB, built in {build_s:.1f}s (peak RSS {before:.0f} MB before it, "
        f"{peak_rss_mb():.0f} MB after)"
    )

    def search(constrained: bool) -> tuple[float, torch.Tensor]:
        t = time.perf_counter()
        state = gen.encode(histories, sids)
        leaves, _ = beam_search(gen, state, index, width, constrained)
        return time.perf_counter() - t, leaves

    search(True), search(False)  # warm-up
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for constrained in (True, False):
            seconds, leaves = search(constrained)
            times[constrained].append(seconds)
            if constrained:
                assert bool((leaves >= 0).all()), "constrained decoding produced an invalid SID"
    valid_free = float((leaves >= 0).float().mean())
    c, f = statistics.median(times[True]), statistics.median(times[False])
    print(
        f"{len(histories)} histories, width {width}, {args.repeats} alternating repeats (median seconds): "
        f"constrained {c:.3f}s, free {f:.3f}s; free beams that are valid SIDs: {valid_free:.1%}"
    )
    t = time.perf_counter()
    r = decoder.rank(gen, sids, histories, 10, None)
    seconds, valid = time.perf_counter() - t, bool((r.items >= 0).all())
    print(f"BeamDecoder.rank (constrained, k 10): {seconds:.3f}s, all items valid: {valid}")
    rss = peak_rss_mb()
    print(f"peak_rss_mb={rss:.0f} ({'OK' if rss <= 4096 else 'OVER'} the 4 GB goal)")
    print(f"constrained_over_free={c / f:.3f}")


WIDE_WIDTH, WIDE_ITEMS = 500, 12_101
WIDE_MODELS = {  # --model: (untrained generator, what it is)
    "decoder-only": (lambda: DecoderOnlyGenerator(
        DecoderOnlyConfig(d_model=64, d_ff=256, num_heads=4, num_layers=2, max_len=10)), "d 64 x 2 layers, 10 items"),
    "tiger": (lambda: TigerGenerator(TigerConfig(max_len=20)), "d 128, 4 + 4 layers, 20 items"),
}


def wide_child(args) -> None:
    """One decoding at width 500 under ``MAX_BEAMS = args.max_beams``; prints one JSON line."""
    beam_module.MAX_BEAMS = args.max_beams
    sids = random_sids(WIDE_ITEMS, 3, 256, args.seed, dedup=True)
    gen = WIDE_MODELS[args.model][0]()
    gen.build(SIDVocab(sids.codebook_sizes), seed=args.seed)
    rng = np.random.default_rng(args.seed)
    histories = Ragged.from_lists([rng.integers(0, WIDE_ITEMS, gen.max_len) for _ in range(args.histories)])
    decoder = BeamDecoder(BeamConfig(beam_width=WIDE_WIDTH, batch_size=args.histories))
    decoder.index(sids, gen.device)
    baseline = peak_rss_mb()
    t = time.perf_counter()
    r = decoder.rank(gen, sids, histories, WIDE_WIDTH, None)
    seconds = time.perf_counter() - t
    print(json.dumps({
        "max_beams": args.max_beams,
        "histories_per_batch": decoder.histories_per_batch(WIDE_WIDTH),
        "rss_mb": peak_rss_mb() - baseline,
        "seconds": seconds,
        "rankings": hashlib.sha256(r.items.tobytes()).hexdigest()[:16],
    }))


def wide(args) -> None:
    uncapped = args.histories * WIDE_WIDTH
    caps = sorted({c for c in (4096, 8192, 16384, 32768, MAX_BEAMS) if c < uncapped} | {uncapped})
    print(
        f"width {WIDE_WIDTH}, k {WIDE_WIDTH}, {args.histories} full histories, untrained {args.model} "
        f"({WIDE_MODELS[args.model][1]}), "
        f"{WIDE_ITEMS} items (3 x 256 + digit), one process per cap"
    )
    print(f"{'max_beams':>9} {'hist/batch':>10} {'peak_rss_mb':>11} {'seconds':>8} {'same_rankings':>13}")
    rows = {}
    for cap in caps:
        cmd = [sys.executable, __file__, "--wide-child", "--max-beams", str(cap), "--histories", str(args.histories),
               "--seed", str(args.seed), "--model", args.model, "--threads", str(args.threads or torch.get_num_threads())]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        row = rows[cap] = json.loads(out)
        same = row["rankings"] == rows[caps[0]]["rankings"]
        print(f"{cap:>9} {row['histories_per_batch']:>10} {row['rss_mb']:>11.0f} {row['seconds']:>8.1f} {str(same):>13}")
    print(f"rss_ratio_uncapped_vs_default={rows[uncapped]['rss_mb'] / rows[min(MAX_BEAMS, uncapped)]['rss_mb']:.2f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="interaction file (CSV/TSV with user_id, item_id, timestamp), e.g. Beauty.inter.tsv")
    p.add_argument("--users", type=int, default=2000, help="synthetic users")
    p.add_argument("--synthetic-items", type=int, default=2000, help="synthetic items of the comparison with HF")
    p.add_argument("--items", type=int, help="catalog size of constrained vs free decoding (e.g. 10000000)")
    p.add_argument("--levels", type=int, default=4, help="SID levels of --items (256 codes each)")
    p.add_argument("--train-steps", type=int, default=30, help="optimizer steps of the brief training")
    p.add_argument("--train-batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--histories", type=int, default=256)
    p.add_argument("--widths", type=int, nargs="+", default=[10, 20, 50])
    p.add_argument("--k", type=int, default=10, help="top-K compared")
    p.add_argument("--repeats", type=int, default=3, help="timed comparisons per width (after one warm-up)")
    p.add_argument("--batch-size", type=int, default=256, help="histories per batch (--million)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--million", action="store_true")
    p.add_argument("--wide", action="store_true", help="peak RSS of width-500 decoding per beam cap")
    p.add_argument("--model", choices=tuple(WIDE_MODELS), default="decoder-only", help="generator of --wide")
    p.add_argument("--wide-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--max-beams", type=int, default=MAX_BEAMS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.wide_child:
        return wide_child(args)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {' '.join(sys.argv)}")
    if args.items:
        return catalog(args) or 0
    return (million if args.million else wide if args.wide else compare)(args) or 0


if __name__ == "__main__":
    sys.exit(main())
