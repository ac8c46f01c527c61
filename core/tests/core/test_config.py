"""Configs: structuring, every error at once with paths and suggestions, overrides, show."""

from __future__ import annotations

import attrs
import pytest
from sidkit.config import ComponentChoice, apply_overrides, dump_toml, load_config, read_toml, resolve_config
from sidkit.errors import ConfigError
from sidkit.registry import hookimpl


def _positive(_inst, attribute, value):
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


@attrs.frozen(kw_only=True)
class InnerConfig:
    lr: float = 1e-3


@attrs.frozen(kw_only=True)
class GenConfig:
    epochs: int = attrs.field(default=3, validator=_positive)
    dropout: float = 0.1
    use_users: bool = False
    train: InnerConfig = InnerConfig()


class Plugin:
    @hookimpl
    def sidkit_register_components(self, register):
        for kind, name in [("encoder", "enc"), ("tokenizer", "rkmeans"), ("generator", "tiger"), ("decoder", "beam")]:
            register(kind=kind, name=name, factory="x:y", config=GenConfig)


@pytest.fixture
def registry(sidkit_registry):
    sidkit_registry.add_plugin(Plugin(), "sidkit-fake")
    return sidkit_registry


GOOD = {
    "data": {"format": "synthetic"},
    "encoder": {"name": "enc"},
    "tokenizer": {"name": "rkmeans"},
    "generator": {"name": "tiger", "epochs": 5, "train": {"lr": 0.01}},
    "decoder": {"name": "beam"},
}


def test_good_config_fills_defaults(registry):
    cfg = resolve_config(GOOD, registry)
    assert cfg.component("generator").config == GenConfig(epochs=5, train=InnerConfig(lr=0.01))
    assert cfg.component("evaluator").name == "ranking"  # default evaluator
    table = cfg.to_dict()
    assert table["generator"] == {"name": "tiger", "epochs": 5, "dropout": 0.1, "use_users": False, "train": {"lr": 0.01}}
    assert table["evaluator"]["ks"] == [5, 10]


def test_all_errors_reported_at_once_with_paths_values_and_suggestions(registry, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        """
[data]
format = "synthetic"
[encoder]
name = "enc"
[tokenizer]
name = "rkmean"
[generator]
name = "tiger"
epoch = 4
dropout = "high"
use_users = "yes"
train = { lrr = 0.1 }
[decoder]
name = "beam"
[splitt]
x = 1
"""
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad, registry)
    text = str(info.value)
    lines = [str(i) for i in info.value.issues]
    assert f"{bad}: " in text
    assert any(line.startswith("tokenizer.name: unknown tokenizer 'rkmean' (did you mean 'rkmeans'?)") for line in lines)
    assert any(line.startswith("generator.epoch: unknown key 'epoch' (did you mean 'epochs'?)") for line in lines)
    assert "generator.dropout: expected a number, got 'high'" in lines
    assert "generator.use_users: expected true or false, got 'yes'" in lines
    assert any(line.startswith("generator.train.lrr: unknown key 'lrr' (did you mean 'lr'?)") for line in lines)
    assert any(line.startswith("splitt: unknown section (did you mean 'split'?)") for line in lines)
    assert len(lines) == 6


def test_validator_message_is_kept_and_points_at_the_field(registry):
    raw = {**GOOD, "generator": {"name": "tiger", "epochs": 0}}
    with pytest.raises(ConfigError) as info:
        resolve_config(raw, registry)
    assert [str(i) for i in info.value.issues] == ["generator.epochs: epochs must be > 0, got 0"]


def test_missing_sections_and_names_list_registered_components(registry):
    with pytest.raises(ConfigError) as info:
        resolve_config({"encoder": {"name": "enc"}, "tokenizer": {"epochs": 2}}, registry)
    lines = [str(i) for i in info.value.issues]
    assert "tokenizer.name: required key missing; registered tokenizers: rkmeans" in lines
    assert "generator: missing section [generator]; registered generators: tiger" in lines
    assert "decoder: missing section [decoder]; registered decoders: beam" in lines


def test_unknown_data_format_and_split(registry):
    raw = {**GOOD, "data": {"format": "movielense"}, "split": {"name": "loo"}}
    with pytest.raises(ConfigError) as info:
        resolve_config(raw, registry)
    lines = [str(i) for i in info.value.issues]
    assert any(line.startswith("data.format: unknown format 'movielense' (did you mean 'movielens'?)") for line in lines)
    assert any(line.startswith("split.name: name must be one of") for line in lines)


def test_overrides_parse_toml_values_and_reject_bad_syntax():
    raw = apply_overrides({"generator": {"name": "tiger"}}, ["generator.epochs=7", "generator.train.lr=0.5", "run.device=cpu", "split.name=\"blocks\""])
    assert raw["generator"]["epochs"] == 7 and raw["generator"]["train"]["lr"] == 0.5
    assert raw["run"]["device"] == "cpu" and raw["split"]["name"] == "blocks"
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not a table"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_relative_paths_resolve_against_the_config_file(registry, tmp_path):
    (tmp_path / "sub").mkdir()
    cfg_file = tmp_path / "sub" / "p.toml"
    cfg_file.write_text('[data]\nformat = "movielens"\npath = "../data/ml"\n')
    cfg = load_config(cfg_file, registry, require=())
    assert cfg.data.config.path == str((tmp_path / "data" / "ml").resolve())


def test_toml_syntax_error_names_file(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text("[data\n")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        read_toml(f)


@pytest.mark.parametrize(
    "data, where",
    [
        ("[run]\nseed = 3\n# café\n".encode("latin-1"), "byte 0xe9 at offset 20 (line 3)"),
        ("seed = 1\n".encode("utf-16"), "byte 0xff at offset 0 (line 1)"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_config_that_is_not_utf8_names_file_and_byte_offset(tmp_path, data, where):
    f = tmp_path / "encoded.toml"
    f.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        read_toml(f)
    assert f"{f}: not UTF-8 text: {where} cannot be decoded; save the file as UTF-8" in str(info.value)


def test_dump_round_trips_through_the_resolver(registry, tmp_path):
    cfg = resolve_config(GOOD, registry)
    text = dump_toml(cfg.to_dict())
    (tmp_path / "resolved.toml").write_text(text)
    again = load_config(tmp_path / "resolved.toml", registry)
    assert again.to_dict() == cfg.to_dict()


def test_key_one_level_too_high_suggests_the_nested_table(registry):
    # `lr` belongs in [generator.train]: the suggestion names the nested key
    raw = {**GOOD, "generator": {"name": "tiger", "lr": 0.1}}
    with pytest.raises(ConfigError) as info:
        resolve_config(raw, registry)
    lines = [str(i) for i in info.value.issues]
    assert any(line.startswith("generator.lr: unknown key 'lr' (did you mean 'train.lr'?)") for line in lines), lines


def test_validation_section_defaults_and_is_shown(registry):
    from sidkit.config import ValidationSection

    cfg = resolve_config(GOOD, registry)
    assert cfg.validation == ValidationSection(users=2000, seed=0, decoder={})
    # validation decodes with the [decoder]'s component at its defaults, not [decoder]'s values
    assert cfg.validation_decoder == ComponentChoice("decoder", "beam", GenConfig())
    assert cfg.to_dict()["validation"] == {"users": 2000, "seed": 0, "decoder": {}}
    assert "[validation]\nusers = 2000\nseed = 0\n" in dump_toml(cfg.to_dict())


def test_validation_decoder_is_its_own_table_not_the_decoders(registry, tmp_path):
    raw = {
        **GOOD,
        "decoder": {"name": "beam", "epochs": 4, "dropout": 0.5},
        "validation": {"users": 0, "seed": 7, "decoder": {"epochs": "9", "train": {"lr": 0.5}}},
    }
    cfg = resolve_config(raw, registry)
    assert cfg.component("decoder").config == GenConfig(epochs=4, dropout=0.5)  # the test decoder is untouched
    assert cfg.validation_decoder.name == "beam"
    # dropout stays at its default: the [decoder]'s 0.5 is a test-time setting
    assert cfg.validation_decoder.config == GenConfig(epochs=9, train=InnerConfig(lr=0.5))
    assert cfg.to_dict()["validation"] == {"users": 0, "seed": 7, "decoder": {"epochs": 9, "train": {"lr": 0.5}}}
    (tmp_path / "resolved.toml").write_text(dump_toml(cfg.to_dict()))
    again = load_config(tmp_path / "resolved.toml", registry)
    assert again.to_dict() == cfg.to_dict() and again.validation_decoder == cfg.validation_decoder


def test_validation_errors_are_reported_with_the_others(registry):
    raw = {
        **GOOD,
        "decoder": {"name": "beam", "use_users": "yes"},
        "validation": {"users": -1, "decoder": {"epoch": 2, "dropout": "high"}},
    }
    with pytest.raises(ConfigError) as info:
        resolve_config(raw, registry)
    lines = [str(i) for i in info.value.issues]
    assert "validation.users: users must be >= 0, got -1" in lines
    assert "decoder.use_users: expected true or false, got 'yes'" in lines
    assert any(line.startswith("validation.decoder.epoch: unknown key 'epoch' (did you mean 'epochs'?)") for line in lines)
    assert "validation.decoder.dropout: expected a number, got 'high'" in lines
    assert len(lines) == 4, lines  # the [decoder]'s own error is not repeated under validation.decoder
    raw = {**GOOD, "validation": {"sed": 1, "decoder": {"epochs": 0}}}
    with pytest.raises(ConfigError) as info:
        resolve_config(raw, registry)
    lines = [str(i) for i in info.value.issues]
    assert any(line.startswith("validation.sed: unknown key 'sed' (did you mean 'seed'") for line in lines)
    assert "validation.decoder.epochs: epochs must be > 0, got 0" in lines and len(lines) == 2, lines


def test_validation_decoder_must_be_a_table_and_needs_a_decoder(registry):
    with pytest.raises(ConfigError) as info:
        resolve_config({**GOOD, "validation": {"decoder": 3}}, registry)
    assert [str(i) for i in info.value.issues] == ["validation.decoder: expected a table of decoder keys for validation, got 3"]
    raw = {k: v for k, v in GOOD.items() if k != "decoder"}
    with pytest.raises(ConfigError) as info:
        resolve_config({**raw, "validation": {"decoder": {"epochs": 2}}}, registry, require=())
    assert [str(i) for i in info.value.issues] == [
        "validation.decoder: sets decoder keys, but the config has no [decoder] section"
    ]


def test_sid_updater_section_is_rejected_by_run_with_a_pointer_to_continual(registry):
    with pytest.raises(ConfigError) as info:
        resolve_config({**GOOD, "sid-updater": {"name": "anything"}}, registry)
    assert [str(i) for i in info.value.issues] == [
        "sid-updater: `sidkit run` trains one period and uses no SID updater; SID updaters run in continual "
        "scenarios (`sidkit continual`, plugin sidkit-continual): remove this section"
    ]
