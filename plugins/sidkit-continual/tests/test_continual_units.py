"""Fast unit tests of the continual scenario runner's building blocks (``sidkit_continual``).
The core and sidkit-grid helpers it added are tested with them: ``sliding_windows`` in
core/tests/data/test_sequences.py, ``ranking_metrics(capped_recall=...)`` in
core/tests/metrics/test_ranking.py, ``training_windows`` in sidkit-grid's tests."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sidkit.config import read_toml
from sidkit.data import Catalog, Dataset, Interactions
from sidkit.errors import ConfigError, SidkitError
from sidkit.types import EvalSet, ItemEmbeddings, Ragged
from sidkit_continual.config import DEFAULT_UPDATERS, ScenarioSection, load_scenario, resolve_scenario
from sidkit_continual.data import ItemSpace, empty_eval_set, local_eval_set, training_split, user_sequences
from sidkit_continual.flops import FlopMeter
from sidkit_continual.report import build_report, wilcoxon
from sidkit_continual.runner import ContinualRunner

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "synthetic-continual.toml"


def rows(r: Ragged) -> list[list[int]]:
    return [list(map(int, x)) for x in r]


# --------------------------------------------------------------------------------------------
# 1. sidkit_continual.data
# --------------------------------------------------------------------------------------------
def tiny_dataset() -> Dataset:
    """Rows sorted by user then time:

    u0: items 0 1 2 3 4 at t 1 2 3 4 5      (rows 0-4)
    u1: items 5 1 2     at t 1 2 6          (rows 5-7)
    u2: items 2 3       at t 1 2            (rows 8-9)  no target rows
    u3: items 4 5       at t 3 7            (rows 10-11) its only target (5) is outside the space
    """
    user = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    item = np.array([0, 1, 2, 3, 4, 5, 1, 2, 2, 3, 4, 5])
    ts = np.array([1, 2, 3, 4, 5, 1, 2, 6, 1, 2, 3, 7])
    n_items = 6
    catalog = Catalog([f"i{i}" for i in range(n_items)], [{"title": f"item {i}"} for i in range(n_items)])
    inter = Interactions(user, item, ts, [f"u{u}" for u in range(4)])
    return Dataset(catalog, inter, name="tiny")


CONTEXT_ROWS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 10])  # t <= 4
TARGET_ROWS = np.array([4, 7, 11])  # t > 4
SPACE_ITEMS = [3, 1, 4, 2, 2, 1]  # -> {1, 2, 3, 4}; items 0 and 5 are outside


class TestItemSpace:
    def test_sorted_unique(self):
        space = ItemSpace(SPACE_ITEMS)
        assert space.items.tolist() == [1, 2, 3, 4]
        assert space.items.dtype == np.int64
        assert len(space) == 4

    def test_local_maps(self):
        space = ItemSpace([10, 3, 7])
        assert space.local(np.array([3, 7, 10, 7])).tolist() == [0, 1, 2, 1]
        assert space.local(np.zeros(0, dtype=np.int64)).tolist() == []

    @pytest.mark.parametrize("missing", [5, 0, 99])  # between, below and above the space's items
    def test_local_missing_names_item(self, missing):
        space = ItemSpace([1, 2, 4])
        with pytest.raises(SidkitError, match=rf"item {missing} is not in this SID table's item space \(3 items\)"):
            space.local(np.array([1, missing, 2]))

    def test_local_on_empty_space_is_sidkit_error(self):
        with pytest.raises(SidkitError, match="item 3 is not in"):
            ItemSpace([]).local(np.array([3]))

    def test_of_rows_mask_embeddings(self):
        ds = tiny_dataset()
        space = ItemSpace.of_rows(ds, np.array([1, 6, 9, 10]))  # items 1, 1, 3, 4
        assert space.items.tolist() == [1, 3, 4]
        assert space.mask(6).tolist() == [False, True, False, True, True, False]
        emb = ItemEmbeddings(np.arange(12, dtype=np.float32).reshape(6, 2), {"content": np.arange(6) * 10})
        sub = space.embeddings(emb)
        assert sub.values.tolist() == [[2, 3], [6, 7], [8, 9]]
        assert np.asarray(sub.views["content"]).tolist() == [10, 30, 40]


class TestTrainingSplit:
    def test_user_sequences(self):
        ds = tiny_dataset()
        seqs, users = user_sequences(ds, np.array([11, 7, 4, 0]))  # unsorted on purpose
        assert users.tolist() == [0, 1, 3]
        assert rows(seqs) == [[0, 4], [2], [5]]

    def test_targets_only(self):
        ds = tiny_dataset()
        split = training_split(ds, TARGET_ROWS, ItemSpace(SPACE_ITEMS))
        # u0 -> item 4 (local 3), u1 -> item 2 (local 1), u3's only target (5) is outside: dropped
        assert rows(split.train) == [[3], [1]]
        assert split.train_users.tolist() == [0, 1]
        assert split.train_first_target is None
        assert split.n_items == 4
        assert len(split.valid) == 0 and len(split.test) == 0

    def test_with_context_max_len_2(self):
        ds = tiny_dataset()
        split = training_split(ds, TARGET_ROWS, ItemSpace(SPACE_ITEMS), context_rows=CONTEXT_ROWS, max_len=2)
        # u0: context in space 1 2 3 -> last 2 = 2 3, then target 4  -> local [1, 2, 3], first 2
        # u1: context in space 1 (item 5 dropped), then target 2    -> local [0, 1], first 1
        # u2 (no target) and u3 (target outside the space) dropped, with their context
        assert rows(split.train) == [[1, 2, 3], [0, 1]]
        assert split.train_users.tolist() == [0, 1]
        assert split.train_first_target.tolist() == [2, 1]
        assert split.train_first_target.dtype == np.int64
        assert split.n_items == 4

    def test_with_context_long_max_len(self):
        ds = tiny_dataset()
        split = training_split(ds, TARGET_ROWS, ItemSpace(SPACE_ITEMS), context_rows=CONTEXT_ROWS, max_len=20)
        assert rows(split.train) == [[0, 1, 2, 3], [0, 1]]
        assert split.train_first_target.tolist() == [3, 1]

    def test_max_len_1_and_windows(self):
        from sidkit_grid.generators.sequences import training_windows

        ds = tiny_dataset()
        split = training_split(ds, TARGET_ROWS, ItemSpace(SPACE_ITEMS), context_rows=CONTEXT_ROWS, max_len=1)
        assert rows(split.train) == [[2, 3], [0, 1]]
        assert split.train_first_target.tolist() == [1, 1]
        # the windows predict only the target block: one sample per target item
        w = training_windows(split.train, 20, split.train_users, split.train_first_target)
        assert w.targets.tolist() == [3, 1]
        assert w.users.tolist() == [0, 1]
        assert rows(w.inputs) == [[2], [0]]

    def test_first_target_equals_context_count_everywhere(self):
        ds = tiny_dataset()
        space = ItemSpace([0, 1, 2, 3, 4, 5])
        split = training_split(ds, TARGET_ROWS, space, context_rows=CONTEXT_ROWS, max_len=3)
        # every item in the space: u0 context 1 2 3 | 4; u1 5 1 | 2; u3 4 | 5
        assert rows(split.train) == [[1, 2, 3, 4], [5, 1, 2], [4, 5]]
        assert split.train_users.tolist() == [0, 1, 3]
        assert split.train_first_target.tolist() == [3, 2, 1]
        assert (split.train.lengths - split.train_first_target).tolist() == [1, 1, 1]

    def test_valid_passed_through(self):
        ds = tiny_dataset()
        valid = EvalSet(np.array([0]), Ragged.from_lists([[0, 1]]), Ragged.from_lists([[2]]))
        split = training_split(ds, TARGET_ROWS, ItemSpace(SPACE_ITEMS), valid)
        assert split.valid is valid and split.test is valid

    def test_empty_eval_set(self):
        e = empty_eval_set()
        assert len(e) == 0 and len(e.histories) == 0 and len(e.targets) == 0


class TestLocalEvalSet:
    def test_maps_histories_and_targets(self):
        space = ItemSpace([1, 2, 3, 4])
        examples = EvalSet(np.array([0, 1]), Ragged.from_lists([[2, 3], [1]]), Ragged.from_lists([[4, 1], [2]]))
        local = local_eval_set(examples, space)
        assert local.users.tolist() == [0, 1]
        assert rows(local.histories) == [[1, 2], [0]]
        assert rows(local.targets) == [[3, 0], [1]]

    def test_item_outside_space_raises(self):
        space = ItemSpace([1, 2, 3, 4])
        examples = EvalSet(np.array([0]), Ragged.from_lists([[2, 5]]), Ragged.from_lists([[4]]))
        with pytest.raises(SidkitError, match="item 5 is not in"):
            local_eval_set(examples, space)


# --------------------------------------------------------------------------------------------
# 2. FlopMeter
# --------------------------------------------------------------------------------------------
class TestFlopMeter:
    def test_matmul_exact(self):
        import torch

        meter = FlopMeter()
        a, b = torch.randn(64, 64), torch.randn(64, 64)
        with meter.count("mm"):
            a @ b
        assert meter.get("mm") == 2 * 64**3
        assert meter.totals == {"mm": 2 * 64**3}

    def test_counts_accumulate_per_label_and_backward(self):
        import torch

        meter = FlopMeter()
        a = torch.randn(64, 64, requires_grad=True)
        b = torch.randn(64, 64)
        with meter.count("train"):
            (a @ b).sum().backward()  # forward mm + one backward mm (grad of a only)
        assert meter.get("train") == 2 * 2 * 64**3
        with meter.count("train"):
            a.detach() @ b
        assert meter.get("train") == 3 * 2 * 64**3
        assert meter.get("never") == 0

    def test_module_training_counted_like_torch_without_module_hooks(self):
        """The meter counts what FlopCounterMode counts for a module's forward + backward,
        but installs no module hooks: the module tracker's gradient hooks leaked memory
        every training step."""
        import torch
        from torch.nn.modules import module as nn_module
        from torch.utils.flop_counter import FlopCounterMode

        net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
        x = torch.randn(16, 32)

        def step():
            net(x).pow(2).sum().backward()

        with FlopCounterMode(display=False) as reference:
            step()
        meter = FlopMeter()
        hooks = []
        with meter.count("train"):
            hooks.append(len(nn_module._global_forward_pre_hooks) + len(nn_module._global_forward_hooks))
            step()
        assert meter.get("train") == reference.get_total_flops() > 0
        assert hooks == [len(nn_module._global_forward_pre_hooks) + len(nn_module._global_forward_hooks)] == [0]

    def test_excluded_not_charged(self):
        import torch

        meter = FlopMeter()
        a, b = torch.randn(64, 64), torch.randn(64, 64)
        validate = meter.excluded(lambda x, y=None: x @ y)
        with meter.count("train"):
            a @ b
            out = validate(a, y=b)
            validate(a, y=b)
        assert out.shape == (64, 64)  # the wrapped function's return value comes through
        assert meter.get("train") == 2 * 64**3
        with meter.count("only-excluded"):
            validate(a, y=b)
        assert meter.get("only-excluded") == 0

    def test_excluded_outside_count_does_not_leak(self):
        import torch

        meter = FlopMeter()
        a, b = torch.randn(64, 64), torch.randn(64, 64)
        validate = meter.excluded(lambda: a @ b)
        validate()  # outside any count
        with meter.count("x"):
            a @ b
        assert meter.get("x") == 2 * 64**3

    def test_excluded_inside_nested_count_not_charged_to_outer(self):
        import torch

        meter = FlopMeter()
        a = torch.randn(64, 64)
        validate = meter.excluded(lambda: a @ a)
        with meter.count("outer"):
            a @ a
            with meter.count("inner"):
                a @ a
                validate()
        assert meter.get("inner") == 2 * 64**3
        assert meter.get("outer") == 2 * 2 * 64**3

    def test_disabled_records_nothing(self):
        import torch

        meter = FlopMeter(enabled=False)
        a, b = torch.randn(64, 64), torch.randn(64, 64)

        def fn():
            return a @ b

        assert meter.excluded(fn) is fn
        with meter.count("mm"):
            fn()
        assert meter.totals == {}
        assert meter.get("mm") == 0


# --------------------------------------------------------------------------------------------
# 3. resolve_scenario with the real registry
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def registry():
    from sidkit.registry import get_registry

    return get_registry()


@pytest.fixture(scope="module")
def example_raw():
    return read_toml(EXAMPLE)


@pytest.fixture
def raw(example_raw):
    return copy.deepcopy(example_raw)


def config_error(raw, registry) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        resolve_scenario(raw, registry)
    return info.value


class TestResolveScenario:
    def test_example_resolves_with_default_updaters(self, raw, registry):
        cfg = resolve_scenario(raw, registry)
        assert cfg.scenario.policies == ["FT-old", "FT-new", "FT-ours-greedy", "FT-ours-hungarian", "Full"]
        assert cfg.scenario.finetune_epochs == 3 and cfg.scenario.ks == [10, 50, 100]
        assert set(cfg.updaters) == {"FT-old", "FT-new", "FT-ours-greedy", "FT-ours-hungarian"}  # not Full
        greedy = cfg.updaters["FT-ours-greedy"]
        assert (greedy.kind, greedy.name, greedy.config.solver) == ("sid-updater", "align", "greedy")
        assert cfg.updaters["FT-ours-hungarian"].config.solver == "hungarian"
        assert cfg.updaters["FT-old"].name == "keep"
        assert cfg.updaters["FT-new"].name == "rebuild"
        assert {k: c.name for k, c in cfg.components.items()} == {
            "encoder": "sasrec",
            "tokenizer": "rqvae",
            "generator": "decoder-only",
            "decoder": "beam",
        }
        assert cfg.content is None
        assert cfg.to_dict()["updaters"]["FT-ours-greedy"] == {"name": "align", "dedup": "auto", "solver": "greedy"}

    def test_default_updaters_not_mutated(self, raw, registry):
        before = copy.deepcopy(DEFAULT_UPDATERS)
        raw["updaters"] = {"FT-old": {"name": "rebuild"}}
        cfg = resolve_scenario(raw, registry)
        assert cfg.updaters["FT-old"].name == "rebuild"
        assert DEFAULT_UPDATERS == before

    def test_all_errors_at_once(self, raw, registry):
        raw["scenario"]["policies"] = ["FT-ours-greedi", "TIGER-FT", "FT-old"]
        raw["scenario"]["multi_step_start"] = 9  # > n_blocks - 2 = 8
        raw["bogus"] = {"x": 1}
        raw["updaters"] = {"FT-old": {"name": "kep"}}
        err = config_error(raw, registry)
        paths = [i.path for i in err.issues]
        assert len(err.issues) == 5, err
        assert "bogus" in paths
        assert "scenario.multi_step_start" in paths
        assert paths.count("scenario.policies") == 2
        assert "updaters.FT-old.name" in paths
        msg = str(err)
        assert "bogus: unknown section" in msg
        assert "unknown policy 'FT-ours-greedi' (did you mean 'FT-ours-greedy'" in msg
        assert "policy 'TIGER-FT' needs [content.encoder] and [content.tokenizer]" in msg
        assert "must be between 1 and n_blocks - 2 = 8 (0 = a single step), got 9" in msg
        assert "updaters.FT-old.name: unknown sid-updater 'kep' (did you mean 'keep'?)" in msg

    def test_unknown_section_did_you_mean(self, raw, registry):
        raw["scenaria"] = {}
        err = config_error(raw, registry)
        assert [i.path for i in err.issues] == ["scenaria"]
        assert "did you mean 'scenario'" in str(err)

    def test_multi_step_start_bounds(self, raw, registry):
        raw["scenario"]["multi_step_start"] = 8  # n_blocks - 2: allowed (one step)
        assert resolve_scenario(raw, registry).scenario.steps == [9]
        raw["scenario"]["multi_step_start"] = 9
        err = config_error(raw, registry)
        assert [i.path for i in err.issues] == ["scenario.multi_step_start"]

    @pytest.mark.parametrize("start, end", [(5, 5), (5, 4), (5, 10), (0, 8)])
    def test_multi_step_end_bounds(self, raw, registry, start, end):
        # the end must follow Base's last block t0 (5, or 8 = N-2 in single-step mode) and
        # leave a test block after it
        raw["scenario"].update(multi_step_start=start, multi_step_end=end)
        err = config_error(raw, registry)
        assert [i.path for i in err.issues] == ["scenario.multi_step_end"]
        t0 = start or 8
        assert f"must be after Base's last block t0 = {t0} and at most n_blocks - 1 = 9 (0 = n_blocks - 1), got {end}" in str(err)

    def test_scenario_field_validation(self, raw, registry):
        bad = copy.deepcopy(raw)
        bad["scenario"]["ks"] = [10, 0]
        err = config_error(bad, registry)
        assert [i.path for i in err.issues] == ["scenario.ks"]
        assert "ks must be positive cutoffs, got [10, 0]" in str(err)
        raw["scenario"]["seeds"] = [1, 1]
        err = config_error(raw, registry)
        assert "seeds has duplicates: [1, 1]" in str(err)

    def test_duplicate_policies(self, raw, registry):
        raw["scenario"]["policies"] = ["FT-old", "Full", "FT-old"]
        err = config_error(raw, registry)
        assert "has duplicates: ['FT-old', 'Full', 'FT-old']" in str(err)

    def test_missing_component_section(self, raw, registry):
        del raw["decoder"]
        err = config_error(raw, registry)
        assert [i.path for i in err.issues] == ["decoder"]
        assert "missing section [decoder]" in str(err) and "beam" in str(err)

    def test_bad_updater_option(self, raw, registry):
        raw["updaters"] = {"FT-ours-greedy": {"name": "align", "solver": "greedyy"}}
        err = config_error(raw, registry)
        assert "solver must be one of" in str(err) and "greedyy" in str(err)

    def test_custom_policy(self, raw, registry):
        raw["scenario"]["policies"] = ["FT-old", "my-policy"]
        raw["updaters"] = {"my-policy": {"name": "align", "solver": "greedy"}}
        cfg = resolve_scenario(raw, registry)
        assert list(cfg.updaters) == ["FT-old", "my-policy"]
        mine = cfg.updaters["my-policy"]
        assert (mine.name, mine.config.solver) == ("align", "greedy")

    def test_content_policy(self, raw, registry):
        raw["scenario"]["policies"] = ["TIGER-FT", "FT-old"]
        raw["content"] = {"encoder": {"name": "toy-text"}, "tokenizer": {"name": "rkmeans", "levels": 2}}
        cfg = resolve_scenario(raw, registry)
        assert list(cfg.updaters) == ["FT-old"]  # TIGER-FT is not an updater policy
        assert cfg.content["encoder"].name == "toy-text"
        assert cfg.content["tokenizer"].config.levels == 2
        assert cfg.to_dict()["content"]["tokenizer"]["name"] == "rkmeans"

    def test_content_needs_both_tables(self, raw, registry):
        raw["scenario"]["policies"] = ["TIGER-FT"]
        raw["content"] = {"encoder": {"name": "toy-text"}}
        err = config_error(raw, registry)
        assert [i.path for i in err.issues] == ["content", "scenario.policies"]
        assert "expected exactly the tables [content.encoder] and [content.tokenizer]" in str(err)

    def test_custom_policy_without_table_is_unknown(self, raw, registry):
        raw["scenario"]["policies"] = ["my-policy"]
        err = config_error(raw, registry)
        assert "unknown policy 'my-policy'" in str(err)
        assert "[updaters.<policy>]" in str(err)

    def test_load_scenario_with_overrides(self, registry):
        cfg = load_scenario(EXAMPLE, registry, ["scenario.multi_step_start=5", "scenario.seeds=[0, 1]"])
        assert cfg.scenario.multi_step_start == 5
        assert cfg.scenario.seeds == [0, 1]
        assert cfg.source == str(EXAMPLE)


class TestScenarioSteps:
    def test_single_step(self):
        sc = ScenarioSection()
        assert (sc.n_blocks, sc.multi_step_start) == (10, 0)
        assert sc.first_block == 8
        assert sc.steps == [9]
        sc = ScenarioSection(n_blocks=5)
        assert sc.first_block == 3 and sc.steps == [4]

    def test_multi_step(self):
        # documented behaviour: Base on blocks 1..t0, adapt on t = t0+1..N-1, test on t+1
        sc = ScenarioSection(n_blocks=10, multi_step_start=5)
        assert sc.first_block == 5
        assert sc.steps == [6, 7, 8, 9]
        sc = ScenarioSection(n_blocks=10, multi_step_start=8)
        assert sc.steps == [9]

    def test_multi_step_end_stops_early(self):
        # the paper's RQ2: Base on 1..5, adapt on 6, 7, 8 and test on 7, 8, 9; block 10 unused
        assert ScenarioSection(n_blocks=10, multi_step_start=5, multi_step_end=8).steps == [6, 7, 8]
        assert ScenarioSection(n_blocks=10, multi_step_start=5, multi_step_end=9).steps == [6, 7, 8, 9]
        assert ScenarioSection(n_blocks=10, multi_step_start=5, multi_step_end=6).steps == [6]

    def test_validators(self):
        with pytest.raises(ValueError, match="n_blocks must be >= 3, got 2"):
            ScenarioSection(n_blocks=2)
        with pytest.raises(ValueError, match="finetune_epochs must be >= 1, got 0"):
            ScenarioSection(finetune_epochs=0)
        with pytest.raises(ValueError, match="seeds must be a non-empty list"):
            ScenarioSection(seeds=[])


# --------------------------------------------------------------------------------------------
# 4. report: wilcoxon and build_report
# --------------------------------------------------------------------------------------------
class TestWilcoxon:
    def test_one_seed(self):
        out = wilcoxon([0.3], [0.1])
        assert out["p"] is None and out["statistic"] is None
        assert out["note"] == "needs >= 2 seeds with a difference"
        assert out["n"] == 1
        assert out["mean_diff"] == pytest.approx(0.2)

    def test_identical(self):
        out = wilcoxon([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
        assert out["p"] is None and "note" in out
        assert out["n"] == 3 and out["mean_diff"] == 0.0

    def test_empty(self):
        out = wilcoxon([], [])
        assert out["p"] is None and out["n"] == 0 and out["mean_diff"] == 0.0

    def test_exact_p(self):
        # 5 positive differences of distinct size: W- = 0, exact two-sided p = 2 / 2**5
        a = [0.3, 0.5, 0.7, 0.9, 1.1]
        b = [0.2, 0.3, 0.4, 0.5, 0.6]
        out = wilcoxon(a, b)
        assert out["p"] == pytest.approx(2 / 32)
        assert out["statistic"] == 0.0
        assert out["mean_diff"] == pytest.approx(0.3)
        assert "note" not in out

    def test_p_in_unit_interval(self):
        out = wilcoxon([0.1, 0.5, 0.2, 0.4], [0.2, 0.3, 0.3, 0.1])
        assert isinstance(out["p"], float) and 0.0 < out["p"] <= 1.0

    def test_unpaired_lengths_raise(self):
        with pytest.raises(ValueError):
            wilcoxon([0.1, 0.2], [0.1])


def _policy_row(recall: float, ndcg: float, delta: float, train: float, seconds: float | None = None) -> dict:
    row = {
        "recall@10": recall,
        "ndcg@10": ndcg,
        "recall@5": recall / 2,
        "ndcg@5": ndcg / 2,
        "n_examples": 7.0,
        "delta_flops": delta,
        "train_flops": train,
    }
    if seconds is not None:
        row["update"] = {"seconds": seconds, "rows": "refreshed"}
    return row


def _seed_result(seed: int, scale: float) -> dict:
    def step(t: int, bump: float) -> dict:
        return {
            "step": t,
            "adapt_block": t,
            "test_block": t + 1,
            "n_test_users": 30 + t,
            "policies": {
                # written out of report order on purpose
                "Full": _policy_row(0.5 * scale + bump, 0.25, 900, 900),
                "FT-ours-greedy": _policy_row(0.4 * scale + bump, 0.2, 100, 1100, seconds=0.01 * (seed + 1)),
                "Base": _policy_row(0.1 * scale + bump, 0.05, 0, 1000),
                "FT-old": _policy_row(0.2 * scale + bump, 0.1, 90, 1090, seconds=0.0),
                "FT-ours-hungarian": _policy_row(0.3 * scale + bump, 0.15, 100 + seed, 1100, seconds=0.02),
            },
        }

    return {
        "seed": seed,
        "base_blocks": 5,
        "base_items": 42,
        "full_epochs": 3 + seed,
        "flops": {},
        "seconds": 10.0 + seed,
        "steps": [step(6, 0.0), step(7, 0.01)],
    }


class TestBuildReport:
    CONFIG = SimpleNamespace(scenario=ScenarioSection(ks=[5, 10], n_blocks=8, finetune_epochs=2))

    def test_aggregate(self):
        results = [_seed_result(0, 1.0), _seed_result(1, 2.0), _seed_result(2, 3.0)]
        report = build_report(results, self.CONFIG)
        assert report["metric"] == "recall@10"
        assert report["seeds"] == [0, 1, 2]
        assert report["n_blocks"] == 8
        assert report["base_blocks"] == 5 and report["base_items"] == 42
        assert report["full_epochs"] == [3, 4, 5]
        assert report["seconds"] == [10.0, 11.0, 12.0]
        assert [s["step"] for s in report["steps"]] == [6, 7]
        assert [s["test_block"] for s in report["steps"]] == [7, 8]
        assert [s["n_test_users"] for s in report["steps"]] == [36, 37]

        final = report["policies"]
        assert final == report["steps"][-1]["policies"]
        assert final != report["steps"][0]["policies"]
        assert list(final) == ["Base", "FT-old", "FT-ours-greedy", "FT-ours-hungarian", "Full"]
        greedy = final["FT-ours-greedy"]
        # last step: 0.4 * (1, 2, 3) + 0.01
        assert greedy["recall@10"]["seeds"] == pytest.approx([0.41, 0.81, 1.21])
        assert greedy["recall@10"]["mean"] == pytest.approx(0.81)
        assert greedy["recall@10"]["std"] == pytest.approx(0.4)
        assert greedy["recall@5"]["mean"] == pytest.approx(0.405)
        assert greedy["ndcg@10"] == {"mean": pytest.approx(0.2), "std": pytest.approx(0.0), "seeds": [0.2, 0.2, 0.2]}
        assert "n_examples" not in greedy  # not a metric@k
        assert greedy["update_seconds"] == pytest.approx(0.02)
        assert final["FT-ours-hungarian"]["delta_flops"] == pytest.approx(101.0)
        assert final["FT-ours-hungarian"]["train_flops"] == pytest.approx(1100.0)
        assert final["Full"]["delta_flops"] == 900.0
        assert "update_seconds" not in final["Base"] and "update_seconds" not in final["Full"]
        assert final["FT-old"]["update_seconds"] == 0.0
        first = report["steps"][0]["policies"]
        assert first["Base"]["recall@10"]["mean"] == pytest.approx(0.2)

    def test_wilcoxon_pairs(self):
        results = [_seed_result(0, 1.0), _seed_result(1, 2.0), _seed_result(2, 3.0)]
        report = build_report(results, self.CONFIG)
        pairs = [(t["a"], t["b"]) for t in report["wilcoxon"]]
        ours = ["FT-ours-greedy", "FT-ours-hungarian"]
        others = ["Base", "FT-old", "Full"]
        expected = [(a, b) for a in ours for b in others] + [("FT-ours-greedy", "FT-ours-hungarian")]
        assert pairs == expected
        for t in report["wilcoxon"]:
            assert t["metric"] == "recall@10" and t["n"] == 3
        greedy_base = report["wilcoxon"][0]
        # greedy - Base on the last step: 0.3 * (1, 2, 3)
        assert greedy_base["mean_diff"] == pytest.approx(0.6)
        assert greedy_base["p"] is not None and 0 < greedy_base["p"] <= 1

    def test_pairs_without_ours_are_all_pairs(self):
        results = []
        for seed in (0, 1):
            r = _seed_result(seed, 1.0 + seed)
            for s in r["steps"]:
                s["policies"] = {p: v for p, v in s["policies"].items() if not p.startswith("FT-ours")}
            results.append(r)
        report = build_report(results, self.CONFIG)
        pairs = [(t["a"], t["b"]) for t in report["wilcoxon"]]
        assert pairs == [("Base", "FT-old"), ("Base", "Full"), ("FT-old", "Full")]

    def test_pilot_budget_is_reported(self, tmp_path):
        from sidkit_continual.report import _budget_line

        pilot = {"seed": 0, "epochs": 3, "monitor": "recall@10", "curve": [0.1, 0.2, 0.25, 0.2], "base_blocks": 7,
                 "adapt_block": 8, "scored_block": 9, "flops": 2.5e12, "seconds": 61.0}
        results = [{**_seed_result(s, 1.0), "finetune_epochs": 3} for s in (0, 1)]
        report = build_report(results, self.CONFIG, pilot)
        assert report["finetune_epochs"] == 3 and report["pilot"] == pilot
        assert _budget_line(report) == (
            "Fine-tuning budget: 3 epochs, chosen by a pilot (seed 0): Base on blocks 1..7, fine-tuned on block 8 "
            "with its SIDs, recall@10 on block 9 after each epoch: 0.1000, 0.2000, 0.2500, 0.2000. "
            "The pilot cost 2.50 T FLOPs and 61 s, counted in no policy."
        )

    def test_single_seed_notes(self):
        report = build_report([_seed_result(0, 1.0)], self.CONFIG)
        assert len(report["wilcoxon"]) == 7
        assert all(t["p"] is None and "note" in t for t in report["wilcoxon"])
        assert report["policies"]["Full"]["recall@10"]["std"] == 0.0

    def test_baselines_of_the_final_step_reach_report_and_markdown(self, tmp_path):
        from sidkit_continual.report import write_report

        results = [_seed_result(0, 1.0), _seed_result(1, 2.0)]
        for seed, r in enumerate(results):
            for i, step in enumerate(r["steps"]):
                step["baselines"] = {f"{b}/{m}@{k}": v + 0.01 * (seed + i) for b, v in (("markov", 0.3), ("mostpop", 0.1))
                                     for m in ("recall", "ndcg") for k in (5, 10)}
        config = SimpleNamespace(scenario=ScenarioSection(ks=[5, 10], n_blocks=8, finetune_epochs=2), source="s.toml")
        report = build_report(results, config)
        # last step: markov 0.3 + 0.01 * (seed + 1) over seeds 0, 1
        assert report["baselines"]["markov/recall@10"]["seeds"] == pytest.approx([0.31, 0.32])
        assert report["steps"][0]["baselines"]["mostpop/ndcg@5"]["mean"] == pytest.approx(0.105)
        write_report(tmp_path, report, config)
        md = (tmp_path / "report.md").read_text()
        assert "| `markov/` | 0.3150 | 0.3150 | 0.3150 | 0.3150 | | | |" in md
        assert "| test block | Base | FT-old | FT-ours-greedy | FT-ours-hungarian | Full | markov/ | mostpop/ |" in md
        assert [x for x in md.splitlines() if x.startswith("| 8 |")][0].endswith("| 0.3150 | 0.1150 |")  # test block 8

    def test_seeds_from_before_block_baselines_still_report(self, tmp_path):
        from sidkit_continual.report import write_report

        config = SimpleNamespace(scenario=ScenarioSection(ks=[5, 10], n_blocks=8, finetune_epochs=2), source="s.toml")
        report = build_report([_seed_result(0, 1.0)], config)
        assert report["baselines"] is None
        write_report(tmp_path, report, config)
        assert "markov/" not in (tmp_path / "report.md").read_text()

    def test_a_seed_cached_before_base_baselines_leaves_them_out_of_the_summary(self):
        from sidkit_continual.report import _baseline_summary

        new = {"hr@10": 0.4, "markov/hr@10": 0.5}
        summary = _baseline_summary([new, {"hr@10": 0.2}])
        assert sorted(summary) == ["hr@10"] and summary["hr@10"]["mean"] == pytest.approx(0.3)
        assert _baseline_summary([new, new])["markov/hr@10"]["seeds"] == [0.5, 0.5]

    def test_write_report(self, tmp_path):
        from sidkit_continual.report import write_report

        config = SimpleNamespace(scenario=ScenarioSection(ks=[5, 10], n_blocks=8, finetune_epochs=2), source="scenario.toml")
        report = build_report([_seed_result(0, 1.0), _seed_result(1, 2.0)], config)
        write_report(tmp_path, report, config)
        md = (tmp_path / "report.md").read_text()
        assert "Fine-tuning budget: 2 epochs (fixed by finetune_epochs)." in md
        assert "| FT-ours-greedy | " in md
        assert "## recall@10 over adaptation steps" in md  # two steps
        assert (tmp_path / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        import json

        assert json.loads((tmp_path / "report.json").read_text())["metric"] == "recall@10"


def test_block_baselines_fit_and_rank_only_the_space():
    """Markov and MostPop of the blocks protocol see only Base's items: with k = the space's
    size every in-space target is listed (items 0 and 5, outside, would take a slot), and
    the fit ignores out-of-space interactions (u1's 5 -> 1 is no transition)."""
    runner = object.__new__(ContinualRunner)
    runner.dataset = tiny_dataset()
    runner.sc = ScenarioSection(ks=[1, 4])
    space = ItemSpace(SPACE_ITEMS)
    test = EvalSet(np.array([0, 1, 2]), Ragged.from_lists([[1, 2], [1], [2]]), Ragged.from_lists([[3], [2], [4]]))
    out = runner._baselines(CONTEXT_ROWS, test, 4, space)
    # fitted on u0: 1 2 3, u1: 1, u2: 2 3, u3: 4 -> 2 -> 3 twice, 1 -> 2 once; popularity 1, 2, 3: 2 each, 4: 1
    assert out["markov/recall@1"] == pytest.approx(2 / 3) and out["markov/recall@4"] == 1.0
    assert out["mostpop/recall@1"] == 0.0 and out["mostpop/recall@4"] == 1.0
    unrestricted = runner._baselines(CONTEXT_ROWS, test, 4)
    assert unrestricted["mostpop/recall@4"] == pytest.approx(2 / 3)  # item 0 (pop 1, lower index) takes 4's slot


# --------------------------------------------------------------------------------------------
# 5. ContinualRunner._selected_epochs
# --------------------------------------------------------------------------------------------
def fake_generator(history, monitor="recall@10"):
    return SimpleNamespace(history=history, config=SimpleNamespace(monitor=monitor))


class TestSelectedEpochs:
    def test_best_monitored_epoch(self):
        gen = fake_generator(
            [
                {"epoch": 1, "train_loss": 3.0, "recall@10": 0.10},
                {"epoch": 2, "train_loss": 2.0, "recall@10": 0.30},
                {"epoch": 3, "train_loss": 1.0, "recall@10": 0.20},
                {"epoch": 4, "train_loss": 0.5, "recall@10": 0.25},
            ]
        )
        assert ContinualRunner._selected_epochs(gen) == 2

    def test_other_monitor(self):
        history = [{"epoch": 1, "recall@10": 0.5, "ndcg@10": 0.1}, {"epoch": 2, "recall@10": 0.1, "ndcg@10": 0.3}]
        assert ContinualRunner._selected_epochs(fake_generator(history, "ndcg@10")) == 2
        assert ContinualRunner._selected_epochs(fake_generator(history, "recall@10")) == 1

    def test_only_evaluated_epochs_count(self):
        # validate_every = 2: odd epochs carry no metric
        gen = fake_generator(
            [
                {"epoch": 1, "train_loss": 3.0},
                {"epoch": 2, "train_loss": 2.0, "recall@10": 0.2},
                {"epoch": 3, "train_loss": 1.0},
                {"epoch": 4, "train_loss": 0.9, "recall@10": 0.4},
                {"epoch": 5, "train_loss": 0.8},
            ]
        )
        assert ContinualRunner._selected_epochs(gen) == 4

    def test_tie_keeps_earliest_like_the_loop(self):
        gen = fake_generator(
            [{"epoch": 1, "recall@10": 0.1}, {"epoch": 2, "recall@10": 0.3}, {"epoch": 3, "recall@10": 0.3}]
        )
        assert ContinualRunner._selected_epochs(gen) == 2

    def test_no_metric_falls_back_to_epochs_run(self):
        gen = fake_generator(
            [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}, {"epoch": 3, "train_loss": 0.4}]
        )
        assert ContinualRunner._selected_epochs(gen) == 3
        assert ContinualRunner._selected_epochs(fake_generator([])) == 1
        assert ContinualRunner._selected_epochs(SimpleNamespace()) == 1  # no history, no config

    def test_nan_metric_ignored_like_the_loop(self):
        gen = fake_generator(
            [{"epoch": 1, "recall@10": float("nan")}, {"epoch": 2, "recall@10": 0.3}, {"epoch": 3, "recall@10": 0.2}]
        )
        assert ContinualRunner._selected_epochs(gen) == 2


class TestRunnerBuild:
    def test_build_sets_finetune_budget(self, raw, registry, tmp_path):
        from sidkit_continual.runner import _constant_schedule

        cfg = resolve_scenario(raw, registry)
        runner = ContinualRunner(cfg, tmp_path, registry=registry)
        gen = runner._build(
            cfg.components["generator"], epochs=2, early_stopping_patience=0, scheduler=_constant_schedule()
        )
        assert gen.config.train.epochs == 2
        assert gen.config.train.early_stopping_patience == 0
        assert gen.config.train.scheduler.name == "constant"
        assert gen.config.train.optim.lr == pytest.approx(2e-3)  # the rest of [generator.train] kept
        # the resolved config is not changed: it still has the scenario file's epochs
        assert cfg.components["generator"].config.train.epochs == raw["generator"]["train"]["epochs"] != 2

    def test_finetune_lr_sets_the_fine_tunes_rate_and_nothing_else(self, raw, registry, tmp_path):
        runner = ContinualRunner(resolve_scenario(raw, registry), tmp_path, registry=registry)
        assert set(runner._finetune_train()) == {"scheduler"}  # default: the generator's own rate
        raw["scenario"]["finetune_lr"] = 2e-4
        cfg = resolve_scenario(raw, registry)
        runner = ContinualRunner(cfg, tmp_path, registry=registry)
        gen = runner._build(cfg.components["generator"], epochs=2, **runner._finetune_train())
        own = cfg.components["generator"].config.train.optim
        assert gen.config.train.scheduler.name == "constant"
        assert (gen.config.train.optim.lr, own.lr) == (pytest.approx(2e-4), pytest.approx(2e-3))  # Base keeps its rate
        assert gen.config.train.optim.weight_decay == own.weight_decay
        raw["scenario"]["finetune_lr"] = 0
        assert "scenario.finetune_lr: finetune_lr must be > 0" in str(config_error(raw, registry))

    def test_build_without_train_section_errors(self, raw, registry, tmp_path):
        cfg = resolve_scenario(raw, registry)
        runner = ContinualRunner(cfg, tmp_path, registry=registry)
        with pytest.raises(SidkitError, match=r"decoder beam has no \[decoder.train\] settings"):
            runner._build(cfg.components["decoder"], epochs=2)

    def test_decoder_beam_width(self, raw, registry, tmp_path):
        cfg = resolve_scenario(raw, registry)
        runner = ContinualRunner(cfg, tmp_path, registry=registry)
        assert runner._decoder().config.beam_width == 100
        assert runner._decoder(20).config.beam_width == 20


# --------------------------------------------------------------------------------------------
# 6. refresh = "scratch" | "warm": how a refresh re-fits the encoder
# --------------------------------------------------------------------------------------------
class TestRefreshMode:
    def test_pilot_needs_two_base_blocks(self, raw, registry):
        raw["scenario"].update(pilot_epochs=3, n_blocks=3)  # single step: Base on block 1 only
        assert "scenario.pilot_epochs: the pilot trains on blocks 1..t0-1 and needs Base on at least 2 blocks, " \
            "but Base trains on blocks 1..1" in str(config_error(raw, registry))
        raw["scenario"]["n_blocks"] = 4
        assert resolve_scenario(raw, registry).scenario.pilot_epochs == 3

    def test_defaults_and_bad_values(self, raw, registry):
        cfg = resolve_scenario(raw, registry)
        assert (cfg.scenario.refresh, cfg.scenario.refresh_epochs) == ("scratch", None)
        raw["scenario"]["refresh"] = "warmer"
        text = str(config_error(raw, registry))
        assert "scenario.refresh: refresh must be one of 'scratch', 'warm', got 'warmer' (did you mean 'warm'?)" in text
        raw["scenario"].update(refresh="warm", refresh_epochs=0)
        assert "scenario.refresh_epochs: refresh_epochs must be >= 1, got 0" in str(config_error(raw, registry))

    def test_fingerprint_ignores_the_later_keys_only_at_their_defaults(self, raw, registry):
        from sidkit.artifacts import fingerprint
        from sidkit_continual.runner import scenario_fingerprint

        cfg = resolve_scenario(raw, registry)
        table = cfg.to_dict()
        later = (
            "seeds", "refresh", "refresh_epochs", "pilot_epochs", "multi_step_end", "protocol", "first_share", "n_periods",
            "generator_modes", "finetune_patience", "refresh_data", "reference_policy", "finetune_lr",
        )
        before = {k: v for k, v in table["scenario"].items() if k not in later}
        # what a scenario fingerprint was before the keys existed: cached seeds stay valid
        assert scenario_fingerprint(cfg) == fingerprint("continual", {**table, "scenario": before})
        raw["scenario"]["seeds"] = [5, 6]
        assert scenario_fingerprint(resolve_scenario(raw, registry)) == scenario_fingerprint(cfg)
        # content tables matter only to the TIGER-FT row
        raw["content"] = {"encoder": {"name": "hf-text"}, "tokenizer": {"name": "rkmeans"}}
        assert scenario_fingerprint(resolve_scenario(raw, registry)) == scenario_fingerprint(cfg)
        raw["scenario"]["policies"] = [*cfg.scenario.policies, "TIGER-FT"]
        assert scenario_fingerprint(resolve_scenario(raw, registry)) != scenario_fingerprint(cfg)
        del raw["content"]
        raw["scenario"]["policies"] = list(cfg.scenario.policies)
        raw["scenario"]["refresh"] = "warm"
        warm = scenario_fingerprint(resolve_scenario(raw, registry))
        raw["scenario"]["refresh_epochs"] = 2
        assert len({scenario_fingerprint(cfg), warm, scenario_fingerprint(resolve_scenario(raw, registry))}) == 3
        raw["scenario"].update(multi_step_start=5, multi_step_end=8)
        rq2 = scenario_fingerprint(resolve_scenario(raw, registry))
        raw["scenario"]["multi_step_end"] = 0
        assert scenario_fingerprint(resolve_scenario(raw, registry)) != rq2

    def test_base_fingerprint_ignores_what_only_follows_base(self, raw, registry):
        """Base's stages are reused across a sweep over fine-tuning, policies and refreshes,
        and not across anything Base trains with."""
        from sidkit_continual.runner import base_fingerprint

        base = base_fingerprint(resolve_scenario(raw, registry))
        for key, value in (("finetune_lr", 1e-4), ("finetune_epochs", 7), ("finetune_patience", 2), ("full_epochs", 3),
                           ("refresh", "warm"), ("refresh_epochs", 4), ("seeds", [3]), ("policies", ["FT-old"])):
            changed = copy.deepcopy(raw)
            changed["scenario"][key] = value
            assert base_fingerprint(resolve_scenario(changed, registry)) == base, key
        changed = copy.deepcopy(raw)
        changed["updaters"] = {"FT-old": {"name": "keep"}}
        changed["scenario"]["policies"] = ["FT-old"]
        assert base_fingerprint(resolve_scenario(changed, registry)) == base
        for section, key, value in (("scenario", "n_blocks", 7), ("scenario", "max_len", 5), ("generator", "d_model", 16),
                                    ("tokenizer", "codebook_size", 4), ("scenario", "count_flops", False)):
            changed = copy.deepcopy(raw)
            changed[section][key] = value
            assert base_fingerprint(resolve_scenario(changed, registry)) != base, key

    def test_fingerprint_is_the_one_seeds_were_cached_with(self):
        """Pinned: the hash the runner computed in the core (``sidkit.continual``), so seed
        files cached before the move to this plugin are still reused. It depends on the
        resolved table alone, never on the plugin's module path or version."""
        from sidkit_continual.runner import scenario_fingerprint

        table = {
            "run": {"seed": 0, "device": "cpu"}, "data": {"format": "synthetic"},
            "scenario": {"n_blocks": 6, "seeds": [0, 1], "policies": ["FT-old", "Full"], "refresh": "scratch", "pilot_epochs": 0},
            "encoder": {"name": "sasrec"}, "updaters": {"FT-old": {"name": "keep"}}, "content": {"encoder": {"name": "hf-text"}},
        }
        config = SimpleNamespace(to_dict=lambda: copy.deepcopy(table), scenario=SimpleNamespace(policies=["FT-old", "Full"]))
        assert scenario_fingerprint(config) == "4290d4ff78075b0c0f31"

    def test_warm_refresh_starts_from_the_previous_encoder_with_its_own_budget(self, raw, registry, tmp_path):
        """Base's SASRec trains its configured epochs; a warm refresh continues from it for
        refresh_epochs (and costs a fraction of the FLOPs); a scratch refresh starts over."""
        from sidkit.data import chronological_blocks, load_from_config

        raw["data"].update(n_users=300, n_items=120)
        raw["encoder"]["train"].update(epochs=6, early_stopping_patience=0)
        raw["tokenizer"]["steps"] = 20
        raw["scenario"].update(refresh="warm", refresh_epochs=1)

        def runner_for(raw_table):
            cfg = resolve_scenario(raw_table, registry)
            runner = ContinualRunner(cfg, tmp_path, registry=registry)
            runner.device = "cpu"
            runner.dataset = load_from_config(cfg.data.config, cfg.data.format)
            return cfg, runner

        cfg, runner = runner_for(raw)
        blocks = chronological_blocks(runner.dataset, 10)
        early, later = np.concatenate(blocks[:8]), np.concatenate(blocks[:9])
        comps = cfg.components

        def refit(r, rows, valid, label, previous=None):
            from sidkit.data import block_eval_set
            from sidkit.stages import RunDirectory
            from sidkit_continual.data import ItemSpace, encoder_split

            r._meter, r._key, r._base_key = meter, "test", "test-base"
            split = encoder_split(r.dataset, rows, None if valid is None else block_eval_set(r.dataset, *valid, r.sc.max_len))
            with RunDirectory(tmp_path / label) as r._rd:
                return r._sids(
                    comps["encoder"], comps["tokenizer"], split, ItemSpace.of_rows(r.dataset, rows), 0, label, previous=previous
                )

        meter = FlopMeter(True)
        base = refit(runner, early, (early, blocks[8]), "base")
        warm = refit(runner, later, None, "warm", previous=base)
        scratch_raw = copy.deepcopy(raw)
        scratch_raw["scenario"]["refresh"] = "scratch"
        _, scratch_runner = runner_for(scratch_raw)
        scratch_runner.dataset = runner.dataset
        scratch = refit(scratch_runner, later, None, "scratch", previous=base)
        del scratch_raw["scenario"]["refresh_epochs"]  # then a refresh trains the epochs Base's encoder selected
        _, default_runner = runner_for(scratch_raw)
        default_runner.dataset = runner.dataset
        default = refit(default_runner, later, None, "default", previous=base)

        assert [len(r.encoder.history) for r in (base, warm, scratch)] == [6, 1, 1]
        selected = max(base.encoder.history, key=lambda r: r["ndcg@10"])["epoch"]
        assert len(default.encoder.history) == selected
        # Base validates on block 9; a refresh trains on it, so it does not validate
        assert all("ndcg@10" in r for r in base.encoder.history)
        assert not any("ndcg@10" in r for r in (*warm.encoder.history, *default.encoder.history))
        assert warm.encoder.model is not base.encoder.model
        losses = [[round(h["train_loss"], 3) for h in r.encoder.history] for r in (base, warm, scratch)]
        # on the same rows, warm continues from Base's training, scratch starts again untrained:
        # their first-epoch losses differ by more than half of what Base's 6 epochs gained
        assert losses[2][0] - losses[1][0] > 0.5 * (losses[0][0] - losses[0][-1]) > 0
        assert 0 < warm.flops < base.flops / 3
        assert len(warm.space) >= len(base.space) and warm.sids.n_items == len(warm.space)


def test_a_policy_name_that_cannot_name_a_folder_is_a_config_error(raw, registry):
    raw.setdefault("updaters", {})["FT/mine"] = {"name": "keep"}
    raw["scenario"]["policies"] = ["FT-old", "FT/mine"]
    error = config_error(raw, registry)
    assert "scenario.policies" in str(error) and "'FT/mine'" in str(error) and "stage folders" in str(error)


def test_periods_keys_are_checked_against_policies_and_protocol(raw, registry):
    raw["scenario"]["generator_modes"] = {"FT-new": "thaw"}
    text = str(config_error(raw, registry))
    assert "scenario.generator_modes" in text and "'thaw'" in text and "finetune, frozen, retrain" in text
    raw["scenario"].update(generator_modes={}, first_share=1.5)
    text = str(config_error(raw, registry))
    assert "scenario.first_share: first_share must be a number between 0 and 1 (exclusive), got 1.5" in text
    raw["scenario"].update(generator_modes={"FT-olds": "frozen"}, first_share=0.5, reference_policy=["nope"], refresh_data="period")
    text = str(config_error(raw, registry))
    assert "scenario.generator_modes.FT-olds: not a policy of this scenario" in text
    assert "scenario.reference_policy: 'nope' is not one of the policies" in text
    assert 'scenario.refresh_data: "period" needs protocol = "periods"' in text
    raw["scenario"].update(generator_modes={}, reference_policy=[], refresh_data="cumulative", protocol="periods", pilot_epochs=2)
    assert 'the pilot runs only with protocol = "periods"' not in (text := str(config_error(raw, registry)))
    assert 'scenario.pilot_epochs: the pilot runs only with protocol = "blocks"' in text


def test_a_training_budget_reaches_a_nested_train_table():
    """content+collab has no [encoder.train]: the refresh budget goes to its collaborative
    encoder's; a config with no train table, or two nested ones, gets None (the runner's error)."""
    from sidkit_continual.runner import _with_train
    from sidkit_letter.configs import ContentCollabConfig, EncoderChoice, SASRecConfig

    config = ContentCollabConfig(content={"name": "precomputed", "path": "x.npy"}, collaborative=EncoderChoice("sasrec", SASRecConfig()))
    budget = _with_train(config, {"epochs": 3})
    assert budget.collaborative.config.train.epochs == 3 and budget.content == config.content
    assert _with_train(SASRecConfig(), {"epochs": 2}).train.epochs == 2
    both = ContentCollabConfig(content=EncoderChoice("sasrec", SASRecConfig()), collaborative=EncoderChoice("sasrec", SASRecConfig()))
    assert _with_train(both, {"epochs": 2}) is None
    assert _with_train(config.content.config, {"epochs": 2}) is None
