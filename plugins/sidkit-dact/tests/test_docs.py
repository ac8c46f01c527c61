"""The plugin page lists every option, and the hook module imports no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from sidkit_dact.configs import DactConfig, DactUpdaterConfig, FinetuneConfig, ReformerConfig
from sidkit_letter.api import LetterConfig

PAGE = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "dact.md"


@pytest.mark.parametrize("cls", [DactUpdaterConfig, FinetuneConfig, ReformerConfig])
def test_page_lists_every_updater_option(cls):
    text = PAGE.read_text(encoding="utf-8")
    missing = [f.name for f in attrs.fields(cls) if f"`{f.name}`" not in text]
    assert not missing, f"{PAGE.name} does not document {cls.__name__} options {missing}"


def test_page_lists_every_option_the_tokenizer_adds_or_changes():
    text = PAGE.read_text(encoding="utf-8")
    letter = {f.name: f.default for f in attrs.fields(LetterConfig)}
    changed = [f.name for f in attrs.fields(DactConfig) if f.name not in letter or letter[f.name] != f.default]
    assert {"hidden_dims", "cdim_slots", "dedup_size", "cf_weight"} <= set(changed)
    missing = [name for name in changed if f"`{name}`" not in text]
    assert not missing, f"{PAGE.name} does not document tokenizer options {missing}"


def test_plugin_module_does_not_import_torch():
    code = "import sys, sidkit_dact.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
