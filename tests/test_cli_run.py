"""`sidkit run`, `recommend`, `inspect` and `config show` end to end through the CLI, on the
embedded synthetic data with the sidkit-toy components (seconds on a CPU), and the same
pipeline from Python with a component passed as an object."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
from sidkit_toy.pipelines import sidkit_cli, toy_pipeline

PIPELINE = toy_pipeline()


def sidkit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return sidkit_cli(*args, cwd=cwd)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-run")
    config = root / "toy.toml"
    config.write_text(PIPELINE)
    out = sidkit("run", str(config), "--out", str(root / "run"))
    assert out.returncode == 0, out.stderr
    return root, config, out


def test_run_writes_every_artifact_and_prints_the_metrics_table(run):
    root, _, out = run
    run_dir = root / "run"
    for name in ("config.resolved.toml", "metrics.json", "sid_stats.json", "run.json", "data/items.json"):
        assert (run_dir / name).is_file(), name
    for stage in ("encoder", "tokenizer", "generator", "rankings"):
        assert (run_dir / stage / "stage.json").is_file(), stage
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"valid", "test"}
    for split in metrics.values():
        for key in ("recall@5", "recall@10", "ndcg@10", "hr@10", "mostpop/recall@10", "markov/ndcg@10"):
            assert 0.0 <= split[key] <= 1.0, key
        assert split["n_examples"] == 300  # one leave-one-out example per user
    assert "recall@10" in out.stdout and "markov/recall@10" in out.stdout
    # counts print as integers in their own columns (a 35k-user count once ran into its neighbour)
    assert re.search(r"^n_examples +300 +300$", out.stdout, re.M), out.stdout
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "done" and info["ties"] == "keep" and info["seed"] == 3
    assert info["plugins"]["generator"] == {"name": "toy-mlp", "plugin": "sidkit-toy", "version": "0.1.0"}
    stats = json.loads((run_dir / "sid_stats.json").read_text())
    assert stats["n_items"] == 120 and stats["collision_rate"] == 0.0  # toy-rkmeans appends a de-dup level
    # the resolved config carries every default (here the toy encoder's min_df)
    resolved = (run_dir / "config.resolved.toml").read_text()
    assert "min_df = 1" in resolved and "seed = 3" in resolved


def test_rerun_reuses_every_stage_with_identical_metrics(run):
    root, config, _ = run
    before = (root / "run" / "metrics.json").read_text()
    out = sidkit("run", str(config), "--out", str(root / "run"))
    assert out.returncode == 0, out.stderr
    assert "reused stages: encoder, tokenizer, generator, rankings" in out.stdout
    assert (root / "run" / "metrics.json").read_text() == before


def test_changed_generator_setting_recomputes_only_what_depends_on_it(run, tmp_path):
    root, config, _ = run
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(root / "run", copy)
    out = sidkit("run", str(config), "--out", str(copy), "--set", "generator.hidden=48")
    assert out.returncode == 0, out.stderr
    assert "reused stages: encoder, tokenizer\n" in out.stdout
    reused = json.loads((copy / "run.json").read_text())["reused"]
    assert reused == {"encoder": True, "tokenizer": True, "generator": False, "rankings": False}


def test_recommend_gives_k_known_items_with_titles(run):
    root, _, _ = run
    items = json.loads((root / "run" / "data" / "items.json").read_text())
    history = ",".join(items["item_ids"][:3])
    out = sidkit("recommend", str(root / "run"), "--history", history, "-k", "7", "--json")
    assert out.returncode == 0, out.stderr
    recs = json.loads(out.stdout)
    assert [r["rank"] for r in recs] == list(range(1, 8))
    assert len({r["item_id"] for r in recs}) == 7
    for r in recs:
        assert r["title"] == items["titles"][items["item_ids"].index(r["item_id"])]
    text = sidkit("recommend", str(root / "run"), "--history", history, "-k", "2")
    assert text.returncode == 0 and text.stdout.splitlines()[0].startswith("  1. ")


def test_recommend_unknown_item_is_a_clear_error(run):
    root, _, _ = run
    out = sidkit("recommend", str(root / "run"), "--history", "no-such-item", "-k", "3")
    assert out.returncode == 1
    assert "unknown item id(s) 'no-such-item'" in out.stderr and "Traceback" not in out.stderr


def test_inspect_reports_stages_and_metrics(run):
    root, _, _ = run
    out = sidkit("inspect", str(root / "run"), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert all(report["stages"][s]["status"] == "done" for s in ("encoder", "tokenizer", "generator", "rankings"))
    assert report["metrics"]["test"]["n_examples"] == 300
    text = sidkit("inspect", str(root / "run"))
    assert text.returncode == 0 and "recall@10" in text.stdout


def test_bad_config_fails_before_any_work_with_every_problem(tmp_path):
    bad = PIPELINE.replace('name = "toy-rkmeans"', 'name = "toy-rkmean"').replace("epochs = 4", "epoch = 4")
    bad = bad.replace("hidden = 64", 'hidden = "big"')
    config = tmp_path / "bad.toml"
    config.write_text(bad)
    out = sidkit("run", str(config), "--out", str(tmp_path / "run"))
    assert out.returncode == 2
    err = out.stderr
    assert "tokenizer.name" in err and "did you mean 'toy-rkmeans'" in err
    assert "generator.train.epoch" in err and "did you mean 'epochs'" in err
    assert "generator.hidden" in err and "'big'" in err
    assert str(config) in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_config_show_fills_every_default(tmp_path):
    config = tmp_path / "toy.toml"
    config.write_text(PIPELINE)
    out = sidkit("config", "show", str(config), "--set", "run.seed=9")
    assert out.returncode == 0, out.stderr
    assert "seed = 9" in out.stdout and "min_df = 1" in out.stdout and "iters = 20" in out.stdout


def test_validation_section_is_shown_and_its_decoder_keys_are_checked(tmp_path):
    config = tmp_path / "toy.toml"
    config.write_text(PIPELINE)
    out = sidkit("config", "show", str(config), "--set", "validation.users=50", "--set", "validation.decoder.batch_size=7")
    assert out.returncode == 0, out.stderr
    assert "[validation]\nusers = 50\nseed = 0\n\n[validation.decoder]\nbatch_size = 7\n" in out.stdout
    out = sidkit("run", str(config), "--out", str(tmp_path / "run"), "--set", "validation.decoder.batch_sise=7")
    assert out.returncode == 2
    assert "validation.decoder.batch_sise: unknown key 'batch_sise' (did you mean 'batch_size'?)" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


@pytest.fixture
def toy_only_registry(monkeypatch):
    """The process-wide registry loaded with only sidkit-toy, reloaded in full afterwards."""
    from sidkit.registry import reset_registry

    monkeypatch.setenv("SIDKIT_LOAD_PLUGINS", "sidkit-toy")
    reset_registry()
    yield
    monkeypatch.delenv("SIDKIT_LOAD_PLUGINS")
    reset_registry()


def test_python_api_with_a_component_object(tmp_path, toy_only_registry):
    from sidkit.api import run_pipeline
    from sidkit.registry import get_registry

    raw = tomllib.loads(PIPELINE)
    tokenizer_table = dict(raw.pop("tokenizer"))
    spec = get_registry().get("tokenizer", tokenizer_table.pop("name"))
    tokenizer = spec.build(spec.config(**tokenizer_table))
    result = run_pipeline(raw, out=tmp_path / "api", components={"tokenizer": tokenizer})
    assert result.sids.n_items == 120
    assert set(result.metrics) == {"valid", "test"}
    # an object cannot be fingerprinted: its stage is recomputed on every run
    again = run_pipeline(raw, out=tmp_path / "api", components={"tokenizer": tokenizer})
    assert again.reused["encoder"] is True and again.reused["tokenizer"] is False


def test_a_decoder_that_excludes_history_gets_baselines_ranked_the_same_way(tmp_path, toy_only_registry):
    """A decoder whose config says ``exclude_history = true``: its rankings hold no history
    item, and the run's markov/mostpop rows are the baselines with history items left out."""
    from types import SimpleNamespace

    from safetensors.numpy import load_file
    from sidkit.api import run_pipeline
    from sidkit.data import leave_one_out, load_dataset
    from sidkit.metrics import baseline_metrics, drop_history_items
    from sidkit.types import Rankings
    from sidkit_toy.configs import ToyExhaustiveConfig
    from sidkit_toy.exhaustive import ToyExhaustiveDecoder

    class Excluding(ToyExhaustiveDecoder):
        def rank(self, generator, sids, histories, k, ctx=None):
            deep = super().rank(generator, sids, histories, k + int(histories.lengths.max()), ctx)
            return Rankings(*drop_history_items(deep.items, histories, k, deep.scores))

    decoder = Excluding(ToyExhaustiveConfig())
    decoder.config = SimpleNamespace(exclude_history=True, batch_size=512)
    raw = tomllib.loads(PIPELINE)
    del raw["decoder"]
    result = run_pipeline(raw, out=tmp_path / "x", components={"decoder": decoder})
    assert json.loads((tmp_path / "x" / "run.json").read_text())["exclude_history"] is True
    data = dict(raw["data"])
    split = leave_one_out(load_dataset(data.pop("format"), **data), max_len=raw["split"]["max_len"])
    test = load_file(tmp_path / "x" / "rankings" / "test.safetensors")["items"]
    assert not any(set(test[i].tolist()) & set(split.test.histories[i].tolist()) for i in range(len(test)))
    plain = baseline_metrics(split, (5, 10))["test"]
    expected = baseline_metrics(split, (5, 10), exclude_history=True)["test"]
    got = {key: v for key, v in result.metrics["test"].items() if key.startswith(("markov/", "mostpop/"))}
    assert got == pytest.approx(expected) and got != pytest.approx(plain)


def test_component_object_missing_protocol_methods_is_rejected(tmp_path):
    from sidkit.api import run_pipeline
    from sidkit.errors import SidkitError

    class NotATokenizer:
        def fit(self, embeddings, ctx):
            pass

    raw = tomllib.loads(PIPELINE)
    del raw["tokenizer"]
    with pytest.raises(SidkitError, match="does not implement Tokenizer: missing assign, load, save"):
        run_pipeline(raw, out=tmp_path / "x", components={"tokenizer": NotATokenizer()})
    assert not (tmp_path / "x").exists()


def _is_scenario(path: Path) -> bool:
    """A `sidkit continual` scenario (it has a [scenario] table), not a pipeline."""
    with path.open("rb") as f:
        return "scenario" in tomllib.load(f)


EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[1] / "examples").glob("*.toml") if not _is_scenario(p))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_shipped_example_config_resolves(example):
    """Pipelines (`sidkit run`); the continual scenarios (with a [scenario] table) are sidkit-continual's."""
    from sidkit.config import load_config
    from sidkit.registry import get_registry

    cfg = load_config(example, get_registry())
    assert {"encoder", "tokenizer", "generator", "decoder", "evaluator"} <= set(cfg.components)
    if cfg.data.format != "synthetic":  # real-data examples point at ../shared/data beside the clone
        assert "/shared/data/" in cfg.data.config.path


# -- bad inputs: one clear message, never a traceback ----------------------------------------
def invoke(*args: str):
    """Run the CLI in-process (``result.output`` holds stdout and stderr)."""
    from click.testing import CliRunner
    from sidkit.cli import main

    return CliRunner().invoke(main, list(args))


def assert_clean_exit(result, code: int, *expected: str) -> None:
    """Exit ``code`` through ``sys.exit`` or a usage error (not an escaped exception), with
    every ``expected`` text in the output."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    for text in expected:
        assert text in result.output, result.output


@pytest.fixture
def toy_registry(sidkit_registry):
    """The process-wide registry: the core's built-ins and sidkit-toy, registered in memory."""
    from sidkit_toy import plugin

    sidkit_registry.add_plugin(plugin, "sidkit-toy", "0.1.0")
    return sidkit_registry


@pytest.fixture
def toy_config(tmp_path) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(PIPELINE)
    return path


@pytest.mark.parametrize("command", [["config", "show"], ["run"]])
def test_config_that_is_not_utf8_names_the_file_and_byte_offset(tmp_path, command):
    config = tmp_path / "latin1.toml"
    config.write_bytes("[run]\nseed = 3\n# café\n".encode("latin-1"))
    result = invoke(*command, str(config))
    assert_clean_exit(result, 2, f"{config}: not UTF-8 text: byte 0xe9 at offset 20 (line 3)")


@pytest.mark.parametrize("k", ["0", "-3"])
def test_recommend_k_below_one_is_a_usage_error(tmp_path, k):
    result = invoke("recommend", str(tmp_path), "--history", "a", "-k", k)
    assert_clean_exit(result, 2, "Invalid value for '-k'", f"{k} is not in the range x>=1")


def test_run_out_in_a_read_only_folder(tmp_path, toy_registry, toy_config, monkeypatch):
    """As root chmod cannot make a folder read-only: ``Path.mkdir`` fails as it would."""
    out, real_mkdir = tmp_path / "ro" / "run", Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == out or out in self.parents:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    result = invoke("run", str(toy_config), "--out", str(out))
    assert_clean_exit(result, 1, f"error: {out}: {os.strerror(errno.EACCES)}")


@pytest.mark.parametrize("with_name", [True, False], ids=["named", "unnamed"])
def test_run_out_on_a_full_disk(tmp_path, toy_registry, toy_config, monkeypatch, with_name):
    """Artifact writes fail with ENOSPC, naming the file or (like ``write``) not."""
    import sidkit.artifacts

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(path)] if with_name else []))

    monkeypatch.setattr(sidkit.artifacts, "atomic_write_bytes", full)
    out, reason = tmp_path / "run", os.strerror(errno.ENOSPC)
    result = invoke("run", str(toy_config), "--out", str(out))
    expected = f"error: {out / 'attempt.json'}: {reason}" if with_name else f"error: {reason} (writing under {out})"
    assert_clean_exit(result, 1, expected)


def test_run_with_a_component_module_that_fails_to_import(tmp_path, toy_registry, toy_config, monkeypatch):
    from sidkit.registry import hookimpl
    from sidkit_toy.configs import ToyTextConfig

    (tmp_path / "sidkit_boom_encoder.py").write_text("raise ImportError('needs libboom 2')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Boom:
        @hookimpl
        def sidkit_register_components(self, register):
            register(kind="encoder", name="boom", factory="sidkit_boom_encoder:Boom", config=ToyTextConfig)

    toy_registry.add_plugin(Boom(), "sidkit-boom", "2.0")
    toy_config.write_text(PIPELINE.replace('name = "toy-text"', 'name = "boom"'))
    result = invoke("run", str(toy_config), "--out", str(tmp_path / "run"))
    assert_clean_exit(
        result, 1,
        "error: encoder 'boom' (plugin sidkit-boom): importing module 'sidkit_boom_encoder' failed: "
        "ImportError: needs libboom 2",
    )


@pytest.mark.slow
def test_run_under_torchrun_two_cpu_processes_matches_one(run, tmp_path):
    """`sidkit run --nproc 2`: rank 0 runs the encoder and tokenizer, both ranks train the
    generator under DDP (gloo) and rank shards of the users, rank 0 alone writes one run
    directory. The global batch is the same, so training follows the one-process run up to
    float summation order: metrics agree within 0.02 (300 users; a user is 0.0033)."""
    root, config, _ = run
    out = tmp_path / "ddp"
    result = sidkit("run", str(config), "--out", str(out), "--nproc", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count("run directory:") == 1  # rank 0 prints, once
    info = json.loads((out / "run.json").read_text())
    assert info["world_size"] == 2 and info["status"] == "done"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["data", "encoder", "generator", "rankings", "tokenizer"]
    one = json.loads((root / "run" / "metrics.json").read_text())["test"]
    two = json.loads((out / "metrics.json").read_text())["test"]
    for key in ("recall@10", "ndcg@10", "recall@5"):
        assert abs(one[key] - two[key]) <= 0.02, (key, one[key], two[key])
    assert two["n_examples"] == one["n_examples"] == 300
    for name in ("encoder", "tokenizer"):  # rank 0's stages: identical to the one-process run
        assert (out / name / "stage.json").read_text() == (root / "run" / name / "stage.json").read_text()


def _requests(items: list[str]) -> list[dict]:
    return [
        {"user": "u1", "history": items[:3]},
        {"history": items[5:6]},
        {"user": 7, "history": [items[10], items[2], items[40]]},
    ]


def test_predict_answers_every_line_in_order_like_recommend(run):
    root, _, _ = run
    items = json.loads((root / "run" / "data" / "items.json").read_text())["item_ids"]
    requests = _requests(items)
    (root / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests) + "\n")
    out = sidkit("predict", str(root / "run"), "--input", str(root / "in.jsonl"), "--output", str(root / "out.jsonl"), "-k", "5",
                 "--batch-size", "2")
    assert out.returncode == 0, out.stderr
    assert "wrote 3 recommendation lists" in out.stdout and "0 lines skipped" in out.stdout
    answers = [json.loads(line) for line in (root / "out.jsonl").read_text().splitlines()]
    assert [a["line"] for a in answers] == [1, 2, 3] and [a.get("user") for a in answers] == ["u1", None, 7]
    from sidkit.artifacts import load_sids
    from sidkit.registry import Registry
    from sidkit.serving import load_run

    registry = Registry()
    registry.load_entry_points(["sidkit-toy"])
    loaded = load_run(root / "run", registry=registry)
    sids = load_sids(root / "run" / "tokenizer" / "sids.safetensors")
    for request, answer in zip(requests, answers, strict=True):
        recs = loaded.recommend(request["history"], 5)
        assert answer["items"] == [r["item_id"] for r in recs] and len(set(answer["items"])) == 5
        assert answer["sids"] == [sids.codes[items.index(i)].tolist() for i in answer["items"]]
    batch = loaded.recommend_batch([r["history"] for r in requests], 5, batch_size=2)
    for got, one in zip(batch, (loaded.recommend(r["history"], 5) for r in requests), strict=True):
        assert [g["item_id"] for g in got] == [o["item_id"] for o in one]  # batching pads; scores move in float noise
        assert [g["score"] for g in got] == pytest.approx([o["score"] for o in one], abs=1e-4)


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["a list"]', 'expected a JSON object with a "history" list'),
    ('{"history": []}', '"history" must be a non-empty list'),
    ('{"history": [1.5]}', "item ids are strings (or integers)"),
    ('{"history": ["no-such-item"]}', "unknown item id(s) 'no-such-item'"),
    ('{"history": ["ITEM"], "user": [1]}', '"user" must be a string or an integer'),
]


def test_predict_bad_lines_fail_without_writing_or_are_skipped_with_their_line(run):
    root, _, _ = run
    items = json.loads((root / "run" / "data" / "items.json").read_text())["item_ids"]
    good = json.dumps({"history": items[:2]})
    lines = [good] + [bad.replace("ITEM", items[0]) for bad, _ in BAD_LINES] + [good]
    (root / "bad.jsonl").write_text("\n".join(lines) + "\n")
    target = root / "kept.jsonl"
    target.write_text("previous answers\n")
    out = sidkit("predict", str(root / "run"), "--input", str(root / "bad.jsonl"), "--output", str(target))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{root / 'bad.jsonl'}:2: not valid JSON" in out.stderr and "--on-error skip" in out.stderr
    assert target.read_text() == "previous answers\n"  # nothing written over it
    assert not [p for p in root.iterdir() if p.name.startswith(".kept.jsonl.")]  # no temp file left
    out = sidkit("predict", str(root / "run"), "--input", str(root / "bad.jsonl"), "--output", str(target), "--on-error", "skip")
    assert out.returncode == 0, out.stderr
    for number, (_, message) in enumerate(BAD_LINES, start=2):
        assert f"skipped {root / 'bad.jsonl'}:{number}: " in out.stderr and message in out.stderr
    answers = [json.loads(line) for line in target.read_text().splitlines()]
    assert [a["line"] for a in answers] == [1, len(lines)] and answers[0]["items"] == answers[1]["items"]


def test_decoder_options_can_be_set_when_loading_a_run(run):
    """``--set KEY=VALUE`` on recommend/predict changes only the decoder; a bad key or value
    is a config error naming the decoder section, before anything is decoded or written."""
    root, _, _ = run
    items = json.loads((root / "run" / "data" / "items.json").read_text())["item_ids"]
    history = ",".join(items[:3])
    plain = sidkit("recommend", str(root / "run"), "--history", history, "--json")
    small = sidkit("recommend", str(root / "run"), "--history", history, "--json", "--set", "batch_size=1")
    assert plain.returncode == 0 and small.returncode == 0, small.stderr
    assert [r["item_id"] for r in json.loads(small.stdout)] == [r["item_id"] for r in json.loads(plain.stdout)]
    out = sidkit("recommend", str(root / "run"), "--history", history, "--set", "batch_sise=1")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "decoder.batch_sise: unknown key" in out.stderr and "did you mean 'batch_size'" in out.stderr
    (root / "one.jsonl").write_text(json.dumps({"history": items[:2]}) + "\n")
    out = sidkit("predict", str(root / "run"), "--input", str(root / "one.jsonl"), "--output", str(root / "never.jsonl"),
                 "--set", "batch_size=0")
    assert out.returncode != 0 and "decoder.batch_size" in out.stderr and not (root / "never.jsonl").exists()


def test_seeds_run_each_seed_and_summarise_with_a_paired_test(tmp_path):
    config = tmp_path / "toy.toml"
    config.write_text(PIPELINE.replace("epochs = 4", "epochs = 2"))
    out = sidkit("run", str(config), "--out", str(tmp_path / "multi"), "--seeds", "0,1,2")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "multi" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2]
    per_seed = [json.loads((tmp_path / "multi" / f"seed-{s}" / "metrics.json").read_text()) for s in (0, 1, 2)]
    assert [json.loads((tmp_path / "multi" / f"seed-{s}" / "run.json").read_text())["seed"] for s in (0, 1, 2)] == [0, 1, 2]
    row = summary["metrics"]["test"]["recall@10"]
    values = [m["test"]["recall@10"] for m in per_seed]
    assert row["seeds"] == values and row["mean"] == pytest.approx(sum(values) / 3)
    assert row["std"] == pytest.approx((sum((v - row["mean"]) ** 2 for v in values) / 2) ** 0.5)
    test = summary["paired_test"]
    # per-user means over seeds average back to the seeds' mean recall; Markov's to its own figure
    assert test["n_users"] == 300 and test["model_mean"] == pytest.approx(row["mean"])
    assert test["baseline_mean"] == pytest.approx(per_seed[0]["test"]["markov/recall@10"])
    assert test["mean_diff"] == pytest.approx(test["model_mean"] - test["baseline_mean"])
    assert test["better"] + test["worse"] <= 300 and (test["p"] is None or 0 <= test["p"] <= 1)
    assert "Paired test on recall@10" in out.stdout and "| recall@10 | test |" in out.stdout
    bad = sidkit("run", str(config), "--out", str(tmp_path / "bad"), "--seeds", "0,x")
    assert bad.returncode == 2 and "seeds must be integers" in bad.stderr


def test_run_and_load_run_flush_subnormal_floats(tmp_path, toy_only_registry):
    """A product over subnormal floats is an order of magnitude slower on x86: ``Pipeline.run``
    and ``load_run`` switch the CPU to treating them as zero before any torch work."""
    import torch
    from sidkit.api import load_run, run_pipeline

    def flushed() -> bool:
        return bool((torch.full((4,), 1e-39) * 1.0 == 0).all())

    before = flushed()
    try:
        if not torch.set_flush_denormal(False):
            pytest.skip("this CPU cannot flush subnormal floats")
        assert not flushed()
        run_pipeline(tomllib.loads(PIPELINE), out=tmp_path / "run")
        assert flushed()
        torch.set_flush_denormal(False)
        load_run(tmp_path / "run")
        assert flushed()
    finally:
        torch.set_flush_denormal(before)
