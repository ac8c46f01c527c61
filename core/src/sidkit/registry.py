"""The component registry, on pluggy.

A plugin is a module exposed under the entry-point group ``sidkit`` (entry-point name =
distribution name). It implements :func:`sidkit_register_components`, which receives a
``register`` callback and calls it once per component::

    from sidkit.registry import hookimpl

    @hookimpl
    def sidkit_register_components(register):
        register(kind="tokenizer", name="rkmeans", factory="sidkit_grid.rkmeans:RKMeans",
                 config=RKMeansConfig, description="Residual k-means")

The factory is a ``"module:attr"`` string imported only when a component is built, so
listing plugins never imports torch. The core's own components come through the same
hook (the ``sidkit`` distribution), so there is one code path.

A plugin may also implement :func:`sidkit_register_commands` to add commands to the
``sidkit`` CLI (see :meth:`Registry.add_commands`).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from .errors import SidkitError, UnknownComponentError
from .protocols import KINDS

if TYPE_CHECKING:
    import click

__all__ = [
    "hookimpl",
    "hookspec",
    "ComponentSpec",
    "PluginStatus",
    "Registry",
    "get_registry",
    "reset_registry",
    "ENTRY_POINT_GROUP",
    "LOAD_PLUGINS_ENV",
]

ENTRY_POINT_GROUP = "sidkit"
LOAD_PLUGINS_ENV = "SIDKIT_LOAD_PLUGINS"
CORE_DIST = "sidkit"

hookspec = pluggy.HookspecMarker("sidkit")
hookimpl = pluggy.HookimplMarker("sidkit")


class Hookspecs:
    """The hooks a sidkit plugin may implement."""

    @hookspec
    def sidkit_register_components(self, register: Callable[..., None]) -> None:
        """Register components: call ``register(kind=, name=, factory=, config=, description=)``
        once per component. ``kind`` is one of :data:`sidkit.protocols.KINDS`; ``factory``
        is a ``"module:attr"`` string naming a callable that takes the config instance.
        ``requires=`` (decoders: what they need of the generator) and ``provides=``
        (generators) name capabilities (:mod:`sidkit.capabilities`), checked when a config is
        read."""

    @hookspec
    def sidkit_register_commands(self, cli: click.Group) -> None:
        """Add commands to the ``sidkit`` CLI: ``@cli.command()``, ``@cli.group()`` or
        ``cli.add_command(command)`` on the click group ``cli``. Runs when the CLI first
        resolves a command, ``sidkit --help`` included: import heavy modules (torch) inside
        the command's function, never here."""


def _capabilities(names: Iterable[str], what: str, plugin: str) -> tuple[str, ...]:
    """Capability names as a tuple of non-empty strings, or a RegistryError."""
    if isinstance(names, str):
        names = (names,)
    out = tuple(names)
    if any(not isinstance(n, str) or not n.strip() for n in out):
        raise RegistryError(f"plugin {plugin}: {what} {out!r}: capability names must be non-empty strings")
    return out


class RegistryError(SidkitError):
    """A plugin registered something invalid, or two plugins claim the same name."""


@attrs.frozen
class ComponentSpec:
    """One registered component: where it came from and how to build it."""

    kind: str
    name: str
    factory: str
    config: type
    description: str
    plugin: str
    version: str
    #: capabilities (:mod:`sidkit.capabilities`) this component needs of the generator / offers
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()

    def load_factory(self) -> Callable[[Any], Any]:
        """Import the factory's module and return the callable; a module that fails to
        import becomes a :class:`RegistryError` naming the component, plugin and module."""
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # the plugin's code, not ours: report where it broke
            raise RegistryError(
                f"{self.kind} {self.name!r} (plugin {self.plugin}): importing module {module_name!r} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            return getattr(module, attr)
        except AttributeError:
            raise RegistryError(
                f"{self.kind} {self.name!r} (plugin {self.plugin}): factory {self.factory!r} "
                f"names no attribute {attr!r} in module {module_name!r}"
            ) from None

    def build(self, config: Any = None) -> Any:
        """Instantiate the component (default config when ``config`` is None)."""
        if config is None:
            config = self.config()
        return self.load_factory()(config)

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "version": self.version,
            "description": self.description,
            **({"requires": list(self.requires)} if self.requires else {}),
            **({"provides": list(self.provides)} if self.provides else {}),
        }


@attrs.define
class PluginStatus:
    """Load outcome of one plugin distribution: ``ok``, ``broken`` (with error) or ``disabled``.
    ``refused`` holds one message per component or command name it lost to a plugin loaded
    before it; ``commands``: the CLI commands it added."""

    name: str
    version: str
    status: str
    error: str | None = None
    components: list[str] = attrs.field(factory=list)
    refused: list[str] = attrs.field(factory=list)
    commands: list[str] = attrs.field(factory=list)


class Registry:
    """The table of components, filled by plugins through the register hook."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager("sidkit")
        self._pm.add_hookspecs(Hookspecs)
        self._components: dict[tuple[str, str], ComponentSpec] = {}
        self._commands: dict[str, click.Command] | None = None  # filled by add_commands
        self.plugins: dict[str, PluginStatus] = {}

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self, only: Iterable[str] | None = None, *, strict: bool = False) -> None:
        """Load every plugin of the ``sidkit`` entry-point group (or only the named
        distributions). A plugin that fails is recorded as broken and skipped, unless
        ``strict``, where the first failure raises. Plugins load in a fixed order, the
        core's built-ins first and then by distribution name, so when two claim the same
        component name the same one keeps it whatever the order of ``sys.path``."""
        wanted = None if only is None else set(only)
        for dist, version, ep in _sorted_entry_points():
            if dist in self.plugins:  # editable installs can list a distribution twice
                continue
            if wanted is not None and dist != CORE_DIST and dist not in wanted:
                self.plugins[dist] = PluginStatus(dist, version, "disabled")
                continue
            try:
                module = ep.load()
            except Exception as exc:  # isolation: one broken plugin never breaks the rest
                self._broken(dist, version, exc, strict, where=f"importing module {ep.module!r}")
                continue
            self.add_plugin(module, dist, version, strict=strict)

    def add_plugin(self, obj: object, name: str, version: str = "0", *, strict: bool = True) -> None:
        """Register a plugin object (a module or any object with the hookimpl) and run its hook.

        A component name already taken by an earlier plugin is refused (recorded in the
        plugin's ``refused``) and the plugin's other components are kept; with ``strict``
        the clash raises instead, and the plugin is rolled back."""
        try:
            self._pm.register(obj, name=name)
            self._pm.check_pending()
        except Exception as exc:
            if self._pm.is_registered(obj):
                self._pm.unregister(obj)
            self._broken(name, version, exc, strict)
            return
        status = PluginStatus(name, version, "ok")
        self.plugins[name] = status
        added: list[ComponentSpec] = []

        def register(
            *, kind: str, name: str, factory: str, config: type, description: str = "",
            requires: Iterable[str] = (), provides: Iterable[str] = (),
        ) -> None:
            spec = self._validated(kind, name, factory, config, description, status)
            added.append(attrs.evolve(
                spec,
                requires=_capabilities(requires, f"{kind} {name!r} requires", status.name),
                provides=_capabilities(provides, f"{kind} {name!r} provides", status.name),
            ))

        try:
            for impl in self._pm.hook.sidkit_register_components.get_hookimpls():
                if impl.plugin is obj:
                    impl.function(register=register)
            for spec in added:
                self._insert(spec, status, strict)
        except Exception as exc:
            for spec in added:
                if self._components.get((spec.kind, spec.name)) is spec:
                    del self._components[(spec.kind, spec.name)]
            self._pm.unregister(obj)
            self._broken(name, version, exc, strict)
            return
        status.components = [f"{s.kind}:{s.name}" for s in added if self._components.get((s.kind, s.name)) is s]

    def add_commands(self, cli: click.Group) -> list[str]:
        """Add the plugins' commands to the click group ``cli``; returns their names.

        The first call runs every plugin's :func:`sidkit_register_commands` hook, in load
        order, each on a scratch group. A name ``cli`` already has (a core command) or an
        earlier plugin took is refused (noted in the plugin's ``refused``, the first keeps
        it). A hook that raises makes its plugin broken: its components and commands are
        dropped. Later calls (another group) add the same commands without running hooks."""
        if self._commands is None:
            self._commands = {}
            owners = dict.fromkeys(cli.commands, CORE_DIST)
            for status in list(self.plugins.values()):
                if status.status == "ok":
                    self._collect_commands(status, owners)
        for name, command in self._commands.items():
            cli.add_command(command, name)
        return list(self._commands)

    def _collect_commands(self, status: PluginStatus, owners: dict[str, str]) -> None:
        import click

        obj = self._pm.get_plugin(status.name)
        scratch = click.Group(status.name)
        try:
            for impl in self._pm.hook.sidkit_register_commands.get_hookimpls():
                if impl.plugin is obj:
                    impl.function(cli=scratch)
        except Exception as exc:  # isolation: a broken hook never breaks the CLI
            self._pm.unregister(obj)
            self._components = {k: v for k, v in self._components.items() if v.plugin != status.name}
            self._broken(status.name, status.version, exc, False, where="registering commands")
            return
        for name, command in scratch.commands.items():
            if name in owners:
                status.refused.append(
                    f"command {name!r} is registered by both plugin {owners[name]} and plugin {status.name}; "
                    f"kept {owners[name]}'s (loaded first), ignored {status.name}'s: "
                    "uninstall one of them or rename the command"
                )
                continue
            owners[name] = status.name
            self._commands[name] = command
            status.commands.append(name)

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin and every component and command it registered (used by test fixtures)."""
        obj = self._pm.get_plugin(name)
        if obj is not None:
            self._pm.unregister(obj)
        self._components = {k: v for k, v in self._components.items() if v.plugin != name}
        status = self.plugins.pop(name, None)
        for command in status.commands if status is not None and self._commands else ():
            self._commands.pop(command, None)

    def _broken(self, name: str, version: str, exc: Exception, strict: bool, where: str = "") -> None:
        error = f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else "")
        self.plugins[name] = PluginStatus(name, version, "broken", error)
        if strict:
            raise RegistryError(f"plugin {name} failed to load: {error}") from exc

    def _validated(self, kind, name, factory, config, description, status) -> ComponentSpec:
        who = f"plugin {status.name}"
        if kind not in KINDS:
            raise RegistryError(f"{who} registered {name!r} with unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        if not isinstance(name, str) or not name or name != name.strip():
            raise RegistryError(f"{who} registered a {kind} with invalid name {name!r}")
        if not isinstance(factory, str) or ":" not in factory:
            raise RegistryError(f"{who}: {kind} {name!r} factory must be a 'module:attr' string, got {factory!r}")
        if not attrs.has(config):
            raise RegistryError(f"{who}: {kind} {name!r} config must be an attrs class, got {config!r}")
        return ComponentSpec(kind, name, factory, config, description or "", status.name, status.version)

    def _insert(self, spec: ComponentSpec, status: PluginStatus, strict: bool) -> None:
        """Add ``spec``; a name another plugin already holds raises when ``strict``, else is
        refused: noted in ``status.refused``, the earlier plugin keeps it. A plugin that
        registers one name twice is broken."""
        key = (spec.kind, spec.name)
        old = self._components.get(key)
        if old is None or old == spec:
            self._components[key] = spec
            return
        if old.plugin == spec.plugin:
            raise RegistryError(f"plugin {spec.plugin} registers {spec.kind} {spec.name!r} twice")
        clash = f"{spec.kind} {spec.name!r} is registered by both plugin {old.plugin} and plugin {spec.plugin}"
        if strict:
            raise RegistryError(f"{clash}; uninstall one of them or rename the component")
        status.refused.append(
            f"{clash}; kept {old.plugin}'s (loaded first), ignored {spec.plugin}'s: "
            "uninstall one of them or rename the component"
        )

    # -- lookup --------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> ComponentSpec:
        """The component ``name`` of ``kind``; :class:`UnknownComponentError` with the
        closest names otherwise."""
        try:
            return self._components[(kind, name)]
        except KeyError:
            pass
        raise UnknownComponentError(kind, name, self.names(kind), self._broken_hint())

    def _broken_hint(self) -> str:
        """Every broken plugin with its error, for messages about a missing component."""
        broken = [f"{p.name}: {p.error}" for p in self.plugins.values() if p.status == "broken"]
        return "broken plugins (see `sidkit plugins`): " + "; ".join(broken) if broken else ""

    def refused(self) -> list[str]:
        """One message per component or command name refused because another plugin (or
        the core) already had it."""
        return [msg for p in self.plugins.values() for msg in p.refused]

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._components if k == kind)

    def components(self, kind: str | None = None) -> list[ComponentSpec]:
        specs = [s for s in self._components.values() if kind is None or s.kind == kind]
        return sorted(specs, key=lambda s: (KINDS.index(s.kind), s.name))

    def build(self, kind: str, name: str, config: Any = None) -> Any:
        return self.get(kind, name).build(config)


def _sorted_entry_points() -> list[tuple[str, str, md.EntryPoint]]:
    """``(distribution, version, entry point)`` of the ``sidkit`` group: the core's
    built-ins first, then by distribution name (case-insensitive), then entry-point name."""
    rows = []
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ep.name
        version = ep.dist.version if ep.dist is not None else "0"
        rows.append((dist, version, ep))
    return sorted(rows, key=lambda r: (r[2].value != "sidkit.builtins", r[0].lower(), r[2].name))


_REGISTRY: Registry | None = None


def _only_from_env() -> list[str] | None:
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def get_registry(*, strict: bool = False) -> Registry:
    """The process-wide registry, loaded from entry points on first use.

    ``SIDKIT_LOAD_PLUGINS=a,b`` loads only those plugin distributions (empty: only the
    core's built-ins); use it to get away from a plugin that crashes.
    """
    global _REGISTRY
    if _REGISTRY is None:
        registry = Registry()
        registry.load_entry_points(_only_from_env(), strict=strict)
        _REGISTRY = registry
    elif strict:
        broken = [p for p in _REGISTRY.plugins.values() if p.status == "broken"]
        if broken:
            raise RegistryError(f"plugin {broken[0].name} failed to load: {broken[0].error}")
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded registry (the next :func:`get_registry` reloads entry points)."""
    global _REGISTRY
    _REGISTRY = None
