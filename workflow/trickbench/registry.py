"""Named registries of techniques.

Every technique family (activations, inits, norms, ...) is a `Registry`: one name maps to one
builder, and the builder's keyword-only parameters *are* the technique's configurable parameters
(their defaults and types are read from the signature). So adding a technique is one decorated
function, and config validation, labels and registry-parametrized tests pick it up by themselves.

A user's own techniques (`trickbench.plugins`) register through the same decorator and pass the
same checks. A registration made while a plugin loads is attributed to it: its `PluginRef` (the
file as the config names it and the SHA-256 of its source) becomes part of every `Technique`
resolved from it, and so of the id of every run that uses it. Built-in techniques carry none, so
their runs keep their ids whatever plugins are loaded.
"""

from __future__ import annotations

import inspect
import math
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping

from trickbench.errors import ConfigError
from trickbench.scalars import parse_scalar

Scalar = bool | int | float | str
#: keys of a config level that are not parameters: the technique's name, and a plugin's code
RESERVED_KEYS = ("name", "plugin")


@dataclass(frozen=True)
class PluginRef:
    """Where a plugin technique's code comes from: the plugin as the config names it (a .py path or
    a module name) and the SHA-256 of its source. Part of the spec, so editing the plugin gives
    exactly the runs that use it new ids."""

    file: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "sha256": self.sha256}


@dataclass(frozen=True)
class Technique:
    """A chosen technique: a registry name plus *all* its parameters (defaults filled in), and for
    a plugin's technique the plugin it comes from.

    Frozen and built from sorted tuples, so it is hashable and has one canonical form.
    """

    name: str
    params: tuple[tuple[str, Scalar], ...] = ()
    plugin: PluginRef | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **dict(self.params)}
        if self.plugin is not None:
            out["plugin"] = self.plugin.as_dict()
        return out

    @property
    def kwargs(self) -> dict[str, Scalar]:
        return dict(self.params)


@dataclass(frozen=True)
class Entry:
    """One registered technique: its builder, parameter defaults, bounds and reference, and the
    plugin that registered it (None for a built-in)."""

    name: str
    build: Callable[..., Any]
    defaults: Mapping[str, Scalar]
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    choices: Mapping[str, Callable[[], list[str]]] = field(default_factory=dict)
    reference: str = ""
    plugin: PluginRef | None = None

    @property
    def summary(self) -> str:
        """First line of the builder's docstring: what the technique does."""
        return (inspect.getdoc(self.build) or "").splitlines()[0] if self.build.__doc__ else ""

    @property
    def origin(self) -> str:
        return "built in" if self.plugin is None else f"by plugin {self.plugin.file}"


class RegistrationError(ValueError):
    """A technique declared so that a config could not use it (a name already taken, a parameter
    without a default, bounds on no parameter, ...). One line: family, name, problem."""

    def __init__(self, family: str, name: object, problem: str):
        self.family, self.name, self.problem = family, name, problem
        super().__init__(f"{family} {name!r}: {problem}")


#: every registry, so that a plugin's registrations can be found (and forgotten) in all of them
_REGISTRIES: "weakref.WeakSet[Registry]" = weakref.WeakSet()
#: the plugin whose module is executing now, and what it registered so far (see `registering_for`)
_loading: tuple[PluginRef, list[tuple[str, str]]] | None = None


@contextmanager
def registering_for(plugin: PluginRef) -> Iterator[list[tuple[str, str]]]:
    """Attribute every registration made inside the block to `plugin`; yields the (family, name)
    pairs it registers. If the block raises, they are removed again, so a plugin that fails half
    way leaves the registries as they were."""
    global _loading
    registered: list[tuple[str, str]] = []
    outer, _loading = _loading, (plugin, registered)
    try:
        yield registered
    except BaseException:
        for registry in list(_REGISTRIES):
            for family, name in registered:
                if registry.family == family and name in registry._entries:
                    del registry._entries[name]
        raise
    finally:
        _loading = outer


def forget(plugin: PluginRef) -> None:
    """Remove every technique `plugin` registered, from every registry."""
    for registry in list(_REGISTRIES):
        registry._entries = {name: entry for name, entry in registry._entries.items() if entry.plugin != plugin}


def adopt(module: str, plugin: PluginRef) -> list[tuple[str, str]]:
    """Attribute to `plugin` the techniques that module `module` registered when it was imported
    before it was loaded as a plugin (so outside `registering_for`)."""
    adopted = []
    for registry in list(_REGISTRIES):
        for name, entry in registry._entries.items():
            if entry.plugin is None and getattr(entry.build, "__module__", None) == module:
                registry._entries[name] = replace(entry, plugin=plugin)
                adopted.append((registry.family, name))
    return adopted


class Registry:
    """A family of named techniques; `resolve` turns a config level into a validated `Technique`."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, Entry] = {}
        _REGISTRIES.add(self)

    def register(
        self,
        name: str,
        *,
        reference: str = "",
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        choices: Mapping[str, Callable[[], list[str]] | list[str]] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register `fn` under `name`; its keyword-only args become the parameters.

        `bounds` maps a parameter to an inclusive (low, high) range (None = open);
        `choices` maps a string parameter to its allowed values, or a function listing them.
        A declaration a config could not use raises `RegistrationError` (see `declared_parameters`).
        """

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not isinstance(name, str) or not name.strip():
                raise RegistrationError(self.family, name, "a technique's name must be a non-empty string")
            if name in self._entries:
                raise RegistrationError(self.family, name, f"the name is already registered ({self._entries[name].origin})"
                                        + ("; a plugin must choose a new name" if _loading else ""))
            try:
                defaults, allowed = declared_parameters(fn, dict(bounds or {}), dict(choices or {}))
            except ValueError as problem:
                raise RegistrationError(self.family, name, str(problem)) from None
            plugin = _loading[0] if _loading else None
            self._entries[name] = Entry(name, fn, defaults, dict(bounds or {}), allowed, reference, plugin)
            if _loading:
                _loading[1].append((self.family, name))
            return fn

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def get(self, name: str, key: str | None = None) -> Entry:
        if name not in self._entries:
            raise ConfigError(key or self.family, name, ", ".join(self.names()))
        return self._entries[name]

    def resolve(self, level: str | Mapping[str, Any] | Technique, key: str) -> Technique:
        """Validate a config level (`"relu"` or `{name: leaky_relu, slope: 0.1}`) into a Technique.

        A level written by a spec (`Technique.as_dict`) may carry its plugin; it must be the one
        loaded now, so a run is never trained with other code than its id names."""
        if isinstance(level, Technique):
            level = level.as_dict()
        if isinstance(level, str):
            level = {"name": level}
        if not isinstance(level, Mapping) or not isinstance(level.get("name"), str):
            raise ConfigError(key, level, f"a {self.family} name or a mapping with 'name' and its parameters")
        if level["name"] not in self._entries and isinstance(level.get("plugin"), Mapping):
            raise ConfigError(key, level["name"], f"{', '.join(self.names())}; it comes from plugin "
                                                  f"{level['plugin'].get('file')}, which is not loaded (list it under "
                                                  "`plugins:` in the config, or give `trickbench train --plugin-dir`)")
        entry = self.get(level["name"], key)
        params = dict(entry.defaults)
        for pname, value in level.items():
            if pname in RESERVED_KEYS:
                continue
            if pname not in entry.defaults:
                allowed = ", ".join(sorted(entry.defaults)) or "no parameters"
                raise ConfigError(f"{key}.{pname}", value, f"parameters of {entry.name}: {allowed}")
            params[pname] = _checked(entry, pname, value, f"{key}.{pname}")
        if "plugin" in level:
            _check_plugin(entry, level["plugin"], f"{key}.plugin", self.family)
        return Technique(entry.name, tuple(sorted(params.items())), entry.plugin)

    def label(self, technique: Technique) -> str:
        """Short human label: the name plus any parameter that differs from its default."""
        defaults = self.get(technique.name).defaults
        changed = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in technique.params if defaults.get(k) != v]
        return technique.name + (f"({', '.join(changed)})" if changed else "")

    def build(self, technique: Technique, *args: Any, **context: Any) -> Any:
        """Call the technique's builder with positional context args and its parameters."""
        return self.get(technique.name).build(*args, **context, **technique.kwargs)


#: the types a parameter's default may have: what a YAML config can write
PARAMETER_TYPES = (bool, int, float, str)


def declared_parameters(fn: Callable[..., Any], bounds: dict[str, Any], choices: dict[str, Any]
                        ) -> tuple[dict[str, Scalar], dict[str, Callable[[], list[str]]]]:
    """A builder's parameters — its keyword-only arguments with their defaults — and its choices as
    functions, checked so that a config can set every parameter: each has a default of a type YAML
    writes (its type is the parameter's type); bounds name int or float parameters and hold their
    defaults; choices name str parameters. Raises ValueError saying what is wrong, in one line."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        raise ValueError(f"its builder {fn!r} has no signature to read parameters from") from None
    defaults: dict[str, Scalar] = {}
    for p in parameters:
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty:
            raise ValueError(f"parameter '{p.name}' is positional with a default; make it keyword-only "
                             "(after `*`) so that a config can set it")
        if p.kind is not p.KEYWORD_ONLY:
            continue
        if p.name in RESERVED_KEYS:
            raise ValueError(f"parameter name '{p.name}' is reserved (a level's keys {' and '.join(RESERVED_KEYS)})")
        if p.default is p.empty:
            raise ValueError(f"parameter '{p.name}' has no default; every parameter needs one (its type comes from it)")
        if type(p.default) not in PARAMETER_TYPES:
            raise ValueError(f"parameter '{p.name}' defaults to {p.default!r}, a {type(p.default).__name__}; "
                             "allowed: a bool, int, float or str default")
        defaults[p.name] = p.default
    for pname, bound in bounds.items():
        default = _declared(defaults, pname, "bounds", (int, float))
        if not (isinstance(bound, (tuple, list)) and len(bound) == 2
                and all(b is None or type(b) in (int, float) for b in bound)):
            raise ValueError(f"bounds of '{pname}' are {bound!r}; allowed: a (low, high) pair of numbers, None for an open end")
        low, high = bound
        if low is not None and high is not None and low > high:
            raise ValueError(f"bounds of '{pname}' are ({low}, {high}): low above high")
        if (low is not None and default < low) or (high is not None and default > high):
            raise ValueError(f"parameter '{pname}' defaults to {default}, outside its bounds ({low}, {high})")
    allowed: dict[str, Callable[[], list[str]]] = {}
    for pname, values in choices.items():
        default = _declared(defaults, pname, "choices", (str,))
        if callable(values):
            allowed[pname] = values
            continue
        if not (isinstance(values, (list, tuple)) and values and all(isinstance(v, str) for v in values)):
            raise ValueError(f"choices of '{pname}' are {values!r}; allowed: a list of strings or a function returning one")
        if default not in values:
            raise ValueError(f"parameter '{pname}' defaults to {default!r}, not one of its choices {list(values)}")
        allowed[pname] = lambda values=list(values): values
    return defaults, allowed


def _declared(defaults: Mapping[str, Scalar], pname: str, what: str, kinds: tuple[type, ...]) -> Scalar:
    """The default of parameter `pname` that `bounds` or `choices` names; ValueError if there is none
    or it is not of `kinds`."""
    if pname not in defaults:
        raise ValueError(f"{what} name '{pname}', which is not a parameter (parameters: {', '.join(defaults) or 'none'})")
    if type(defaults[pname]) not in kinds:
        raise ValueError(f"{what} of '{pname}', a {type(defaults[pname]).__name__} parameter; "
                         f"{what} apply to {' and '.join(k.__name__ for k in kinds)} parameters")
    return defaults[pname]


def _check_plugin(entry: Entry, given: Any, key: str, family: str) -> None:
    """A spec's `plugin` of a level must name the plugin loaded now, with the same source hash."""
    if entry.plugin is None:
        raise ConfigError(key, given, f"nothing: {family} '{entry.name}' is built in")
    if not isinstance(given, Mapping) or set(given) != {"file", "sha256"}:
        raise ConfigError(key, given, "a mapping with the plugin's file and sha256")
    if given["file"] != entry.plugin.file:
        raise ConfigError(f"{key}.file", given["file"], f"{entry.plugin.file}, the plugin that registers "
                                                        f"{family} '{entry.name}' now")
    if given["sha256"] != entry.plugin.sha256:
        raise ConfigError(f"{key}.sha256", given["sha256"], f"{entry.plugin.sha256}, the sha256 of {entry.plugin.file} "
                                                            "as loaded now: the plugin changed since this spec was made "
                                                            "(plan its runs again: they have new ids)")


def _checked(entry: Entry, pname: str, value: Any, key: str) -> Scalar:
    default = entry.defaults[pname]
    kind = type(default)
    if isinstance(value, str) and kind is not str:  # from `snakemake --config`, which keeps strings
        value = parse_scalar(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(key, value, f"a {kind.__name__}")
    if kind is float and not math.isfinite(value):  # `snakemake --config` gives '.nan' as a string
        raise ConfigError(key, value, "a finite number")
    if pname in entry.choices and value not in entry.choices[pname]():
        raise ConfigError(key, value, ", ".join(entry.choices[pname]()))
    low, high = entry.bounds.get(pname, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = f"{'-inf' if low is None else low} <= {pname} <= {'inf' if high is None else high}"
        raise ConfigError(key, value, allowed)
    return value
