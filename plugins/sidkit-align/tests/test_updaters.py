"""``keep`` and ``rebuild``, the checks every updater makes, registration, config errors,
the doc page and the cheap entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest
import sidkit_align
from sidkit.config import structure
from sidkit.context import Context
from sidkit.errors import SidkitError
from sidkit.protocols import SIDUpdater
from sidkit.registry import get_registry
from sidkit.types import SIDTable
from sidkit_align import plugin
from sidkit_align.configs import AlignConfig, KeepConfig, RebuildConfig
from sidkit_align.updaters import AlignUpdater, KeepUpdater, RebuildUpdater

NAMES = ("keep", "rebuild", "align")
DOC = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "align.md"
PREVIOUS = SIDTable([[0, 1], [1, 0], [2, 2], [3, 1]], (4, 3))
ALL = (KeepUpdater(), RebuildUpdater(RebuildConfig(dedup="none")), AlignUpdater(AlignConfig(dedup="none")))


def test_keep_returns_the_previous_table_itself():
    refreshed = SIDTable([[1, 1], [0, 0], [2, 0], [3, 2], [0, 2]], (4, 3))
    ctx = Context(extras={"previous_items": [0, 1, 2, 3], "refreshed_items": [0, 1, 3, 4, 5]})
    table, report = KeepUpdater().update(PREVIOUS, refreshed, ctx)
    assert table is PREVIOUS
    assert report == {"updater": "keep", "rows": "previous", "n_overlap": 3, "n_new_items": 2}


def test_rebuild_keeps_the_refreshed_codes_in_the_previous_vocabulary():
    refreshed = SIDTable([[1, 1], [1, 0], [0, 0], [0, 1], [2, 1]], (3, 2))
    table, report = RebuildUpdater(RebuildConfig(dedup="none")).update(PREVIOUS, refreshed, None)
    np.testing.assert_array_equal(table.codes, refreshed.codes)
    assert table.codebook_sizes == (4, 3)
    # overlap rows 0-3: only row 1 ([1, 0]) is unchanged
    assert report["changed_rate"] == 0.75 and report["n_new_items"] == 1
    assert report["collisions_unresolved"] == 0 and report["rows"] == "refreshed"


@pytest.mark.parametrize("updater", ALL, ids=NAMES)
def test_a_different_sid_length_is_refused(updater):
    with pytest.raises(
        SidkitError, match=f"sid-updater {updater.name}: previous SIDs have 2 levels but refreshed SIDs 3"
    ):
        updater.update(PREVIOUS, SIDTable([[0, 0, 0]], (1, 1, 1)), None)


@pytest.mark.parametrize("updater", ALL[1:], ids=NAMES[1:])
def test_a_larger_semantic_codebook_is_refused(updater):
    refreshed = SIDTable([[0, 5]], (4, 6))
    with pytest.raises(
        SidkitError, match="level 1 of the refreshed SIDs has codebook size 6, larger than the previous size 3"
    ):
        updater.update(PREVIOUS, refreshed, None)


@pytest.mark.parametrize("updater", ALL, ids=NAMES)
def test_extras_that_do_not_fit_the_tables_are_refused(updater):
    refreshed = SIDTable([[0, 0], [1, 1]], (4, 3))
    cases = [
        (
            {"previous_items": [0, 1, 2]},
            r"ctx.extras\['previous_items'\] lists 3 items but the previous table has 4 rows",
        ),
        (
            {"refreshed_items": [0, 1, 2]},
            r"ctx.extras\['refreshed_items'\] lists 3 items but the refreshed table has 2 rows",
        ),
        (
            {"refreshed_items": [4, 2]},
            r"'refreshed_items'\] must be sorted and unique; entry 1 \(2\) does not follow entry 0 \(4\)",
        ),
        ({"previous_items": [0, 1, 1, 2]}, "must be sorted and unique"),
        ({"previous_items": [-1, 0, 1, 2]}, "negative item index"),
        ({"previous_items": [0.0, 1.0, 2.0, 3.0]}, "integer item indices"),
    ]
    for extras, message in cases:
        with pytest.raises(SidkitError, match=message):
            updater.update(PREVIOUS, refreshed, Context(extras=extras))


def test_rows_default_to_item_indices_when_the_extras_are_absent():
    # refreshed covers items 0..4 (one new): without extras row i of both tables is item i
    refreshed = SIDTable([[1, 0], [0, 1], [2, 2], [3, 0], [0, 0]], (4, 3))
    _, with_ctx = AlignUpdater().update(PREVIOUS, refreshed, Context())
    _, without = AlignUpdater().update(PREVIOUS, refreshed, None)
    assert with_ctx["n_overlap"] == without["n_overlap"] == 4 and without["n_new_items"] == 1


@pytest.fixture
def registry(sidkit_registry):
    sidkit_registry.add_plugin(plugin, "sidkit-align", sidkit_align.__version__)
    return sidkit_registry


def test_the_three_updaters_are_registered_and_satisfy_the_protocol(registry):
    assert registry.plugins["sidkit-align"].components == [f"sid-updater:{n}" for n in NAMES]
    updater = registry.build("sid-updater", "align", AlignConfig(solver="greedy"))
    assert isinstance(updater, AlignUpdater) and isinstance(updater, SIDUpdater)
    assert updater.config.solver == "greedy"
    for name, cls in zip(NAMES, (KeepUpdater, RebuildUpdater, AlignUpdater), strict=True):
        built = registry.build("sid-updater", name)
        assert type(built) is cls and isinstance(built, SIDUpdater)
        assert built.config == registry.get("sid-updater", name).config()


def test_the_installed_entry_point_provides_them():
    registry = get_registry()
    for name in NAMES:
        spec = registry.get("sid-updater", name)
        assert spec.plugin == "sidkit-align" and spec.version == sidkit_align.__version__


def test_a_bad_solver_or_dedup_is_a_config_error_naming_the_field(registry):
    spec = registry.get("sid-updater", "align")
    config, issues = structure({"solver": "hungrian"}, spec.config, "sid-updater")
    assert config is None and len(issues) == 1
    assert issues[0].path == "sid-updater.solver"
    assert "'hungarian', 'greedy'" in issues[0].message and "did you mean 'hungarian'" in issues[0].message
    config, issues = structure({"dedup": "digit"}, registry.get("sid-updater", "rebuild").config, "sid-updater")
    assert [i.path for i in issues] == ["sid-updater.dedup"] and "'auto', 'last', 'none'" in issues[0].message
    config, issues = structure({"solver": "greedy"}, registry.get("sid-updater", "keep").config, "sid-updater")
    assert [i.path for i in issues] == ["sid-updater.solver"] and "unknown key" in issues[0].message
    config, issues = structure({"solver": "greedy", "dedup": "last"}, spec.config, "sid-updater")
    assert issues == [] and config == AlignConfig(solver="greedy", dedup="last")


def test_configs_are_frozen_and_keyword_only():
    with pytest.raises(TypeError):
        AlignConfig("greedy")  # keyword-only: the positional form does not exist
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        AlignConfig().solver = "greedy"
    assert KeepConfig() == KeepConfig()


def test_the_doc_page_documents_every_updater_option_and_report_key():
    text = DOC.read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in text
    for cls in (KeepConfig, RebuildConfig, AlignConfig):
        missing = [f.name for f in attrs.fields(cls) if f"`{f.name}`" not in text]
        assert not missing, f"{DOC.name} does not document {missing}"
    keys = {
        "rows",
        "updater",
        "solver",
        "dedup",
        "n_overlap",
        "n_new_items",
        "levels",
        "matched",
        "matched_weight",
        "completed",
        "agreement",
        "agreement_before",
        "changed_rate",
        "seconds",
        "collisions_resolved",
        "collisions_unresolved",
    }
    missing = sorted(k for k in keys if not re.search(rf"`{k}`", text))
    assert not missing, f"{DOC.name} does not document the report keys {missing}"


def test_the_entry_point_imports_neither_the_updaters_nor_scipy():
    code = (
        "import sys, sidkit_align.plugin\n"
        "print(sorted(m for m in ('scipy', 'torch', 'sidkit_align.updaters', 'sidkit_align.matching') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_overlap_pairs_the_rows_of_common_items():
    from sidkit_align.tables import overlap

    prev_rows, ref_rows = overlap(np.array([1, 3, 4, 7, 9]), np.array([0, 3, 7, 8, 9, 12]))
    np.testing.assert_array_equal(prev_rows, [1, 3, 4])
    np.testing.assert_array_equal(ref_rows, [1, 2, 4])
    assert overlap(np.array([1, 2]), np.array([], dtype=np.int64))[0].shape == (0,)
    assert overlap(np.array([], dtype=np.int64), np.array([5]))[1].shape == (0,)
