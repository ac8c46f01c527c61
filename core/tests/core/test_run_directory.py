"""The run directory as stages write it (:mod:`sidkit.stages`): a failed run never damages
the finished one, artifacts are checked against their digests, a generator is tied to its
SIDs, one process at a time, fingerprints leave defaults out, and every decoder context
carries the tokenizer. In-memory fake components; each test runs in about a second."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest
from sidkit.config import non_default, resolve_config
from sidkit.errors import ArtifactError, DataError
from sidkit.inspect_run import format_inspection, inspect_run
from sidkit.pipeline import Pipeline, run_pipeline
from sidkit.registry import hookimpl
from sidkit.serving import load_run
from sidkit.stages import RunDirectory, RunLocked
from sidkit.types import ItemEmbeddings, Rankings, SIDTable

CONTEXTS: list[tuple[str, object]] = []  # (who ranked, ctx.tokenizer) per decoder call


@attrs.frozen(kw_only=True)
class EncConfig:
    dim: int = 4
    nan_row: int = -1


@attrs.frozen(kw_only=True)
class TokConfig:
    shift: int = 0


@attrs.frozen(kw_only=True)
class Inner:
    lr: float = 0.1


@attrs.frozen(kw_only=True)
class GenConfig:
    fail: bool = False
    width: int = 1
    moved: int = 0  # fit returns the SIDs with the first `moved` items' last code changed
    train: Inner = attrs.field(factory=Inner)


@attrs.frozen(kw_only=True)
class DecConfig:
    width: int = 5


class Encoder:
    def __init__(self, config):
        self.config = config

    def encode(self, ctx):
        values = np.random.default_rng(0).normal(size=(ctx.dataset.n_items, self.config.dim))
        if self.config.nan_row >= 0:
            values[self.config.nan_row, 1] = np.nan
        return ItemEmbeddings(values)


class Tokenizer:
    collision_order = "random"

    def __init__(self, config):
        self.config = config

    def fit(self, embeddings, ctx):
        pass

    def assign(self, embeddings):
        n = embeddings.n_items
        idx = (np.arange(n) + self.config.shift) % n
        return SIDTable(np.stack([idx // 8, idx % 8], axis=1), (n // 8 + 1, 8))

    def save(self, path):
        (Path(path) / "tok.json").write_text(json.dumps({"shift": self.config.shift}))

    def load(self, path):
        json.loads((Path(path) / "tok.json").read_text())


class Generator:
    def __init__(self, config):
        self.config = config
        self.fitting = False

    def fit(self, sids, ctx):
        self.fitting = True
        ctx.validate(self)
        self.fitting = False
        if self.config.fail:
            raise RuntimeError("out of patience")
        if self.config.moved:
            codes = sids.codes.copy()
            codes[: self.config.moved, -1] = (codes[: self.config.moved, -1] + 1) % sids.codebook_sizes[-1]
            return SIDTable(codes, sids.codebook_sizes)
        return None

    def save(self, path):
        (Path(path) / "weights.json").write_text(json.dumps({"width": self.config.width, "w": list(range(50))}))

    def load(self, path):
        json.loads((Path(path) / "weights.json").read_text())


class Decoder:
    def __init__(self, config):
        self.config = config

    def rank(self, generator, sids, histories, k, ctx=None):
        CONTEXTS.append(("validation" if getattr(generator, "fitting", False) else "ranking", ctx.tokenizer))
        last = np.array([h[-1] if len(h) else 0 for h in histories])
        return Rankings((last[:, None] + 1 + np.arange(k)[None, :]) % sids.n_items)


class FakePlugin:
    @hookimpl
    def sidkit_register_components(self, register):
        here = __name__
        register(kind="encoder", name="fake-enc", factory=f"{here}:Encoder", config=EncConfig)
        register(kind="tokenizer", name="fake-tok", factory=f"{here}:Tokenizer", config=TokConfig)
        register(kind="generator", name="fake-gen", factory=f"{here}:Generator", config=GenConfig, provides=("fake-ranking",))
        register(kind="generator", name="fake-plain", factory=f"{here}:Generator", config=GenConfig)
        register(kind="decoder", name="fake-dec", factory=f"{here}:Decoder", config=DecConfig, requires=("fake-ranking",))
        register(kind="decoder", name="fake-any", factory=f"{here}:Decoder", config=DecConfig)


@pytest.fixture
def registry(sidkit_registry):
    sidkit_registry.add_plugin(FakePlugin(), "sidkit-fake-run-directory")
    CONTEXTS.clear()
    return sidkit_registry


def config(generator=None, tokenizer=None, encoder=None) -> dict:
    return {
        "run": {"seed": 0, "progress": False, "device": "cpu"},
        "data": {"format": "synthetic", "n_users": 60, "n_items": 40, "n_topics": 4, "seq_len_max": 10},
        "encoder": {"name": "fake-enc", **(encoder or {})},
        "tokenizer": {"name": "fake-tok", **(tokenizer or {})},
        "generator": {"name": "fake-gen", **(generator or {})},
        "decoder": {"name": "fake-dec"},
    }


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_failed_run_over_a_finished_one_leaves_it_whole(registry, tmp_path):
    out = tmp_path / "run"
    run_pipeline(config(), out, registry=registry)
    before = {p: read(out / p) for p in ("run.json", "generator/stage.json", "tokenizer/stage.json")}

    with pytest.raises(RuntimeError, match="out of patience"):
        run_pipeline(config(generator={"fail": True}), out, registry=registry)
    assert {p: read(out / p) for p in before} == before  # the finished run is untouched
    attempt = read(out / "attempt.json")
    assert attempt["status"] == "failed" and attempt["error"] == "RuntimeError: out of patience"
    report = inspect_run(out)
    assert report["run"]["status"] == "done" and all(s["status"] == "done" for s in report["stages"].values())
    assert "latest attempt: failed: RuntimeError: out of patience" in format_inspection(report)

    again = run_pipeline(config(), out, registry=registry)  # the old run, complete
    assert all(again.reused.values()) and not (out / "attempt.json").exists()


def test_stages_a_failed_attempt_finished_are_reused_then_put_in_place(registry, tmp_path):
    out = tmp_path / "run"
    run_pipeline(config(), out, registry=registry)
    with pytest.raises(RuntimeError):
        run_pipeline(config(tokenizer={"shift": 3}, generator={"fail": True}), out, registry=registry)
    assert (out / "tokenizer.new" / "stage.json").exists()
    assert set(inspect_run(out)["pending"]) == {"tokenizer", "generator"}

    result = run_pipeline(config(tokenizer={"shift": 3}), out, registry=registry)
    assert result.reused == {"encoder": True, "tokenizer": True, "generator": False, "rankings": False}
    assert not list(out.glob("*.new")) and not list(out.glob("*.old"))
    assert read(out / "tokenizer" / "state" / "tok.json") == {"shift": 3}


def test_an_interrupted_promotion_is_completed_or_undone(registry, tmp_path):
    out = tmp_path / "run"
    run_pipeline(config(), out, registry=registry)
    (out / "generator").rename(out / "generator.old")  # crashed after moving the old copy aside
    with RunDirectory(out):
        pass
    assert (out / "generator" / "stage.json").exists() and not (out / "generator.old").exists()


def test_damaged_artifacts_are_reported_recomputed_and_refused_by_recommend(registry, tmp_path):
    out = tmp_path / "run"
    run_pipeline(config(), out, registry=registry)
    weights = out / "generator" / "state" / "weights.json"
    weights.write_text(weights.read_text().replace("49", "48"))

    info = inspect_run(out)["stages"]["generator"]
    assert info["status"] == "corrupt" and info["problems"] == [f"{weights}: changed since the stage finished (sha256 differs)"]
    with pytest.raises(ArtifactError, match=r"stage 'generator' is damaged: .*weights.json: changed"):
        load_run(out, registry=registry)
    (out / "tokenizer" / "sids.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"stage 'tokenizer' is damaged: .*sids.safetensors: missing"):
        load_run(out, registry=registry)

    again = run_pipeline(config(), out, registry=registry)  # rebuilt to the same fingerprints
    assert again.reused == {"encoder": True, "tokenizer": False, "generator": False, "rankings": True}
    assert inspect_run(out)["stages"]["generator"]["status"] == "done"
    assert load_run(out, registry=registry).recommend(["1", "2"], 3)


def test_a_generator_from_another_run_is_refused(registry, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_pipeline(config(), a, registry=registry)
    run_pipeline(config(tokenizer={"shift": 5}), b, registry=registry)  # same codebook sizes, other SIDs
    import shutil

    shutil.rmtree(a / "generator")
    shutil.copytree(b / "generator", a / "generator")
    with pytest.raises(ArtifactError, match="trained on other SIDs than this run's tokenizer assigned"):
        load_run(a, registry=registry)


def test_sid_stats_of_a_generator_that_returns_sids_compare_them_with_the_tokenizer_stage(registry, tmp_path):
    from sidkit.metrics import sid_statistics

    out = tmp_path / "run"
    plain = run_pipeline(config(), out, registry=registry)
    assert "changed_share" not in plain.sid_stats and "tokenizer_stage" not in read(out / "sid_stats.json")
    for _ in range(2):  # computed, then reused (the table is read back from the generator stage)
        result = run_pipeline(config(generator={"moved": 10}), out, registry=registry)
        stats = read(out / "sid_stats.json")
        tokenizer_sids = Tokenizer(TokConfig()).assign(ItemEmbeddings(np.zeros((40, 4))))
        assert stats["changed_share"] == 10 / 40
        assert stats["tokenizer_stage"] == json.loads(json.dumps(sid_statistics(tokenizer_sids)))
        assert stats["levels"] == json.loads(json.dumps(sid_statistics(result.sids)))["levels"]
    assert result.reused["generator"]


def test_one_process_at_a_time(registry, tmp_path):
    out = tmp_path / "run"
    with RunDirectory(out):
        with pytest.raises(RunLocked, match=r"in use by another sidkit process \(pid \d+, since "):
            run_pipeline(config(), out, registry=registry)
    assert run_pipeline(config(), out, registry=registry).reused["encoder"] is False  # the lock was released


def test_fingerprints_leave_default_values_out(registry, tmp_path):
    assert non_default(GenConfig(width=1, train=Inner(lr=0.1))) == {}
    assert non_default(GenConfig(train=Inner(lr=0.5))) == {"train": {"lr": 0.5}}
    out = tmp_path / "run"
    run_pipeline(config(), out, registry=registry)
    spelled_out = config(generator={"width": 1, "train": {"lr": 0.1}}, encoder={"dim": 4, "nan_row": -1})
    assert all(run_pipeline(spelled_out, out, registry=registry).reused.values())
    assert run_pipeline(config(generator={"width": 2}), out, registry=registry).reused["generator"] is False


def test_every_decoder_context_carries_the_tokenizer(registry, tmp_path):
    out = tmp_path / "run"
    run_pipeline(config(), out, registry=registry)
    load_run(out, registry=registry).recommend(["1", "2"], 3)
    seen = {(who, type(tok).__name__, getattr(tok, "collision_order", None)) for who, tok in CONTEXTS}
    assert seen == {("validation", "Tokenizer", "random"), ("ranking", "Tokenizer", "random")}
    assert len(CONTEXTS) == 4  # validation, valid and test rankings, recommend


def test_encoder_output_with_nan_names_the_encoder_and_item(registry, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataError, match=r"encoder 'fake-enc'.*row 7 \(0-based; item '\d+'\): nan in column 1"):
        run_pipeline(config(encoder={"nan_row": 7}), out, registry=registry)
    assert read(out / "attempt.json")["status"] == "failed"
    assert not (out / "encoder" / "stage.json").exists()


def test_validation_decoder_is_resolved_on_its_own(registry):
    cfg = resolve_config({**config(), "decoder": {"name": "fake-dec", "width": 9}}, registry)
    assert cfg.validation_decoder.config == DecConfig()  # width 5: validation does not follow [decoder]
    assert Pipeline(cfg, "unused", registry=registry).config.component("decoder").config == DecConfig(width=9)


def test_a_decoder_the_generator_cannot_serve_fails_before_any_work(registry, tmp_path):
    from sidkit.errors import ConfigError

    raw = {**config(), "generator": {"name": "fake-plain"}}
    with pytest.raises(ConfigError) as info:
        run_pipeline(raw, tmp_path / "run", registry=registry)
    assert [str(i) for i in info.value.issues] == [
        "decoder: decoder 'fake-dec' (plugin sidkit-fake-run-directory) needs a generator that provides fake-ranking; "
        "generator 'fake-plain' (plugin sidkit-fake-run-directory) provides no capabilities"
    ]
    assert not (tmp_path / "run").exists()
    # the validation decoder is checked too; a decoder that needs nothing serves any generator
    raw = {**raw, "decoder": {"name": "fake-any"}, "validation": {"decoder": {"name": "fake-dec"}}}
    with pytest.raises(ConfigError, match=r"validation.decoder: decoder 'fake-dec' .* provides fake-ranking"):
        resolve_config(raw, registry)
    assert resolve_config({**raw, "validation": {}}, registry).component("decoder").name == "fake-any"
    spec = registry.get("decoder", "fake-dec")
    assert spec.requires == ("fake-ranking",) and spec.as_dict()["requires"] == ["fake-ranking"]
