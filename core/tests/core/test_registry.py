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


def test_strict_duplicate_rolls_the_plugin_back():
    reg = Registry()
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY)), "sidkit-a")
    with pytest.raises(RegistryError):
        reg.add_plugin(make_plugin(("encoder", "e", FACTORY), ("tokenizer", "rk", FACTORY + "2")), "sidkit-b")
    assert reg.plugins["sidkit-b"].status == "broken"
    with pytest.raises(UnknownComponentError):
        reg.get("encoder", "e")


def test_one_plugin_registering_a_name_twice_is_broken():
    reg = Registry()
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY), ("tokenizer", "rk", FACTORY + "2")), "sidkit-a", strict=False)
    assert reg.plugins["sidkit-a"].status == "broken"
    assert "plugin sidkit-a registers tokenizer 'rk' twice" in reg.plugins["sidkit-a"].error


def test_duplicate_name_alone_is_refused_when_not_strict_and_first_wins():
    reg = Registry()
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY)), "sidkit-a")
    reg.add_plugin(make_plugin(("tokenizer", "rk", FACTORY + "2"), ("encoder", "e", FACTORY)), "sidkit-b", strict=False)
    status = reg.plugins["sidkit-b"]
    assert status.status == "ok" and status.error is None
    assert reg.get("tokenizer", "rk").plugin == "sidkit-a"
    assert reg.get("encoder", "e").plugin == "sidkit-b"  # the plugin's other components stay
    assert status.components == ["encoder:e"]
    assert reg.refused() == status.refused == [
        "tokenizer 'rk' is registered by both plugin sidkit-a and plugin sidkit-b; kept sidkit-a's (loaded first), "
        "ignored sidkit-b's: uninstall one of them or rename the component"
    ]


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


def test_factory_module_that_fails_to_import_names_component_plugin_and_module(tmp_path, monkeypatch):
    (tmp_path / "sidkit_reg_boom.py").write_text("import sidkit_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    reg.add_plugin(make_plugin(("evaluator", "boom", "sidkit_reg_boom:Boom")), "sidkit-boom")
    with pytest.raises(RegistryError) as info:
        reg.build("evaluator", "boom")
    assert str(info.value) == (
        "evaluator 'boom' (plugin sidkit-boom): importing module 'sidkit_reg_boom' failed: "
        "ModuleNotFoundError: No module named 'sidkit_no_such_dependency'"
    )


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


# -- the command hook ---------------------------------------------------------------------
def make_command_plugin(*names, components=(), fail=None):
    """A plugin whose command hook adds a click command per name (or raises ``fail``)."""
    import click

    class Plugin:
        @hookimpl
        def sidkit_register_components(self, register):
            for kind, name, factory in components:
                register(kind=kind, name=name, factory=factory, config=DummyConfig)

        @hookimpl
        def sidkit_register_commands(self, cli):
            if fail is not None:
                raise fail
            for name in names:
                cli.command(name)(lambda: click.echo("hi"))

    return Plugin()


def test_commands_are_added_once_in_load_order_and_a_clash_is_refused():
    import click

    cli = click.Group(commands=[click.Command("run")])
    reg = Registry()
    reg.add_plugin(make_command_plugin("hello", "run"), "sidkit-a")
    reg.add_plugin(make_command_plugin("hello", "bye"), "sidkit-b")
    assert reg.add_commands(cli) == ["hello", "bye"]
    assert sorted(cli.commands) == ["bye", "hello", "run"]
    assert (reg.plugins["sidkit-a"].commands, reg.plugins["sidkit-b"].commands) == (["hello"], ["bye"])
    assert reg.refused() == [
        "command 'run' is registered by both plugin sidkit and plugin sidkit-a; kept sidkit's (loaded first), "
        "ignored sidkit-a's: uninstall one of them or rename the command",
        "command 'hello' is registered by both plugin sidkit-a and plugin sidkit-b; kept sidkit-a's (loaded first), "
        "ignored sidkit-b's: uninstall one of them or rename the command",
    ]
    other = click.Group(commands=[click.Command("run")])
    assert reg.add_commands(other) == ["hello", "bye"] and len(reg.refused()) == 2  # hooks ran once
    assert other.commands["hello"] is cli.commands["hello"]


def test_a_command_hook_that_raises_breaks_only_its_plugin():
    import click

    reg = Registry()
    reg.add_plugin(make_command_plugin(components=[("evaluator", "double", FACTORY)], fail=RuntimeError("boom")), "sidkit-bad")
    reg.add_plugin(make_command_plugin("hello"), "sidkit-good")
    assert reg.get("evaluator", "double").plugin == "sidkit-bad"
    cli = click.Group()
    assert reg.add_commands(cli) == ["hello"]
    status = reg.plugins["sidkit-bad"]
    assert (status.status, status.error) == ("broken", "RuntimeError: boom (registering commands)")
    with pytest.raises(UnknownComponentError, match="sidkit-bad: RuntimeError: boom"):
        reg.get("evaluator", "double")
    assert list(reg.plugins) == ["sidkit-bad", "sidkit-good"]  # the listing order is kept
