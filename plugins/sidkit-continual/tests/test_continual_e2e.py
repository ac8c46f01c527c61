"""`sidkit continual` end to end on the embedded synthetic data with the real components
(SASRec embeddings -> RQ-VAE SIDs -> decoder-only generator -> beam search; keep / rebuild /
align updaters): every policy row, the report files, compute accounting, seed-level resume
and the multi-step mode. Tiny models, one epoch: under a minute on 2 CPU cores (marked slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SCENARIO = """
[run]
seed = 0
device = "cpu"
progress = false

[data]
format = "synthetic"
n_users = 400
n_items = 150
n_topics = 6
drift = 0.8

[scenario]
n_blocks = 6
max_len = 8
seeds = [0, 1]
finetune_epochs = 1
ks = [5, 20]
valid_beam_width = 10

[encoder]
name = "sasrec"
hidden = 16
num_blocks = 1
num_heads = 1
ffn = 32
max_len = 8
loss = "ce"

[encoder.train]
epochs = 2
batch_size = 128
progress = false

[tokenizer]
name = "rqvae"
levels = 2
codebook_size = 8
hidden_dims = [32]
latent_dim = 8
steps = 40
batch_size = 128
optimizer = "adam"
lr = 3e-3

[generator]
name = "decoder-only"
d_model = 32
d_ff = 64
num_heads = 2
num_layers = 1
max_len = 8
monitor = "recall@10"

[generator.train]
epochs = 2
batch_size = 256
progress = false

[decoder]
name = "beam"
beam_width = 20
"""

POLICIES = ["Base", "FT-old", "FT-new", "FT-ours-greedy", "FT-ours-hungarian", "Full"]


def _sidkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sidkit.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def single_step(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("continual")
    (root / "scenario.toml").write_text(SCENARIO)
    proc = _sidkit("continual", "scenario.toml", "--out", "out", cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, root / "out", proc


def test_report_has_every_policy_with_seed_statistics(single_step):
    _, out, proc = single_step
    report = json.loads((out / "report.json").read_text())
    assert sorted(report["policies"]) == sorted(POLICIES)
    assert report["seeds"] == [0, 1] and report["metric"] == "recall@20"
    assert [s["test_block"] for s in report["steps"]] == [6]
    for row in report["policies"].values():
        for metric in ("recall@5", "ndcg@5", "recall@20", "ndcg@20"):
            stats = row[metric]
            assert len(stats["seeds"]) == 2 and all(0.0 <= v <= 1.0 for v in stats["seeds"])
            assert stats["mean"] == pytest.approx(sum(stats["seeds"]) / 2)
        # recall at a deeper cutoff can only grow
        assert row["recall@20"]["mean"] >= row["recall@5"]["mean"]
    # the CLI prints the final-step table and where the report is
    assert "FT-ours-hungarian" in proc.stdout and "report.md" in proc.stdout
    md = (out / "report.md").read_text()
    assert "| FT-ours-greedy |" in md and "Wilcoxon" in md
    # Markov and MostPop on the same test block, fitted on blocks 1..5: every seed has them
    for name in ("markov", "mostpop"):
        stats = report["baselines"][f"{name}/recall@20"]
        assert len(stats["seeds"]) == 2 and all(0.0 < v <= 1.0 for v in stats["seeds"])
        assert f"| `{name}/` | " in md
        assert any(line.startswith(f"{name}/ ") for line in proc.stdout.splitlines())
    assert (out / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compute_accounting_orders_policies(single_step):
    _, out, _ = single_step
    p = json.loads((out / "report.json").read_text())["policies"]
    assert p["Base"]["delta_flops"] == 0 and p["Base"]["train_flops"] > 0
    # FT-old only fine-tunes; the rebuilding policies also retrain encoder + tokenizer
    assert 0 < p["FT-old"]["delta_flops"] < p["FT-new"]["delta_flops"]
    assert p["FT-new"]["delta_flops"] == pytest.approx(p["FT-ours-greedy"]["delta_flops"], rel=0.05)
    # fine-tuning on one block is far cheaper than retraining on all of them
    assert p["Full"]["delta_flops"] > 3 * p["FT-ours-hungarian"]["delta_flops"]
    assert p["FT-old"]["train_flops"] == pytest.approx(p["Base"]["train_flops"] + p["FT-old"]["delta_flops"])


def test_aligned_sids_stay_in_the_old_vocabulary(single_step):
    _, out, _ = single_step
    seed = json.loads((out / "seeds" / "seed-0.json").read_text())["result"]
    rows = seed["steps"][0]["policies"]
    assert rows["FT-old"]["update"]["rows"] == "previous"
    for policy in ("FT-ours-greedy", "FT-ours-hungarian"):
        update = rows[policy]["update"]
        assert update["rows"] == "refreshed" and update["updater"] == "align"
        assert update["n_overlap"] == seed["base_items"]
        # the refreshed first-level tokens are relabelled: alignment brings them back to the
        # old ones far more often than chance (1/8 with 8 codes)
        assert update["levels"][0]["agreement"] > 2 / 8
    hungarian = rows["FT-ours-hungarian"]["update"]
    assert hungarian["solver"] == "hungarian"
    # the identity is one of the bijections Hungarian maximises over
    assert all(level["agreement"] >= level["agreement_before"] for level in hungarian["levels"])
    # both solvers see the same refresh, so they start from the same unaligned agreement
    greedy = rows["FT-ours-greedy"]["update"]
    assert [lv["agreement_before"] for lv in greedy["levels"]] == [lv["agreement_before"] for lv in hungarian["levels"]]


def test_rerun_reuses_finished_seeds(single_step):
    """A re-run reuses both seeds; a seed saved before steps carried Markov and MostPop gets
    them recomputed, equal to those of the run that made it."""
    root, out, _ = single_step
    before = json.loads((out / "report.json").read_text())
    seed_file = out / "seeds" / "seed-0.json"
    saved = seed_file.read_text()
    old = json.loads(saved)
    for step in old["result"]["steps"]:
        del step["baselines"]
    seed_file.write_text(json.dumps(old))
    try:
        proc = _sidkit("continual", "scenario.toml", "--out", "out", cwd=root)
    finally:
        seed_file.write_text(saved)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("reusing") == 2
    after = json.loads((out / "report.json").read_text())
    assert after["policies"] == before["policies"]
    assert after["baselines"] == before["baselines"]


CONTENT = """
[content.encoder]
name = "hf-text"
template = "{title}; {categories}"

[content.tokenizer]
name = "rkmeans"
levels = 2
codebook_size = 8
steps_per_level = 20
"""


def test_multi_step_mode_adapts_block_after_block(tmp_path):
    (tmp_path / "scenario.toml").write_text(SCENARIO + CONTENT)
    proc = _sidkit(
        "continual", "scenario.toml", "--out", "multi",
        # 7 blocks, steps end at block 5: block 7 is never used (the paper's RQ2 leaves 10 out)
        "--set", "scenario.n_blocks=7", "--set", "scenario.multi_step_start=3", "--set", "scenario.multi_step_end=5",
        "--set", "scenario.seeds=[0]",
        "--set", 'scenario.policies=["FT-old", "FT-ours-greedy", "TIGER-FT"]', "--set", "scenario.count_flops=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "multi" / "report.json").read_text())
    assert [(s["adapt_block"], s["test_block"]) for s in report["steps"]] == [(4, 5), (5, 6)]
    assert sorted(report["policies"]) == ["Base", "FT-old", "FT-ours-greedy", "TIGER-FT"]
    assert "over adaptation steps" in (tmp_path / "multi" / "report.md").read_text()
    seed = json.loads((tmp_path / "multi" / "seeds" / "seed-0.json").read_text())["result"]
    # step 1 aligns to Base's SIDs; step 2 aligns to step 1's table, which covered Base's items
    # plus the ones new in step 1 (the refreshed item set only grows)
    first, second = (step["policies"]["FT-ours-greedy"]["update"] for step in seed["steps"])
    assert first["n_overlap"] == seed["base_items"]
    assert second["n_overlap"] == first["n_overlap"] + first["n_new_items"]
    # FT-old never leaves Base's vocabulary
    assert all(step["policies"]["FT-old"]["update"]["rows"] == "previous" for step in seed["steps"])


def test_bad_scenario_exits_2_before_any_work(tmp_path):
    (tmp_path / "scenario.toml").write_text(SCENARIO.replace('seeds = [0, 1]', 'seeds = [0, 1]\npolicies = ["FT-olds"]'))
    proc = _sidkit("continual", "scenario.toml", "--out", "bad", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown policy 'FT-olds'" in proc.stderr and "did you mean 'FT-old'" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_pilot_picks_the_finetuning_budget_once_and_warm_refresh_runs(tmp_path):
    """pilot_epochs: the budget is the best epoch of a stale-SID fine-tune one block earlier,
    chosen once (pilot.json, reused by a re-run with other seeds) and used by every seed;
    refresh = "warm" re-fits SASRec for refresh_epochs from the previous encoder."""
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    common = [
        "--set", "scenario.pilot_epochs=3", "--set", 'scenario.policies=["FT-old", "FT-ours-hungarian"]',
        "--set", 'scenario.refresh="warm"', "--set", "scenario.refresh_epochs=1",
    ]
    proc = _sidkit("continual", "scenario.toml", "--out", "pilot", "--set", "scenario.seeds=[0]", *common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pilot = json.loads((tmp_path / "pilot" / "pilot.json").read_text())["result"]
    curve = pilot["curve"]
    assert (pilot["monitor"], len(curve), pilot["seed"]) == ("recall@10", 3, 0)
    assert (pilot["base_blocks"], pilot["adapt_block"], pilot["scored_block"]) == (3, 4, 5)
    # the budget is the first epoch with the best score
    assert pilot["epochs"] == 1 + curve.index(max(curve))
    assert pilot["flops"] > 0
    report = json.loads((tmp_path / "pilot" / "report.json").read_text())
    assert report["finetune_epochs"] == pilot["epochs"] and report["pilot"] == pilot
    assert f"Fine-tuning budget: {pilot['epochs']} epochs, chosen by a pilot" in (tmp_path / "pilot" / "report.md").read_text()
    # a second seed reuses the pilot instead of running it again, and the first seed's result
    proc = _sidkit("continual", "scenario.toml", "--out", "pilot", "--set", "scenario.seeds=[0, 1]", *common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pilot: reusing" in proc.stderr and proc.stderr.count("seed 0: reusing") == 1
    seeds = [json.loads((tmp_path / "pilot" / "seeds" / f"seed-{s}.json").read_text())["result"] for s in (0, 1)]
    assert [s["finetune_epochs"] for s in seeds] == [pilot["epochs"]] * 2
    # the warm refresh costs less than Base's SIDs (1 of 2 SASRec epochs, same tokenizer steps)
    assert 0 < seeds[1]["flops"]["step5/sids"] < seeds[1]["flops"]["base/sids"]


def test_an_interrupted_seed_resumes_at_its_stage(tmp_path, monkeypatch):
    """A seed runs as core stages (seeds/seed-<s>/): a crash in the second policy's update
    leaves Base's and the first policy's finished stages, a re-run reuses them and computes
    only the rest, and its result equals an unbroken run's."""
    from sidkit.stages import ATTEMPT_FILE
    from sidkit_continual.runner import ContinualRunner, run_continual

    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    overrides = ["scenario.seeds=[0]", 'scenario.policies=["FT-old", "FT-new"]']
    real_update = ContinualRunner._update

    def crash_on_ft_new(self, policy, *args, **kwargs):
        if policy == "FT-new":
            raise RuntimeError("killed")
        return real_update(self, policy, *args, **kwargs)

    monkeypatch.setattr(ContinualRunner, "_update", crash_on_ft_new)
    with pytest.raises(RuntimeError, match="killed"):
        run_continual(path, tmp_path / "resumed", overrides=overrides)
    seed_dir = tmp_path / "resumed" / "seeds" / "seed-0"
    assert json.loads((seed_dir / ATTEMPT_FILE).read_text())["status"] == "failed"
    finished = sorted(p.name for p in seed_dir.iterdir() if (p / "stage.json").exists())
    done = ("base-encoder", "base-tokenizer", "base-generator", "step5-encoder", "step5-tokenizer", "step5-FT-old-sids", "step5-FT-old")
    assert finished == sorted(f"{n}.new" for n in done)

    monkeypatch.setattr(ContinualRunner, "_update", real_update)
    resumed = run_continual(path, tmp_path / "resumed", overrides=overrides)
    reused = json.loads((seed_dir / "run.json").read_text())["reused"]
    assert {name for name, was in reused.items() if was} == {n.removesuffix(".new") for n in finished}
    assert {name for name, was in reused.items() if not was} == {"step5-FT-new-sids", "step5-FT-new"}
    unbroken = run_continual(path, tmp_path / "unbroken", overrides=overrides)
    assert resumed["policies"] == unbroken["policies"]
    seeds = [json.loads((tmp_path / d / "seeds" / "seed-0.json").read_text())["result"] for d in ("resumed", "unbroken")]
    assert seeds[0]["flops"] == seeds[1]["flops"] and seeds[0]["flops"]["base/generator"] > 0


def _registry_with_adapter():
    from continual_test_components import AdapterPlugin
    from sidkit.registry import Registry

    registry = Registry()
    registry.load_entry_points()
    registry.add_plugin(AdapterPlugin(), "continual-tests")
    return registry


PERIODS = """
protocol = "periods"
first_share = 0.6
n_periods = 2
policies = ["FT-new", "FT-ours-hungarian", "tok-refit", "Full"]
generator_modes = {FT-new = "frozen"}
finetune_patience = 1
reference_policy = ["tok-refit"]
"""


@pytest.fixture(scope="module")
def periods_run(tmp_path_factory):
    from sidkit_continual.runner import run_continual

    root = tmp_path_factory.mktemp("periods")
    path = root / "scenario.toml"
    path.write_text(SCENARIO.replace("[scenario]\n", "[scenario]\n" + PERIODS).replace("seeds = [0, 1]", "seeds = [0]")
                    + '\n[updaters.tok-refit]\nname = "tok-refit"\n')
    registry = _registry_with_adapter()
    report = run_continual(path, root / "out", registry=registry)
    seed = json.loads((root / "out" / "seeds" / "seed-0.json").read_text())["result"]
    return root / "out", report, seed, registry


def test_periods_protocol_tests_every_user_of_every_period(periods_run):
    """Two periods after period 0; in each, every user with an interaction there is tested
    once (its last), beside Markov and MostPop on the same examples; HR and NDCG per period
    and their mean over periods."""
    from sidkit.data import load_dataset, period_stream

    out, report, seed, _ = periods_run
    ds = load_dataset("synthetic", n_users=400, n_items=150, n_topics=6, drift=0.8)
    periods = period_stream(ds, 0.6, 2)
    users = [len(np.unique(ds.interactions.user[p])) for p in periods[1:]]
    assert [(s["period"], s["n_test_users"]) for s in report["steps"]] == [(1, users[0]), (2, users[1])]
    assert sorted(report["policies"]) == ["FT-new", "FT-ours-hungarian", "Full", "tok-refit"] and report["metric"] == "hr@20"
    for step in seed["steps"]:
        for row in step["policies"].values():
            assert row["hr@20"] == row["recall@20"] and 0 <= row["hr@5"] <= row["hr@20"] <= 1
            assert row["n_warm"] + row["n_cold"] == step["n_test_users"]
        assert 0 < step["baselines"]["markov/hr@20"] <= 1 and 0 < step["baselines"]["mostpop/hr@20"] <= 1
    mean = sum(s["policies"]["Full"]["hr@20"] for s in seed["steps"]) / 2
    assert report["policies"]["Full"]["hr@20"]["mean"] == pytest.approx(mean)
    assert [(t["a"], t["b"]) for t in report["wilcoxon"]] == [("tok-refit", p) for p in ("FT-new", "FT-ours-hungarian", "Full")]
    assert "markov/" in (out / "report.md").read_text()


def test_another_finetune_rate_reuses_base_and_redoes_every_update(periods_run, tmp_path):
    """A sweep over what follows Base reuses Base's stages (encoder, tokenizer, generator) and
    recomputes every stage after it; Base's test metrics come out the same."""
    import shutil

    from sidkit_continual.runner import run_continual

    out, _, seed, registry = periods_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    scenario = out.parent / "scenario.toml"
    changed = tmp_path / "scenario.toml"
    changed.write_text(scenario.read_text().replace("[scenario]\n", "[scenario]\nfinetune_lr = 1e-4\n"))
    run_continual(changed, copy, registry=registry)
    reused = json.loads((copy / "seeds" / "seed-0" / "run.json").read_text())["reused"]
    assert {name for name, again in reused.items() if again} == {"base-encoder", "base-tokenizer", "base-generator"}
    assert len(reused) > 3
    assert json.loads((copy / "seeds" / "seed-0.json").read_text())["result"]["base_test"] == seed["base_test"]


def test_base_has_markov_and_mostpop_fitted_on_period_0_beside_it(periods_run):
    """Base is tested on period 0's test targets; the report puts Markov and MostPop, fitted on
    period 0's other interactions and ranking its items, on the same examples."""
    out, report, seed, _ = periods_run
    base = seed["base_test"]
    assert 0 < base["markov/hr@20"] <= 1 and 0 < base["mostpop/hr@20"] <= 1
    assert base["markov/hr@5"] <= base["markov/hr@20"] and base["mostpop/ndcg@20"] <= base["mostpop/hr@20"]
    assert report["base_test"]["markov/hr@20"]["mean"] == pytest.approx(base["markov/hr@20"])
    text = (out / "report.md").read_text()
    section = text.split("## Base on period 0's test targets")[1].split("##")[0]
    assert f"| Base | {base['hr@5']:.4f} |" in section
    assert f"| `markov/` | {base['markov/hr@5']:.4f} |" in section and "| `mostpop/` |" in section


def test_generator_modes_and_adapter_compute_accounting(periods_run):
    """A frozen generator trains nothing (ΔFLOPs = the SID refresh); an adapter is charged
    the encoder refresh, its adaptation and its fine-tune, never the tokenizer re-fit it skipped;
    it gets the period's split and the refreshed item set."""
    out, _, seed, _ = periods_run
    flops = seed["flops"]
    for step in seed["steps"]:
        t = step["period"]
        assert f"step{t}/FT-new" not in flops
        assert step["policies"]["FT-new"]["delta_flops"] == flops[f"step{t}/sids"]
        encoder = json.loads((out / "seeds" / "seed-0" / f"step{t}-encoder" / "stage.json").read_text())["flops"]
        adapt, tuned = flops[f"step{t}/tok-refit/adapt"], flops[f"step{t}/tok-refit"]
        assert adapt > 0 and tuned > 0 and 0 < encoder < flops[f"step{t}/sids"]
        assert step["policies"]["tok-refit"]["delta_flops"] == encoder + adapt + tuned
        update = step["policies"]["tok-refit"]["update"]
        assert update["got_split"] and update["n_extras_items"] == update["n_items"]


def test_an_adapter_never_changes_the_shared_previous_tokenizer(periods_run, tmp_path):
    """The runner hands an adapter a copy: the previous tokenizer's saved state is byte-identical
    after an adapter re-fitted its argument in place, and the adapted one differs."""
    import hashlib

    from sidkit.stages import RunDirectory
    from sidkit_continual.config import load_scenario
    from sidkit_continual.data import ItemSpace
    from sidkit_continual.flops import FlopMeter
    from sidkit_continual.runner import ContinualRunner, PolicyState, _Refresh

    out, _, _, registry = periods_run
    config = load_scenario(out.parent / "scenario.toml", registry)
    runner = ContinualRunner(config, tmp_path, registry=registry)
    runner.device, runner._meter, runner._key = "cpu", FlopMeter(False), "test"
    from sidkit.data import load_dataset

    runner.dataset = load_dataset("synthetic", n_users=400, n_items=150, n_topics=6, drift=0.8)
    rng = np.random.default_rng(0)
    from sidkit.context import Context
    from sidkit.types import ItemEmbeddings

    old, new = (ItemEmbeddings(rng.normal(size=(n, 8)).astype(np.float32)) for n in (100, 120))
    tokenizer = registry.build("tokenizer", config.components["tokenizer"].name, config.components["tokenizer"].config)
    tokenizer.fit(old, Context(seed=0))

    def digest(tok) -> str:
        folder = tmp_path / f"state-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        tok.save(folder)
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()

    before = digest(tokenizer)
    prev = PolicyState(ItemSpace(np.arange(100)), tokenizer.assign(old), tokenizer, None)
    fresh = _Refresh(ItemSpace(np.arange(120)), None, None, 0, embeddings=new)
    with RunDirectory(tmp_path / "rd") as runner._rd:
        table, report, adapted = runner._update("tok-refit", config.updaters["tok-refit"], prev, fresh, 0, 1)
    assert digest(tokenizer) == before and digest(adapted) != before
    assert adapted is not tokenizer and table.n_items == 120 and report["n_previous"] == 100


def test_policies_with_the_same_adapter_and_past_share_one_adaptation(periods_run, tmp_path, monkeypatch):
    """Two policies adapting the same previous tokenizer with the same updater options run
    the adapter once: the second writes the first's result into its own stage (same SIDs,
    same tokenizer state, ``shared_with`` in its report) and is charged the same FLOPs; a
    different previous tokenizer is adapted afresh."""
    from continual_test_components import RefitAdapter
    from sidkit.context import Context
    from sidkit.data import load_dataset
    from sidkit.stages import RunDirectory
    from sidkit.types import ItemEmbeddings
    from sidkit_continual.config import load_scenario
    from sidkit_continual.data import ItemSpace
    from sidkit_continual.flops import FlopMeter
    from sidkit_continual.runner import ContinualRunner, PolicyState, _Refresh

    out, _, _, registry = periods_run
    config = load_scenario(out.parent / "scenario.toml", registry)
    runner = ContinualRunner(config, tmp_path, registry=registry)
    runner.device, runner._meter, runner._key = "cpu", FlopMeter(True), "test"
    runner.dataset = load_dataset("synthetic", n_users=400, n_items=150, n_topics=6, drift=0.8)
    calls = []
    adapt = RefitAdapter.adapt
    monkeypatch.setattr(RefitAdapter, "adapt", lambda self, *a: calls.append(1) or adapt(self, *a))
    rng = np.random.default_rng(0)
    old, new = (ItemEmbeddings(rng.normal(size=(n, 8)).astype(np.float32)) for n in (100, 120))

    def previous():
        tokenizer = registry.build("tokenizer", config.components["tokenizer"].name, config.components["tokenizer"].config)
        tokenizer.fit(old, Context(seed=0))
        return PolicyState(ItemSpace(np.arange(100)), tokenizer.assign(old), tokenizer, None)

    prev, other = previous(), previous()
    fresh = _Refresh(ItemSpace(np.arange(120)), None, None, 0, embeddings=new)
    choice = config.updaters["tok-refit"]
    with RunDirectory(tmp_path / "rd") as runner._rd:
        first = runner._update("a", choice, prev, fresh, 0, 1)
        second = runner._update("b", choice, prev, fresh, 0, 1)
        third = runner._update("c", choice, other, fresh, 0, 1)
    assert len(calls) == 2  # a and c adapted; b reused a's result
    assert second[2] is first[2] and second[0] is first[0] and second[1]["shared_with"] == "a" and "shared_with" not in third[1]
    np.testing.assert_array_equal(third[0].codes, first[0].codes)  # same inputs, same answer when recomputed
    flops = runner._meter.totals
    assert flops["step1/a/adapt"] == flops["step1/b/adapt"] == flops["step1/c/adapt"] > 0
    a, b = (tmp_path / "rd" / f"step1-{p}-sids.new" for p in "ab")  # promoted when a seed finishes
    for name in ("sids.safetensors", "state/meta.json", "state/state.safetensors"):
        assert (b / name).read_bytes() == (a / name).read_bytes()


def test_a_policy_that_keeps_previous_rows_fails_in_periods_mode(tmp_path):
    from sidkit.errors import SidkitError
    from sidkit_continual.runner import run_continual

    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO.replace("[scenario]\n", '[scenario]\nprotocol = "periods"\nn_periods = 2\npolicies = ["FT-old"]\n'))
    with pytest.raises(SidkitError, match="policy FT-old.*keeps the previous rows.*every item seen so far needs a SID"):
        run_continual(path, tmp_path / "out", overrides=["scenario.seeds=[0]"])
