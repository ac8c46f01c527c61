"""``[validation]``: the generator is validated on a fixed, seeded subset of the validation
users with its own decoder settings, while test rankings and metrics cover every user with
the ``[decoder]`` as written; the generator stage's fingerprint follows what validation used.

The pipeline runs with in-memory fake components that record every ``rank`` call."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import attrs
import numpy as np
import pytest
from sidkit.config import ValidationSection, resolve_config
from sidkit.errors import ConfigError
from sidkit.pipeline import run_pipeline
from sidkit.registry import hookimpl
from sidkit.types import EvalSet, ItemEmbeddings, Ragged, Rankings, SIDTable

N_USERS, N_ITEMS = 120, 40
CALLS: list[dict] = []  # one entry per decoder.rank call


def _positive(_inst, attribute, value):
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


@attrs.frozen(kw_only=True)
class NoConfig:
    pass


@attrs.frozen(kw_only=True)
class FakeDecoderConfig:
    width: int = attrs.field(default=5, validator=_positive)
    batch_size: int = attrs.field(default=64, validator=_positive)


class FakeEncoder:
    def __init__(self, config=None):
        pass

    def encode(self, ctx):
        return ItemEmbeddings(np.random.default_rng(0).normal(size=(ctx.dataset.n_items, 4)))


class FakeTokenizer:
    def __init__(self, config=None):
        pass

    def fit(self, embeddings, ctx):
        pass

    def assign(self, embeddings):
        n = embeddings.n_items
        return SIDTable(np.stack([np.arange(n) // 8, np.arange(n) % 8], axis=1), (n // 8 + 1, 8))

    def save(self, path):
        pass

    def load(self, path):
        pass


class FakeGenerator:
    """``fit`` validates twice (two "epochs"); ranks made meanwhile are validation ranks."""

    def __init__(self, config=None):
        self.fitting = False

    def fit(self, sids, ctx):
        self.fitting = True
        self.scores = [ctx.validate(self) for _ in range(2)]
        self.fitting = False
        return None

    def save(self, path):
        (Path(path) / "state.json").write_text("{}")

    def load(self, path):
        json.loads((Path(path) / "state.json").read_text())


class FakeDecoder:
    """Records its config, what it ranked and the users it could look up through
    ``ctx.split`` the way the grid beam decoder's ``users_for`` does (by identity)."""

    def __init__(self, config):
        self.config = config

    def rank(self, generator, sids, histories, k, ctx=None):
        split = ctx.split
        users = next(
            (e.users.copy() for e in (split.valid, split.test) if e.histories is histories), None
        )
        CALLS.append(
            {
                "validating": generator.fitting,
                "width": self.config.width,
                "batch_size": self.config.batch_size,
                "n": len(histories),
                "users": users,
                "ctx_valid_users": split.valid.users.copy(),
                "histories": [h.tolist() for h in histories],
            }
        )
        last = np.array([h[-1] if len(h) else 0 for h in histories])
        return Rankings((last[:, None] + 1 + np.arange(k)[None, :]) % sids.n_items)


class FakePlugin:
    @hookimpl
    def sidkit_register_components(self, register):
        here = __name__
        register(kind="encoder", name="fake-enc", factory=f"{here}:FakeEncoder", config=NoConfig)
        register(kind="tokenizer", name="fake-tok", factory=f"{here}:FakeTokenizer", config=NoConfig)
        register(kind="generator", name="fake-gen", factory=f"{here}:FakeGenerator", config=NoConfig)
        register(kind="decoder", name="fake-dec", factory=f"{here}:FakeDecoder", config=FakeDecoderConfig)
        register(kind="decoder", name="fake-other", factory=f"{here}:FakeDecoder", config=FakeDecoderConfig)


@pytest.fixture
def registry(sidkit_registry):
    sidkit_registry.add_plugin(FakePlugin(), "sidkit-fake-validation")
    CALLS.clear()
    yield sidkit_registry
    CALLS.clear()


def config(**validation) -> dict:
    raw = {
        "run": {"seed": 0, "progress": False, "device": "cpu"},
        "data": {"format": "synthetic", "n_users": N_USERS, "n_items": N_ITEMS, "n_topics": 4, "seq_len_max": 12},
        "encoder": {"name": "fake-enc"},
        "tokenizer": {"name": "fake-tok"},
        "generator": {"name": "fake-gen"},
        "decoder": {"name": "fake-dec", "width": 5},
    }
    if validation:
        raw["validation"] = validation
    return raw


def run(raw: dict, out: Path, registry):
    CALLS.clear()
    return run_pipeline(raw, out, registry=registry)


def validation_calls():
    return [c for c in CALLS if c["validating"]]


def stage_calls():
    return [c for c in CALLS if not c["validating"]]


# -- the subset ------------------------------------------------------------------------------
def test_subset_is_deterministic_for_a_seed_and_differs_for_another():
    rows = ValidationSection(users=50, seed=0).rows(1000)
    assert len(rows) == 50 and len(set(rows.tolist())) == 50
    assert (np.diff(rows) > 0).all() and rows.min() >= 0 and rows.max() < 1000
    np.testing.assert_array_equal(rows, ValidationSection(users=50, seed=0).rows(1000))
    assert not np.array_equal(rows, ValidationSection(users=50, seed=1).rows(1000))


@pytest.mark.parametrize("users, n_valid, size", [(50, 1000, 50), (1000, 1000, 1000), (2000, 300, 300), (0, 300, 300)])
def test_subset_size_is_min_of_users_and_n_valid_and_zero_means_all(users, n_valid, size):
    rows = ValidationSection(users=users).rows(n_valid)
    assert len(rows) == size
    if size == n_valid:  # everyone, in the split's order
        np.testing.assert_array_equal(rows, np.arange(n_valid))


def test_evalset_take_keeps_users_histories_and_targets_aligned():
    examples = EvalSet(
        np.array([7, 8, 9]), Ragged.from_lists([[1], [2, 3], [4, 5, 6]]), Ragged.from_lists([[10], [11], [12, 13]])
    )
    part = examples.take(np.array([2, 0]))
    assert part.users.tolist() == [9, 7]
    assert [h.tolist() for h in part.histories] == [[4, 5, 6], [1]]
    assert [t.tolist() for t in part.targets] == [[12, 13], [10]]
    assert len(examples.take(np.array([], dtype=np.int64))) == 0


# -- the pipeline ----------------------------------------------------------------------------
def test_validate_sees_exactly_the_subset_and_test_covers_every_user(registry, tmp_path, caplog):
    raw = config(users=40, seed=3, decoder={"width": 2})
    with caplog.at_level(logging.INFO, logger="sidkit"):
        result = run(raw, tmp_path / "run", registry)

    stage = stage_calls()
    assert [c["n"] for c in stage] == [N_USERS, N_USERS]  # valid and test rankings: everyone
    full_valid_users = stage[0]["users"]
    assert full_valid_users is not None and len(full_valid_users) == N_USERS
    expected = full_valid_users[ValidationSection(users=40, seed=3).rows(N_USERS)]

    calls = validation_calls()
    assert len(calls) == 2  # once per "epoch"
    for call in calls:
        assert call["n"] == 40
        # the decoder finds the users of what it ranks through ctx.split.valid: the subset
        np.testing.assert_array_equal(call["users"], expected)
        np.testing.assert_array_equal(call["ctx_valid_users"], expected)
    assert calls[0]["histories"] == calls[1]["histories"]  # the same subset every epoch

    assert result.metrics["test"]["n_examples"] == N_USERS
    assert result.metrics["valid"]["n_examples"] == N_USERS
    assert "validation: 40 of 120 users (seed 3), decoder name=fake-dec width=2 batch_size=64" in caplog.text
    info = json.loads((tmp_path / "run" / "generator" / "stage.json").read_text())
    assert info["validation"] == {"users": 40, "of": N_USERS, "decoder": {"name": "fake-dec", "width": 2, "batch_size": 64}}


def test_subset_does_not_depend_on_the_run_seed_but_on_the_validation_seed(registry, tmp_path):
    def subset(run_seed, seed):
        raw = config(users=30, seed=seed)
        raw["run"]["seed"] = run_seed
        run(raw, tmp_path / f"run-{run_seed}-{seed}", registry)
        return validation_calls()[0]["users"]

    first = subset(0, 0)
    np.testing.assert_array_equal(subset(1, 0), first)
    assert not np.array_equal(subset(0, 1), first)


def test_users_zero_validates_on_every_user(registry, tmp_path):
    run(config(users=0), tmp_path / "run", registry)
    calls, stage = validation_calls(), stage_calls()
    assert [c["n"] for c in calls] == [N_USERS, N_USERS]
    np.testing.assert_array_equal(calls[0]["users"], stage[0]["users"])


def test_validation_decoder_override_reaches_the_validation_decoder_only(registry, tmp_path):
    run(config(users=0, decoder={"width": 2}), tmp_path / "run", registry)
    assert {(c["width"], c["batch_size"]) for c in validation_calls()} == {(2, 64)}
    assert {(c["width"], c["batch_size"]) for c in stage_calls()} == {(5, 64)}


def test_validation_decoder_may_name_another_decoder(registry, tmp_path):
    cfg = resolve_config(config(decoder={"name": "fake-other", "batch_size": 7}), registry)
    assert cfg.validation_decoder.name == "fake-other"
    assert cfg.validation_decoder.config == FakeDecoderConfig(batch_size=7)  # not the [decoder]'s width = 5
    assert cfg.component("decoder").config == FakeDecoderConfig(width=5)


def test_unknown_validation_decoder_key_fails_before_any_work(registry, tmp_path):
    raw = config(decoder={"widht": 2})
    with pytest.raises(ConfigError) as info:
        run_pipeline(raw, tmp_path / "run", registry=registry)
    lines = [str(i) for i in info.value.issues]
    assert len(lines) == 1, lines
    assert lines[0].startswith("validation.decoder.widht: unknown key 'widht' (did you mean 'width'?)")
    assert not (tmp_path / "run").exists() and CALLS == []


def test_changing_only_the_test_decoder_reuses_the_generator(registry, tmp_path):
    out = tmp_path / "run"
    first = run(config(users=30, decoder={"width": 2}), out, registry)
    assert first.reused["generator"] is False

    again = run(config(users=30, decoder={"width": 2}) | {"decoder": {"name": "fake-dec", "width": 4}}, out, registry)
    assert again.reused == {"encoder": True, "tokenizer": True, "generator": True, "rankings": False}
    assert validation_calls() == [] and {c["width"] for c in stage_calls()} == {4}

    # what validation uses does retrain: its decoder, its users, its seed
    for changed in ({"users": 30, "decoder": {"width": 3}}, {"users": 31, "decoder": {"width": 3}}, {"users": 31, "seed": 1, "decoder": {"width": 3}}):
        result = run(config(**changed) | {"decoder": {"name": "fake-dec", "width": 4}}, out, registry)
        assert result.reused["generator"] is False, changed


def test_without_validation_overrides_validation_keeps_the_decoder_defaults(registry, tmp_path):
    out = tmp_path / "run"
    run(config(users=30), out, registry)
    assert {c["width"] for c in validation_calls()} == {5}  # FakeDecoderConfig's default, as [decoder]'s
    again = run(config(users=30) | {"decoder": {"name": "fake-dec", "width": 4}}, out, registry)
    assert again.reused == {"encoder": True, "tokenizer": True, "generator": True, "rankings": False}
    assert validation_calls() == [] and {c["width"] for c in stage_calls()} == {4}


def test_users_beyond_the_validation_set_mean_all_and_keep_the_fingerprint(registry, tmp_path):
    out = tmp_path / "run"
    run(config(users=N_USERS), out, registry)
    # 0 (all), the default 2000 and N_USERS all validate on every user: nothing to retrain
    assert run(config(users=0), out, registry).reused["generator"] is True
    assert run(config(), out, registry).reused["generator"] is True
    assert run(config(users=N_USERS - 1), out, registry).reused["generator"] is False
