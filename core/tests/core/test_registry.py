"""Registry: registration, validation, duplicates, isolation of broken plugins, lookups."""

from __future__ import annotations

import attrs
import pytest
from sidkit.errors import UnknownComponentError
from sidkit.registry import Registry, RegistryError, hookimpl


@attrs.frozen(kw_only=True)
class DummyConfig:
    scale: float = 1.0


class Doubler:
    """A tiny evaluator-shaped component used as a factory target."""

    def __init__(self, config: DummyConfig):
        self.config = config
        self.required_k = 1

    def evaluate(self, rankings, examples, ctx):
        return {"scale": self.config.scale * 2}


def make_plugin(*entries):
    """A plugin object whose hook registers the given (kind, name, factory) entries."""

    class Plugin:
        @hookimpl
        def sidkit_register_components(self, register):
            for kind, name, factory in entries:
                register(kind=kind, name=name, factory=factory, config=DummyConfig, description=f"{name} desc")

    return Plugin()


FACTORY = f"{__name__}:Doubler"


def test_register_and_build_through_factory_string():
    reg = Registry()
    reg.add_plugin(make_plugin(("evaluator", "double", FACTORY)), "sidkit-dummy", "1.2.3")
    spec = reg.get("evaluator", "double")
    assert (spec.plugin, spec.version, spec.description) == ("sidkit-dummy", "1.2.3", "double desc")
    comp = spec.build(DummyConfig(scale=3.0))
    assert comp.evaluate(None, None, None) == {"scale": 6.0}
    assert reg.plugins["sidkit-dummy"].components == ["evaluator:double"]


def test_duplicate_name_across_plugins_names_both():
    reg = Registry()
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY)), "sidkit-a")
    with pytest.raises(RegistryError, match=r"tokenizer 'rk' is registered by both plugin sidkit-a and plugin sidkit-b"):
        reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY + "2")), "sidkit-b")


def test_duplicate_is_recorded_as_broken_when_not_strict_and_first_wins():
    reg = Registry()
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY)), "sidkit-a")
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY + "2"), ("encoder", "e", FACTORY)), "sidkit-b", strict=False)
    assert reg.plugins["sidkit-b"].status == "broken"
    assert "registered by both" in reg.plugins["sidkit-b"].error
    assert reg.get("tokenizer", "rk").plugin == "sidkit-a"
    with pytest.raises(UnknownComponentError):  # the broken plugin's other components are rolled back
        reg.get("encoder", "e")


@pytest.mark.parametrize(
    "entry, message",
    [
        (("tokeniser", "x", FACTORY), "unknown kind 'tokeniser'"),
        (("tokenizer", "x", "no_colon"), "factory must be a 'module:attr' string"),
        (("tokenizer", " x", FACTORY), "invalid name"),
    ],
)
def test_invalid_registrations_are_rejected(entry, message):
    with pytest.raises(RegistryError, match=message):
        Registry().add_plugin(make_plugin(entry), "sidkit-bad")


def test_non_attrs_config_rejected():
    class Plugin:
        @hookimpl
        def sidkit_register_components(self, register):
            register(kind="encoder", name="e", factory=FACTORY, config=dict)

    with pytest.raises(RegistryError, match="config must be an attrs class"):
        Registry().add_plugin(Plugin(), "sidkit-bad")


def test_misspelled_hookimpl_fails_check_pending():
    class Plugin:
        @hookimpl
        def sidkit_register_component(self, register):  # missing trailing s
            pass

    reg = Registry()
    reg.add_plugin(Plugin(), "sidkit-typo", strict=False)
    assert reg.plugins["sidkit-typo"].status == "broken"
    assert "sidkit_register_component" in reg.plugins["sidkit-typo"].error


def test_unknown_component_suggests_closest_and_lists_registered():
    reg = Registry()
    reg.add_plugin(make_plugin(("tokenizer", "rkmeans", FACTORY), ("tokenizer", "rqvae", FACTORY)), "sidkit-a")
    with pytest.raises(UnknownComponentError) as info:
        reg.get("tokenizer", "rkmean")
    text = str(info.value)
    assert "did you mean 'rkmeans'" in text and "registered: rkmeans, rqvae" in text


def test_missing_factory_attribute_is_a_clear_error():
    reg = Registry()
    reg.add_plugin(make_plugin(("evaluator", "ghost", f"{__name__}:NoSuchThing")), "sidkit-a")
    with pytest.raises(RegistryError, match="names no attribute 'NoSuchThing'"):
        reg.build("evaluator", "ghost")


def test_remove_plugin_drops_its_components():
    reg = Registry()
    reg.add_plugin(make_plugin(("evaluator", "double", FACTORY)), "sidkit-dummy")
    reg.remove_plugin("sidkit-dummy")
    assert reg.names("evaluator") == []


def test_module_plugins_and_builtins_load_from_entry_points():
    reg = Registry()
    reg.load_entry_points()
    assert reg.plugins["sidkit"].status == "ok"
    assert reg.get("evaluator", "ranking").plugin == "sidkit"
    assert reg.get("encoder", "precomputed").plugin == "sidkit"


def test_only_filter_disables_other_plugins(monkeypatch):
    reg = Registry()
    reg.load_entry_points(only=[])
    assert all(p.status == "disabled" for name, p in reg.plugins.items() if name != "sidkit")
    assert reg.plugins["sidkit"].status == "ok"  # the core's built-ins always load


def test_sidkit_registry_fixture_isolates_in_memory_plugins(sidkit_registry):
    from sidkit.registry import get_registry

    sidkit_registry.add_plugin(make_plugin(("evaluator", "double", FACTORY)), "sidkit-inmem")
    assert get_registry() is sidkit_registry
    assert get_registry().get("evaluator", "double").plugin == "sidkit-inmem"
